// reachability.cpp — see reachability.hpp.
#include "core/reachability.hpp"

#include <algorithm>

namespace chorus::core {

bool reachability::heard_from(node_id n, time_point now) {
  if (n == self_) return false;
  auto [it, added] = last_.try_emplace(n, now);
  const bool fresh = added || !current(it->second, now);
  it->second = now;
  return fresh;
}

void reachability::row(node_id n, std::vector<node_id> heard, std::vector<node_id> ring, bool probe,
                       time_point now) {
  if (n == self_) return;
  (probe ? probes_ : joins_)[n] = heard_row{std::move(heard), std::move(ring), now};
}

void reachability::reset(time_point now) {
  since_ = now;
  last_.clear();
  probes_.clear();
  joins_.clear();
}

std::vector<node_id> reachability::heard(time_point now) const {
  std::vector<node_id> out;
  for (const auto& [n, at] : last_)
    if (current(at, now)) out.push_back(n);
  return out;
}

const reachability::heard_row* reachability::latest(node_id a, time_point now) const {
  const heard_row* best = nullptr;
  for (const auto* rows : {&probes_, &joins_}) {
    auto it = rows->find(a);
    if (it != rows->end() && current(it->second.at, now) && (!best || it->second.at > best->at))
      best = &it->second;
  }
  return best;
}

bool reachability::hears(node_id a, node_id b, time_point now) const {
  if (a == self_) {
    auto it = last_.find(b);
    return it != last_.end() && current(it->second, now);
  }
  if (b == a) return true;
  const heard_row* r = latest(a, now);
  return r != nullptr && std::binary_search(r->heard.begin(), r->heard.end(), b);
}

bool reachability::both_ways(node_id a, node_id b, time_point now) const {
  return a == b || (hears(a, b, now) && hears(b, a, now));
}

bool reachability::mergeable_outsider(const std::vector<node_id>& ring, time_point now) const {
  auto in_ring = [&](node_id x) { return std::binary_search(ring.begin(), ring.end(), x); };
  std::vector<node_id> outsiders;
  for (const auto* rows : {&probes_, &joins_})
    for (const auto& [n, r] : *rows)
      if (current(r.at, now) && !in_ring(n)) outsiders.push_back(n);
  for (node_id n : outsiders) {
    // Its ring as its probe names it; a daemon gathering stands for itself.
    auto p = probes_.find(n);
    const std::vector<node_id> theirs =
        p != probes_.end() && current(p->second.at, now) ? p->second.ring : std::vector<node_id>{n};
    if (std::any_of(theirs.begin(), theirs.end(), in_ring)) continue;  // it names one of ours
    const bool all = std::all_of(theirs.begin(), theirs.end(), [&](node_id x) {
      return std::all_of(ring.begin(), ring.end(), [&](node_id m) { return both_ways(x, m, now); });
    });
    if (all) return true;
  }
  return false;
}

std::vector<node_id> reachability::clique(const std::vector<node_id>& candidates,
                                          time_point now) const {
  struct ranked {
    std::size_t degree;
    node_id id;
  };
  std::vector<ranked> order;
  for (node_id v : candidates) {
    std::size_t degree = 0;
    for (node_id u : candidates) degree += u != v && both_ways(u, v, now);
    order.push_back({degree, v});
  }
  std::sort(order.begin(), order.end(), [](const ranked& x, const ranked& y) {
    return x.degree != y.degree ? x.degree > y.degree : x.id < y.id;
  });
  std::vector<node_id> left;
  for (const ranked& r : order) left.push_back(r.id);
  while (!left.empty()) {
    std::vector<node_id> group, rest;
    for (node_id v : left) {
      const bool fits =
          std::all_of(group.begin(), group.end(), [&](node_id g) { return both_ways(v, g, now); });
      (fits ? group : rest).push_back(v);
    }
    if (std::find(group.begin(), group.end(), self_) != group.end()) {
      std::sort(group.begin(), group.end());
      return group;
    }
    left = std::move(rest);
  }
  return {self_};  // self was not a candidate
}

}  // namespace chorus::core
