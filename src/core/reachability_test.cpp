#include "core/reachability.hpp"

#include <gtest/gtest.h>

namespace chorus::core {
namespace {

node_id n(std::uint32_t v) { return node_id{v}; }
std::vector<node_id> ids(std::initializer_list<std::uint32_t> v) {
  std::vector<node_id> out;
  for (auto x : v) out.push_back(n(x));
  return out;
}
const time_point t0 = time_point{} + 1s;

// Daemon `self` of 1..3 where everything works but the link 3 → 1.
reachability one_way_3_to_1(std::uint32_t self) {
  reachability r(n(self), 1s);
  const std::vector<std::vector<node_id>> hears = {{}, ids({2}), ids({1, 3}), ids({1, 2})};
  for (std::uint32_t d = 1; d <= 3; ++d) {
    if (d == self) {
      for (node_id h : hears[d]) r.heard_from(h, t0);
    } else if (d != 3 || self != 1) {  // 1 never hears 3, so it has no row of 3's
      r.row(n(d), hears[d], {n(d)}, false, t0);
    }
  }
  return r;
}

TEST(reachability, a_one_way_link_puts_every_daemon_in_the_same_split) {
  // 1-2 and 2-3 work both ways, 1-3 only one way: 2 hears most, so {1,2} form first and 3 is
  // alone — whichever daemon computes it.
  for (std::uint32_t self : {1u, 2u, 3u}) {
    auto r = one_way_3_to_1(self);
    EXPECT_EQ(r.clique(ids({1, 2, 3}), t0), self == 3 ? ids({3}) : ids({1, 2})) << self;
  }
}

TEST(reachability, heard_counts_within_the_window_and_since_the_reset) {
  reachability r(n(1), 100ms);
  EXPECT_TRUE(r.heard_from(n(2), t0));
  EXPECT_FALSE(r.heard_from(n(2), t0 + 50ms));  // heard already
  EXPECT_EQ(r.heard(t0 + 120ms), ids({2}));
  EXPECT_TRUE(r.heard(t0 + 200ms).empty());
  EXPECT_TRUE(r.heard_from(n(2), t0 + 200ms));  // heard again after a silence
  r.reset(t0 + 210ms);
  EXPECT_TRUE(r.heard(t0 + 210ms).empty());
  EXPECT_FALSE(r.heard_from(n(1), t0 + 220ms));  // self is never heard
}

TEST(reachability, an_unknown_or_stale_row_hears_nobody) {
  reachability r(n(1), 100ms);
  r.heard_from(n(2), t0);
  EXPECT_FALSE(r.both_ways(n(1), n(2), t0));  // no row of 2's
  r.row(n(2), ids({1}), ids({2}), true, t0);
  EXPECT_TRUE(r.both_ways(n(1), n(2), t0));
  EXPECT_FALSE(r.both_ways(n(1), n(2), t0 + 150ms));  // both too old
  EXPECT_EQ(r.clique(ids({1, 2}), t0 + 150ms), ids({1}));
}

TEST(reachability, a_symmetric_partition_splits_along_it) {
  reachability r(n(4), 1s);
  for (auto h : {5u}) r.heard_from(n(h), t0);
  r.row(n(5), ids({4}), ids({4, 5}), true, t0);
  r.row(n(1), ids({2, 3}), ids({1, 2, 3}), true, t0);
  r.row(n(2), ids({1, 3}), ids({1, 2, 3}), true, t0);
  EXPECT_EQ(r.clique(ids({1, 2, 3, 4, 5}), t0), ids({4, 5}));
  EXPECT_FALSE(r.mergeable_outsider(ids({4, 5}), t0));
}

TEST(reachability, a_merge_needs_every_pair_of_both_rings_to_hear_each_other) {
  // Ring {1,3} after the link 2 → 3 failed: 2 hears and is heard by 1, but 3 does not hear 2.
  reachability r(n(1), 1s);
  r.heard_from(n(2), t0);
  r.heard_from(n(3), t0);
  r.row(n(3), ids({1}), ids({1, 3}), true, t0);
  r.row(n(2), ids({1, 3}), ids({2}), true, t0);
  EXPECT_FALSE(r.mergeable_outsider(ids({1, 3}), t0));
  r.row(n(3), ids({1, 2}), ids({1, 3}), true, t0 + 10ms);  // the link is back
  EXPECT_TRUE(r.mergeable_outsider(ids({1, 3}), t0 + 10ms));
  // A ring of the outsider's with a daemon we know nothing of waits for its row.
  r.row(n(2), ids({1, 3, 4}), ids({2, 4}), true, t0 + 20ms);
  EXPECT_FALSE(r.mergeable_outsider(ids({1, 3}), t0 + 20ms));
}

}  // namespace
}  // namespace chorus::core
