// checker.hpp — checks DESIGN §3.3 invariants 1, 2, 4, 5 and 6 for a fixed membership, payload
// integrity, and completion (everything sent is delivered everywhere once the network heals).
//
// The checker sees the run through four calls — on_submit, on_configuration, on_delivery and
// finish — and asks a node_probe about node state when it must (safe delivery). It never
// stores payloads: they are a pure function of (origin, id) (payload.hpp), and it keeps O(1)
// work per delivery. The first violation stops the run: ok() turns false and violation() holds
// a precise one-line description, prefixed by the invariant's number.
//
// The model (fixed membership M, one ring R, messages named origin#id):
//   C. Every node installs exactly one configuration, regular R with members M, before any
//      delivery.
//   I1. A node delivers each message at most once; every delivery is in ring R, and a message
//      carries the same seq everywhere.
//   I2. At the end, every node delivered each message it submitted (UNRELIABLE excepted).
//   I4. The non-UNRELIABLE deliveries of every node form a prefix of one common sequence
//       (total order without holes), in non-decreasing seq.
//   I5. FIFO: per node and origin, non-UNRELIABLE ids are delivered increasing, and an id is
//       skipped only if that message is UNRELIABLE. Causal: a message follows, in the common
//       sequence, everything its origin had delivered when it was submitted.
//   I6. When p delivers a SAFE message at seq s, every member has received s (probe).
//   P.  A delivered message has the submitted size, service level and bytes.
//   L.  finish(): every non-UNRELIABLE message is delivered by every member.
// UNRELIABLE messages may be lost under faults (DESIGN §3.1): they are checked for I1 and P,
// and counted when missing, but are not part of the ordering and completion checks.
//
// With membership (enable_membership(), issue 3) the fixed model above no longer holds: every
// call is handed to an evs_checker (evs_checker.hpp), which checks invariants 1–8 for any
// sequence of configurations, crashes and restarts, and complete() means the live daemons have
// settled into one ring and delivered what they must.
// Thread-safety: none; one per simulation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/output.hpp"
#include "sim/evs_checker.hpp"

namespace chorus::sim {

using core::msg_id;
using core::node_id;
using core::ring_id;
using core::seq_t;
using core::service;

// What the checker may ask about the nodes of the run, at the moment of the call.
class node_probe {
 public:
  virtual ~node_probe() = default;
  // Whether node `n` has received packet `s` of its current ring.
  virtual bool has_received(node_id n, seq_t s) const = 0;
  // Whether node `n` has received packet `s` of ring `r`; nullopt when it cannot tell (it is
  // down, or no longer in ring `r`).
  virtual std::optional<bool> received(node_id /*n*/, ring_id /*r*/, seq_t /*s*/) const {
    return std::nullopt;
  }
  // A one-line state of node `n` for failure messages ("aru=… delivered_upto=…").
  virtual std::string describe(node_id n) const = 0;
};

class checker {
 public:
  // `members` in ring order, ids 1..members.size(); `ring` is the one ring of the run;
  // `payload_seed` the seed payloads are generated from.
  checker(std::vector<node_id> members, ring_id ring, std::uint64_t payload_seed);

  // `probe` must outlive the checker, or be reset to nullptr first. Without a probe, I6 is not
  // checked.
  void set_probe(const node_probe* probe) noexcept {
    probe_ = probe;
    if (evs_) evs_->set_probe(probe);
  }
  // From now on, check EVS over any sequence of configurations (call before any event).
  void enable_membership();
  bool membership() const noexcept { return evs_ != nullptr; }
  // The EVS checker (nullptr without membership).
  evs_checker* evs() noexcept { return evs_.get(); }
  const evs_checker* evs() const noexcept { return evs_.get(); }

  // A node object was built (incarnation 0 at start, then one more on every restart).
  void on_start(node_id n, std::uint32_t incarnation, core::time_point now);
  // Node n's node object was destroyed.
  void on_crash(node_id n, core::time_point now);

