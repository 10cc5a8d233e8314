// evs_checker_test.cpp — the EVS checker on hand-made histories: valid EVS runs with
// partitions, merges, crashes and restarts pass, and every check fires on a history that
// breaks it. No core::node involved.
#include "sim/evs_checker.hpp"

#include <gtest/gtest.h>

#include <map>

#include "sim/checker.hpp"
#include "sim/payload.hpp"

namespace chorus::sim {
namespace {

using core::duration;
using namespace std::chrono_literals;
constexpr std::uint64_t seed = 7;
using kind = core::configuration::kind;

class fake_probe final : public node_probe {
 public:
  std::set<std::pair<std::uint32_t, std::uint64_t>> missing;
  bool has_received(node_id, seq_t) const override { return true; }
  std::optional<bool> received(node_id n, ring_id, seq_t s) const override {
    return !missing.count({n.value, s.value});
  }
  std::string describe(node_id n) const override { return "fake " + std::to_string(n.value); }
};

class evs_test : public ::testing::Test {
 protected:
  evs_test() : chk_(5, seed, &violation_) {
    for (std::uint32_t n = 1; n <= 5; ++n) start(n);
  }

  void start(std::uint32_t n, std::uint32_t inc = 0) {
    chk_.on_start(node_id{n}, inc, now_);
    inc_[n] = inc;
    count_[n] = 0;
  }
  void crash(std::uint32_t n) { chk_.on_crash(node_id{n}, now_); }
  void install(std::vector<std::uint32_t> at, kind k, ring_id r, std::vector<std::uint32_t> m) {
    core::configuration c;
    c.type = k;
    c.ring = r;
    for (std::uint32_t x : m) c.members.push_back(node_id{x});
    for (std::uint32_t n : at) chk_.on_configuration(node_id{n}, c, now_);
  }
  void regular(std::vector<std::uint32_t> at, ring_id r, std::vector<std::uint32_t> m) {
    install(std::move(at), kind::regular, r, std::move(m));
  }
  void transitional(std::vector<std::uint32_t> at, ring_id r, std::vector<std::uint32_t> m) {
    install(std::move(at), kind::transitional, r, std::move(m));
  }
  msg_id submit(std::uint32_t origin, service svc = service::agreed) {
    const msg_id id{(std::uint64_t{inc_[origin]} << 40) + ++count_[origin]};
    svc_[{origin, id.value}] = svc;
    chk_.on_submit(node_id{origin}, id, svc, 64, now_);
    return id;
  }
  void deliver(std::vector<std::uint32_t> at, std::uint32_t origin, msg_id id, ring_id r,
               std::uint64_t s) {
    core::delivery d;
    d.ring = r;
    d.seq = seq_t{s};
    d.origin = node_id{origin};
    d.id = id;
    d.svc = svc_.at({origin, id.value});
    d.payload = util::shared_bytes(make_payload(seed, d.origin, id, 64));
    for (std::uint32_t n : at) chk_.on_delivery(node_id{n}, d, now_);
  }
  void later(duration d = 1ms) { now_ += d; }
  void expect_ok() { EXPECT_TRUE(violation_.empty()) << violation_; }
  void expect_violation(const std::string& prefix) {
    ASSERT_FALSE(violation_.empty()) << "expected a violation starting with " << prefix;
    EXPECT_EQ(violation_.rfind(prefix, 0), 0u) << violation_;
  }

  static ring_id ring(std::uint32_t rep, std::uint64_t counter) {
    return ring_id{node_id{rep}, counter};
  }

  std::string violation_;
  core::time_point now_{};
  evs_checker chk_;
  std::map<std::uint32_t, std::uint32_t> inc_;
  std::map<std::uint32_t, std::uint64_t> count_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, service> svc_;
};

const std::vector<std::uint32_t> all{1, 2, 3, 4, 5}, left{1, 2, 3}, right{4, 5};

// Five daemons, a 3/2 partition with transitional configurations, then a merge: valid EVS.
TEST_F(evs_test, partition_and_merge_pass) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1), b = submit(4, service::safe);
  deliver(all, 1, a, ring(1, 1), 1);
  deliver(all, 4, b, ring(1, 1), 2);
  const auto c = submit(1);  // only the left side receives it before the split
  later();
  transitional(left, ring(1, 2), left);
  deliver(left, 1, c, ring(1, 1), 3);
  regular(left, ring(1, 2), left);
  transitional(right, ring(4, 2), right);
  regular(right, ring(4, 2), right);
  EXPECT_FALSE(chk_.settled());
  const auto e = submit(2, service::safe), f = submit(5);
  deliver(left, 2, e, ring(1, 2), 1);
  deliver(right, 5, f, ring(4, 2), 1);
  later();
  transitional(left, ring(1, 3), left);
  transitional(right, ring(1, 3), right);
  regular(all, ring(1, 3), all);
  const auto g = submit(3, service::causal);
  deliver(all, 3, g, ring(1, 3), 1);
  EXPECT_TRUE(chk_.complete());
  chk_.finish(now_);
  expect_ok();
}

