// options.hpp — every input of a simulated run, and the one table of option names that the
// description line, the replay command, the swarm's draws and the command line all use (so
// they cannot drift apart).
// Thread-safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "sim/cluster.hpp"

namespace chorus::sim {

struct options {
  std::uint64_t seed = 1;
  std::uint32_t nodes = 3;  // 1..16
  // network faults during the fault phase (per directed link)
  double loss = 0.0;
  double dup = 0.0;
  double reorder = 0.0;
  std::uint32_t delay_us = 20;
  std::uint32_t jitter_us = 180;
  std::uint32_t reorder_us = 500;  // most extra delay of a reordered transmission
  // the daemons' shell: how long a node takes to read what arrived (one batch), and whether
  // ring packets go by multicast (one datagram for all) or one datagram per member
  std::uint32_t batch_us = 20;
  bool multicast = false;
  double clog = 0.0;               // chance per link per clog period that it clogs
  std::uint32_t clog_ms = 20;      // longest clog
  // workload (per node)
  std::uint32_t messages = 50;
  double rate = 0.0;  // messages per second; 0: spread over the fault phase
  bool big = false;   // force multi-MiB messages
  // phases
  std::uint32_t fault_ms = 300;  // length of the faulty phase
  // After the heal, the run fails once this long passes without progress (no node's aru,
  // delivered_upto or safe_upto moves, nothing is delivered or accepted by submit()) while
  // something is undelivered, or
  // once 100 times this has passed in all.
  std::uint32_t liveness_ms = 5000;
  // core configuration
  std::uint32_t packet_bytes = 1400;
  std::uint32_t window_global = 1024;
  std::uint32_t window_personal = 256;
  std::uint32_t window_accelerated = 64;
  std::uint32_t token_hold_us = 0;
  std::uint32_t park_after_idle_visits = 1;
  std::uint32_t token_linger_us = 0;
  std::uint32_t token_retransmit_us = 5000;
  // call node::check_invariants() after every call (does not change the trace)
  bool node_invariants = cluster_options{}.check_node_invariants;
  // --- membership (issue 3): off by default, and then none of the options below matter ---
  bool membership = false;       // daemons run membership; the fault plan and the EVS checker apply
  std::uint32_t crashes = 0;     // node crashes during the fault phase
  bool cascade = false;          // crashes follow each other within 1–40 ms
  std::uint32_t restart_ms = 0;  // a crashed node restarts within this (0: at the heal, or never)
  bool restart_all = false;      // at the heal, restart every crashed node (else they stay down)
  std::uint32_t partitions = 0;  // partitions during the fault phase (2 or 3 sides)
  std::uint32_t partition_ms = 100;  // longest partition
  double oneway = 0.0;               // chance a partition is one-way
  std::uint32_t link_cuts = 0;       // one direction of one link fails (up to partition_ms)
  std::uint32_t bursts = 0;          // loss/duplication bursts started by membership traffic
  std::uint32_t drop_commit = 0;     // commit tokens dropped by rule
  bool crash_rep = false;            // crash the sender of the first commit token
  bool start_in_recovery = false;    // a crashed node restarts when the next commit token is sent
  std::uint32_t token_timeout_ms = 200;
  std::uint32_t join_timeout_ms = 10;
  std::uint32_t consensus_timeout_ms = 60;
  std::uint32_t merge_detect_ms = 500;
  // After the heal, the live daemons must install one regular configuration of exactly the
  // live daemons within this (invariant 8).
  std::uint32_t settle_ms = 3000;
  // Fail the run when one partition or link cut makes a daemon install more regular
  // configurations than this while it lasts (0: do not check; the figures are printed anyway).
  std::uint32_t changes_per_fault_max = 0;
  // --- groups (DESIGN §3.4): off by default, and then none of the options below matter ---
  // Every daemon runs a core::groups fed with its events; sessions join, leave, send and
  // disconnect (group_workload.hpp) and group_checker.hpp checks their views. Needs membership.
  bool groups = false;
  std::uint32_t group_sessions = 3;  // sessions per daemon (each restart opens as many)
  std::uint32_t group_ops = 20;      // requests per session (a reopened session inherits the rest)
  std::uint32_t group_names = 3;     // groups the sessions join and send to: g0, g1, …

