// cluster.hpp — N daemons' core::engines (the object chorusd drives: the node, and with groups
// the groups layer and its backlog) in one process, driven by the scheduler through the simulated
// network, with every output routed, traced and checked.
//
// Nodes have ids 1..N in ring order and share one core::config (ring {rep 1, counter 1}). The
// cluster is the shell of DESIGN §3: it feeds each node its datagrams (receive), timers (tick)
// and client messages (submit), and after every call acts on take_output() in field order —
// datagrams into the network (the engine has bundled and ordered them; a multicast one becomes
// one independent transmission per other member), events to the checker, the deadline to a
// timer event — then, when enabled, calls check_invariants().
// Datagrams reach a node in batches, as the transport reads them: the first arrival at an idle
// node starts a read `batch_window` later, and everything that arrived by then is one batch
// (the engine hands its tokens over last). A batch holds at most batch_datagrams_max; the rest
// is read right after.
//
// A node lives in a slot that can be emptied and refilled (crash and restart, issue 3): a
// datagram or timer for an empty slot is dropped, and a slot's timer generation outlives the
// node object, so a stale timer never fires on a new incarnation. crash() destroys the node and
// takes its links down both ways (what was in flight to or from it is lost); restart() builds a
// new node with the same id and the next incarnation and brings its links up. With
// `membership`, every node knows all N daemons (config.daemons): the first incarnations start
// operational in the ring 1..N, a restarted one starts by gathering.
// A shell_listener (the groups layer, group_workload.hpp) sees each node's life and, after the
// checker, every batch of its events; it may submit to that node from inside the call (the
// node's timer is armed first, so a nested drain never re-arms an older deadline).
// Thread-safety: none; one per simulation.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.hpp"
#include "sim/checker.hpp"
#include "sim/network.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"

namespace chorus::sim {

struct cluster_options {
  std::size_t nodes = 3;  // 1..16
  // Windows, limits and timers for every node; self, members and ring are filled in.
  core::config base;
  // Call node::check_invariants() after every call (on in debug and sanitizer builds).
#ifdef CHORUS_CHECK_INVARIANTS
  bool check_node_invariants = true;
#else
  bool check_node_invariants = false;
#endif
  // More events than this at one virtual time is a livelock (a timer re-armed at now forever).
  std::uint64_t same_time_events_max = 2'000'000;
  // Run the membership protocol (config.daemons = 1..N). Off: a fixed ring, as before issue 3.
  bool membership = false;
  // Run each engine's groups layer (core::engine_config::groups); sessions are opened, fed and
  // closed through the cluster.
  bool groups = false;
  // The segment is multicast (core::engine_config::multicast): a ring packet is one datagram
  // that the network carries to each other member independently.
  bool multicast = false;
  // How long after the first datagram of a batch the node reads it (the transport's wake-up);
  // zero: a batch is what arrives at one instant.
  duration batch_window = 20us;
};

// What the clients above a daemon need from the shell. Calls come in event order.
class shell_listener {
 public:
  virtual ~shell_listener() = default;
  // Node `n`'s engine was built (before its first output is acted on).
  virtual void on_node_created(node_id n) = 0;
  // Node `n`'s engine was destroyed.
  virtual void on_node_crashed(node_id n) = 0;
  // Node `n`'s output was acted on (packets sent, events checked); the listener takes its
  // sessions' messages and releases.
  virtual void on_node_output(node_id n, core::engine_output& out) = 0;
};

class cluster final : public node_probe {
 public:
  enum class stop_reason { done, time_limit, idle, failed };

  // `sched`, `net`, `tr` and `chk` must outlive the cluster. The checker gets this cluster as
  // its probe.
  cluster(cluster_options o, scheduler& sched, network& net, trace& tr, checker& chk);
  ~cluster() override;

  // Builds every node at now() and acts on its first output.
  void start();
  // Runs events until `done()` (checked before each event; may be empty) holds, the checker
  // records a violation, no event is left, or the next event lies after `limit`.
  stop_reason run(time_point limit, const std::function<bool()>& done);
  // node::submit at now() on node `origin`; reports accepted messages to the checker. The node
  // must be up. `generated`: the payload is make_payload()'s for the id submit() returns (the
  // checker regenerates it); otherwise the checker keeps a hash of the bytes.
  static constexpr std::size_t batch_datagrams_max = 1024;  // the transport's 8 × 2 × 64