// EVS lets a SAFE message be delivered in regular C by one daemon and in the transitional
// configuration of C by another that could not know it was safe; strict mode refuses it.
TEST_F(evs_test, regular_and_transitional_delivery_of_one_message) {
  for (bool strict : {false, true}) {
    std::string v;
    evs_checker chk(3, seed, &v);
    chk.set_strict_same_configuration(strict);
    core::configuration r1{kind::regular, ring(1, 1), {node_id{1}, node_id{2}, node_id{3}}};
    core::configuration t1{kind::transitional, ring(1, 2), {node_id{1}}};
    core::configuration t2{kind::transitional, ring(2, 2), {node_id{2}, node_id{3}}};
    for (std::uint32_t n = 1; n <= 3; ++n) {
      chk.on_start(node_id{n}, 0, now_);
      chk.on_configuration(node_id{n}, r1, now_);
    }
    chk.on_submit(node_id{1}, msg_id{1}, service::safe, 64, now_);
    core::delivery d{
        ring(1, 1),    seq_t{1},
        node_id{1},    msg_id{1},
        service::safe, util::shared_bytes(make_payload(seed, node_id{1}, msg_id{1}, 64))};
    chk.on_delivery(node_id{1}, d, now_);  // node 1 saw it safe in the regular configuration
    chk.on_configuration(node_id{1}, t1, now_);
    chk.on_configuration(node_id{2}, t2, now_);
    chk.on_configuration(node_id{3}, t2, now_);
    chk.on_delivery(node_id{2}, d, now_);
    chk.on_delivery(node_id{3}, d, now_);
    EXPECT_EQ(v.empty(), !strict) << v;
    if (strict) {
      EXPECT_EQ(v.rfind("I1 same configuration", 0), 0u) << v;
    }
  }
}

// A crash, the survivors' new ring, a restart as a new incarnation (new ids) and a merge.
TEST_F(evs_test, crash_restart_and_merge_pass) {
  regular(all, ring(1, 1), all);
  const auto a = submit(5);
  deliver({1, 2, 3, 4}, 5, a, ring(1, 1), 1);  // node 5 crashes before delivering its own
  later();
  crash(5);
  const core::time_point crashed = now_;
  later(100ms);
  transitional({1, 2, 3, 4}, ring(1, 2), {1, 2, 3, 4});
  regular({1, 2, 3, 4}, ring(1, 2), {1, 2, 3, 4});
  later();
  start(5, 1);
  const auto b = submit(5);  // id 2^40 + 1
  EXPECT_EQ(b.value, (std::uint64_t{1} << 40) + 1);
  later();
  regular({5}, ring(5, 3), {5});
  transitional({1, 2, 3, 4}, ring(1, 4), {1, 2, 3, 4});
  transitional({5}, ring(1, 4), {5});
  regular(all, ring(1, 4), all);
  deliver(all, 5, b, ring(1, 4), 1);
  chk_.finish(now_);
  expect_ok();
  const auto times = chk_.crash_recovery_times();
  ASSERT_EQ(times.size(), 1u);
  EXPECT_EQ(times[0], 100ms);
  EXPECT_LT(crashed, now_);
}

TEST_F(evs_test, c_first_configuration_is_regular) {
  transitional({1}, ring(1, 1), {1});
  expect_violation("C configuration");
}

TEST_F(evs_test, c_transitional_is_followed_by_regular) {
  regular(all, ring(1, 1), all);
  transitional({1}, ring(1, 2), {1});
  transitional({1}, ring(1, 3), {1});
  expect_violation("C configuration");
}

TEST_F(evs_test, c_regular_is_preceded_by_transitional) {
  regular(all, ring(1, 1), all);
  regular({1}, ring(1, 2), {1});
  expect_violation("C configuration");
}

TEST_F(evs_test, c_one_ring_one_member_set) {
  regular({1, 2}, ring(1, 1), {1, 2});
  regular({3}, ring(1, 1), {1, 2, 3});
  expect_violation("C configuration");
}