  friend bool operator==(const options&, const options&) = default;
};

inline constexpr duration clog_period = 10ms;  // how often random clogs are drawn

// The membership options (issue 3), in a fixed order: all but `membership` itself configure the
// fault plan (faults.hpp) and the membership timers, and must keep their defaults without it.
template <typename F>
void visit_membership_options(F&& f) {
  f("membership", &options::membership,
    "run the membership protocol: crashes, restarts, partitions, EVS checks (off: a fixed ring)");
  f("crashes", &options::crashes, "membership: node crashes during the fault phase");
  f("cascade", &options::cascade, "membership: crashes follow each other within 1-40 ms");
  f("restart-ms", &options::restart_ms,
    "membership: a crashed node restarts within this many ms (0: only at the heal)");
  f("restart-all", &options::restart_all,
    "membership: at the heal, restart every crashed node (else they stay down)");
  f("partitions", &options::partitions, "membership: partitions (2 or 3 sides) in the fault phase");
  f("partition-ms", &options::partition_ms, "membership: longest partition, milliseconds");
  f("oneway", &options::oneway, "membership: chance a partition cuts one direction only");
  f("link-cuts", &options::link_cuts,
    "membership: one-way link failures (one direction of one link, up to partition-ms each)");
  f("bursts", &options::bursts,
    "membership: loss/duplication bursts, each started by a join or commit token");
  f("drop-commit", &options::drop_commit, "membership: commit tokens dropped by rule");
  f("crash-rep", &options::crash_rep, "membership: crash the sender of the first commit token");
  f("start-in-recovery", &options::start_in_recovery,
    "membership: a crashed node restarts when the next commit token is sent");
  f("token-timeout-ms", &options::token_timeout_ms, "core: token loss timeout (membership), ms");
  f("join-timeout-ms", &options::join_timeout_ms, "core: join rebroadcast interval, ms");
  f("consensus-timeout-ms", &options::consensus_timeout_ms, "core: gather consensus timeout, ms");
  f("merge-detect-ms", &options::merge_detect_ms, "core: merge detection interval, ms");
  f("settle-ms", &options::settle_ms,
    "membership: after the heal, the live daemons must form one ring within this (ms)");
  f("changes-per-fault-max", &options::changes_per_fault_max,
    "membership: fail when a partition or link cut, or its end before the heal, makes a daemon "
    "install more regular configurations than this before the next one (0: no check)");
}

// The groups options, in a fixed order: all but `groups` itself shape the group workload and
// must keep their defaults without it.
template <typename F>
void visit_groups_options(F&& f) {
  f("groups", &options::groups,
    "run the groups layer on every daemon with a session workload and check group views "
    "(needs --membership)");
  f("group-sessions", &options::group_sessions, "groups: sessions per daemon, 1..8");
  f("group-ops", &options::group_ops, "groups: requests per session (join, leave, send, kill)");
  f("group-names", &options::group_names, "groups: group names in use (g0, g1, ...), 1..8");
}

// Calls f(name, member pointer, help) for every option, in a fixed order.
template <typename F>
void visit_options(F&& f) {
  f("seed", &options::seed, "run seed, hex (0x…) or decimal");
  f("nodes", &options::nodes, "daemons in the ring, 1..16");
  f("loss", &options::loss, "chance a transmission is lost, per link (fault phase)");
  f("dup", &options::dup, "chance a transmission is duplicated (fault phase)");
  f("reorder", &options::reorder, "chance a transmission is reordered (fault phase)");
  f("delay-us", &options::delay_us, "fixed one-way delay, microseconds");
  f("jitter-us", &options::jitter_us, "random extra delay, up to this many microseconds");
  f("reorder-us", &options::reorder_us, "extra delay of a reordered transmission, up to (us)");
  f("batch-us", &options::batch_us,
    "a daemon reads what arrived within this many microseconds as one batch");
  f("multicast", &options::multicast,
    "ring packets are one multicast datagram each (else one per other member)");
  f("clog", &options::clog, "chance per link per 10 ms that the link clogs (fault phase)");
  f("clog-ms", &options::clog_ms, "longest clog, milliseconds");
  f("messages", &options::messages, "messages each node submits");
  f("rate", &options::rate, "submits per second per node (0: spread over the fault phase)");
  f("big", &options::big, "force multi-MiB messages (at least one per node)");
  f("fault-ms", &options::fault_ms, "length of the faulty phase, virtual milliseconds");
  f("liveness-ms", &options::liveness_ms,
    "after the heal, fail when nothing progresses for this long (virtual ms)");
  f("packet-bytes", &options::packet_bytes, "core: largest datagram");
  f("window-global", &options::window_global, "core: packets per token rotation");
  f("window-personal", &options::window_personal, "core: packets per token visit");
  f("window-accelerated", &options::window_accelerated, "core: packets sent after the token");
  f("token-hold-us", &options::token_hold_us, "core: idle token parking time, microseconds");
  f("park-after-idle-visits", &options::park_after_idle_visits,
    "core: idle visits before the token parks (the daemon uses 16)");
  f("token-retransmit-us", &options::token_retransmit_us, "core: token retransmit timeout (us)");
  f("token-linger-us", &options::token_linger_us,
    "core: how long a lone sender keeps the token after its visit, microseconds");
  f("node-invariants", &options::node_invariants, "call node::check_invariants() after every call");
  visit_membership_options(f);
  visit_groups_options(f);
}

// "seed=0x1 nodes=3 loss=0 …": every effective option, one line.
std::string describe(const options& o);
// "chorus-sim --seed 0x1 --nodes 3 …": the command that replays `o` exactly.
std::string replay_command(const options& o);
// The swarm's options for `seed`: every option drawn from the seed itself (nodes 1–8, loss up
// to 20 %, duplication and reordering on, sometimes clogs, varied windows and timers), except
// those named in `given` (names without "--"), which keep their value from `base`. The result's
// seed is always `seed`. With `--membership` given, a fault mix is drawn too (crashes, cascades,
// restarts, partitions, bursts, dropped commit tokens, membership timers); without it the
// membership options keep base's values. Likewise the group workload's shape with `--groups`.
options draw_swarm(std::uint64_t seed, const options& base, const std::set<std::string>& given);
// Empty if `o` can run; otherwise why not (a probability outside 0..1, a core configuration
// that core::validate() refuses, …).
std::string validate(const options& o);
// describe() without the options that cannot change a run (node-invariants, the membership
// options while membership is off, the groups options while groups is off): what the trace hash
// and the configuration hash are computed from. A run without membership (or without groups)
// hashes as it did before membership (groups) existed.
std::string identity(const options& o);
// The core configuration `o` describes (self and members are left for the cluster).
core::config make_config(const options& o);

// Shortest text that parses back to exactly `v` ("0.137").
std::string format_double(double v);

}  // namespace chorus::sim
