// result.hpp — `status` (code + message) and `result<T>`, the std::expected shape used by
// decoders and shells. Exceptions are only for the edges (main, CLI).
// Thread-safety: value types.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "util/assert.hpp"

namespace chorus::util {

enum class errc {
  ok = 0,
  truncated,         // input ended before a field it announced
  malformed,         // a field holds a value the format forbids
  unsupported,       // a well-formed input of a version or kind we do not handle
  too_large,         // a size above a configured or protocol limit
  would_block,       // a bounded queue is full; try again later
  invalid_argument,  // a caller passed something the API forbids
  system,            // the operating system refused (the message says what and why)
};

const char* to_string(errc c) noexcept;

class status {
 public:
  status() = default;
  status(errc code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const noexcept { return code_ == errc::ok; }
  errc code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  std::string to_string() const;

 private:
  errc code_ = errc::ok;
  std::string message_;
};

template <typename T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design, like std::expected
  result(status error) : v_(std::move(error)) {  // NOLINT
    CHORUS_ASSERT(!std::get<status>(v_).ok(), "a result error must not be ok");
  }

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    CHORUS_ASSERT(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    CHORUS_ASSERT(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    CHORUS_ASSERT(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const status& error() const {
    CHORUS_ASSERT(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, status> v_;
};

}  // namespace chorus::util