  // `origin`'s submit() accepted a message of `size` bytes at level `svc` and returned `id`.
  // Call before acting on the node's output (a one-node ring may deliver it at once).
  // `content` (membership runs only): the hash of an opaque payload (evs_checker::on_submit).
  void on_submit(node_id origin, msg_id id, service svc, std::size_t size, core::time_point now,
                 std::optional<std::uint64_t> content = std::nullopt);
  void on_configuration(node_id at, const core::configuration& c, core::time_point now);
  void on_delivery(node_id at, const core::delivery& d, core::time_point now);
  // The end of the run: checks I2 and L (with membership, every EVS check).
  void finish(core::time_point now);
  // With membership: the whole-history checks, also worth running when a run stops early.
  void check_histories() {
    if (evs_) evs_->check_histories();
  }

  // Records a violation found elsewhere (the cluster, the workload); the first one wins.
  void fail(std::string what);
  bool ok() const noexcept { return violation_.empty(); }
  const std::string& violation() const noexcept { return violation_; }

  // Every non-UNRELIABLE message submitted so far is delivered at every member (with
  // membership: evs_checker::complete()).
  bool complete() const noexcept { return evs_ ? evs_->complete() : required_done_ == required_; }
  // Up to `max` lines naming, per node, how much is missing and the first missing message.
  std::vector<std::string> missing_report(std::size_t max) const;

  std::uint64_t submitted() const noexcept { return submitted_; }
  std::uint64_t deliveries() const noexcept { return evs_ ? evs_->deliveries() : deliveries_; }
  // Configurations installed (all nodes).
  std::uint64_t configurations() const noexcept { return evs_ ? evs_->configurations() : 0; }
  // Crash → survivors' next regular configuration (empty without membership).
  std::vector<core::duration> crash_recovery_times() const {
    return evs_ ? evs_->crash_recovery_times() : std::vector<core::duration>{};
  }
  // Every regular configuration installed (membership runs), in event order: the per-fault
  // figures count them.
  struct install {
    core::time_point at;
    node_id node;
    std::size_t members;
  };
  const std::vector<install>& regular_installs() const noexcept { return regular_installs_; }
  // UNRELIABLE (message, member) pairs never delivered.
  std::uint64_t unreliable_missing() const;

 private:
  struct message {
    service svc = service::agreed;
    std::uint64_t size = 0;
    std::uint64_t causal_floor = 0;  // origin's common-sequence position when submitted
    std::uint32_t delivered_by = 0;  // bit i: member i+1 delivered it
    bool ordered = false;            // has a place in the common sequence
    std::uint64_t position = 0;      // its place in the common sequence, if ordered
    seq_t seq{};                     // its seq, once delivered anywhere
  };
  struct node_state {
    bool configured = false;
    std::uint64_t position = 0;          // non-UNRELIABLE deliveries so far (prefix length)
    seq_t last_seq{};                    // seq of the last non-UNRELIABLE delivery
    std::vector<std::uint64_t> next_id;  // per origin: the lowest id not yet passed by FIFO
  };
  struct entry {
    node_id origin;
    msg_id id;
    node_id first_by;  // the node that delivered it first
  };

  std::string name(node_id origin, msg_id id) const;
  message* find(node_id origin, msg_id id);
  bool check_delivery_basics(node_id at, const core::delivery& d, message& m);
  void check_order(node_id at, const core::delivery& d, message& m);
  void check_fifo(node_id at, const core::delivery& d);
  void check_safe(node_id at, const core::delivery& d, core::time_point now);

  std::vector<node_id> members_;
  ring_id ring_;
  std::uint64_t payload_seed_;
  const node_probe* probe_ = nullptr;
  std::vector<std::vector<message>> messages_;  // [origin-1][id-1]
  std::vector<node_state> nodes_;               // [member-1]
  std::vector<entry> common_;                   // the common delivery sequence (I4)
  std::uint64_t required_ = 0;                  // non-UNRELIABLE submitted × members
  std::uint64_t required_done_ = 0;             // of those, delivered
  std::uint64_t submitted_ = 0;
  std::uint64_t deliveries_ = 0;
  std::string violation_;
  std::unique_ptr<evs_checker> evs_;
  std::vector<install> regular_installs_;
};

}  // namespace chorus::sim
