// chorus/result.hpp — errors as values for every Chorus library (client, shm): a result<T>
// holds either the value or a chorus::error (a code and a sentence for humans).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace chorus {

// Why a call failed: `code` says what kind of failure (the client library uses Spread's sp.h
// codes, -1 … -20; chorus::shm its own, see shm.hpp; timed_out for a deadline that passed),
// `message` says it for humans.
struct error {
  int code = 0;
  std::string message;
  static constexpr int timed_out = -1000;
};

template <typename T>
class [[nodiscard]] result {
 public:
  result(T v) : v_(std::move(v)) {}              // NOLINT: implicit by design
  result(chorus::error e) : v_(std::move(e)) {}  // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const chorus::error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, chorus::error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(chorus::error e) : e_(std::move(e)) {}  // NOLINT
  bool ok() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const chorus::error& error() const { return *e_; }

 private:
  std::optional<chorus::error> e_;
};

}  // namespace chorus