TEST_F(evs_test, c_a_restarted_daemon_does_not_reuse_a_ring_id) {
  regular({5}, ring(5, 1), {5});
  crash(5);
  start(5, 1);
  regular({5}, ring(5, 1), {5});
  expect_violation("C configuration");
  EXPECT_NE(violation_.find("must not reuse ring ids"), std::string::npos) << violation_;
}

TEST_F(evs_test, c_member_of_its_configuration) {
  regular({3}, ring(1, 1), {1, 2});
  expect_violation("C configuration");
}

TEST_F(evs_test, c_no_delivery_before_a_configuration) {
  const auto a = submit(1);
  deliver({1}, 1, a, ring(1, 1), 1);
  expect_violation("C configuration");
}

TEST_F(evs_test, i1_at_most_once) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1);
  deliver({2, 2}, 1, a, ring(1, 1), 1);
  expect_violation("I1 at most once");
}

TEST_F(evs_test, i1_same_epoch) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1);
  deliver({1}, 1, a, ring(1, 1), 1);
  transitional({2}, ring(2, 2), {2});
  regular({2}, ring(2, 2), {2});
  deliver({2}, 1, a, ring(2, 2), 1);  // recovered, then delivered again in the new ring
  expect_violation("I1 same configuration");
}

TEST_F(evs_test, i1_ring_field_matches_the_regular_configuration) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1);
  deliver({1}, 1, a, ring(3, 9), 1);
  expect_violation("I1 same configuration");
}

TEST_F(evs_test, i1_same_seq) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1);
  deliver({1}, 1, a, ring(1, 1), 1);
  deliver({2}, 1, a, ring(1, 1), 2);
  expect_violation("I1 same position");
}

TEST_F(evs_test, i2_self_delivery) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1);
  deliver({2, 3, 4, 5}, 1, a, ring(1, 1), 1);
  chk_.finish(now_);
  expect_violation("I2 self-delivery");
}

TEST_F(evs_test, i2_not_for_a_crashed_sender) {
  regular(all, ring(1, 1), all);
  submit(5);
  crash(5);
  transitional({1, 2, 3, 4}, ring(1, 2), {1, 2, 3, 4});
  regular({1, 2, 3, 4}, ring(1, 2), {1, 2, 3, 4});
  chk_.finish(now_);
  expect_ok();
}

TEST_F(evs_test, i3_failure_atomicity) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1);
  deliver({1}, 1, a, ring(1, 1), 1);
  transitional({1, 2}, ring(1, 2), {1, 2});  // 1 and 2 move on together, 2 without a
  expect_violation("I3 failure atomicity");
}

TEST_F(evs_test, i4_pairwise_order) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1), b = submit(2);
  deliver({1}, 1, a, ring(1, 1), 1);
  deliver({1}, 2, b, ring(1, 1), 1);
  deliver({2}, 2, b, ring(1, 1), 1);
  deliver({2}, 1, a, ring(1, 1), 1);
  chk_.check_histories();
  expect_violation("I4 total order");
}

// Pairwise consistent, globally cyclic: 1 delivers a<b, 2 b<c, 3 c<a, each pair sharing one
// message, in three rings the processes visit in different orders.
TEST_F(evs_test, i4_no_cycle_over_three_processes) {
  const auto a = submit(1), b = submit(2), c = submit(3);
  regular({1}, ring(1, 1), {1, 3});
  deliver({1}, 1, a, ring(1, 1), 1);
  regular({2}, ring(2, 2), {1, 2});
  deliver({2}, 2, b, ring(2, 2), 1);
  transitional({1}, ring(2, 2), {1});
  regular({1}, ring(2, 2), {1, 2});
  deliver({1}, 2, b, ring(2, 2), 1);
  transitional({2}, ring(3, 3), {2});
  regular({2}, ring(3, 3), {2, 3});
  regular({3}, ring(3, 3), {2, 3});
  deliver({2, 3}, 3, c, ring(3, 3), 1);
  transitional({3}, ring(1, 1), {3});
  regular({3}, ring(1, 1), {1, 3});
  deliver({3}, 1, a, ring(1, 1), 1);
  expect_ok();
  chk_.check_histories();
  expect_violation("I4 total order: the delivery orders of the processes form a cycle");
}

TEST_F(evs_test, i4_no_holes_in_a_regular_configuration) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1), b = submit(2);
  deliver({1}, 1, a, ring(1, 1), 1);
  deliver({1}, 2, b, ring(1, 1), 2);
  deliver({2}, 2, b, ring(1, 1), 2);  // without a
  chk_.check_histories();
  expect_violation("I4 no holes");
}

