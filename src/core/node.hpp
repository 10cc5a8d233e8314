// node.hpp — one daemon's protocol engine: the sans-I/O state machine the daemon and the
// simulator both drive (DESIGN §3).
//
//   node n(cfg, now);
//   n.step(from, datagram, now);   // every datagram from the network
//   n.tick(now);                   // when output().deadline has passed
//   n.submit(svc, payload, now);   // a local client message
//   output o = n.take_output();    // act on it (see output.hpp for the order)
//
// The node is in one of four roles (docs/protocol.md "Membership"): operational in a ring;
// gather (exchanging joins to agree on who is there); commit (the commit token circulates);
// recovery (the new ring exchanges the old rings' messages, then installs the transitional and
// regular configurations). A node built with `cfg.daemons` empty runs a fixed ring of
// `cfg.members` and never changes membership (benchmarks, ordering tests); with daemons it
// starts operational in `cfg.members` if given, else by gathering.
//
// Invariants (checked by check_invariants() after every call in debug and simulation builds):
//   N1. the current ring's invariants (ring.hpp R1–R4).
//   N2. operational ⇔ no old ring is held; the gather role's sets satisfy G1–G2.
// Thread-safety: none. One thread owns a node; the shell serializes every call.
#pragma once

#include <memory>
#include <set>
#include <variant>

#include "core/config.hpp"
#include "core/gather.hpp"
#include "core/output.hpp"
#include "core/reachability.hpp"
#include "core/send_queue.hpp"
#include "core/stats.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"
#include "wire/packet.hpp"

namespace chorus::core {

// A ring counter is the representative's incarnation (high bits) and a sequence (low bits) that
// grows across the whole system: the sequence orders rings (stale joins), the incarnation keeps a
// restarted daemon, which remembers no sequence, from forming a ring id it formed before.
inline constexpr unsigned ring_sequence_bits = 40;
constexpr std::uint64_t ring_sequence(std::uint64_t counter) noexcept {
  return counter & ((std::uint64_t{1} << ring_sequence_bits) - 1);
}
constexpr std::uint64_t ring_incarnation(std::uint64_t counter) noexcept {
  return counter >> ring_sequence_bits;
}

class ring;

// Checks a configuration the shell built (from a file or options): ok, or what is wrong.
util::status validate(const config& cfg);

class node {
 public:
  node(config cfg, time_point now);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // A datagram `bytes` received from daemon `from`. Malformed, stale or foreign input is dropped
  // and counted in stats(); it never fails.
  void step(node_id from, util::shared_bytes bytes, time_point now);
  // Fires the timers whose deadline is ≤ now.
  void tick(time_point now);
  // Queues a message for ordering and returns its id (the origin's counter, from
  // incarnation · 2^40 + 1). Refuses with too_large above config.message_bytes_max,
  // would_block when the send queue is full. Messages wait while membership runs.
  util::result<msg_id> submit(service svc, util::shared_bytes payload, time_point now);
  // Everything the shell must do since the last call; see output.hpp.
  output take_output();

  const config& cfg() const noexcept { return cfg_; }
  const struct stats& stats() const noexcept { return stats_; }

  // --- introspection for checkers, tests and the monitor ---
  enum class role_kind { operational, gather, commit, recovery };
  role_kind role() const noexcept { return static_cast<role_kind>(role_.index()); }
  // The ring this node is operational in, or forming (recovery); {} in gather and commit.
  ring_id current_ring() const noexcept;
  seq_t aru() const noexcept;             // of the current ring (0 without one)
  seq_t delivered_upto() const noexcept;  // of the current ring
  seq_t safe_upto() const noexcept;       // of the current ring
  // Whether this node holds packet `s` of ring `r` (held or already discarded), in its current
  // ring or in the old ring it is recovering.
  bool has_received(ring_id r, seq_t s) const noexcept;
  bool has_received(seq_t s) const noexcept { return has_received(current_ring(), s); }
  // Bytes and messages waiting for the token.
  std::size_t queued_messages() const noexcept { return queue_.messages(); }
  std::size_t queued_bytes() const noexcept { return queue_.bytes(); }
  void check_invariants() const;

