// simulation.hpp — one simulated run: the options that define it, the run itself (phases:
// faults, heal, liveness, grace) and its report. Reused by chorus-sim, the scenario tests and
// the benchmarks.
//
// A run is a pure function of its options: the seed feeds one prng whose forks drive the
// network and each node's workload, and the trace hash fingerprints everything that happened.
// `replay_command(o)` names every option explicitly, so it reproduces the run whatever defaults
// or swarm draws produced `o`.
//
//   simulation sim(opts);                  // builds scheduler, network, nodes, workloads
//   sim.net().add_rule({...});             // optional scripting before run()
//   report r = sim.run();
// Thread-safety: none; a simulation belongs to one thread (distinct simulations are
// independent).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/stats.hpp"
#include "sim/checker.hpp"
#include "sim/cluster.hpp"
#include "sim/faults.hpp"
#include "sim/group_checker.hpp"
#include "sim/group_workload.hpp"
#include "sim/network.hpp"
#include "sim/options.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"
#include "sim/workload.hpp"

namespace chorus::sim {

struct report {
  bool ok = true;
  std::string failure;               // one line, when !ok
  std::vector<std::string> details;  // further lines (completion failures)
  std::uint64_t trace_hash = 0;
  std::uint64_t trace_events = 0;
  duration complete_at{};  // virtual time when everything was delivered (or the run stopped)
  duration end{};          // virtual time at the end of the run
  std::uint64_t submitted = 0;
  std::uint64_t submitted_bytes = 0;
  std::uint64_t would_block = 0;
  std::uint64_t deliveries = 0;
  std::uint64_t unreliable_missing = 0;
  network_stats net;
  core::stats nodes;  // summed over nodes
  cluster::read_stats reads;
  // membership runs
  bool membership = false;
  std::uint64_t crashes = 0, restarts = 0, partitions = 0, bursts = 0;
  std::uint64_t configurations = 0;  // installed, all nodes
  // Per crash: until the survivors' next regular configuration (evs_checker).
  std::vector<duration> crash_recovery;
  // Per partition or link cut: the most regular configurations one daemon installed while it
  // was the latest fault in force, and the time from the fault to the last of those daemons'
  // first regular configuration (faults that changed nothing have no time).
  std::vector<std::uint32_t> changes_per_fault;
  std::vector<duration> fault_to_view;
  // The same per mend (a partition or link cut ending before the heal): what merging took.
  std::vector<std::uint32_t> changes_per_mend;
  std::vector<duration> mend_to_view;
  // groups runs
  bool groups = false;
  std::uint64_t group_sessions = 0, group_requests = 0, group_sent = 0, group_views = 0,
                group_deliveries = 0;
  group_checker::counts group_seen;
};
// "12.3 ms" median and max of `v`, or "n/a" when empty.
std::string median_max(std::vector<duration> v);
// Human-readable summary lines of a report (not including the failure).
std::vector<std::string> summary_lines(const report& r);

class simulation {
 public:
  // Builds everything for `o` at virtual time 0. Trace lines go to `trace_out` if not null.
  explicit simulation(const options& o, std::FILE* trace_out = nullptr);
  ~simulation();
  simulation(const simulation&) = delete;
  simulation& operator=(const simulation&) = delete;

  // Runs every phase once and reports.
  report run();

  const options& opts() const noexcept { return opts_; }
  scheduler& sched() noexcept { return sched_; }
  network& net() noexcept { return *net_; }
  cluster& nodes() noexcept { return *cluster_; }
  checker& check() noexcept { return *checker_; }

 private:
  bool workloads_done() const;
  void phase(const char* name);
  // Sum of monotone progress counters (aru, delivered_upto, safe_upto, deliveries, submits):
  // it grows exactly when something progressed.
  std::uint64_t progress() const;
  // Periodic liveness watch: sets stalled_ when progress() stood still for liveness_ms.
  void watch();
  void fail_completion(report& r, cluster::stop_reason why);
  // Membership: at the heal, the fault plan ends and the settle bound (I8) is armed.
  void heal_membership(time_point heal_at);
  void check_settled();
  // One fault window's figures as of now (fault_figures).
  struct window_figures {
    std::uint32_t changes = 0;        // the most regular configurations at one daemon
    std::optional<duration> to_view;  // until the survivors' first regular configuration
  };
  std::vector<window_figures> window_figures_now() const;
  // The per-fault and per-mend figures (report::changes_per_fault, …) as of now.
  void fault_figures(report& r) const;
  // options::changes_per_fault_max: fails the run if a fault or mend caused more changes.
  void check_changes_per_fault();
  report make_report(time_point complete_at) const;

  options opts_;
  trace trace_;
  scheduler sched_;
  std::unique_ptr<checker> checker_;
  std::unique_ptr<network> net_;
  std::unique_ptr<cluster> cluster_;
  std::vector<std::unique_ptr<workload>> workloads_;
  std::unique_ptr<fault_injector> faults_;          // membership runs only
  std::unique_ptr<group_checker> group_checker_;    // groups runs only
  std::unique_ptr<group_workload> group_workload_;  // groups runs only (after its checker)
  bool watching_ = false;                           // the liveness watch runs
  bool stalled_ = false;                            // the watch saw no progress for liveness_ms
  std::uint64_t last_progress_ = 0;
  time_point progressed_at_{};  // when progress() last changed
};

}  // namespace chorus::sim