TEST_F(evs_test, i4_holes_allowed_in_a_transitional_configuration) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1), b = submit(2);
  transitional({1}, ring(1, 2), {1});
  transitional({2}, ring(2, 2), {2});
  deliver({1}, 1, a, ring(1, 1), 1);
  deliver({1, 2}, 2, b, ring(1, 1), 2);  // node 2 never received a
  chk_.check_histories();
  expect_ok();
}

TEST_F(evs_test, i4_seq_never_decreases) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1), b = submit(2);
  deliver({1}, 1, a, ring(1, 1), 5);
  deliver({1}, 2, b, ring(1, 1), 4);
  expect_violation("I4 total order");
}

TEST_F(evs_test, i5_fifo) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1), b = submit(1);
  deliver({2}, 1, b, ring(1, 1), 1);
  deliver({2}, 1, a, ring(1, 1), 2);
  expect_violation("I5 FIFO");
}

TEST_F(evs_test, i5_fifo_is_per_incarnation) {
  regular(all, ring(1, 1), all);
  const auto a = submit(5);
  deliver(all, 5, a, ring(1, 1), 1);
  crash(5);
  start(5, 1);
  const auto b = submit(5);
  EXPECT_GT(b.value, a.value);
  expect_ok();
}

TEST_F(evs_test, i5_causal) {
  regular(all, ring(1, 1), all);
  const auto b = submit(2);
  deliver({1}, 2, b, ring(1, 1), 1);  // node 1 has delivered 2#1 ...
  transitional({1}, ring(1, 2), {1});
  regular({1}, ring(1, 2), {1});
  const auto a = submit(1);  // ... when it sends 1#1, and crashes before delivering it
  crash(1);
  transitional({3}, ring(3, 2), {3});
  regular({3}, ring(3, 2), {3});
  deliver({3}, 1, a, ring(3, 2), 1);  // node 3 delivers 1#1 without 2#1 before it ...
  chk_.check_histories();
  expect_ok();  // ... which is fine while it never delivers 2#1
  std::string v;
  evs_checker chk(2, seed, &v);  // now node 2 delivers both, the wrong way round
  chk.on_start(node_id{1}, 0, now_);
  chk.on_start(node_id{2}, 0, now_);
  auto conf = [&](std::uint32_t at, kind k, ring_id r, std::vector<std::uint32_t> m) {
    core::configuration c{k, r, {}};
    for (auto x : m) c.members.push_back(node_id{x});
    chk.on_configuration(node_id{at}, c, now_);
  };
  auto dlv = [&](std::uint32_t at, std::uint32_t origin, ring_id r) {
    core::delivery x{r,
                     seq_t{1},
                     node_id{origin},
                     msg_id{1},
                     service::agreed,
                     util::shared_bytes(make_payload(seed, node_id{origin}, msg_id{1}, 64))};
    chk.on_delivery(node_id{at}, x, now_);
  };
  chk.on_submit(node_id{2}, msg_id{1}, service::agreed, 64, now_);
  conf(1, kind::regular, ring(1, 1), {1, 2});
  dlv(1, 2, ring(1, 1));  // node 1 delivers 2#1 in ring 1.1 ...
  conf(1, kind::transitional, ring(1, 3), {1});
  conf(1, kind::regular, ring(1, 3), {1, 2});
  chk.on_submit(node_id{1}, msg_id{1}, service::agreed, 64, now_);  // ... then sends 1#1
  chk.on_crash(node_id{1}, now_);
  conf(2, kind::regular, ring(1, 3), {1, 2});
  dlv(2, 1, ring(1, 3));  // node 2 delivers 1#1 first
  conf(2, kind::transitional, ring(1, 4), {2});
  conf(2, kind::regular, ring(1, 4), {2});
  conf(2, kind::transitional, ring(1, 1), {2});
  conf(2, kind::regular, ring(1, 1), {1, 2});
  dlv(2, 2, ring(1, 1));  // and 2#1 after it
  chk.check_histories();
  EXPECT_EQ(v.rfind("I5 causal", 0), 0u) << v;
}

TEST_F(evs_test, i6_safe_member_moves_on_without_it) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1, service::safe);
  deliver({1}, 1, a, ring(1, 1), 1);
  transitional({2}, ring(2, 2), {2});
  regular({2}, ring(2, 2), {2});
  expect_violation("I6 safe delivery");
}

