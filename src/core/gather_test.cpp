// gather_test.cpp — the gather phase's sets: consensus among daemons that agree, giving up on
// silent ones at the consensus timeout, merging the sets of another ring, ignoring the failed,
// and refusing to share a ring with a daemon that gave up on us.
#include "core/gather.hpp"

#include <gtest/gtest.h>

namespace chorus::core {
namespace {

std::vector<node_id> ids(std::initializer_list<std::uint32_t> l) {
  std::vector<node_id> v;
  for (auto i : l) v.push_back(node_id{i});
  return v;
}

TEST(gather_sets, reaches_consensus_when_everyone_sends_the_same_sets) {
  gather_sets g(node_id{2}, ids({3, 1}));
  EXPECT_EQ(g.proc(), ids({1, 2, 3}));
  EXPECT_FALSE(g.consensus());
  EXPECT_EQ(g.on_join(node_id{1}, ids({1, 2, 3}), {}), gather_sets::outcome::unchanged);
  EXPECT_FALSE(g.consensus());
  EXPECT_EQ(g.on_join(node_id{3}, ids({1, 2, 3}), {}), gather_sets::outcome::unchanged);
  EXPECT_TRUE(g.consensus());
  EXPECT_EQ(g.members(), ids({1, 2, 3}));
  EXPECT_EQ(g.representative(), node_id{1});
  g.check_invariants();
}

TEST(gather_sets, gives_up_on_silent_daemons_at_the_consensus_timeout) {
  gather_sets g(node_id{1}, ids({1, 2, 3}));
  g.on_join(node_id{2}, ids({1, 2, 3}), {});
  EXPECT_FALSE(g.consensus());
  EXPECT_TRUE(g.fail_unagreed());
  EXPECT_EQ(g.fail(), ids({3}));
  EXPECT_EQ(g.members(), ids({1, 2}));
  EXPECT_FALSE(g.consensus()) << "2 agreed to the old sets, not to the new ones";
  EXPECT_EQ(g.on_join(node_id{2}, ids({1, 2, 3}), ids({3})), gather_sets::outcome::unchanged);
  EXPECT_TRUE(g.consensus());
  EXPECT_FALSE(g.fail_unagreed());
  g.check_invariants();
}

TEST(gather_sets, merges_the_sets_of_another_ring) {
  gather_sets g(node_id{1}, ids({1, 2}));
  EXPECT_EQ(g.on_join(node_id{3}, ids({3, 4}), {}), gather_sets::outcome::changed);
  EXPECT_EQ(g.proc(), ids({1, 2, 3, 4}));
  EXPECT_FALSE(g.consensus());
  for (std::uint32_t n : {2u, 3u, 4u}) g.on_join(node_id{n}, ids({1, 2, 3, 4}), {});
  EXPECT_TRUE(g.consensus());
  g.check_invariants();
}

TEST(gather_sets, ignores_failed_daemons_and_those_that_failed_us) {
  gather_sets g(node_id{1}, ids({1, 2, 3}), ids({3}));
  EXPECT_EQ(g.on_join(node_id{3}, ids({1, 2, 3}), {}), gather_sets::outcome::ignored);
  // Regression (node_test restart): failing a daemon because a join of its said it failed us
  // made daemons exclude each other over stale joins for ever.
  EXPECT_EQ(g.on_join(node_id{2}, ids({1, 2, 3}), ids({1})), gather_sets::outcome::ignored);
  EXPECT_EQ(g.members(), ids({1, 2}));
  EXPECT_FALSE(g.consensus());
  EXPECT_TRUE(g.fail_unagreed());
  EXPECT_TRUE(g.consensus()) << "alone, a daemon agrees with itself";
  g.check_invariants();
}

TEST(gather_sets, a_foreign_sender_joins_proc) {
  gather_sets g(node_id{1}, ids({1, 2}));
  EXPECT_TRUE(g.add(node_id{5}));
  EXPECT_FALSE(g.add(node_id{5}));
  EXPECT_EQ(g.proc(), ids({1, 2, 5}));
  g.check_invariants();
}

}  // namespace
}  // namespace chorus::core
