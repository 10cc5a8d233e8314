// group_workload.hpp — client sessions in the simulator: on every daemon's core::engine (the
// object chorusd drives, groups layer and backlog included) sessions join, leave, send and
// disconnect, as chorusd's sessions (src/daemon/session.cpp) would. What the sessions receive,
// and what each node's ring delivers, goes to a group_checker.
//
// Per daemon (a shell_listener on the cluster):
//   - an engine built (start or restart): `sessions` fresh sessions "#s<k>#n<node>" (k counts per
//     node for the whole run, so a name is never reused); membership messages on, except one
//     session in ten;
//   - every output: each delivery that is a group request or data goes to the checker's ring
//     log; the sessions' messages are decoded for the checker, released sessions reported;
//   - a node crashed: its sessions vanish.
// A session makes `ops` requests at random times over the fault phase (what is left of it after
// a restart): join or leave one of `names` groups (g0, g1, …), send one data message (AGREED,
// SAFE, FIFO, RELIABLE or CAUSAL; sometimes SELF_DISCARD) to one or two destinations (a group,
// or some live session's private group), or disconnect: close_session, the kill submitted like
// the daemon's, and a new session opens in its place with the requests that were left. A
// request refused with would_block (the send queue is full, or the engine's own requests wait)
// is retried, unchanged and in order.
// Randomness comes from one prng forked from the run seed; all state is in ordered containers.
// Thread-safety: none; one per simulation.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.hpp"
#include "sim/cluster.hpp"
#include "sim/group_checker.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"
#include "util/prng.hpp"

namespace chorus::sim {

struct group_workload_options {
  std::uint32_t nodes = 3;
  std::uint32_t sessions = 3;  // per daemon
  std::uint32_t ops = 20;      // per session
  std::uint32_t names = 3;     // g0 … g<names-1>
  duration spread = 300ms;     // requests are spread over [0, spread) (the fault phase)
};

class group_workload final : public shell_listener {
 public:
  // `c`, `sched`, `tr`, `chk` and `run` must outlive the workload; it registers itself as the
  // cluster's listener (build it before cluster::start()). A group_checker violation is passed
  // on to `run`, which stops the run.
  group_workload(group_workload_options o, util::prng rng, cluster& c, scheduler& sched, trace& tr,
                 group_checker& chk, checker& run);
  ~group_workload() override;

  void on_node_created(node_id n) override;
  void on_node_crashed(node_id n) override;
  void on_node_output(node_id n, core::engine_output& out) override;

  // Every live session has made its requests and every daemon's backlog is empty.
  bool done() const;
  // Every live daemon's final table, for group_checker::finish().
  std::map<node_id, group_checker::table> tables() const;

  std::uint64_t requests() const noexcept { return requests_; }

 private:
  struct request {
    core::service svc;
    util::shared_bytes payload;
    std::string what;  // for trace lines
  };
  struct session {
    std::string name;
    core::session_id id;
    node_id daemon;
    bool membership = true;
    bool alive = true;
    std::uint32_t ops_left = 0;
    std::uint64_t counter = 0;    // its last data message's
    time_point deadline{};        // its requests should be made by then
    std::deque<request> pending;  // refused with would_block (or waiting for the backlog)
  };
  struct daemon {
    bool up = false;
    std::uint32_t next_session = 1;              // session ids, per node object
    std::uint32_t next_name = 1;                 // k of "#s<k>#n<node>", for the whole run
    std::map<std::uint32_t, std::size_t> by_id;  // session id → sessions_ index
  };

  daemon& at(node_id n) { return daemons_[n.value - 1]; }
  void open(node_id n, std::uint32_t ops);
  void schedule(std::size_t s);
  void fire(std::size_t s);
  request draw(session& s);
  request make_data(session& s);
  void kill(std::size_t s);
  // Submits the session's waiting requests in order; false if one still waits.
  bool submit_pending(session& s);
  void record_ring(node_id n, const core::delivery& d);
  void take_output(node_id n, core::engine_output& out);
  void print(const std::string& line) const;
  // Passes a group_checker violation on to the run's checker.
  void sync();

  group_workload_options opts_;
  util::prng rng_;
  cluster& cluster_;
  scheduler& sched_;
  trace& trace_;
  group_checker& checker_;
  checker& run_;
  std::vector<daemon> daemons_;                     // [node-1]
  std::vector<std::unique_ptr<session>> sessions_;  // every session of the run, by index
  std::vector<std::string> names_;                  // g0 …
  std::uint64_t requests_ = 0;
};

}  // namespace chorus::sim
