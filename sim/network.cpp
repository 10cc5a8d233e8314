// network.cpp — the simulated network (see network.hpp).
#include "sim/network.hpp"

#include <algorithm>

#include "util/assert.hpp"

namespace chorus::sim {
namespace {

wire::packet_type type_of(const util::shared_bytes& b) {
  auto h = wire::decode_header(b.span());
  return h ? h->type : wire::packet_type::data;
}

// The types of the packets a datagram carries: its own, or its parts' for a bundle.
std::uint32_t types_of(const util::shared_bytes& b) {
  const wire::packet_type t = type_of(b);
  if (t != wire::packet_type::bundle) return 1u << static_cast<unsigned>(t);
  std::uint32_t types = 0;
  if (auto parts = wire::decode_bundle(b.span())) {
    for (auto part : *parts) {
      if (auto h = wire::decode_header(part)) types |= 1u << static_cast<unsigned>(h->type);
    }
  }
  return types;
}

// Reason codes of drop trace events (hashed).
constexpr std::uint64_t why_loss = 1, why_rule = 2, why_link_down = 3, why_down_in_flight = 4;

}  // namespace

network::network(std::size_t nodes, link_params defaults, util::prng rng, scheduler& sched,
                 trace& tr)
    : nodes_(nodes),
      rng_(rng),
      sched_(sched),
      trace_(tr),
      links_(nodes * nodes),
      node_down_(nodes, false) {
  CHORUS_ASSERT(nodes >= 1);
  set_params(defaults);
  for (std::size_t i = 0; i < nodes; ++i) {
    link_state& self = links_[i * nodes + i];
    self.params = link_params{};
    self.params.delay = 1us;
    self.params.jitter = 0us;
  }
}

link_state& network::link(node_id from, node_id to) {
  CHORUS_ASSERT(from.value >= 1 && from.value <= nodes_ && to.value >= 1 && to.value <= nodes_);
  return links_[(from.value - 1) * nodes_ + (to.value - 1)];
}

void network::set_params(const link_params& p) {
  for (std::size_t i = 0; i < nodes_; ++i)
    for (std::size_t j = 0; j < nodes_; ++j)
      if (i != j) links_[i * nodes_ + j].params = p;
}

verdict network::judge(const in_flight& p) {
  for (rule& r : rules_) {
    if (r.count == 0) continue;
    if (r.from != wire::no_node && r.from != p.from) continue;
    if (r.to != wire::no_node && r.to != p.to) continue;
    if (r.type && !p.carries(*r.type)) continue;
    --r.count;
    return r.action;
  }
  return filter_ ? filter_(p) : verdict::pass;
}

void network::trace_drop(const in_flight& p, const char* why, std::uint64_t reason) {
  const time_point now = sched_.now();
  trace_.record(trace_kind::drop, now, {p.id, p.from.value, p.to.value, reason});
  if (trace_.printing())
    trace_.print(now, strf("drop #%llu %u->%u (%s) %s", static_cast<unsigned long long>(p.id),
                           p.from.value, p.to.value, why, describe_packet(p.bytes.span()).c_str()));
}

void network::send(node_id from, node_id to, const util::shared_bytes& bytes) {
  ++stats_.transmissions;
  link_state& l = link(from, to);
  in_flight p{++next_id_, from,         to,    type_of(bytes), types_of(bytes),
              bytes,      sched_.now(), false, l.epoch};
  if (observer_) observer_(p);
  const verdict v = judge(p);
  if (v == verdict::drop) {
    ++stats_.dropped_scripted;
    return trace_drop(p, "scripted", why_rule);
  }
  if (!l.up) {
    ++stats_.dropped_link_down;
    return trace_drop(p, "link down", why_link_down);
  }
  const bool clean = v == verdict::deliver || from == to;
  if (!clean && rng_.chance(l.params.loss)) {
    ++stats_.lost;
    return trace_drop(p, "loss", why_loss);
  }
  const bool dup = !clean && rng_.chance(l.params.dup);
  if (dup) {
    in_flight copy = p;
    copy.copy = true;
    schedule(std::move(p), l, clean);
    ++stats_.duplicated;
    trace_.record(trace_kind::duplicate, sched_.now(), {copy.id});
    schedule(std::move(copy), l, clean);
  } else {
    schedule(std::move(p), l, clean);
  }
}

void network::schedule(in_flight p, link_state& l, bool clean) {
  const time_point now = sched_.now();
  const duration d = l.params.delay +
                     duration(rng_.uniform(0, static_cast<std::uint64_t>(l.params.jitter.count())));
  time_point t = now + d;
  const bool reordered = !clean && rng_.chance(l.params.reorder);
  if (reordered) {
    ++stats_.reordered;
    t += duration(rng_.uniform(
        1, static_cast<std::uint64_t>(std::max<duration::rep>(1, l.params.reorder_delay.count()))));
  }
  if (l.clogged_until > now) t = std::max(t, l.clogged_until + d);
  if (!reordered) {
    t = std::max(t, l.last_arrival);
    l.last_arrival = t;
  }
  const auto header = p.bytes.span().first(std::min<std::size_t>(p.bytes.size(), 64));
  trace_.record(trace_kind::send, now,
                {p.id, p.from.value, p.to.value, p.bytes.size(),
                 static_cast<std::uint64_t>(t.time_since_epoch().count()), p.copy, reordered},
                header);
  if (trace_.printing())
    trace_.print(now,
                 strf("send #%llu%s %u->%u arrive=%s%s %s", static_cast<unsigned long long>(p.id),
                      p.copy ? " (dup)" : "", p.from.value, p.to.value, format_time(t).c_str(),
                      reordered ? " reordered" : "", describe_packet(p.bytes.span()).c_str()));
  sched_.at(t, std::move(p));
}

bool network::arrive(in_flight& p) {
  link_state& l = link(p.from, p.to);
  const time_point now = sched_.now();
  if (!l.up || p.epoch != l.epoch) {
    ++stats_.dropped_link_down;
    trace_drop(p, "link went down in flight", why_down_in_flight);
    return false;
  }
  if (l.clogged_until > now) {
    ++stats_.held;
    const time_point t = std::max(l.clogged_until + l.params.delay, l.last_arrival);
    l.last_arrival = t;
    trace_.record(trace_kind::hold, now,
                  {p.id, static_cast<std::uint64_t>(t.time_since_epoch().count())});
    if (trace_.printing())
      trace_.print(
          now, strf("hold #%llu %u->%u until %s (clogged)", static_cast<unsigned long long>(p.id),
                    p.from.value, p.to.value, format_time(t).c_str()));
    sched_.at(t, std::move(p));
    return false;
  }
  ++stats_.arrived;
  return true;
}

void network::refresh(std::uint32_t from, std::uint32_t to) {
  link_state& l = links_[from * nodes_ + to];
  const bool up = !l.set_down && !l.cut && !node_down_[from] && !node_down_[to];
  if (l.up && !up) ++l.epoch;
  l.up = up;
}

void network::set_up(node_id from, node_id to, bool up) {
  link(from, to).set_down = !up;
  refresh(from.value - 1, to.value - 1);
}

bool network::node_up(node_id n) const {
  CHORUS_ASSERT(n.value >= 1 && n.value <= nodes_);
  return !node_down_[n.value - 1];
}

void network::set_node_up(node_id n, bool up) {
  CHORUS_ASSERT(n.value >= 1 && n.value <= nodes_);
  const std::uint32_t i = n.value - 1;
  node_down_[i] = !up;
  for (std::uint32_t j = 0; j < nodes_; ++j) {
    if (j == i) continue;
    refresh(i, j);
    refresh(j, i);
  }
}

void network::partition(const std::vector<std::vector<node_id>>& sides, bool oneway) {
  std::vector<std::size_t> side(nodes_, sides.size());  // unlisted nodes: one more side
  for (std::size_t k = 0; k < sides.size(); ++k)
    for (node_id n : sides[k]) {
      CHORUS_ASSERT(n.value >= 1 && n.value <= nodes_);
      side[n.value - 1] = k;
    }
  for (std::uint32_t i = 0; i < nodes_; ++i)
    for (std::uint32_t j = 0; j < nodes_; ++j) {
      if (i == j) continue;
      links_[i * nodes_ + j].cut = oneway ? side[i] < side[j] : side[i] != side[j];
      refresh(i, j);
    }
  const time_point now = sched_.now();
  std::string text;
  for (std::size_t i = 0; i < nodes_; ++i) text += strf("%s%zu", i ? "," : "", side[i]);
  trace_.record(trace_kind::partition, now, text + (oneway ? " oneway" : ""));
  if (trace_.printing()) trace_.print(now, describe_partition(sides, oneway));
}

std::string network::describe_partition(const std::vector<std::vector<node_id>>& sides,
                                        bool oneway) const {
  std::string s = "partition";
  for (std::size_t k = 0; k < sides.size(); ++k) {
    s += k ? " / " : " ";
    for (std::size_t i = 0; i < sides[k].size(); ++i)
      s += strf("%s%u", i ? "," : "", sides[k][i].value);
  }
  return s + (oneway ? " (one-way: a side hears only the sides listed after it)" : "");
}

void network::heal_partition() {
  for (std::uint32_t i = 0; i < nodes_; ++i)
    for (std::uint32_t j = 0; j < nodes_; ++j) {
      if (i == j) continue;
      links_[i * nodes_ + j].cut = false;
      refresh(i, j);
    }
  trace_.record(trace_kind::partition, sched_.now(), "healed");
  if (trace_.printing()) trace_.print(sched_.now(), "partition healed");
}

void network::clog(node_id from, node_id to, time_point until) {
  link_state& l = link(from, to);
  if (until <= l.clogged_until) return;
  ++stats_.clogs;
  l.clogged_until = until;
  const time_point now = sched_.now();
  trace_.record(
      trace_kind::clog, now,
      {from.value, to.value, static_cast<std::uint64_t>(until.time_since_epoch().count())});
  if (trace_.printing())
    trace_.print(now,
                 strf("clog %u->%u until %s", from.value, to.value, format_time(until).c_str()));
}

void network::start_random_clogs(double chance, duration period, duration longest) {
  clog_chance_ = chance;
  if (chance <= 0.0 || healed_) return;
  sched_.after(period, action([this, period, longest] { clog_round(period, longest); }));
}

void network::clog_round(duration period, duration longest) {
  if (healed_) return;
  const time_point now = sched_.now();
  for (std::uint32_t i = 1; i <= nodes_; ++i)
    for (std::uint32_t j = 1; j <= nodes_; ++j)
      if (i != j && rng_.chance(clog_chance_)) {
        const auto len = rng_.uniform(1, static_cast<std::uint64_t>(longest.count()));
        clog(node_id{i}, node_id{j}, now + duration(len));
      }
  sched_.after(period, action([this, period, longest] { clog_round(period, longest); }));
}

void network::heal() {
  healed_ = true;
  const time_point now = sched_.now();
  for (std::size_t i = 0; i < links_.size(); ++i) {
    link_state& l = links_[i];
    l.set_down = false;
    l.cut = false;
    refresh(static_cast<std::uint32_t>(i / nodes_), static_cast<std::uint32_t>(i % nodes_));
    l.clogged_until = std::min(l.clogged_until, now);
    if (i / nodes_ == i % nodes_) continue;
    l.params.loss = 0.0;
    l.params.dup = 0.0;
    l.params.reorder = 0.0;
  }
  rules_.clear();
  filter_ = nullptr;
  observer_ = nullptr;
}

}  // namespace chorus::sim
