#include "core/node.hpp"

#include <algorithm>

#include "core/ring.hpp"
#include "util/assert.hpp"
#include "wire/packet.hpp"

namespace chorus::core {

util::status validate(const config& cfg) {
  using util::errc;
  auto bad = [](std::string what) { return util::status(errc::invalid_argument, std::move(what)); };
  if (cfg.members.empty()) return bad("the ring has no members");
  if (std::find(cfg.members.begin(), cfg.members.end(), cfg.self) == cfg.members.end())
    return bad("this daemon is not among the ring's members");
  for (std::size_t i = 0; i < cfg.members.size(); ++i) {
    if (cfg.members[i] == wire::no_node) return bad("a member uses the reserved id 0xffffffff");
    for (std::size_t j = i + 1; j < cfg.members.size(); ++j)
      if (cfg.members[i] == cfg.members[j]) return bad("a member is listed twice");
  }
  if (cfg.packet_bytes_max < 256 || cfg.packet_bytes_max > wire::datagram_bytes_max)
    return bad("packet size must be within 256…65507 bytes");
  if (cfg.message_bytes_max > wire::message_bytes_max)
    return bad("message size limit above the wire's 64 MiB");
  if (cfg.send_queue_bytes_max < cfg.message_bytes_max)
    return bad("the send queue must hold at least one message of the largest size");
  if (cfg.window_personal == 0 || cfg.window_global < cfg.window_personal)
    return bad("windows: need 0 < window_personal ≤ window_global");
  if (cfg.outstanding_max < cfg.window_global)
    return bad("outstanding_max must be at least window_global");
  if (cfg.rtr_per_visit_max == 0) return bad("rtr_per_visit_max must be positive");
  if (cfg.incarnation >= (1u << 23)) return bad("incarnation above 2^23");
  if (!std::is_sorted(cfg.daemons.begin(), cfg.daemons.end()) ||
      std::adjacent_find(cfg.daemons.begin(), cfg.daemons.end()) != cfg.daemons.end())
    return bad("daemons must be ascending, without duplicates");
  for (node_id m : cfg.members)
    if (!cfg.daemons.empty() && !std::binary_search(cfg.daemons.begin(), cfg.daemons.end(), m))
      return bad("a member is not among the configured daemons");
  if (cfg.token_retransmit <= duration::zero()) return bad("token_retransmit must be positive");
  if (cfg.token_hold < duration::zero()) return bad("token_hold must not be negative");
  if (cfg.token_hold >= cfg.token_retransmit)
    return bad("token_hold must be below token_retransmit, or every parked token is resent");
  return {};
}

node::node(config cfg, time_point now) : cfg_(std::move(cfg)) {
  const util::status valid = validate(cfg_);
  CHORUS_ASSERT(valid.ok(), "invalid core::config (the shell must validate() first)");
  ring_ = std::make_unique<ring>(cfg_, stats_, out_, now);
}

node::~node() = default;

void node::step(node_id from, util::shared_bytes bytes, time_point now) {
  ++stats_.packets_received;
  auto h = wire::decode_header(bytes.span());
  if (!h) {
    ++(h.error().code() == util::errc::unsupported ? stats_.dropped_unsupported
                                                   : stats_.dropped_malformed);
    return;
  }
  // I-10: a packet sent under another configuration is never interpreted.
  if (h->hash != cfg_.hash) {
    ++stats_.dropped_conf_hash;
    return;
  }
  const auto& m = cfg_.members;
  if (std::find(m.begin(), m.end(), from) == m.end() ||
      std::find(m.begin(), m.end(), h->sender) == m.end()) {
    ++stats_.dropped_not_member;
    return;
  }
  switch (h->type) {
    case wire::packet_type::data: {
      auto p = wire::decode_data(bytes.span());
      if (!p) {
        ++stats_.dropped_malformed;
      } else if (p->ring != cfg_.ring) {
        ++stats_.dropped_foreign_ring;
      } else {
        ring_->on_data(*p, std::move(bytes), now);
      }
      break;
    }
    case wire::packet_type::token: {
      auto t = wire::decode_token(bytes.span());
      if (!t) {
        ++stats_.dropped_malformed;
      } else if (t->ring != cfg_.ring) {
        ++stats_.dropped_foreign_ring;
      } else {
        ring_->on_token(std::move(t).value(), now);
      }
      break;
    }
    case wire::packet_type::join:
    case wire::packet_type::commit:
      ++stats_.dropped_unsupported;  // membership arrives with issue 3
      break;
  }
#ifdef CHORUS_CHECK_INVARIANTS
  check_invariants();
#endif
}

void node::tick(time_point now) {
  ring_->tick(now);
#ifdef CHORUS_CHECK_INVARIANTS
  check_invariants();
#endif
}

util::result<msg_id> node::submit(service svc, util::shared_bytes payload, time_point now) {
  if (payload.size() > cfg_.message_bytes_max) {
    ++stats_.messages_refused;
    return util::status(util::errc::too_large, "message of " + std::to_string(payload.size()) +
                                                   " bytes above the limit of " +
                                                   std::to_string(cfg_.message_bytes_max));
  }
  auto id = ring_->submit(svc, std::move(payload), now);
  ++(id.ok() ? stats_.messages_submitted : stats_.messages_refused);
  return id;
}

output node::take_output() {
  output o = std::move(out_);
  out_ = output{};
  o.deadline = ring_->deadline();
  return o;
}

seq_t node::aru() const noexcept { return ring_->aru(); }
seq_t node::delivered_upto() const noexcept { return ring_->delivered_upto(); }
seq_t node::safe_upto() const noexcept { return ring_->safe_upto(); }
bool node::has_received(seq_t s) const noexcept { return ring_->has_received(s); }
std::size_t node::queued_messages() const noexcept { return ring_->queue().messages(); }
std::size_t node::queued_bytes() const noexcept { return ring_->queue().bytes(); }

void node::check_invariants() const { ring_->check_invariants(); }

}  // namespace chorus::core
