#include "core/ring.hpp"

#include <algorithm>
#include <iterator>

#include "util/assert.hpp"

namespace chorus::core {
namespace {

std::uint32_t saturating_sub(std::uint64_t a, std::uint64_t b) noexcept {
  return a > b ? static_cast<std::uint32_t>(std::min<std::uint64_t>(a - b, UINT32_MAX)) : 0;
}

node_id successor_of(const std::vector<node_id>& m, node_id self_id) {
  auto self = std::find(m.begin(), m.end(), self_id);
  CHORUS_ASSERT(self != m.end(), "self is not a member");
  return std::next(self) == m.end() ? m.front() : *std::next(self);
}

std::shared_ptr<const std::vector<node_id>> others_of(const std::vector<node_id>& m, node_id self) {
  auto v = std::make_shared<std::vector<node_id>>();
  for (node_id n : m)
    if (n != self) v->push_back(n);
  return v;
}

bool completes_safe(const wire::data_packet& p) {
  return std::any_of(p.items.begin(), p.items.end(), [](const wire::item& it) {
    return it.svc == service::safe && it.last_fragment();
  });
}

// The receive window must hold everything between the slowest member's discard point and the
// newest seq: the ring's outstanding limit plus what one rotation may add on top of it.
std::size_t window_capacity(const config& cfg) {
  return std::size_t{cfg.outstanding_max} + 2u * cfg.window_global + cfg.window_personal;
}

}  // namespace

ring::ring(const config& cfg, ring_id id, std::vector<node_id> members, send_queue* source,
           struct stats& st, output& out, time_point now)
    : cfg_(cfg),
      stats_(st),
      out_(out),
      id_(id),
      members_(std::move(members)),
      successor_(successor_of(members_, cfg.self)),
      others_(others_of(members_, cfg.self)),
      window_(window_capacity(cfg)),
      source_(source),
      reassembly_(cfg.message_bytes_max) {
  if (members_.front() == cfg.self) {
    // Totem §3.1: the representative creates the first token and makes the first visit.
    wire::token t;
    t.ring = id_;
    visit(std::move(t), now);
  }
}

bool ring::has_queued() const noexcept { return source_ != nullptr && !source_->empty(); }

void ring::set_source(send_queue* source, time_point now) {
  source_ = source;
  wake(now);
}

void ring::wake(time_point now) {
  if (has_queued() && parked_ && (!park_until_ || *park_until_ > now)) park_until_ = now;
}

void ring::on_data(const wire::data_packet& p, util::shared_bytes bytes) {
  // Evidence that the token moved past our successor: it (or someone after it) used it.
  if (token_retransmit_at_ && p.seq > sent_seq_) token_retransmit_at_.reset();
  const seq_t s = p.seq;
  if (s <= window_.base() || window_.holds(s)) {
    ++stats_.dropped_duplicate;
    return;
  }
  if (s > window_.limit()) {
    ++stats_.dropped_beyond_window;
    return;
  }
  store(s, std::move(bytes), p);
  deliver();
}

void ring::store_recovered(seq_t s, util::shared_bytes bytes, wire::data_packet p) {
  if (s <= window_.base() || window_.holds(s) || s > window_.limit()) return;
  store(s, std::move(bytes), std::move(p));
}

void ring::store(seq_t s, util::shared_bytes bytes, wire::data_packet p) {
  stored_packet sp;
  sp.origin = p.hdr.sender;
  sp.needs_safe = completes_safe(p);
  if (sp.needs_safe) last_safe_stored_ = std::max(last_safe_stored_, s);
  sp.items = std::move(p.items);
  sp.bytes = std::move(bytes);
  window_.insert(s, std::move(sp));
}

bool ring::on_token(wire::token t, time_point now) {
  // R4: a rotation already seen is a retransmitted copy. A token whose seq is below the one we
  // passed cannot come from this ring's live token (seq never decreases): only a faulty peer
  // sends one, and acting on it would pass on a token our successor must reject.
  if (t.rotation <= last_rotation_ || t.seq < sent_seq_) {
    ++stats_.dropped_stale_token;
    return false;
  }
  ++stats_.tokens_received;
  visit(std::move(t), now);
  return true;
}

void ring::visit(wire::token t, time_point now, bool may_park) {
  const bool continuing = linger_until_.has_value();
  last_rotation_ = t.rotation;
  token_retransmit_at_.reset();
  parked_.reset();
  park_until_.reset();

  const seq_t received_aru = t.aru;
  const seq_t safe_before = safe_upto_;
  const std::uint32_t fcc_others = saturating_sub(t.fcc, sent_count_);
  // What this visit sent before the token lingered: it counts against the same windows.
  const std::uint32_t earlier = continuing ? sent_count_ : 0;
  // Flow control (Totem §3.5): the global window is shared by everyone's sends of the last
  // rotation, the personal window bounds one visit, and the ring never runs further ahead of
  // its slowest member than outstanding_max.
  const std::uint32_t global_room = saturating_sub(cfg_.window_global, fcc_others);
  const std::uint32_t retransmitted =
      continuing ? 0 : answer_retransmissions(t, std::min(cfg_.window_personal, global_room));
  std::uint32_t allowed = std::min(saturating_sub(cfg_.window_personal, earlier + retransmitted),
                                   saturating_sub(global_room, earlier + retransmitted));
  allowed = std::min(allowed, saturating_sub(cfg_.outstanding_max, t.seq.value - t.aru.value));
  allowed = std::min(allowed, saturating_sub(window_.limit().value, t.seq.value));
  // Fairness (Totem §3.5): under contention each daemon gets a share of the global window in
  // proportion to its backlog, as the others reported it during the last rotation.
  const std::uint32_t backlog_others = saturating_sub(t.backlog, sent_backlog_);
  const std::uint32_t my_backlog = queued_packets();
  if (my_backlog > 0) {
    const std::uint64_t share = std::uint64_t{cfg_.window_global} * my_backlog /
                                (std::uint64_t{backlog_others} + my_backlog);
    allowed = std::min<std::uint32_t>(
        allowed, static_cast<std::uint32_t>(std::max<std::uint64_t>(share, 1)));
  }
  std::vector<util::shared_bytes> fresh = broadcast_new(t, allowed);
  sent_backlog_ = queued_packets();
  t.backlog = backlog_others + sent_backlog_;

  update_aru_and_rtr(t);
  // R3 (protocol.md, "Safe delivery"): what we passed last time and what came back are both
  // lower bounds of every member's aru, so their minimum is held by all. A lingering token has
  // not been round: its aru is only ours.
  if (!continuing) safe_upto_ = std::max(safe_upto_, std::min(received_aru, sent_aru_));
  sent_aru_ = t.aru;
  sent_seq_ = t.seq;
  sent_count_ = earlier + retransmitted + static_cast<std::uint32_t>(fresh.size());
  t.fcc = fcc_others + sent_count_;

  deliver();
  const bool idle = sent_count_ == 0 && t.rtr.empty() && t.aru == t.seq && safe_upto_ == t.seq &&
                    delivered_upto_ == t.seq && !has_queued();
  if (!continuing) idle_visits_ = idle ? idle_visits_ + 1 : 0;
  // An idle token parks where it is after park_after_idle_visits idle visits, or at once at
  // the daemon that stamped the last message (nobody sent since): its next message is then
  // ordered without waiting for the token. Not while another member may still wait for this
  // token to learn a SAFE message is stable: that took our previous visit's aru.
  const bool last_sender = last_stamped_ != seq_t{0} && t.seq == last_stamped_;
  const bool park = idle && may_park && !continuing &&
                    (idle_visits_ >= cfg_.park_after_idle_visits ||
                     (last_sender && last_safe_stored_ <= safe_before));
  std::optional<time_point> hold_until;
  if (park && cfg_.token_hold > duration::zero()) hold_until = now + cfg_.token_hold;
  // A lone sender lingers (config.hpp token_linger): nobody else sent or waits to send as far
  // as the last rotation showed, nothing is to be retransmitted, and no SAFE message needs the
  // token to go round. A SAFE message that just became stable may wait for the linger: the
  // token carries the news on when it leaves.
  const bool linger = !hold_until && cfg_.token_linger > duration::zero() &&
                      successor_ != cfg_.self && may_park && last_sender && fcc_others == 0 &&
                      backlog_others == 0 && t.rtr.empty() && !has_queued() &&
                      last_safe_stored_ <= safe_upto_ && (!continuing || now < *linger_until_);
  if (!linger) {
    linger_until_.reset();
  } else {
    if (!continuing) {
      linger_until_ = now + cfg_.token_linger;
      ++stats_.token_lingers;
    }
    hold_until = linger_until_;
  }
  pass_token(t, fresh, park, hold_until, now);
}

std::uint32_t ring::queued_packets() const noexcept {
  if (!has_queued()) return 0;
  const std::size_t room =
      cfg_.packet_bytes_max - wire::data_prefix_bytes - wire::item_header_bytes;
  const std::size_t packets = (source_->bytes() + room - 1) / room;
  return static_cast<std::uint32_t>(std::clamp<std::size_t>(packets, 1, UINT32_MAX / 2));
}

std::uint32_t ring::answer_retransmissions(wire::token& t, std::uint32_t budget) {
  std::uint32_t sent = 0;
  std::vector<seq_t> left;
  for (seq_t s : t.rtr) {
    if (s <= window_.base()) continue;  // everyone holds it: the request is stale
    if (sent < budget && window_.holds(s)) {
      broadcast(window_.at(s).bytes);
      ++stats_.packets_retransmitted;
      ++sent;
    } else {
      left.push_back(s);
    }
  }
  t.rtr = std::move(left);
  return sent;
}

std::vector<util::shared_bytes> ring::broadcast_new(wire::token& t, std::uint32_t allowed) {
  std::vector<util::shared_bytes> fresh;
  const wire::header h{wire::protocol_version, wire::packet_type::data, cfg_.self, cfg_.hash};
  while (fresh.size() < allowed && has_queued()) {
    const seq_t s{t.seq.value + 1};
    util::byte_vector buf;
    buf.reserve(cfg_.packet_bytes_max);
    wire::data_packet_builder b(buf, h, id_, s);
    source_->pack(b, cfg_.packet_bytes_max);
    b.finish();
    util::shared_bytes bytes(std::move(buf));
    // Decoding our own packet both checks the encoder and gives the stored item views.
    auto decoded = wire::decode_data(bytes.span());
    CHORUS_ASSERT(decoded.ok(), "own data packet does not decode");
    // Only a faulty peer can have sent a packet with this seq already; ours replaces it.
    window_.erase(s);
    store(s, bytes, std::move(decoded).value());
    t.seq = s;
    last_stamped_ = s;
    fresh.push_back(std::move(bytes));
    ++stats_.packets_sent;
  }
  return fresh;
}

void ring::update_aru_and_rtr(wire::token& t) {
  // Only a faulty peer's packets can put our aru above the token's seq; never pass that on.
  const seq_t my_aru = std::min(window_.aru(), t.seq);
  // Totem §3.1: lower the aru to ours, or raise it if we were the one holding it down.
  if (my_aru < t.aru || t.aru_id == cfg_.self || t.aru_id == wire::no_node) {
    t.aru = my_aru;
    t.aru_id = my_aru == t.seq ? wire::no_node : cfg_.self;
  }
  // Ask for what is missing among the packets sequenced before our previous visit: newer ones
  // may still be in flight behind the token (the Accelerated Ring sends them after it).
  std::vector<seq_t> mine;
  window_.missing(std::min(sent_seq_, t.seq), cfg_.rtr_per_visit_max, mine);
  if (mine.empty()) return;
  stats_.retransmit_requests += mine.size();
  std::vector<seq_t> merged;
  merged.reserve(t.rtr.size() + mine.size());
  std::set_union(t.rtr.begin(), t.rtr.end(), mine.begin(), mine.end(), std::back_inserter(merged));
  if (merged.size() > wire::rtr_max) merged.resize(wire::rtr_max);
  t.rtr = std::move(merged);
}

void ring::pass_token(wire::token& t, std::vector<util::shared_bytes>& fresh, bool park_idle,
                      std::optional<time_point> hold_until, time_point now) {
  t.hdr = wire::header{wire::protocol_version, wire::packet_type::token, cfg_.self, cfg_.hash};
  t.rotation = last_rotation_ + 1;
  // The Accelerated Ring: the token leaves after the first part of the burst, the rest follows.
  const std::size_t before =
      fresh.size() > cfg_.window_accelerated ? fresh.size() - cfg_.window_accelerated : 0;
  for (std::size_t i = 0; i < before; ++i) broadcast(std::move(fresh[i]));
  if (successor_ == cfg_.self || hold_until) {
    // A ring of one passes the token to itself: park it, and visit again at once while there
    // is work left, or on the next submit when idle. A larger ring keeps it until the hold or
    // the linger is over (or a submit wakes it), then passes it on.
    parked_ = std::move(t);
    if (successor_ != cfg_.self)
      park_until_ = hold_until;
    else if (!park_idle)
      park_until_ = now;
  } else {
    last_rotation_ = t.rotation;
    util::byte_vector buf;
    wire::encode(t, buf);
    sent_token_ = util::shared_bytes(std::move(buf));
    send_token(now);
  }
  for (std::size_t i = before; i < fresh.size(); ++i) broadcast(std::move(fresh[i]));
}

void ring::broadcast(util::shared_bytes bytes) {
  if (!others_->empty())
    out_.packets.push_back(outgoing_packet{std::nullopt, std::move(bytes), others_});
}

void ring::send_token(time_point now) {
  out_.packets.push_back(outgoing_packet{successor_, sent_token_});
  token_retransmit_at_ = now + cfg_.token_retransmit;
}

void ring::tick(time_point now) {
  if (parked_ && park_until_ && *park_until_ <= now) {
    // A ring of one may park again; a larger ring's hold is over: the token moves on, unless
    // it lingers and the linger is not over yet.
    visit(std::move(*parked_), now, successor_ == cfg_.self || linger_until_.has_value());
  }
  if (token_retransmit_at_ && *token_retransmit_at_ <= now) {
    // Totem §3.6: the successor may have lost the token; it drops the copy if it did not.
    ++stats_.tokens_retransmitted;
    send_token(now);
  }
}

std::optional<time_point> ring::deadline() const noexcept {
  std::optional<time_point> d;
  if (parked_ && park_until_) d = park_until_;
  if (token_retransmit_at_ && (!d || *token_retransmit_at_ < *d)) d = token_retransmit_at_;
  return d;
}

void ring::deliver() {
  if (frozen_) return;
  while (delivered_upto_ < window_.aru() && recovered_.empty()) {
    const seq_t s{delivered_upto_.value + 1};
    // Totem §3.3: a SAFE message waits until every member holds it, and the total order makes
    // everything after it wait too.
    if (window_.at(s).needs_safe && s > safe_upto_) break;
    deliver_packet(s, nullptr);
    delivered_upto_ = s;
  }
  window_.discard_upto(std::min(delivered_upto_, safe_upto_));
}

void ring::deliver_packet(seq_t s, const std::vector<node_id>* origins) {
  const stored_packet& p = window_.at(s);
  if (origins != nullptr && !std::binary_search(origins->begin(), origins->end(), p.origin)) {
    reassembly_.drop(p.origin);  // protocol.md "Installation": may depend on a lost message
    return;
  }
  for (const wire::item& it : p.items) {
    auto r = reassembly_.add(p.origin, it, p.bytes);
    if (r.error) ++stats_.reassembly_errors;
    if (!r.message) continue;
    delivery d{id_, s, p.origin, it.id, it.svc, std::move(*r.message)};
    if (it.svc == service::recovery) {  // for the node, not for clients (protocol.md)
      if (!frozen_) recovered_.push_back(std::move(d));
      continue;
    }
    ++stats_.messages_delivered;
    stats_.bytes_delivered += d.payload.size();
    out_.events.push_back(std::move(d));
  }
}

void ring::deliver_upto(seq_t d) {
  CHORUS_ASSERT(frozen_);
  while (delivered_upto_ < std::min(d, window_.aru())) {
    const seq_t s{delivered_upto_.value + 1};
    deliver_packet(s, nullptr);
    delivered_upto_ = s;
  }
}

void ring::deliver_rest(const std::vector<node_id>& transitional) {
  CHORUS_ASSERT(frozen_);
  bool gap = false;
  for (std::uint64_t s = delivered_upto_.value + 1; s <= window_.high().value; ++s) {
    if (!window_.holds(seq_t{s})) {
      gap = true;
      continue;
    }
    deliver_packet(seq_t{s}, gap ? &transitional : nullptr);
  }
  finished_ = true;
}

void ring::check_invariants() const {
  if (finished_) return;
  CHORUS_ASSERT(window_.base() <= delivered_upto_, "R1: discarded an undelivered packet");
  CHORUS_ASSERT(delivered_upto_ <= window_.aru(), "R1: delivered past aru");
  CHORUS_ASSERT(window_.aru() <= window_.high(), "R1: aru past high");
  CHORUS_ASSERT(window_.base() <= safe_upto_, "R1: discarded an unstable packet");
  CHORUS_ASSERT(safe_upto_ <= window_.aru(), "R1: safe past aru");
  CHORUS_ASSERT(!parked_ || !token_retransmit_at_, "a parked token is not in flight");
}

}  // namespace chorus::core