  util::result<msg_id> submit(node_id origin, service svc, util::shared_bytes payload,
                              bool generated = true);
  // A client session on node `n`'s engine (with groups; the node must be up).
  void open_session(node_id n, core::session_id id, std::string name, bool membership);
  // Its client is gone: the engine orders its disconnect.
  void close_session(node_id n, core::session_id id);
  // The id node `n`'s next accepted submit will return (it must be up).
  msg_id next_id(node_id n) const;
  // `l` (nullptr: none) sees every node's life and output from now on; it must outlive the
  // cluster or be reset first. Set it before start().
  void set_listener(shell_listener* l) noexcept { listener_ = l; }
  // Destroys node `n` (it must be up) and takes its links down both ways.
  void crash(node_id n);
  // Builds node `n` again (it must be down) as incarnation + 1 and brings its links up.
  void restart(node_id n);
  bool up(node_id n) const { return find(n) != nullptr; }
  // The incarnation of node `n`'s current (or last) node object.
  std::uint32_t incarnation(node_id n) const;

  // Every slot id 1..N, up or down.
  const std::vector<node_id>& members() const noexcept { return members_; }
  // The node in slot `n`, or nullptr if the slot is empty.
  const core::node* find(node_id n) const;
  // Its whole engine, or nullptr.
  const core::engine* find_engine(node_id n) const;
  // Sum of every live node's stats (and of those crashed so far).
  core::stats total_stats() const;
  // How datagrams reached the nodes: batches read, datagrams in them, the largest batch, and
  // the engines' bundle counters (summed as total_stats()).
  struct read_stats {
    std::uint64_t reads = 0, datagrams = 0, largest = 0;
    core::datagram_stats bundles;
  };
  read_stats total_reads() const;

  bool has_received(node_id n, seq_t s) const override;
  std::optional<bool> received(node_id n, ring_id r, seq_t s) const override;
  std::string describe(node_id n) const override;

 private:
  struct slot {
    std::unique_ptr<core::engine> node;
    std::optional<time_point> deadline;  // the timer event currently scheduled, if any
    std::uint64_t timer_generation = 0;  // bumped whenever the scheduled timer is superseded
    std::uint32_t incarnation = 0;
    std::uint64_t next_id = 0;  // what submit() will return next (incarnation · 2^40 + 1, …)
    std::vector<core::incoming_datagram> inbox;  // arrived, not read yet
    bool read_scheduled = false;
    std::uint64_t read_generation = 0;  // bumped by a crash: a scheduled read is void
  };

  slot& at(node_id n);
  // Builds the node of slot `n` from `cfg` at now() and acts on its first output.
  void create(node_id n, core::config cfg, const char* what);
  void dispatch(event& e);
  void on_arrival(in_flight& p);
  void on_timer(const timer_event& t);
  // Hands node `n` the batch in its inbox; schedule_read arms that for `after` from now (a crash
  // voids it).
  void read(node_id n);
  void schedule_read(node_id n, duration after);
  // Acts on the node's output; `n` identifies the slot.
  void drain(node_id n);
  void route(node_id n, const std::vector<core::outgoing_datagram>& datagrams);
  // The node's events to the checker, with the engine's own submits in their places.
  void deliver_events(node_id n, core::engine_output& out);
  void note_submit(node_id n, msg_id id, service svc, std::size_t size,
                   std::optional<std::uint64_t> content);
  void arm(node_id n, std::optional<time_point> deadline);

  cluster_options opts_;
  scheduler& sched_;
  network& net_;
  trace& trace_;
  checker& checker_;
  std::vector<node_id> members_;
  std::vector<slot> slots_;    // [id-1]
  core::stats crashed_stats_;  // summed stats of destroyed nodes
  read_stats reads_;           // bundles: of destroyed nodes
  shell_listener* listener_ = nullptr;
};

}  // namespace chorus::sim
