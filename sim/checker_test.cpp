// checker_test.cpp — the checker fires on each kind of bad run (a checker that cannot fail
// proves nothing) and stays quiet on a good one. Drives the checker directly with hand-made
// submits and deliveries; no core::node involved.
#include "sim/checker.hpp"

#include <gtest/gtest.h>

#include <set>

#include "sim/payload.hpp"

namespace chorus::sim {
namespace {

constexpr std::uint64_t seed = 42;
const ring_id ring{node_id{1}, 1};

// A probe whose nodes have received everything except the (node, seq) pairs listed.
class fake_probe final : public node_probe {
 public:
  std::set<std::pair<std::uint32_t, std::uint64_t>> missing;
  bool has_received(node_id n, seq_t s) const override {
    return !missing.count({n.value, s.value});
  }
  std::string describe(node_id n) const override { return "fake node " + std::to_string(n.value); }
};

class checker_test : public ::testing::Test {
 protected:
  checker_test() : chk_({node_id{1}, node_id{2}, node_id{3}}, ring, seed) {
    chk_.set_probe(&probe_);
    for (std::uint32_t n = 1; n <= 3; ++n) configure(n);
  }

  void configure(std::uint32_t n) {
    core::configuration c;
    c.ring = ring;
    c.members = {node_id{1}, node_id{2}, node_id{3}};
    chk_.on_configuration(node_id{n}, c, now_);
  }
  // Node `origin` submits its next message.
  msg_id submit(std::uint32_t origin, service svc = service::agreed, std::size_t size = 100) {
    const msg_id id{++ids_[origin]};
    sizes_[{origin, id.value}] = size;
    chk_.on_submit(node_id{origin}, id, svc, size, now_);
    return id;
  }
  core::delivery make(std::uint32_t origin, msg_id id, std::uint64_t s,
                      service svc = service::agreed) {
    core::delivery d;
    d.ring = ring;
    d.seq = seq_t{s};
    d.origin = node_id{origin};
    d.id = id;
    d.svc = svc;
    d.payload = util::shared_bytes(make_payload(seed, d.origin, id, sizes_.at({origin, id.value})));
    return d;
  }
  void deliver(std::uint32_t at, const core::delivery& d) {
    chk_.on_delivery(node_id{at}, d, now_);
  }
  void deliver_all(const core::delivery& d) {
    for (std::uint32_t n = 1; n <= 3; ++n) deliver(n, d);
  }
  // The violation starts with `prefix`.
  void expect_violation(const std::string& prefix) {
    ASSERT_FALSE(chk_.ok()) << "expected a violation starting with " << prefix;
    EXPECT_EQ(chk_.violation().rfind(prefix, 0), 0u) << chk_.violation();
  }

