// checker.cpp — invariant checks of DESIGN §3.3 for a fixed membership (see checker.hpp).
#include "sim/checker.hpp"

#include "sim/payload.hpp"
#include "sim/trace.hpp"
#include "util/assert.hpp"

namespace chorus::sim {
namespace {

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

std::string members_text(const std::vector<node_id>& m) {
  std::string s = "{";
  for (std::size_t i = 0; i < m.size(); ++i) s += strf("%s%u", i ? "," : "", m[i].value);
  return s + "}";
}

}  // namespace

checker::checker(std::vector<node_id> members, ring_id ring, std::uint64_t payload_seed)
    : members_(std::move(members)),
      ring_(ring),
      payload_seed_(payload_seed),
      messages_(members_.size()),
      nodes_(members_.size()) {
  CHORUS_ASSERT(!members_.empty() && members_.size() <= 32);
  for (std::size_t i = 0; i < members_.size(); ++i) {
    CHORUS_ASSERT(members_[i].value == i + 1, "members are 1..N");
    nodes_[i].next_id.assign(members_.size(), 1);
  }
}

void checker::enable_membership() {
  evs_ = std::make_unique<evs_checker>(members_.size(), payload_seed_, &violation_);
  evs_->set_probe(probe_);
}

void checker::on_start(node_id n, std::uint32_t incarnation, core::time_point now) {
  if (evs_) return evs_->on_start(n, incarnation, now);
  if (incarnation != 0)
    fail(strf("C configuration: node %u restarted, but a fixed ring has no membership", n.value));
}

void checker::on_crash(node_id n, core::time_point now) {
  if (evs_) evs_->on_crash(n, now);
}

void checker::fail(std::string what) {
  if (violation_.empty()) violation_ = std::move(what);
}

std::string checker::name(node_id origin, msg_id id) const {
  std::string s = strf("%u#%llu", origin.value, ull(id.value));
  if (origin.value >= 1 && origin.value <= messages_.size() && id.value >= 1 &&
      id.value <= messages_[origin.value - 1].size()) {
    const message& m = messages_[origin.value - 1][id.value - 1];
    s += strf(" (%s, %llu B)", wire::to_string(m.svc), ull(m.size));
  }
  return s;
}

checker::message* checker::find(node_id origin, msg_id id) {
  if (origin.value < 1 || origin.value > messages_.size()) return nullptr;
  auto& v = messages_[origin.value - 1];
  if (id.value < 1 || id.value > v.size()) return nullptr;
  return &v[id.value - 1];
}

void checker::on_submit(node_id origin, msg_id id, service svc, std::size_t size,
                        core::time_point now, std::optional<std::uint64_t> content) {
  if (evs_) {
    ++submitted_;
    return evs_->on_submit(origin, id, svc, size, now, content);
  }
  CHORUS_ASSERT(!content, "opaque payloads need membership");
  CHORUS_ASSERT(origin.value >= 1 && origin.value <= messages_.size());
  auto& v = messages_[origin.value - 1];
  if (id.value != v.size() + 1)
    return fail(strf("submit: node %u's submit() returned id %llu, expected %llu", origin.value,
                     ull(id.value), ull(v.size() + 1)));
  message m;
  m.svc = svc;
  m.size = size;
  m.causal_floor = nodes_[origin.value - 1].position;
  v.push_back(m);
  ++submitted_;
  if (svc != service::unreliable) required_ += members_.size();
}

void checker::on_configuration(node_id at, const core::configuration& c, core::time_point now) {
  if (evs_) {
    if (c.type == core::configuration::kind::regular)
      regular_installs_.push_back({now, at, c.members.size()});
    return evs_->on_configuration(at, c, now);
  }
  node_state& n = nodes_[at.value - 1];
  const bool expected = c.type == core::configuration::kind::regular && c.ring == ring_ &&
                        c.members == members_ && !n.configured;
  if (!expected)
    return fail(strf(
        "C configuration: node %u installed %s configuration %s members %s at %s; "
        "expected only regular %s members %s once, before any delivery",
        at.value, c.type == core::configuration::kind::regular ? "regular" : "transitional",
        wire::to_string(c.ring).c_str(), members_text(c.members).c_str(), format_time(now).c_str(),
        wire::to_string(ring_).c_str(), members_text(members_).c_str()));
  n.configured = true;
}

void checker::on_delivery(node_id at, const core::delivery& d, core::time_point now) {
  if (evs_) return evs_->on_delivery(at, d, now);
  CHORUS_ASSERT(at.value >= 1 && at.value <= nodes_.size());
  ++deliveries_;
  message* m = find(d.origin, d.id);
  if (m == nullptr)
    return fail(strf("P integrity: node %u delivered %s (seq %llu), which was never submitted",
                     at.value, name(d.origin, d.id).c_str(), ull(d.seq.value)));
  if (!check_delivery_basics(at, d, *m)) return;
  if (d.svc == service::unreliable) return;
  ++required_done_;
  check_fifo(at, d);
  if (!ok()) return;
  check_order(at, d, *m);
  if (!ok()) return;
  if (d.svc == service::safe) check_safe(at, d, now);
}

// C, I1 and P: configured, once, same ring and seq everywhere, and the submitted content.
bool checker::check_delivery_basics(node_id at, const core::delivery& d, message& m) {
  const std::string what = name(d.origin, d.id);
  const unsigned long long seq = ull(d.seq.value);
  if (!nodes_[at.value - 1].configured)
    fail(
        strf("C configuration: node %u delivered %s (seq %llu) before installing a "
             "configuration",
             at.value, what.c_str(), seq));
  else if (d.ring != ring_)
    fail(strf("I1 same configuration: node %u delivered %s (seq %llu) in ring %s, expected %s",
              at.value, what.c_str(), seq, wire::to_string(d.ring).c_str(),
              wire::to_string(ring_).c_str()));
  else if (m.delivered_by & (1u << (at.value - 1)))
    fail(strf("I1 at most once: node %u delivered %s (seq %llu) a second time", at.value,
              what.c_str(), seq));
  else if (m.delivered_by != 0 && m.seq != d.seq)
    fail(strf("I1 same position: node %u delivered %s at seq %llu, another node at seq %llu",
              at.value, what.c_str(), seq, ull(m.seq.value)));
  else if (d.svc != m.svc)
    fail(strf("P integrity: node %u delivered %s (seq %llu) as %s", at.value, what.c_str(), seq,
              wire::to_string(d.svc)));
  else if (d.payload.size() != m.size)
    fail(strf("P integrity: node %u delivered %s (seq %llu) with %zu bytes", at.value, what.c_str(),
              seq, d.payload.size()));
  else if (auto off = payload_mismatch(payload_seed_, d.origin, d.id, d.payload.span()))
    fail(strf("P integrity: node %u delivered %s (seq %llu) with a wrong byte at offset %zu",
              at.value, what.c_str(), seq, *off));
  if (!ok()) return false;
  m.delivered_by |= 1u << (at.value - 1);
  m.seq = d.seq;
  return true;
}

// I5 FIFO: ids from one origin increase, skipping only UNRELIABLE ones.
void checker::check_fifo(node_id at, const core::delivery& d) {
  std::uint64_t& next = nodes_[at.value - 1].next_id[d.origin.value - 1];
  if (d.id.value < next)
    return fail(strf("I5 FIFO: node %u delivered %s after %u#%llu", at.value,
                     name(d.origin, d.id).c_str(), d.origin.value, ull(next - 1)));
  for (std::uint64_t i = next; i < d.id.value; ++i) {
    if (messages_[d.origin.value - 1][i - 1].svc != service::unreliable)
      return fail(strf("I5 FIFO: node %u delivered %s before %s", at.value,
                       name(d.origin, d.id).c_str(), name(d.origin, msg_id{i}).c_str()));
  }
  next = d.id.value + 1;
}

// I5 causal, then I4: the node's sequence continues the common sequence, seq never decreases.
void checker::check_order(node_id at, const core::delivery& d, message& m) {
  node_state& n = nodes_[at.value - 1];
  if (n.position < m.causal_floor) {
    const entry& e = common_[n.position];
    return fail(
        strf("I5 causal: node %u delivered %s as its message %llu, but its origin had "
             "delivered %llu messages when sending it (node %u lacks %s)",
             at.value, name(d.origin, d.id).c_str(), ull(n.position + 1), ull(m.causal_floor),
             at.value, name(e.origin, e.id).c_str()));
  }
  if (d.seq < n.last_seq)
    return fail(strf("I4 total order: node %u delivered %s at seq %llu after seq %llu", at.value,
                     name(d.origin, d.id).c_str(), ull(d.seq.value), ull(n.last_seq.value)));
  if (n.position < common_.size()) {
    const entry& e = common_[n.position];
    if (e.origin != d.origin || e.id != d.id)
      return fail(
          strf("I4 total order: node %u delivered %s as its message %llu, but node %u "
               "delivered %s there",
               at.value, name(d.origin, d.id).c_str(), ull(n.position + 1), e.first_by.value,
               name(e.origin, e.id).c_str()));
  } else {
    if (m.ordered)
      return fail(
          strf("I4 total order: node %u delivered %s as its message %llu, but node %u "
               "delivered it as message %llu",
               at.value, name(d.origin, d.id).c_str(), ull(n.position + 1),
               common_[m.position].first_by.value, ull(m.position + 1)));
    m.ordered = true;
    m.position = common_.size();
    common_.push_back(entry{d.origin, d.id, at});
  }
  ++n.position;
  n.last_seq = d.seq;
}

// I6: a SAFE message is delivered only once every member has received its packet.
void checker::check_safe(node_id at, const core::delivery& d, core::time_point now) {
  if (probe_ == nullptr) return;
  for (node_id q : members_) {
    if (probe_->has_received(q, d.seq)) continue;
    return fail(
        strf("I6 safe delivery: node %u delivered SAFE %s (seq %llu) at %s, but node %u "
             "has not received seq %llu (%s)",
             at.value, name(d.origin, d.id).c_str(), ull(d.seq.value), format_time(now).c_str(),
             q.value, ull(d.seq.value), probe_->describe(q).c_str()));
  }
}

void checker::finish(core::time_point now) {
  if (!ok()) return;
  if (evs_) return evs_->finish(now);
  for (std::size_t o = 0; o < messages_.size(); ++o) {
    const auto& v = messages_[o];
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i].svc == service::unreliable || (v[i].delivered_by & (1u << o))) continue;
      const node_id origin{static_cast<std::uint32_t>(o + 1)};
      return fail(strf("I2 self-delivery: node %u never delivered its own %s (by %s)", origin.value,
                       name(origin, msg_id{i + 1}).c_str(), format_time(now).c_str()));
    }
  }
  if (!complete()) {
    const auto lines = missing_report(1);
    fail(strf("L completion: %llu of %llu required deliveries missing at %s; %s",
              ull(required_ - required_done_), ull(required_), format_time(now).c_str(),
              lines.empty() ? "" : lines.front().c_str()));
  }
}

std::vector<std::string> checker::missing_report(std::size_t max) const {
  if (evs_) return evs_->missing_report(max);
  std::vector<std::string> out;
  for (std::size_t p = 0; p < members_.size() && out.size() < max; ++p) {
    std::uint64_t missing = 0;
    std::string first;
    for (std::size_t o = 0; o < messages_.size(); ++o) {
      const auto& v = messages_[o];
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i].svc == service::unreliable || (v[i].delivered_by & (1u << p))) continue;
        if (missing++ == 0) first = name(node_id{static_cast<std::uint32_t>(o + 1)}, msg_id{i + 1});
      }
    }
    if (missing == 0) continue;
    out.push_back(strf("node %zu misses %llu messages, first %s; delivered %llu in order", p + 1,
                       ull(missing), first.c_str(), ull(nodes_[p].position)));
  }
  return out;
}

std::uint64_t checker::unreliable_missing() const {
  std::uint64_t n = 0;
  for (const auto& v : messages_)
    for (const message& m : v)
      if (m.svc == service::unreliable)
        n += members_.size() - static_cast<std::uint64_t>(__builtin_popcount(m.delivered_by));
  return n;
}

}  // namespace chorus::sim
