#include "util/result.hpp"

namespace chorus::util {

const char* to_string(errc c) noexcept {
  switch (c) {
    case errc::ok:
      return "ok";
    case errc::truncated:
      return "truncated";
    case errc::malformed:
      return "malformed";
    case errc::unsupported:
      return "unsupported";
    case errc::too_large:
      return "too large";
    case errc::would_block:
      return "would block";
    case errc::invalid_argument:
      return "invalid argument";
    case errc::system:
      return "system error";
  }
  return "unknown";
}

std::string status::to_string() const {
  if (ok()) return "ok";
  return std::string(util::to_string(code_)) + ": " + message_;
}

}  // namespace chorus::util
