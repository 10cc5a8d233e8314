// engine.cpp — see engine.hpp.
#include "core/engine.hpp"

#include <algorithm>

#include "wire/group_msg.hpp"

namespace chorus::core {

engine::engine(engine_config cfg, time_point now) : policy_{cfg.node.self, cfg.multicast} {
  if (cfg.groups) {
    std::vector<node_id> order =
        cfg.daemon_order.empty() ? cfg.node.daemons : std::move(cfg.daemon_order);
    groups_ = std::make_unique<class groups>(groups_config{cfg.node.self, std::move(order)});
  }
  node_ = std::make_unique<class node>(std::move(cfg.node), now);
}

void engine::receive(std::span<const incoming_datagram> batch, time_point now) {
  for (auto& p : open_batch(batch, datagram_stats_)) node_->step(p.from, std::move(p.bytes), now);
}

void engine::step(node_id from, util::shared_bytes datagram, time_point now) {
  const incoming_datagram d{from, std::move(datagram)};
  receive(std::span(&d, 1), now);
}

void engine::tick(time_point now) { node_->tick(now); }

util::result<msg_id> engine::submit(service svc, util::shared_bytes payload, time_point now) {
  if (!backlog_.empty())
    return util::status(util::errc::would_block, "the daemon's own requests wait first");
  return node_->submit(svc, std::move(payload), now);
}

void engine::open_session(session_id id, std::string private_group, bool membership) {
  if (groups_) groups_->open_session(id, std::move(private_group), membership);
}

void engine::close_session(session_id id, time_point now) {
  if (!groups_) return;
  groups_->close_session(id);
  auto name = groups_->session_name(id);
  if (!name) return;
  submit_internal(
      util::shared_bytes(wire::encode_group_op({wire::group_msg_kind::kill, *name, {}})), false,
      now);
}

bool engine::name_in_use(std::string_view private_group) const {
  return groups_ && groups_->name_in_use(private_group);
}

void engine::submit_internal(util::shared_bytes payload, bool state, time_point now) {
  // A state announcement still waiting belongs to an exchange a newer configuration aborted.
  if (state) std::erase_if(backlog_, [](const waiting& w) { return w.state; });
  backlog_.push_back(waiting{std::move(payload), state});
  flush_backlog(now);
}

void engine::flush_backlog(time_point now) {
  while (!backlog_.empty()) {
    waiting& w = backlog_.front();
    auto r = node_->submit(service::agreed, w.payload, now);
    if (!r && r.error().code() == util::errc::would_block) return;
    // Anything else refused is dropped: only a table beyond the message limit could be.
    if (r)
      out_.submitted.push_back(
          internal_submit{out_.events.size(), *r, service::agreed, std::move(w.payload)});
    backlog_.pop_front();
  }
}

void engine::settle(time_point now) {
  for (;;) {
    output o = node_->take_output();
    deadline_ = o.deadline;
    const bool events = !o.events.empty();
    for (auto& p : o.packets) packets_.push_back(std::move(p));
    for (auto& e : o.events) {
      if (const auto* d = std::get_if<delivery>(&e); d && d->origin == node_->cfg().self)
        out_.deliver_first = true;
      if (groups_) groups_->on_event(e);
      out_.events.push_back(std::move(e));
    }
    bool submitted = false;
    if (groups_) {
      groups_output g = groups_->take_output();
      for (auto& m : g.messages) out_.messages.push_back(std::move(m));
      for (session_id s : g.released) out_.released.push_back(s);
      submitted = !g.submit.empty();
      for (auto& p : g.submit) submit_internal(std::move(p), true, now);
    }
    flush_backlog(now);
    if (events || submitted) continue;
    // A deadline already due (a woken token, say) is served now, not on the shell's next turn.
    if (deadline_ && *deadline_ <= now) {
      node_->tick(now);
      continue;
    }
    return;
  }
}

engine_output engine::take_output(time_point now) {
  settle(now);
  engine_output o = std::move(out_);
  out_ = engine_output{};
  o.datagrams = plan_datagrams(packets_, policy_, datagram_stats_);
  packets_.clear();
  o.deadline = deadline_;
  return o;
}

}  // namespace chorus::core
