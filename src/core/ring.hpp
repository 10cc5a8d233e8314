// ring.hpp — the ordering half of the protocol for one ring (one regular configuration):
// token handling, sequencing, retransmission, flow control, the Accelerated Ring, and in-order
// delivery of all six service levels (Totem §3; Babay & Amir, ICDCS 2016).
//
// A ring is created for a fixed member list and lives as long as that configuration. Membership
// (issue 3) ends a ring and starts the next; it reads the old ring's window during recovery and
// never changes how a ring orders.
//
// Invariants (docs/protocol.md I-1…I-6; asserted by check_invariants()):
//   R1. base ≤ delivered_upto ≤ aru ≤ high, and base ≤ safe_upto ≤ aru.
//   R2. delivered messages leave in strictly increasing (seq, item) order; a packet completing a
//       SAFE message is delivered only once its seq ≤ safe_upto.
//   R3. safe_upto = max over visits of min(aru sent on the previous visit, aru received on this
//       one): every member holds everything at or below it (protocol.md, "Safe delivery").
//   R4. a token rotation is processed at most once.
// Thread-safety: none; owned by one node.
#pragma once

#include <optional>
#include <vector>

#include "core/config.hpp"
#include "core/output.hpp"
#include "core/reassembly.hpp"
#include "core/receive_window.hpp"
#include "core/send_queue.hpp"
#include "core/stats.hpp"
#include "wire/packet.hpp"

namespace chorus::core {

class ring {
 public:
  // Starts ring `id` of `members` (ring order, containing cfg.self) at `now`; the first member
  // creates the token. New packets are packed from `source` (may be null: nothing to send).
  // `cfg`, `source`, `st` and `out` are owned by the node and outlive the ring.
  ring(const config& cfg, ring_id id, std::vector<node_id> members, send_queue* source,
       struct stats& st, output& out, time_point now);

  // A data packet of this ring (the caller checked hash, ring id and membership); `bytes` is
  // the datagram `p`'s item views point into.
  void on_data(const wire::data_packet& p, util::shared_bytes bytes);
  // A packet of this ring received through recovery (another ring carried it): stored if new,
  // never counted as a duplicate, never delivered before the node says so.
  void store_recovered(seq_t s, util::shared_bytes bytes, wire::data_packet p);
  // A token of this ring.
  // Returns whether the token was accepted (not a duplicate or stale copy).
  bool on_token(wire::token t, time_point now);
  void tick(time_point now);
  // The source queue has new messages: a parked token moves at once.
  void wake(time_point now);
  // Packs from `source` from now on (the node switches from recovery to client messages).
  void set_source(send_queue* source, time_point now);

  // Stops delivering: the node left this ring's configuration and delivers the rest itself
  // (deliver_upto, deliver_rest) when it installs the next one.
  void freeze() noexcept { frozen_ = true; }
  // Installation of the next configuration (protocol.md "Installation"), on a frozen ring:
  // deliver in order up to `d` (the old regular configuration), then everything else held,
  // skipping gaps and, after the first gap, origins not in `transitional` (ascending). The ring
  // is finished after deliver_rest and only destroyed.
  void deliver_upto(seq_t d);
  void deliver_rest(const std::vector<node_id>& transitional);
  // Items of service `recovery` delivered since the last call. Delivery pauses after a packet
  // that had some, so the node acts on them in the total order; resume() goes on.
  std::vector<delivery> take_recovered() {
    std::vector<delivery> r = std::move(recovered_);
    recovered_.clear();
    return r;
  }
  void resume() { deliver(); }

  // Earliest time tick() has work to do, if any.
  std::optional<time_point> deadline() const noexcept;