  core::time_point now_{};
  fake_probe probe_;
  checker chk_;
  std::map<std::uint32_t, std::uint64_t> ids_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::size_t> sizes_;
};

TEST_F(checker_test, a_good_run_passes) {
  const auto a = submit(1, service::safe);
  const auto b = submit(2, service::fifo, 5000);
  const auto u = submit(3, service::unreliable);
  const auto c = submit(3, service::causal, 0);
  deliver_all(make(1, a, 1, service::safe));
  deliver(1, make(3, u, 2, service::unreliable));  // UNRELIABLE may miss nodes 2 and 3
  deliver_all(make(2, b, 3, service::fifo));
  deliver_all(make(3, c, 3, service::causal));
  EXPECT_TRUE(chk_.complete());
  chk_.finish(now_);
  EXPECT_TRUE(chk_.ok()) << chk_.violation();
  EXPECT_EQ(chk_.unreliable_missing(), 2u);
}

TEST_F(checker_test, i1_duplicate_delivery) {
  const auto a = submit(1);
  deliver(2, make(1, a, 1));
  deliver(2, make(1, a, 1));
  expect_violation("I1 at most once");
}

TEST_F(checker_test, i1_duplicate_unreliable_delivery) {
  const auto a = submit(1, service::unreliable);
  deliver(2, make(1, a, 1, service::unreliable));
  deliver(2, make(1, a, 1, service::unreliable));
  expect_violation("I1 at most once");
}

TEST_F(checker_test, i1_other_ring) {
  const auto a = submit(1);
  auto d = make(1, a, 1);
  d.ring = ring_id{node_id{2}, 7};
  deliver(1, d);
  expect_violation("I1 same configuration");
}

TEST_F(checker_test, i1_other_seq) {
  const auto a = submit(1);
  deliver(1, make(1, a, 1));
  deliver(2, make(1, a, 2));
  expect_violation("I1 same position");
}

TEST_F(checker_test, i2_self_delivery) {
  const auto a = submit(1);
  deliver(2, make(1, a, 1));
  deliver(3, make(1, a, 1));
  chk_.finish(now_);
  expect_violation("I2 self-delivery");
}

TEST_F(checker_test, completion) {
  const auto a = submit(1);
  deliver(1, make(1, a, 1));
  deliver(2, make(1, a, 1));
  EXPECT_FALSE(chk_.complete());
  ASSERT_EQ(chk_.missing_report(3).size(), 1u);
  EXPECT_NE(chk_.missing_report(3)[0].find("node 3 misses 1 messages, first 1#1"),
            std::string::npos);
  chk_.finish(now_);
  expect_violation("L completion");
}

TEST_F(checker_test, i4_order) {
  const auto a = submit(1);
  const auto b = submit(2);
  deliver(1, make(1, a, 1));
  deliver(1, make(2, b, 2));
  deliver(2, make(2, b, 2));
  expect_violation("I4 total order");
}

TEST_F(checker_test, i4_seq_goes_back) {
  const auto a = submit(1);
  const auto b = submit(2);
  deliver(1, make(1, a, 5));
  deliver(1, make(2, b, 4));
  expect_violation("I4 total order");
}

TEST_F(checker_test, i4_hole) {
  const auto a = submit(1);
  const auto b = submit(2);
  const auto c = submit(3);
  deliver(1, make(1, a, 1));
  deliver(1, make(2, b, 2));
  deliver(1, make(3, c, 3));
  deliver(2, make(1, a, 1));
  deliver(2, make(3, c, 3));  // skips 2#1
  expect_violation("I4 total order");
}

TEST_F(checker_test, i5_fifo) {
  const auto a1 = submit(1);
  const auto a2 = submit(1);
  deliver(2, make(1, a2, 2));
  (void)a1;
  expect_violation("I5 FIFO");
}

TEST_F(checker_test, i5_fifo_may_skip_unreliable_only) {
  const auto u = submit(1, service::unreliable);
  const auto a = submit(1);
  deliver(2, make(1, a, 2));  // 1#1 is UNRELIABLE: skipping it is allowed
  EXPECT_TRUE(chk_.ok()) << chk_.violation();
  (void)u;
}

TEST_F(checker_test, i5_causal) {
  const auto b = submit(2);
  deliver(1, make(2, b, 1));  // node 1 has delivered 2#1 ...
  const auto a = submit(1);   // ... when it sends 1#1
  deliver(2, make(1, a, 2));  // node 2 delivers 1#1 without 2#1 before it
  expect_violation("I5 causal");
}

TEST_F(checker_test, i6_safe) {
  const auto a = submit(1, service::safe);
  probe_.missing.insert({3, 1});
  deliver(1, make(1, a, 1, service::safe));
  expect_violation("I6 safe delivery");
  EXPECT_NE(chk_.violation().find("node 3 has not received seq 1"), std::string::npos);
}

TEST_F(checker_test, i6_only_for_safe) {
  const auto a = submit(1, service::agreed);
  probe_.missing.insert({3, 1});
  deliver(1, make(1, a, 1));
  EXPECT_TRUE(chk_.ok()) << chk_.violation();
}

TEST_F(checker_test, integrity_bytes) {
  const auto a = submit(1, service::agreed, 3000);
  auto d = make(1, a, 1);
  util::byte_vector v(d.payload.span().begin(), d.payload.span().end());
  v[2999] ^= std::byte{1};
  d.payload = util::shared_bytes(std::move(v));
  deliver(2, d);
  expect_violation("P integrity");
  EXPECT_NE(chk_.violation().find("offset 2999"), std::string::npos);
}

TEST_F(checker_test, integrity_size_service_and_origin) {
  const auto a = submit(1, service::agreed, 10);
  auto d = make(1, a, 1);
  d.payload = util::shared_bytes(make_payload(seed, node_id{1}, a, 9));
  deliver(2, d);
  expect_violation("P integrity");

  checker other({node_id{1}}, ring, seed);
  other.on_configuration(
      node_id{1}, core::configuration{core::configuration::kind::regular, ring, {node_id{1}}},
      now_);
  other.on_submit(node_id{1}, msg_id{1}, service::safe, 10, now_);
  auto e = make(1, a, 1, service::agreed);
  other.on_delivery(node_id{1}, e, now_);
  EXPECT_EQ(other.violation().rfind("P integrity", 0), 0u) << other.violation();

  checker third({node_id{1}}, ring, seed);
  third.on_configuration(
      node_id{1}, core::configuration{core::configuration::kind::regular, ring, {node_id{1}}},
      now_);
  third.on_delivery(node_id{1}, e, now_);  // never submitted
  EXPECT_EQ(third.violation().rfind("P integrity", 0), 0u) << third.violation();
}

TEST_F(checker_test, configuration_rules) {
  checker c({node_id{1}, node_id{2}}, ring, seed);
  c.on_submit(node_id{1}, msg_id{1}, service::agreed, 0, now_);
  core::delivery d;
  d.ring = ring;
  d.seq = seq_t{1};
  d.origin = node_id{1};
  d.id = msg_id{1};
  c.on_delivery(node_id{2}, d, now_);  // before any configuration
  EXPECT_EQ(c.violation().rfind("C configuration", 0), 0u) << c.violation();

  checker t({node_id{1}, node_id{2}}, ring, seed);
  t.on_configuration(
      node_id{1},
      core::configuration{core::configuration::kind::transitional, ring, {node_id{1}, node_id{2}}},
      now_);
  EXPECT_EQ(t.violation().rfind("C configuration", 0), 0u) << t.violation();
}

TEST_F(checker_test, submit_ids_must_count_from_one) {
  chk_.on_submit(node_id{2}, msg_id{2}, service::agreed, 1, now_);
  expect_violation("submit");
}

TEST_F(checker_test, first_violation_wins) {
  chk_.fail("first");
  chk_.fail("second");
  EXPECT_EQ(chk_.violation(), "first");
}

}  // namespace
}  // namespace chorus::sim
