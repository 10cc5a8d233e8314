// sim_test.cpp — whole runs: a seed replays to its trace hash (in process, and through the
// printed replay command), different seeds differ, tracing does not perturb a run, scripted
// faults slot in, and the completion check can fail.
#include <gtest/gtest.h>

#include <sstream>

#include "sim/cli.hpp"
#include "sim/simulation.hpp"

namespace chorus::sim {
namespace {

options faulty(std::uint64_t seed) {
  options o;
  o.seed = seed;
  o.nodes = 4;
  o.loss = 0.1;
  o.dup = 0.05;
  o.reorder = 0.05;
  o.clog = 0.01;
  o.messages = 20;
  o.fault_ms = 100;
  return o;
}

report run(const options& o) { return simulation(o).run(); }

std::vector<std::string> split(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

TEST(simulation, same_seed_same_trace_hash) {
  const report a = run(faulty(0x1234));
  const report b = run(faulty(0x1234));
  ASSERT_TRUE(a.ok) << a.failure;
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.trace_events, b.trace_events);
  EXPECT_GT(a.deliveries, 0u);
  EXPECT_GT(a.net.lost, 0u);
}

TEST(simulation, different_seeds_different_hashes) {
  EXPECT_NE(run(faulty(1)).trace_hash, run(faulty(2)).trace_hash);
  options o = faulty(1);
  o.loss = 0.11;
  EXPECT_NE(run(faulty(1)).trace_hash, run(o).trace_hash);
}

TEST(simulation, tracing_does_not_change_the_run) {
  std::FILE* sink = std::tmpfile();
  ASSERT_NE(sink, nullptr);
  const report traced = simulation(faulty(77), sink).run();
  EXPECT_GT(std::ftell(sink), 0);
  std::fclose(sink);
  EXPECT_EQ(traced.trace_hash, run(faulty(77)).trace_hash);
}

TEST(simulation, describe_names_every_option_seed_first) {
  const std::string d = describe(faulty(0xabc));
  EXPECT_EQ(d.rfind("seed=0xabc nodes=4 loss=0.1 dup=0.05 reorder=0.05 ", 0), 0u) << d;
  EXPECT_EQ(replay_command(faulty(0xabc)).rfind("chorus-sim --seed 0xabc --nodes 4 ", 0), 0u);
}

// What the swarm prints for a failing seed must replay that very run.
TEST(simulation, a_replay_command_reproduces_its_run) {
  for (std::uint64_t seed : {3u, 1000u, 0xdeadu}) {
    const options drawn = draw_swarm(seed, options{}, {});
    std::string error;
    const auto parsed = parse_command_line(split(replay_command(drawn)), &error);
    ASSERT_TRUE(parsed) << error << "\n" << replay_command(drawn);
    EXPECT_EQ(parsed->opts, drawn) << describe(parsed->opts) << "\n" << describe(drawn);
    EXPECT_EQ(run(parsed->opts).trace_hash, run(drawn).trace_hash);
  }
}

TEST(simulation, swarm_keeps_explicit_options_and_draws_the_rest) {
  options base;
  base.nodes = 5;
  base.loss = 0.0;
  const options a = draw_swarm(9, base, {"nodes", "loss"});
  EXPECT_EQ(a.seed, 9u);
  EXPECT_EQ(a.nodes, 5u);
  EXPECT_EQ(a.loss, 0.0);
  EXPECT_GT(a.dup, 0.0);
  EXPECT_GT(a.reorder, 0.0);
  // An explicit option does not shift the others' draws.
  const options b = draw_swarm(9, base, {});
  EXPECT_EQ(a.dup, b.dup);
  EXPECT_EQ(a.messages, b.messages);
  EXPECT_LE(b.loss, 0.2);
  EXPECT_GE(b.nodes, 1u);
  EXPECT_LE(b.nodes, 8u);
}

TEST(simulation, command_line_rejects_bad_values) {
  std::string error;
  EXPECT_FALSE(parse_command_line({"chorus-sim", "--nodes", "17"}, &error));
  EXPECT_FALSE(parse_command_line({"chorus-sim", "--loss", "1.5"}, &error));
  EXPECT_FALSE(parse_command_line({"chorus-sim", "--seed", "0xzz"}, &error));
  const auto ok = parse_command_line({"chorus-sim", "--seed", "0x10", "--loss", "0.137"}, &error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(ok->opts.seed, 16u);
  EXPECT_EQ(ok->opts.loss, 137 / 1000.0);
  EXPECT_EQ(ok->given, (std::set<std::string>{"seed", "loss"}));
}

TEST(simulation, single_node_ring_delivers_everything) {
  options o = faulty(5);
  o.nodes = 1;
  const report r = run(o);
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(r.deliveries, r.submitted);
}

TEST(simulation, big_messages_arrive_whole) {
  options o = faulty(6);
  o.nodes = 3;
  o.messages = 4;
  o.big = true;
  const report r = run(o);
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_GT(r.submitted_bytes, 1u << 20);
}

// Scenario hook: scripted drops during the faulty phase are survived.
TEST(simulation, scripted_token_drops_are_survived) {
  options o = faulty(8);
  o.loss = o.dup = o.reorder = o.clog = 0.0;
  simulation sim(o);
  sim.net().add_rule(
      {.from = node_id{1}, .to = node_id{2}, .type = wire::packet_type::token, .count = 5});
  const report r = sim.run();
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(r.net.dropped_scripted, 5u);
  EXPECT_GT(r.nodes.tokens_retransmitted, 0u);
}

// The shell reads datagrams in batches as chorusd's transport does, and the engine bundles what
// goes to one daemon: a wider read window makes larger batches.
TEST(simulation, datagrams_arrive_in_batches_and_packets_travel_in_bundles) {
  options o = faulty(9);
  o.loss = o.dup = o.reorder = o.clog = 0.0;
  o.batch_us = 0;
  const report instant = run(o);
  ASSERT_TRUE(instant.ok) << instant.failure;
  o.batch_us = 100;
  const report wide = run(o);
  ASSERT_TRUE(wide.ok) << wide.failure;
  EXPECT_GT(wide.reads.bundles.bundles_sent, 0u);
  EXPECT_GT(wide.reads.bundles.bundles_received, 0u);
  EXPECT_LE(wide.reads.bundles.bundles_received, wide.reads.bundles.bundles_sent);
  EXPECT_EQ(wide.reads.bundles.bad_bundles, 0u);
  EXPECT_LE(wide.reads.datagrams, wide.net.arrived);  // the last may arrive after the end
  // Mean batch size: larger with the wider window.
  EXPECT_GT(wide.reads.datagrams * instant.reads.reads, instant.reads.datagrams * wide.reads.reads);
}

// A multicast segment: one datagram per ring packet, carried to each member independently.
TEST(simulation, a_multicast_segment_is_checked_and_replays) {
  options o = faulty(14);
  o.membership = true;
  o.groups = true;
  o.crashes = 1;
  o.multicast = true;
  const report r = run(o);
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(run(o).trace_hash, r.trace_hash);
  o.multicast = false;
  const report unicast = run(o);
  ASSERT_TRUE(unicast.ok) << unicast.failure;
  EXPECT_NE(unicast.trace_hash, r.trace_hash);
}

// The completion check can fail: a filter added after the heal cuts node 3 off for good.
TEST(simulation, completion_fails_when_a_node_stays_cut_off) {
  options o = faulty(9);
  o.rate = 100.0;  // 20 messages over about 200 ms: some are sent after the heal
  o.liveness_ms = 300;
  simulation sim(o);
  const time_point after_heal = time_point{} + std::chrono::milliseconds(o.fault_ms) + 1ms;
  sim.sched().at(after_heal, action([&sim] {
                   sim.net().set_filter([](const in_flight& p) {
                     return p.to == node_id{3} || p.from == node_id{3} ? verdict::drop
                                                                       : verdict::pass;
                   });
                 }));
  const report r = sim.run();
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.failure.rfind("L completion: no progress since", 0), 0u) << r.failure;
  EXPECT_FALSE(r.details.empty());
  // The stall is caught about liveness_ms after the last progress, not at the hard bound.
  EXPECT_LT(r.end, std::chrono::milliseconds(o.fault_ms + 5 * o.liveness_ms));
}

}  // namespace
}  // namespace chorus::sim