TEST_F(evs_test, i6_safe_delivered_after_a_member_moved_on) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1, service::safe);
  transitional({2}, ring(2, 2), {2});
  regular({2}, ring(2, 2), {2});
  expect_ok();
  deliver({1}, 1, a, ring(1, 1), 1);
  expect_violation("I6 safe delivery");
}

TEST_F(evs_test, i6_safe_exempts_a_crashed_member) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1, service::safe);
  deliver({1, 2, 3, 4}, 1, a, ring(1, 1), 1);
  crash(5);
  transitional({1, 2, 3, 4}, ring(1, 2), {1, 2, 3, 4});
  regular({1, 2, 3, 4}, ring(1, 2), {1, 2, 3, 4});
  chk_.finish(now_);
  expect_ok();
}

TEST_F(evs_test, i6_safe_in_a_transitional_configuration) {
  regular(all, ring(1, 1), all);
  const auto a = submit(1, service::safe);
  transitional({1, 2}, ring(1, 2), {1, 2});
  deliver({1}, 1, a, ring(1, 1), 1);
  regular({2}, ring(1, 2), {1, 2});  // node 2 leaves the transitional configuration without it
  expect_violation("I6 safe delivery");
}

TEST_F(evs_test, i6_probe_for_members_still_in_the_ring) {
  fake_probe probe;
  probe.missing.insert({3, 1});
  chk_.set_probe(&probe);
  regular(all, ring(1, 1), all);
  const auto a = submit(1, service::safe);
  deliver({1}, 1, a, ring(1, 1), 1);
  expect_violation("I6 safe delivery");
  EXPECT_NE(violation_.find("node 3 has not received seq 1"), std::string::npos) << violation_;
}

TEST_F(evs_test, i6_member_that_never_installed) {
  regular({1, 2, 3, 4}, ring(1, 1), all);  // node 5 is listed but never installs
  const auto a = submit(1, service::safe);
  later();
  deliver({1, 2, 3, 4}, 1, a, ring(1, 1), 1);
  chk_.check_histories();
  expect_violation("I6 safe delivery");
}

TEST_F(evs_test, i7_transitional_sets) {
  regular(all, ring(1, 1), all);
  transitional({1, 2}, ring(1, 2), {1, 2});  // 3 came from the same ring but is left out
  transitional({3}, ring(1, 2), {3});
  regular(left, ring(1, 2), left);
  expect_ok();
  chk_.check_histories();
  expect_violation("I7 transitional sets");
}

TEST_F(evs_test, l8_settled_and_complete) {
  regular(all, ring(1, 1), all);
  EXPECT_TRUE(chk_.settled());
  const auto a = submit(1);
  EXPECT_FALSE(chk_.complete());  // 1 has not delivered its own message
  deliver({1, 2}, 1, a, ring(1, 1), 1);
  EXPECT_FALSE(chk_.complete());  // 3, 4, 5 delivered fewer in the configuration
  deliver({3, 4, 5}, 1, a, ring(1, 1), 1);
  EXPECT_TRUE(chk_.complete());
  crash(5);
  EXPECT_FALSE(chk_.settled());  // the ring still names node 5
  transitional({1, 2, 3, 4}, ring(1, 2), {1, 2, 3, 4});
  regular({1, 2, 3, 4}, ring(1, 2), {1, 2, 3, 4});
  EXPECT_TRUE(chk_.complete());
  chk_.finish(now_);
  expect_ok();
}

TEST_F(evs_test, l8_finish_fails_when_not_settled) {
  regular(left, ring(1, 1), left);
  regular(right, ring(4, 1), right);
  chk_.finish(now_);
  expect_violation("L8 liveness");
}

TEST_F(evs_test, submit_ids_follow_the_incarnation) {
  chk_.on_submit(node_id{2}, msg_id{(std::uint64_t{1} << 40) + 1}, service::agreed, 1, now_);
  expect_violation("submit");
}

TEST_F(evs_test, crash_recovery_time_is_open_until_survivors_move) {
  regular(all, ring(1, 1), all);
  crash(5);
  EXPECT_TRUE(chk_.crash_recovery_times().empty());
  later(30ms);
  transitional({1, 2, 3, 4}, ring(1, 2), {1, 2, 3, 4});
  regular({1, 2, 3, 4}, ring(1, 2), {1, 2, 3, 4});
  ASSERT_EQ(chk_.crash_recovery_times().size(), 1u);
  EXPECT_EQ(chk_.crash_recovery_times()[0], 30ms);
}

}  // namespace
}  // namespace chorus::sim
