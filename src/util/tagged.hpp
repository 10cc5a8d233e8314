// tagged.hpp — strong integer types: every id and counter is its own type (STYLE.md).
//
// `tagged<std::uint64_t, struct seq_tag>` cannot be mixed up with another tagged type or a raw
// integer by accident; `.value` is the explicit escape hatch.
// Thread-safety: a value type.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace chorus::util {

template <typename T, typename Tag>
struct tagged {
  T value{};

  constexpr tagged() = default;
  constexpr explicit tagged(T v) : value(v) {}

  friend constexpr auto operator<=>(const tagged&, const tagged&) = default;
  friend constexpr bool operator==(const tagged&, const tagged&) = default;
};

}  // namespace chorus::util

template <typename T, typename Tag>
struct std::hash<chorus::util::tagged<T, Tag>> {
  std::size_t operator()(const chorus::util::tagged<T, Tag>& t) const noexcept {
    return std::hash<T>{}(t.value);
  }
};