namespace chorus::sim {
namespace {

// Membership off: the membership options stay out of the run's identity, so a run hashes as it
// did before they existed; and they need --membership.
TEST(simulation, membership_options_are_off_by_default) {
  const options o = faulty(3);
  EXPECT_EQ(identity(o).find("membership"), std::string::npos);
  EXPECT_EQ(identity(o).find("crashes"), std::string::npos);
  EXPECT_NE(describe(o).find("membership=0"), std::string::npos);
  options c = o;
  c.crashes = 1;
  EXPECT_NE(validate(c).find("--crashes needs --membership"), std::string::npos);
  c.membership = true;
  EXPECT_EQ(validate(c), "");
  const options drawn = draw_swarm(5, options{}, {});
  EXPECT_FALSE(drawn.membership);
  EXPECT_EQ(drawn.crashes, 0u);
}

TEST(simulation, a_membership_swarm_draw_replays_exactly) {
  options base;
  base.membership = true;
  for (std::uint64_t seed : {3u, 17u, 0x51u}) {
    const options drawn = draw_swarm(seed, base, {"membership"});
    EXPECT_TRUE(drawn.membership);
    std::string error;
    const auto parsed = parse_command_line(split(replay_command(drawn)), &error);
    ASSERT_TRUE(parsed) << error << "\n" << replay_command(drawn);
    EXPECT_EQ(parsed->opts, drawn) << describe(parsed->opts) << "\n" << describe(drawn);
  }
}

// With the membership protocol on and no faults, a run is one ring, as before.
TEST(simulation, membership_without_faults_passes) {
  options o = faulty(11);
  o.membership = true;
  const report r = run(o);
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_TRUE(r.crash_recovery.empty());
  EXPECT_EQ(r.configurations, 4u);
  EXPECT_EQ(median_max(r.crash_recovery), "n/a");
}

TEST(simulation, groups_options_are_off_by_default) {
  options o = faulty(3);
  o.membership = true;
  EXPECT_EQ(identity(o).find("group"), std::string::npos);
  EXPECT_NE(describe(o).find("groups=0"), std::string::npos);
  options g = o;
  g.group_ops = 5;
  EXPECT_NE(validate(g).find("--group-ops needs --groups"), std::string::npos);
  g.groups = true;
  EXPECT_EQ(validate(g), "");
  g.membership = false;
  g.crashes = 0;
  EXPECT_NE(validate(g).find("--groups needs --membership"), std::string::npos);
  const options drawn = draw_swarm(5, o, {"membership"});
  EXPECT_FALSE(drawn.groups);
  EXPECT_EQ(drawn.group_ops, options{}.group_ops);
}

TEST(simulation, a_groups_swarm_draw_replays_exactly) {
  options base;
  base.membership = true;
  base.groups = true;
  for (std::uint64_t seed : {4u, 18u, 0x52u}) {
    const options drawn = draw_swarm(seed, base, {"membership", "groups"});
    EXPECT_TRUE(drawn.groups);
    EXPECT_GE(drawn.group_sessions, 1u);
    EXPECT_LE(drawn.group_sessions, 4u);
    std::string error;
    const auto parsed = parse_command_line(split(replay_command(drawn)), &error);
    ASSERT_TRUE(parsed) << error << "\n" << replay_command(drawn);
    EXPECT_EQ(parsed->opts, drawn) << describe(parsed->opts) << "\n" << describe(drawn);
  }
}

// The groups layer on every daemon, sessions joining, leaving, sending and disconnecting: the
// group checker sees views and messages, and the run replays to its hash.
TEST(simulation, a_groups_run_is_checked_and_replays) {
  options o = faulty(13);
  o.membership = true;
  o.groups = true;
  const report r = run(o);
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_TRUE(r.groups);
  EXPECT_GE(r.group_sessions, o.nodes * o.group_sessions);
  EXPECT_GT(r.group_views, 0u);
  EXPECT_GT(r.group_deliveries, 0u);
  EXPECT_EQ(run(o).trace_hash, r.trace_hash);
  options other = o;
  other.group_ops = 21;
  EXPECT_NE(run(other).trace_hash, r.trace_hash);
}

// A crash: the survivors form a new ring and the time it took is reported (needs the core's
// membership; issue 3).
TEST(simulation, a_crash_is_survived_and_timed) {
  options o = faulty(12);
  o.loss = o.dup = o.reorder = o.clog = 0.0;
  o.membership = true;
  o.crashes = 1;
  const report r = run(o);
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(r.crashes, 1u);
  ASSERT_EQ(r.crash_recovery.size(), 1u);
  EXPECT_GE(r.crash_recovery[0], std::chrono::milliseconds(o.token_timeout_ms));
  EXPECT_EQ(run(o).trace_hash, r.trace_hash);
}

}  // namespace
}  // namespace chorus::sim
