// cluster.cpp — the simulated shell around N core::nodes (see cluster.hpp).
#include "sim/cluster.hpp"

#include <algorithm>

#include "util/assert.hpp"
#include "util/hash.hpp"

namespace chorus::sim {
namespace {

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

void add_stats(core::datagram_stats& t, const core::datagram_stats& st) {
  t.bundles_sent += st.bundles_sent;
  t.bundles_received += st.bundles_received;
  t.bad_bundles += st.bad_bundles;
}

void add_stats(core::stats& t, const core::stats& st) {
  t.packets_received += st.packets_received;
  t.dropped_malformed += st.dropped_malformed;
  t.dropped_conf_hash += st.dropped_conf_hash;
  t.dropped_foreign_ring += st.dropped_foreign_ring;
  t.dropped_not_member += st.dropped_not_member;
  t.dropped_duplicate += st.dropped_duplicate;
  t.dropped_beyond_window += st.dropped_beyond_window;
  t.dropped_stale_token += st.dropped_stale_token;
  t.dropped_unsupported += st.dropped_unsupported;
  t.tokens_received += st.tokens_received;
  t.tokens_retransmitted += st.tokens_retransmitted;
  t.token_lingers += st.token_lingers;
  t.packets_sent += st.packets_sent;
  t.packets_retransmitted += st.packets_retransmitted;
  t.retransmit_requests += st.retransmit_requests;
  t.messages_submitted += st.messages_submitted;
  t.messages_refused += st.messages_refused;
  t.messages_delivered += st.messages_delivered;
  t.bytes_delivered += st.bytes_delivered;
  t.reassembly_errors += st.reassembly_errors;
}

}  // namespace

cluster::cluster(cluster_options o, scheduler& sched, network& net, trace& tr, checker& chk)
    : opts_(std::move(o)), sched_(sched), net_(net), trace_(tr), checker_(chk) {
  CHORUS_ASSERT(opts_.nodes >= 1 && opts_.nodes <= 16 && net.nodes() == opts_.nodes);
  for (std::uint32_t i = 1; i <= opts_.nodes; ++i) members_.push_back(node_id{i});
  slots_.resize(opts_.nodes);
  checker_.set_probe(this);
}

cluster::~cluster() { checker_.set_probe(nullptr); }

cluster::slot& cluster::at(node_id n) {
  CHORUS_ASSERT(n.value >= 1 && n.value <= slots_.size());
  return slots_[n.value - 1];
}

const core::engine* cluster::find_engine(node_id n) const {
  if (n.value < 1 || n.value > slots_.size()) return nullptr;
  return slots_[n.value - 1].node.get();
}

const core::node* cluster::find(node_id n) const {
  const core::engine* e = find_engine(n);
  return e == nullptr ? nullptr : &e->node();
}

std::uint32_t cluster::incarnation(node_id n) const {
  CHORUS_ASSERT(n.value >= 1 && n.value <= slots_.size());
  return slots_[n.value - 1].incarnation;
}

void cluster::start() {
  for (node_id n : members_) {
    core::config cfg = opts_.base;
    cfg.self = n;
    cfg.members = members_;
    if (opts_.membership) cfg.daemons = members_;
    create(n, std::move(cfg), "created");
  }
}

void cluster::create(node_id n, core::config cfg, const char* what) {
  slot& s = at(n);
  CHORUS_ASSERT(s.node == nullptr);
  cfg.incarnation = s.incarnation;
  const time_point now = sched_.now();
  // The trace of a first incarnation is what it was before crashes existed.
  if (s.incarnation == 0)
    trace_.record(trace_kind::create, now, {n.value});
  else
    trace_.record(trace_kind::create, now, {n.value, s.incarnation});
  if (trace_.printing())
    trace_.print(now, s.incarnation == 0
                          ? strf("node %u %s", n.value, what)
                          : strf("node %u %s, incarnation %u", n.value, what, s.incarnation));
  checker_.on_start(n, s.incarnation, now);
  core::engine_config ec;
  ec.node = std::move(cfg);
  ec.groups = opts_.groups;
  ec.multicast = opts_.multicast;
  s.node = std::make_unique<core::engine>(std::move(ec), now);
  s.next_id = (std::uint64_t{s.incarnation} << 40) + 1;
  if (listener_) listener_->on_node_created(n);
  drain(n);
}

void cluster::crash(node_id n) {
  slot& s = at(n);
  CHORUS_ASSERT(s.node != nullptr, "crash of a node that is down");
  add_stats(crashed_stats_, s.node->node().stats());
  add_stats(reads_.bundles, s.node->datagrams());
  s.node.reset();
  s.deadline.reset();
  ++s.timer_generation;  // its pending timer pops as a no-op
  s.inbox.clear();       // what it had not read is lost with it
  s.read_scheduled = false;
  ++s.read_generation;
  net_.set_node_up(n, false);
  const time_point now = sched_.now();
  trace_.record(trace_kind::crash, now, {n.value, s.incarnation});
  if (trace_.printing())
    trace_.print(now, strf("node %u crashed (incarnation %u)", n.value, s.incarnation));
  checker_.on_crash(n, now);
  if (listener_) listener_->on_node_crashed(n);
}

void cluster::restart(node_id n) {
  slot& s = at(n);
  CHORUS_ASSERT(s.node == nullptr, "restart of a node that is up");
  ++s.incarnation;
  net_.set_node_up(n, true);
  core::config cfg = opts_.base;
  cfg.self = n;
  if (opts_.membership) {
    cfg.daemons = members_;  // a new process knows no ring: it gathers
    cfg.members.clear();
    cfg.ring = ring_id{};
  } else {
    cfg.members = members_;  // a fixed ring has nothing else to offer
  }
  create(n, std::move(cfg), "restarted");
}

cluster::stop_reason cluster::run(time_point limit, const std::function<bool()>& done) {
  time_point last = sched_.now();
  std::uint64_t same_time = 0;
  while (checker_.ok()) {
    if (done && done()) return stop_reason::done;
    if (sched_.empty()) return stop_reason::idle;
    const time_point t = sched_.next_time();
    if (t > limit) return stop_reason::time_limit;
    same_time = t == last ? same_time + 1 : 0;
    last = t;
    if (same_time > opts_.same_time_events_max) {
      checker_.fail(strf("livelock: more than %llu events at virtual time %s",
                         ull(opts_.same_time_events_max), format_time(t).c_str()));
      break;
    }
    event e = sched_.pop();
    dispatch(e);
  }
  return stop_reason::failed;
}

void cluster::dispatch(event& e) {
  if (auto* p = std::get_if<in_flight>(&e)) return on_arrival(*p);
  if (auto* t = std::get_if<timer_event>(&e)) return on_timer(*t);
  std::get<action>(e)();
}

void cluster::on_arrival(in_flight& p) {
  const node_id to = p.to;
  const std::uint64_t id = p.id;
  if (!net_.arrive(p)) return;
  slot& s = at(to);
  const time_point now = sched_.now();
  trace_.record(trace_kind::receive, now, {id, p.from.value, to.value, s.node != nullptr});
  if (trace_.printing())
    trace_.print(now, strf("recv #%llu %u->%u%s %s", ull(id), p.from.value, to.value,
                           s.node ? "" : " (no node)", describe_packet(p.bytes.span()).c_str()));
  if (!s.node) return;
  s.inbox.push_back({p.from, std::move(p.bytes)});
  if (!s.read_scheduled) schedule_read(to, opts_.batch_window);
}

void cluster::schedule_read(node_id n, duration after) {
  slot& s = at(n);
  s.read_scheduled = true;
  sched_.after(after, action([this, n, generation = s.read_generation] {
                 if (at(n).read_generation == generation) read(n);
               }));
}

void cluster::read(node_id n) {
  slot& s = at(n);
  s.read_scheduled = false;
  const std::size_t count = std::min(s.inbox.size(), batch_datagrams_max);
  std::vector<core::incoming_datagram> batch(std::make_move_iterator(s.inbox.begin()),
                                             std::make_move_iterator(s.inbox.begin() + count));
  s.inbox.erase(s.inbox.begin(), s.inbox.begin() + count);
  const time_point now = sched_.now();
  trace_.record(trace_kind::read, now, {n.value, count});
  ++reads_.reads;
  reads_.datagrams += count;
  reads_.largest = std::max<std::uint64_t>(reads_.largest, count);
  if (trace_.printing()) trace_.print(now, strf("read at %u: %zu datagrams", n.value, count));
  s.node->receive(batch, now);
  drain(n);
  if (!s.inbox.empty()) schedule_read(n, duration::zero());  // more than a batch had arrived
}

void cluster::on_timer(const timer_event& t) {
  slot& s = at(t.node);
  if (t.generation != s.timer_generation || !s.node) return;
  s.deadline.reset();
  const time_point now = sched_.now();
  trace_.record(trace_kind::tick, now, {t.node.value});
  if (trace_.printing()) trace_.print(now, strf("tick %u", t.node.value));
  s.node->tick(now);
  drain(t.node);
}

msg_id cluster::next_id(node_id n) const {
  CHORUS_ASSERT(n.value >= 1 && n.value <= slots_.size() && slots_[n.value - 1].node);
  return msg_id{slots_[n.value - 1].next_id};
}

util::result<msg_id> cluster::submit(node_id origin, service svc, util::shared_bytes payload,
                                     bool generated) {
  slot& s = at(origin);
  CHORUS_ASSERT(s.node != nullptr);
  const time_point now = sched_.now();
  const std::size_t size = payload.size();
  std::optional<std::uint64_t> content;
  if (!generated) content = util::hasher().bytes(payload.span()).digest();
  auto r = s.node->submit(svc, std::move(payload), now);
  if (r) {
    note_submit(origin, *r, svc, size, content);
  } else {
    trace_.record(trace_kind::refused, now,
                  {origin.value, static_cast<std::uint64_t>(r.error().code()), size});
    if (trace_.printing())
      trace_.print(now, strf("submit refused at %u: %s (%s, %zu B)", origin.value,
                             r.error().to_string().c_str(), wire::to_string(svc), size));
  }
  drain(origin);
  return r;
}

void cluster::note_submit(node_id n, msg_id id, service svc, std::size_t size,
                          std::optional<std::uint64_t> content) {
  slot& s = at(n);
  const time_point now = sched_.now();
  s.next_id = id.value + 1;
  trace_.record(trace_kind::submit, now,
                {n.value, id.value, static_cast<std::uint64_t>(svc), size});
  if (trace_.printing())
    trace_.print(
        now, strf("submit %u#%llu %s %zu B", n.value, ull(id.value), wire::to_string(svc), size));
  checker_.on_submit(n, id, svc, size, now, content);
}

void cluster::open_session(node_id n, core::session_id id, std::string name, bool membership) {
  slot& s = at(n);
  CHORUS_ASSERT(s.node != nullptr);
  s.node->open_session(id, std::move(name), membership);
}

void cluster::close_session(node_id n, core::session_id id) {
  slot& s = at(n);
  CHORUS_ASSERT(s.node != nullptr);
  s.node->close_session(id, sched_.now());
  drain(n);
}

void cluster::drain(node_id n) {
  slot& s = at(n);
  core::engine& e = *s.node;
  core::engine_output out = e.take_output(sched_.now());
  route(n, out.datagrams);
  deliver_events(n, out);
  arm(n, out.deadline);
  if (opts_.check_node_invariants) {
    e.node().check_invariants();
    if (e.has_groups()) e.groups().check_invariants();
  }
  if (listener_) listener_->on_node_output(n, out);
}

// A multicast datagram names its group (the sending ring's other members).
void cluster::route(node_id n, const std::vector<core::outgoing_datagram>& datagrams) {
  for (const core::outgoing_datagram& d : datagrams) {
    const util::shared_bytes bytes = core::encode_datagram(d);
    if (d.to) {
      net_.send(n, *d.to, bytes);
      continue;
    }
    for (node_id m : *d.group) net_.send(n, m, bytes);
  }
}

void cluster::deliver_events(node_id n, core::engine_output& out) {
  const time_point now = sched_.now();
  std::size_t next_submit = 0;
  auto submits_upto = [&](std::size_t events_before) {
    for (; next_submit < out.submitted.size() &&
           out.submitted[next_submit].after_events <= events_before;
         ++next_submit) {
      const core::internal_submit& i = out.submitted[next_submit];
      note_submit(n, i.id, i.svc, i.payload.size(),
                  util::hasher().bytes(i.payload.span()).digest());
    }
  };
  for (std::size_t k = 0; k < out.events.size(); ++k) {
    submits_upto(k);
    core::event& e = out.events[k];
    if (auto* d = std::get_if<core::delivery>(&e)) {
      trace_.record(trace_kind::deliver, now,
                    {n.value, d->ring.rep.value, d->ring.counter, d->seq.value, d->origin.value,
                     d->id.value, static_cast<std::uint64_t>(d->svc), d->payload.size()});
      if (trace_.printing())
        trace_.print(now, strf("deliver at %u: %u#%llu %s seq=%llu %zu B", n.value, d->origin.value,
                               ull(d->id.value), wire::to_string(d->svc), ull(d->seq.value),
                               d->payload.size()));
      checker_.on_delivery(n, *d, now);
    } else {
      const auto& c = std::get<core::configuration>(e);
      trace_.record(trace_kind::configuration, now,
                    {n.value, static_cast<std::uint64_t>(c.type), c.ring.rep.value, c.ring.counter,
                     c.members.size()});
      if (trace_.printing())
        trace_.print(now,
                     strf("configuration at %u: %s ring %s, %zu members", n.value,
                          c.type == core::configuration::kind::regular ? "regular" : "transitional",
                          wire::to_string(c.ring).c_str(), c.members.size()));
      checker_.on_configuration(n, c, now);
    }
  }
  submits_upto(out.events.size());
}

// A deadline replaces the scheduled timer; nullopt leaves it alone (a spurious tick is
// harmless, a missed one is not).
void cluster::arm(node_id n, std::optional<time_point> deadline) {
  slot& s = at(n);
  if (!deadline || (s.deadline && *s.deadline == *deadline)) return;
  s.deadline = *deadline;
  sched_.at(*deadline, timer_event{n, ++s.timer_generation});
}

bool cluster::has_received(node_id n, seq_t s) const {
  const core::node* nd = find(n);
  return nd != nullptr && nd->has_received(s);
}

// Only a node that is still in ring `r` can answer; one that left it (or crashed) cannot.
std::optional<bool> cluster::received(node_id n, ring_id r, seq_t s) const {
  const core::node* nd = find(n);
  if (nd == nullptr || nd->current_ring() != r) return std::nullopt;
  return nd->has_received(s);
}

std::string cluster::describe(node_id n) const {
  const core::node* nd = find(n);
  if (nd == nullptr) return strf("node %u: down", n.value);
  const core::stats& st = nd->stats();
  return strf(
      "node %u: aru=%llu delivered_upto=%llu safe_upto=%llu queued=%zu msgs/%zu B "
      "tokens_rx=%llu token_rtx=%llu sent=%llu rtx=%llu rtr=%llu delivered=%llu "
      "drops(dup=%llu window=%llu stale_token=%llu)",
      n.value, ull(nd->aru().value), ull(nd->delivered_upto().value), ull(nd->safe_upto().value),
      nd->queued_messages(), nd->queued_bytes(), ull(st.tokens_received),
      ull(st.tokens_retransmitted), ull(st.packets_sent), ull(st.packets_retransmitted),
      ull(st.retransmit_requests), ull(st.messages_delivered), ull(st.dropped_duplicate),
      ull(st.dropped_beyond_window), ull(st.dropped_stale_token));
}

cluster::read_stats cluster::total_reads() const {
  read_stats t = reads_;
  for (const slot& s : slots_)
    if (s.node) add_stats(t.bundles, s.node->datagrams());
  return t;
}

core::stats cluster::total_stats() const {
  core::stats t = crashed_stats_;
  for (const slot& s : slots_)
    if (s.node) add_stats(t, s.node->node().stats());
  return t;
}

}  // namespace chorus::sim
