// network_test.cpp — the simulated network without nodes: FIFO links, loss, duplication,
// reordering, clogs, links going down, scripted rules and determinism.
#include "sim/network.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace chorus::sim {
namespace {

util::shared_bytes token_bytes(std::uint64_t rotation) {
  wire::token t;
  t.hdr.type = wire::packet_type::token;
  t.rotation = rotation;
  util::byte_vector v;
  wire::encode(t, v);
  return util::shared_bytes(std::move(v));
}

util::shared_bytes data_bytes(std::uint64_t seq) {
  wire::data_packet p;
  p.seq = wire::seq_t{seq};
  util::byte_vector v;
  wire::encode(p, v);
  return util::shared_bytes(std::move(v));
}

struct arrival {
  time_point at;
  std::uint64_t id;
  node_id from, to;
  bool copy;
};

// A network of `n` nodes and a loop that collects what arrives.
struct harness {
  explicit harness(link_params p, std::size_t n = 3, std::uint64_t seed = 7)
      : net(n, p, util::prng(seed), sched, tr) {}

  std::vector<arrival> run(time_point limit = time_point{} + 1s) {
    std::vector<arrival> out;
    while (!sched.empty() && sched.next_time() <= limit) {
      event e = sched.pop();
      if (auto* p = std::get_if<in_flight>(&e)) {
        const arrival a{sched.now(), p->id, p->from, p->to, p->copy};
        if (net.arrive(*p)) out.push_back(a);
      } else if (auto* a = std::get_if<action>(&e)) {
        (*a)();
      }
    }
    return out;
  }

  trace tr;
  scheduler sched;
  network net;
};

const node_id n1{1}, n2{2}, n3{3};

TEST(network, links_are_fifo_with_delay_and_jitter) {
  harness h({.delay = 20us, .jitter = 180us});
  for (int i = 0; i < 200; ++i) h.net.send(n1, n2, data_bytes(i + 1));
  const auto got = h.run();
  ASSERT_EQ(got.size(), 200u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, i + 1);
    EXPECT_GE(got[i].at, time_point{} + 20us);
    if (i > 0) {
      EXPECT_GE(got[i].at, got[i - 1].at);
    }
  }
}

TEST(network, loss_duplication_and_reordering) {
  harness h({.loss = 0.2, .dup = 0.1, .reorder = 0.2});
  for (int i = 0; i < 2000; ++i) h.net.send(n1, n2, data_bytes(i + 1));
  const auto got = h.run();
  const auto& s = h.net.stats();
  EXPECT_GT(s.lost, 300u);
  EXPECT_LT(s.lost, 500u);
  EXPECT_GT(s.duplicated, 100u);
  EXPECT_GT(s.reordered, 200u);
  EXPECT_EQ(got.size(), 2000u - s.lost + s.duplicated);
  std::size_t inversions = 0;
  for (std::size_t i = 1; i < got.size(); ++i) inversions += got[i].id < got[i - 1].id;
  EXPECT_GT(inversions, 0u);
}

TEST(network, same_seed_same_fates) {
  auto fates = [](std::uint64_t seed) {
    harness h({.loss = 0.1, .dup = 0.1, .reorder = 0.1}, 3, seed);
    for (int i = 0; i < 300; ++i)
      h.net.send(node_id{1u + i % 3}, node_id{1u + (i + 1) % 3}, data_bytes(1));
    std::vector<std::pair<std::int64_t, std::uint64_t>> v;
    for (const arrival& a : h.run()) v.emplace_back(a.at.time_since_epoch().count(), a.id);
    return std::make_pair(v, h.tr.hash());
  };
  EXPECT_EQ(fates(1), fates(1));
  EXPECT_NE(fates(1).second, fates(2).second);
}

TEST(network, rules_drop_the_next_k_of_a_type) {
  harness h({});
  h.net.add_rule({.from = n1, .to = n2, .type = wire::packet_type::token, .count = 2});
  for (int i = 0; i < 4; ++i) {
    h.net.send(n1, n2, token_bytes(i));
    h.net.send(n1, n2, data_bytes(i + 1));
    h.net.send(n1, n3, token_bytes(i));
  }
  const auto got = h.run();
  EXPECT_EQ(got.size(), 10u);
  EXPECT_EQ(h.net.stats().dropped_scripted, 2u);
  // Transmissions 1 and 4 (the first two tokens 1->2) are the ones dropped.
  for (const arrival& a : got) EXPECT_TRUE(a.id != 1 && a.id != 4) << a.id;
}

TEST(network, filter_sees_every_transmission) {
  harness h({.loss = 1.0});
  int seen = 0;
  h.net.set_filter([&](const in_flight& p) {
    ++seen;
    return p.type == wire::packet_type::token ? verdict::deliver : verdict::pass;
  });
  h.net.send(n1, n2, token_bytes(1));
  h.net.send(n1, n2, data_bytes(1));
  const auto got = h.run();
  EXPECT_EQ(seen, 2);
  ASSERT_EQ(got.size(), 1u);  // the token is exempt from loss, the data is lost
  EXPECT_EQ(got[0].id, 1u);
}