 private:
  struct operational {};
  struct gather {
    gather_sets sets;
    time_point join_at;       // rebroadcast our join
    time_point consensus_at;  // give up on those who have not agreed
  };
  struct commit {
    gather_sets sets;              // the sets we agreed on (our join while we wait)
    std::vector<node_id> members;  // sets.members(): the ring being formed, ascending
    ring_id ring;                  // the ring the commit token forms ({} until one arrives)
    time_point give_up_at;         // no commit token progress: gather again
    time_point join_at;            // announce our agreed sets again
  };
  struct recovery {
    std::vector<wire::commit_entry> entries;  // every member's old-ring state
    std::set<node_id> done;                   // members whose done marker was delivered
  };

  bool membership() const noexcept { return !cfg_.daemons.empty(); }
  void start_ring(ring_id id, std::vector<node_id> members, send_queue* source, time_point now);
  void on_data(const wire::data_packet& p, util::shared_bytes bytes, time_point now);
  void on_token(wire::token t, time_point now);
  void on_join(const wire::join& j, time_point now);
  void on_commit(wire::commit_token c, time_point now);
  void after_ring_call(time_point now);
  void on_foreign(node_id sender, time_point now);
  void on_probe(const wire::join& j, time_point now);
  // Operational representative: a ring outside ours hears all of ours both ways
  // (core/reachability.hpp), so a merge with it would hold.
  bool should_merge(time_point now) const;
  bool representative() const;

  // Enters gather knowing `heard` (and, if given, the join `j` that made us gather).
  // `merge`: to merge with a ring outside ours (keeps what reachability knew).
  void become_gather(time_point now, std::vector<node_id> heard = {}, const wire::join* j = nullptr,
                     bool merge = false);
  // A join with this daemon's identity, rings and heard set; the caller fills in the sets.
  wire::join join_of(time_point now) const;
  void send(const wire::join& j, const std::vector<node_id>& to);
  void send_join(const std::vector<node_id>& to, time_point now);
  // Operational: our ring and whom we hear, to every other configured daemon.
  void send_probe(time_point now);
  // We heard a daemon we had not: tell the others soon (at most once per join_timeout).
  void probe_soon(time_point now);
  void check_consensus(time_point now);
  void pass_commit(wire::commit_token c, time_point now);
  wire::commit_entry my_entry() const;
  void become_recovery(std::vector<wire::commit_entry> entries, ring_id id, time_point now);
  void queue_recovery(const std::vector<wire::commit_entry>& entries);
  void queue_done();
  void install(time_point now);

  std::vector<node_id> all_daemons() const;
  wire::header header_of(wire::packet_type t) const;
  std::optional<time_point> deadline() const;

  config cfg_;
  struct stats stats_;
  output out_;
  send_queue queue_;                    // client messages; survives ring changes (FIFO, ids)
  send_queue recovery_queue_;           // our recovery items for the ring being formed
  std::unique_ptr<ring> ring_;          // operational: the ring; recovery: the ring being formed
  std::unique_ptr<ring> old_;           // while membership runs: the last regular ring, frozen
  std::uint64_t ring_counter_max_ = 0;  // highest ring sequence seen anywhere (node.cpp)
  std::variant<operational, gather, commit, recovery> role_;
  std::optional<time_point> token_loss_at_;  // operational, recovery: no token by then
  reachability reach_;                       // who hears whom (membership only)
  std::optional<time_point> probe_at_;       // operational: next probe (merge detection)
  std::optional<time_point> probed_at_;      // operational: the last probe sent
  util::shared_bytes commit_sent_;           // the commit token we passed, for retransmission
  node_id commit_to_{};
  std::uint64_t commit_rotation_ = 0;  // highest commit token rotation processed
  std::optional<time_point> commit_retransmit_at_;
};

}  // namespace chorus::core
