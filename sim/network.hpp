// network.hpp — the simulated network between daemons: one directed link per ordered pair of
// nodes, each with its own loss, duplication, reordering, delay, jitter, clogging and up/down
// state, plus scripted rules and a filter for scenario tests.
//
// A transmission's fate is decided when it is sent (rules, filter, link down, loss,
// duplication, delay) and checked again when it arrives (a link that went down loses what was
// in flight; a link that clogged meanwhile holds it). Links are FIFO except for transmissions
// picked for reordering, which get an extra random delay and may be overtaken. A clogged link
// holds everything sent on it and releases it when the clog ends. All randomness comes from the
// prng handed in (forked from the run seed), drawn in event order.
//
// Membership faults (issue 3) are link states too: a crashed node's links are down both ways
// (set_node_up), a partition cuts the links between its sides (partition, heal_partition). A
// link is up only when none of these hold it down. Every up → down transition bumps the link's
// epoch, and a transmission arrives only on the epoch it was sent in, so what was in flight when
// a link went down is lost even if the link is up again by the time it would arrive (a restarted
// node never receives its previous incarnation's traffic). An observer sees every transmission
// as it is sent (fault triggers such as "crash the sender of the first commit token"); it must
// only schedule actions, never change the network or the nodes during the call.
// Thread-safety: none; one per simulation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "sim/scheduler.hpp"
#include "sim/trace.hpp"
#include "util/prng.hpp"

namespace chorus::sim {

// The random behaviour of one directed link.
struct link_params {
  double loss = 0.0;               // chance a transmission is lost
  double dup = 0.0;                // chance a transmission arrives twice
  double reorder = 0.0;            // chance a transmission leaves FIFO order (gets extra delay)
  duration delay = 20us;           // fixed part of the one-way delay
  duration jitter = 180us;         // random part, uniform in [0, jitter]
  duration reorder_delay = 500us;  // most extra delay a reordered transmission gets
};

// One directed link's state.
struct link_state {
  link_params params;
  bool up = true;              // false: everything sent on it, or in flight on it, is lost
  bool set_down = false;       // set_up(false) holds it down (until set_up(true) or heal())
  bool cut = false;            // the current partition holds it down
  std::uint32_t epoch = 0;     // bumped whenever the link goes down
  time_point clogged_until{};  // while now < clogged_until, transmissions are held
  time_point last_arrival{};   // FIFO: no in-order transmission arrives before this
};

// What a rule or filter decides about a transmission.
enum class verdict : std::uint8_t {
  pass,     // let the link's random faults decide
  drop,     // lose it
  deliver,  // deliver it once, exempt from random loss, duplication and reordering
};

// "Apply `action` to the next `count` transmissions from `from` to `to` of `type`." A bundle
// matches a type when it carries a packet of that type, and the action applies to the whole
// datagram: a network loses datagrams, not the packets in them.
struct rule {
  node_id from = wire::no_node;           // no_node: any sender
  node_id to = wire::no_node;             // no_node: any receiver
  std::optional<wire::packet_type> type;  // nullopt: any type
  std::uint64_t count = 1;                // transmissions it still applies to
  verdict action = verdict::drop;
};

// Consulted for every transmission after the rules; `in_flight` is valid only during the call.
using filter = std::function<verdict(const in_flight&)>;
// Sees every transmission when it is sent, before any verdict (see the header comment).
using observer = std::function<void(const in_flight&)>;

struct network_stats {
  std::uint64_t transmissions = 0;     // send() calls (a duplicate is not a transmission)
  std::uint64_t lost = 0;              // random loss
  std::uint64_t dropped_scripted = 0;  // by a rule or the filter
  std::uint64_t dropped_link_down = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
  std::uint64_t held = 0;  // arrivals postponed by a clog
  std::uint64_t clogs = 0;
  std::uint64_t arrived = 0;  // handed to a node
};

class network {
 public:
  // Nodes are numbered 1..nodes. `sched` and `tr` must outlive the network. Every link starts
  // with `defaults`; a node's loopback link is always clean.
  network(std::size_t nodes, link_params defaults, util::prng rng, scheduler& sched, trace& tr);

  // Puts `bytes` on the link from → to at now(); schedules its arrival(s) or drops it.
  void send(node_id from, node_id to, const util::shared_bytes& bytes);
  // Called when a transmission's arrival event pops. True: hand it to the node now. False: it
  // was lost (link down) or postponed (link clogged; `p` has been moved into the scheduler).
  bool arrive(in_flight& p);

  link_state& link(node_id from, node_id to);
  // Sets the params of every link between distinct nodes.
  void set_params(const link_params& p);
  // Holds one directed link down (false) or releases that hold (true).
  void set_up(node_id from, node_id to, bool up);
  // A node crashed (false) or was restarted (true): all its links, both ways.
  void set_node_up(node_id n, bool up);
  bool node_up(node_id n) const;
  // Cuts the links between different sides: every pair of sides both ways, or with `oneway`
  // only from a side to the sides listed after it. Nodes in no side form one more side.
  // Replaces any partition in force.
  void partition(const std::vector<std::vector<node_id>>& sides, bool oneway);
  // Ends the partition in force (crashed nodes stay down).
  void heal_partition();
  // "partition 1,2 / 3": a trace line.
  std::string describe_partition(const std::vector<std::vector<node_id>>& sides, bool oneway) const;
  // Holds the link's transmissions until `until` (extends, never shortens, a running clog).
  void clog(node_id from, node_id to, time_point until);
  // Every `period`, each link clogs with chance `chance` for up to `longest`, until heal().
  void start_random_clogs(double chance, duration period, duration longest);
  // Ends the faulty phase: clean params (delay and jitter kept), no clogs, no partition, every
  // link up except those of crashed nodes, no rules, filter or observer, no more random clogs.
  void heal();

  void add_rule(const rule& r) { rules_.push_back(r); }
  void set_filter(filter f) { filter_ = std::move(f); }
  void set_observer(observer o) { observer_ = std::move(o); }

  std::size_t nodes() const noexcept { return nodes_; }
  const network_stats& stats() const noexcept { return stats_; }

 private:
  verdict judge(const in_flight& p);
  void schedule(in_flight p, link_state& l, bool clean);
  void clog_round(duration period, duration longest);
  void trace_drop(const in_flight& p, const char* why, std::uint64_t reason);
  // Recomputes `up` of the link from → to from its holds (crash, partition, set_up).
  void refresh(std::uint32_t from, std::uint32_t to);

  std::size_t nodes_;
  util::prng rng_;
  scheduler& sched_;
  trace& trace_;
  std::vector<link_state> links_;  // [(from-1) * nodes + (to-1)]
  std::vector<rule> rules_;        // in order of addition; the first match applies
  filter filter_;
  observer observer_;
  std::vector<bool> node_down_;  // [id-1]: crashed
  double clog_chance_ = 0.0;
  bool healed_ = false;
  std::uint64_t next_id_ = 0;
  network_stats stats_;
};

}  // namespace chorus::sim
