// hash.hpp — a small, stable 64-bit hash (FNV-1a with a final mix) for trace hashes and
// configuration hashes. Stable across platforms and runs; not cryptographic.
// Thread-safety: stateless functions and a value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace chorus::util {

class hasher {
 public:
  hasher& bytes(std::span<const std::byte> data) noexcept {
    for (std::byte b : data) {
      h_ ^= static_cast<std::uint8_t>(b);
      h_ *= 0x100000001b3ULL;
    }
    return *this;
  }
  hasher& str(std::string_view s) noexcept {
    return bytes(std::as_bytes(std::span<const char>(s.data(), s.size())));
  }
  hasher& u64(std::uint64_t v) noexcept {
    std::byte b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<std::byte>(v >> (8 * i));
    return bytes(b);
  }
  std::uint64_t digest() const noexcept {
    std::uint64_t z = h_;
    z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdULL;
    z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ULL;
    return z ^ (z >> 33);
  }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace chorus::util
