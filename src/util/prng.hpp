// prng.hpp — the project's own seeded PRNG (xoshiro256**, seeded through splitmix64).
//
// Deterministic across standard libraries: `uniform` is ours, never std::uniform_int_distribution,
// whose output differs between implementations (TigerBeetle prng.zig). Every random choice in
// core and sim flows from one of these, so a seed replays a run bit for bit.
// Thread-safety: none; one instance per owner.
#pragma once

#include <cstdint>

#include "util/assert.hpp"

namespace chorus::util {

constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class prng {
 public:
  explicit prng(std::uint64_t seed) noexcept {
    std::uint64_t sm = seed;
    for (auto& word : s_) word = splitmix64(sm);
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [lo, hi] inclusive, without modulo bias (Lemire's method with rejection).
  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) noexcept {
    CHORUS_ASSERT(lo <= hi);
    const std::uint64_t range = hi - lo;
    if (range == UINT64_MAX) return next();
    const std::uint64_t n = range + 1;
    const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    std::uint64_t x;
    do {
      x = next();
    } while (x >= limit);
    return lo + x % n;
  }

  // True with probability `p` (0 ≤ p ≤ 1), resolved to 1/2^53.
  bool chance(double p) noexcept {
    if (p <= 0.0) return false;
    if (p >= 1.0) return true;
    return static_cast<double>(next() >> 11) * 0x1.0p-53 < p;
  }

  // A fresh independent generator, for handing a sub-stream to a component.
  prng fork() noexcept { return prng(next()); }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  std::uint64_t s_[4];
};

}  // namespace chorus::util
