// order_graph.hpp — one total order for many observers (DESIGN §3.3 I4, and the same for group
// deliveries): the union of every observer's delivery order, as consecutive pairs, must have
// no cycle. Shared by evs_checker and group_checker.
// Thread-safety: a stateless function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace chorus::sim {

// Messages are numbered 0..count-1; each order lists message numbers in delivery order (the
// pointers live for the call). Returns the messages that cannot be placed in one total order
// (on or after a cycle); empty when the orders agree.
inline std::vector<std::uint32_t> unorderable(
    std::size_t count, const std::vector<const std::vector<std::uint32_t>*>& orders) {
  std::vector<std::vector<std::uint32_t>> next(count);
  std::vector<std::uint32_t> indegree(count, 0);
  for (const auto* order : orders) {
    for (std::size_t i = 1; i < order->size(); ++i) {
      next[(*order)[i - 1]].push_back((*order)[i]);
      ++indegree[(*order)[i]];
    }
  }
  std::vector<std::uint32_t> ready;  // Kahn's topological sort
  for (std::uint32_t m = 0; m < count; ++m)
    if (indegree[m] == 0) ready.push_back(m);
  while (!ready.empty()) {
    const std::uint32_t m = ready.back();
    ready.pop_back();
    for (std::uint32_t n : next[m])
      if (--indegree[n] == 0) ready.push_back(n);
  }
  std::vector<std::uint32_t> left;
  for (std::uint32_t m = 0; m < count; ++m)
    if (indegree[m] > 0) left.push_back(m);
  return left;
}

}  // namespace chorus::sim
