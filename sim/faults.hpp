// faults.hpp — the membership fault plan of one run (issue 3): node crashes (spread out or
// cascading), restarts (after a random downtime, or the moment the next commit token is sent,
// so that a daemon starts while the others recover), partitions into 2 or 3 sides (symmetric or
// one-way), loss/duplication bursts set off by membership traffic, commit tokens dropped by
// rule, and the crash of the representative as it sends the first commit token.
//
// Every random choice comes from one prng forked from the run seed and is drawn when the fault
// fires, in event order, so a seed replays exactly. Triggers that watch the network (the
// observer) only schedule actions at now(): a node is never destroyed inside one of its own
// calls. heal() ends the plan: nothing fires afterwards, and crashed nodes are restarted or
// left down for good. At least one node is always up.
// Thread-safety: none; one per simulation.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sim/cluster.hpp"
#include "sim/network.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"
#include "util/prng.hpp"

namespace chorus::sim {

struct fault_plan {
  std::uint32_t crashes = 0;
  bool cascade = false;      // crashes 1–40 ms apart
  duration restart_after{};  // a crashed node restarts within this; zero: not before the heal
  bool restart_all = false;  // at the heal, restart every crashed node
  std::uint32_t partitions = 0;
  duration partition_longest = 100ms;
  double oneway = 0.0;       // chance a partition is one-way
  std::uint32_t link_cuts = 0;  // one direction of one link fails, up to partition_longest
  std::uint32_t bursts = 0;  // each starts at the next join or commit token sent
  std::uint32_t drop_commit = 0;
  bool crash_rep = false;          // crash the sender of the first commit token
  bool start_in_recovery = false;  // the next commit token sent restarts a crashed node
  duration fault_phase = 300ms;    // faults are planned within [0, fault_phase)
  link_params base;                // the fault phase's link params (restored after a burst)
};

// A link or partition fault, or the end of one (a mend: the daemons may merge), for the
// per-fault figures (simulation.cpp): when it began and ended (nullopt: in force at the heal; a
// mend lasts until the next fault).
struct fault_window {
  time_point start;
  std::optional<time_point> end;
  bool mend = false;
};

class fault_injector {
 public:
  // `c`, `net`, `sched` and `tr` must outlive the injector.
  fault_injector(fault_plan p, util::prng rng, cluster& c, network& net, scheduler& sched,
                 trace& tr);

  // Plans the faults from now() on (the start of the fault phase).
  void start();
  // The faults stop (call after network::heal()): nothing more fires; with restart_all every
  // crashed node restarts now. Returns the nodes that stay down for good.
  std::vector<node_id> heal();

  std::uint64_t crashes() const noexcept { return crashes_; }
  std::uint64_t restarts() const noexcept { return restarts_; }
  std::uint64_t partitions() const noexcept { return partitions_; }
  std::uint64_t link_cuts() const noexcept { return link_cuts_; }
  // Every partition and link cut so far, and every end of one before the heal, in start order.
  const std::vector<fault_window>& windows() const noexcept { return windows_; }
  std::uint64_t bursts() const noexcept { return bursts_; }

 private:
  std::vector<node_id> up_nodes() const;
  void crash_random();
  void crash(node_id n);
  void restart(node_id n);
  void start_partition();
  void end_partition(std::uint64_t which);
  void cut_link();
  void on_send(const in_flight& p);
  void start_burst();
  void end_burst();
  void note(const std::string& what);

  fault_plan plan_;
  util::prng rng_;
  cluster& cluster_;
  network& net_;
  scheduler& sched_;
  trace& trace_;
  bool healed_ = false;
  bool rep_crashed_ = false;
  bool in_burst_ = false;
  std::uint32_t bursts_left_ = 0;
  std::uint64_t partition_epoch_ = 0;  // which partition is in force
  std::vector<node_id> waiting_;       // crashed nodes to restart at the next commit token
  std::vector<fault_window> windows_;  // partitions, link cuts and their mends
  std::size_t partition_window_ = 0;   // windows_ index of the partition in force
  std::uint64_t crashes_ = 0, restarts_ = 0, partitions_ = 0, bursts_ = 0, link_cuts_ = 0;
};

}  // namespace chorus::sim