  ring_id id() const noexcept { return id_; }
  const std::vector<node_id>& members() const noexcept { return members_; }
  seq_t aru() const noexcept { return window_.aru(); }
  seq_t high() const noexcept { return window_.high(); }
  seq_t delivered_upto() const noexcept { return delivered_upto_; }
  seq_t safe_upto() const noexcept { return safe_upto_; }
  bool has_received(seq_t s) const noexcept { return s <= window_.base() || window_.holds(s); }
  const receive_window& window() const noexcept { return window_; }
  void check_invariants() const;

 private:
  // One visit of the token (Totem §3.1): answer retransmission requests, broadcast new packets,
  // update aru, rtr and fcc, pass the token on (or park it), then deliver.
  // `may_park`: an idle token may be parked here (false once a hold has expired).
  // While the token lingers (linger_until_ set), a visit continues the same one: it sends
  // what was submitted meanwhile within what is left of the visit's windows, and leaves the
  // stability of SAFE messages alone (the token has not been round).
  void visit(wire::token t, time_point now, bool may_park = true);
  // Packets our send queue would fill (an estimate: packing may do better).
  std::uint32_t queued_packets() const noexcept;
  std::uint32_t answer_retransmissions(wire::token& t, std::uint32_t budget);
  std::vector<util::shared_bytes> broadcast_new(wire::token& t, std::uint32_t allowed);
  void update_aru_and_rtr(wire::token& t);
  // `park_idle`: a ring of one waits for the next submit. `hold_until`: a larger ring keeps
  // the token here until then (an idle park or a linger) instead of passing it now.
  void pass_token(wire::token& t, std::vector<util::shared_bytes>& fresh, bool park_idle,
                  std::optional<time_point> hold_until, time_point now);
  void send_token(time_point now);
  // To every other member (nothing in a ring of one).
  void broadcast(util::shared_bytes bytes);
  bool has_queued() const noexcept;
  void deliver();
  // Delivers packet `s`'s items; with `origins`, only if its origin is among them.
  void deliver_packet(seq_t s, const std::vector<node_id>* origins);
  void store(seq_t s, util::shared_bytes bytes, wire::data_packet p);

  const config& cfg_;
  struct stats& stats_;
  output& out_;

  ring_id id_;
  std::vector<node_id> members_;  // ring order
  node_id successor_;             // who we pass the token to (ourselves in a ring of one)
  std::shared_ptr<const std::vector<node_id>> others_;  // members but us: broadcast targets
  receive_window window_;
  send_queue* source_;  // where new messages come from; may be null
  reassembly reassembly_;
  bool frozen_ = false;              // no more deliveries from deliver()
  bool finished_ = false;            // deliver_rest() ran: invariants no longer hold
  std::vector<delivery> recovered_;  // recovery items waiting for the node

  seq_t delivered_upto_{0};  // every packet at or below has been delivered here
  seq_t safe_upto_{0};       // every member holds every packet at or below (R3)

  // --- token state between two visits ---
  std::uint64_t last_rotation_ = 0;  // highest rotation processed (R4)
  seq_t sent_aru_{0};                // the token's aru as we passed it last time
  seq_t sent_seq_{0};                // the token's seq as we passed it last time
  std::uint32_t idle_visits_ = 0;    // consecutive visits with nothing to do (parking)
  seq_t last_stamped_{0};            // the last seq we assigned (0: none in this ring)
  seq_t last_safe_stored_{0};        // the highest stored packet that completes a SAFE message
  std::uint32_t sent_count_ = 0;     // packets we broadcast on our last visit (our part of fcc)
  std::uint32_t sent_backlog_ = 0;   // our queued packets as we reported them (part of backlog)
  util::shared_bytes sent_token_;    // the token as we passed it, for retransmission
  std::optional<time_point> token_retransmit_at_;  // armed while the successor may lack it
  std::optional<wire::token> parked_;              // an idle token held here
  std::optional<time_point> park_until_;           // when to pass it on (nullopt: on submit)
  std::optional<time_point> linger_until_;         // the visit goes on until then (token_linger)
};

}  // namespace chorus::core
