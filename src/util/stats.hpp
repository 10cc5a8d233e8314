// stats.hpp — what the tools and the benchmarks measure with: a monotonic clock in nanoseconds
// and percentiles of samples.
// Thread-safety: stateless functions.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace chorus::util {

// Now on the steady clock, in nanoseconds.
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The value at fraction p (0…1) of samples already sorted; 0 for no samples.
inline double percentile_of_sorted(const std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// Sorts the samples and returns the value at fraction p (0…1); 0 for no samples.
inline double percentile(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  return percentile_of_sorted(v, p);
}

}  // namespace chorus::util
