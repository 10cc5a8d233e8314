// node.hpp — one daemon's protocol engine: the sans-I/O state machine the daemon and the
// simulator both drive (DESIGN §3).
//
//   node n(cfg, now);
//   n.step(from, datagram, now);   // every datagram from the network
//   n.tick(now);                   // when output().deadline has passed
//   n.submit(svc, payload, now);   // a local client message
//   output o = n.take_output();    // act on it (see output.hpp for the order)
//
// Invariants (checked by check_invariants() after every call in debug and simulation builds):
//   N1. delivered_upto ≤ aru ≤ high_seq, and discard_upto ≤ min(delivered_upto, safe_upto).
//   N2. every seq in (discard_upto, aru] is held in the receive window.
//   N3. safe_upto only grows, and never passes the aru the token proved everyone holds.
// Thread-safety: none. One thread owns a node; the shell serializes every call.
#pragma once

#include <memory>

#include "core/config.hpp"
#include "core/output.hpp"
#include "core/stats.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace chorus::core {

class ring;

// Checks a configuration the shell built (from a file or options): ok, or what is wrong.
util::status validate(const config& cfg);

class node {
 public:
  // Forms the ring `cfg.members` (which must contain cfg.self) at time `now`. The first member
  // creates the token. Emits the regular configuration as the first event.
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
  // incarnation · 2^40 + 1). Refuses
  // with too_large above config.message_bytes_max, would_block when the send queue is full.
  util::result<msg_id> submit(service svc, util::shared_bytes payload, time_point now);
  // Everything the shell must do since the last call; see output.hpp.
  output take_output();

  const config& cfg() const noexcept { return cfg_; }
  const struct stats& stats() const noexcept { return stats_; }

  // --- introspection for checkers, tests and the monitor ---
  seq_t aru() const noexcept;             // all received up to
  seq_t delivered_upto() const noexcept;  // all delivered up to
  seq_t safe_upto() const noexcept;       // known received by every member
  // Whether this node has received packet `s` of its current ring (held or already discarded).
  bool has_received(seq_t s) const noexcept;
  // Bytes and messages waiting for the token.
  std::size_t queued_messages() const noexcept;
  std::size_t queued_bytes() const noexcept;
  // Asserts the invariants above (CHORUS_ASSERT); cheap enough for every simulated step.
  void check_invariants() const;

 private:
  config cfg_;
  struct stats stats_;
  output out_;
  std::unique_ptr<ring> ring_;
};

}  // namespace chorus::core