TEST(network, a_clog_holds_until_it_ends) {
  harness h({.delay = 10us, .jitter = 0us});
  const time_point until = time_point{} + 5ms;
  h.net.clog(n1, n2, until);
  h.net.send(n1, n2, data_bytes(1));
  h.net.send(n2, n1, data_bytes(2));
  const auto got = h.run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].to, n1);
  EXPECT_EQ(got[0].at, time_point{} + 10us);
  EXPECT_EQ(got[1].to, n2);
  EXPECT_EQ(got[1].at, until + 10us);
}

TEST(network, a_clog_during_flight_holds_the_arrival) {
  harness h({.delay = 100us, .jitter = 0us});
  h.net.send(n1, n2, data_bytes(1));
  h.sched.at(time_point{} + 50us, action([&] { h.net.clog(n1, n2, time_point{} + 1ms); }));
  const auto got = h.run();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].at, time_point{} + 1ms + 100us);
  EXPECT_EQ(h.net.stats().held, 1u);
}

TEST(network, a_link_going_down_loses_what_is_in_flight) {
  harness h({});
  h.net.send(n1, n2, data_bytes(1));
  h.net.set_up(n1, n2, false);
  h.net.send(n1, n2, data_bytes(2));
  h.net.send(n2, n1, data_bytes(3));
  const auto got = h.run();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].from, n2);
  EXPECT_EQ(h.net.stats().dropped_link_down, 2u);
}

TEST(network, heal_cleans_every_link) {
  harness h({.loss = 1.0});
  rule everything;
  everything.count = 100;
  h.net.add_rule(everything);
  h.net.clog(n1, n2, time_point{} + 1s);
  h.net.heal();
  for (int i = 0; i < 50; ++i) h.net.send(n1, n2, data_bytes(1));
  EXPECT_EQ(h.run().size(), 50u);
}

TEST(network, random_clogs_stop_at_heal) {
  harness h({});
  h.net.start_random_clogs(1.0, 10ms, 2ms);
  h.run(time_point{} + 35ms);
  EXPECT_EQ(h.net.stats().clogs, 3u * 6u);
  h.net.heal();
  h.run(time_point{} + 1s);
  EXPECT_TRUE(h.sched.empty());
  EXPECT_EQ(h.net.stats().clogs, 3u * 6u);
}

}  // namespace
}  // namespace chorus::sim

namespace chorus::sim {
namespace {

// Membership faults: a crashed node's links are down both ways, and what was in flight is lost
// even when the node is back before it would have arrived.
TEST(network, a_crash_loses_in_flight_traffic_for_good) {
  link_params p;
  p.delay = 100us;
  p.jitter = 0us;
  harness h(p);
  h.net.send(n1, n2, token_bytes(1));
  h.net.send(n2, n3, token_bytes(2));
  h.sched.after(10us, action([&] { h.net.set_node_up(n2, false); }));
  h.sched.after(20us, action([&] { h.net.set_node_up(n2, true); }));  // restarted at once
  h.sched.after(30us, action([&] { h.net.send(n1, n2, token_bytes(3)); }));
  const auto got = h.run();
  ASSERT_EQ(got.size(), 1u);  // only the transmission sent after the restart
  EXPECT_EQ(got[0].id, 3u);
  EXPECT_TRUE(h.net.link(n3, n2).up);
  EXPECT_EQ(h.net.stats().dropped_link_down, 2u);
}

TEST(network, partitions_cut_between_sides_and_heal) {
  harness h(link_params{}, 4);
  const node_id n4{4};
  h.net.partition({{n1, n2}, {n3}}, false);  // node 4 in no side: a side of its own
  EXPECT_TRUE(h.net.link(n1, n2).up);
  EXPECT_FALSE(h.net.link(n1, n3).up);
  EXPECT_FALSE(h.net.link(n3, n1).up);
  EXPECT_FALSE(h.net.link(n4, n3).up);
  h.net.partition({{n1}, {n2}}, true);  // replaces the first: only 1 → 2 is cut (and → 3, 4)
  EXPECT_FALSE(h.net.link(n1, n2).up);
  EXPECT_TRUE(h.net.link(n2, n1).up);
  EXPECT_TRUE(h.net.link(n3, n4).up);
  h.net.set_node_up(n3, false);
  h.net.heal_partition();
  EXPECT_TRUE(h.net.link(n1, n2).up);
  EXPECT_FALSE(h.net.link(n1, n3).up);  // crashed nodes stay down
  h.net.heal();
  EXPECT_FALSE(h.net.link(n3, n1).up);
  EXPECT_FALSE(h.net.node_up(n3));
}

TEST(network, the_observer_sees_every_transmission) {
  harness h(link_params{});
  std::vector<wire::packet_type> seen;
  h.net.set_observer([&](const in_flight& p) { seen.push_back(p.type); });
  h.net.add_rule({.type = wire::packet_type::data, .count = 1});
  h.net.send(n1, n2, data_bytes(1));
  h.net.send(n1, n2, token_bytes(1));
  EXPECT_EQ(seen,
            (std::vector<wire::packet_type>{wire::packet_type::data, wire::packet_type::token}));
  h.net.heal();
  h.net.send(n1, n2, token_bytes(2));
  EXPECT_EQ(seen.size(), 2u);
}

}  // namespace
}  // namespace chorus::sim
