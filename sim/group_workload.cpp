// group_workload.cpp — client sessions on the simulated engines (group_workload.hpp).
#include "sim/group_workload.hpp"

#include <algorithm>

#include "util/hash.hpp"

namespace chorus::sim {
namespace {

namespace cl = wire::client;

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

constexpr duration retry_min = 1ms;
constexpr duration retry_max = 3ms;
// A session of a daemon that (re)starts late still gets this long for its requests.
constexpr duration late_window = 50ms;
constexpr std::uint32_t kill_percent = 8;  // of a session's requests: disconnect and reopen

std::string list_text(const std::vector<std::string>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + v[i];
  return s + "]";
}

// One line for a message a session received (trace output only).
std::string describe(const cl::message& m) {
  const std::uint32_t t = m.hdr.type;
  if (t & cl::reg_memb_mess) {
    std::string vs;
    for (const auto& set : m.membership.vs_sets) vs += list_text(set);
    const char* cause = (t & cl::caused_by_join)         ? "JOIN"
                        : (t & cl::caused_by_leave)      ? "LEAVE"
                        : (t & cl::caused_by_disconnect) ? "DISCONNECT"
                                                         : "NETWORK";
    return strf("view %s %s gid=%x.%x.%u members=%s vs=%s local=%zu", cause, m.hdr.sender.c_str(),
                m.membership.gid.a, m.membership.gid.b, m.membership.gid.c,
                list_text(m.groups).c_str(), vs.c_str(), m.membership.local_set);
  }
  if (t & cl::transition_mess)
    return strf("transition %s gid=%x.%x.%u", m.hdr.sender.c_str(), m.membership.gid.a,
                m.membership.gid.b, m.membership.gid.c);
  if ((t & cl::membership_mess) == cl::caused_by_leave)
    return strf("self-leave %s", m.hdr.sender.c_str());
  std::uint64_t counter = 0;
  for (std::size_t i = 0; i < 8 && i < m.data.size(); ++i)
    counter |= std::uint64_t(m.data[i]) << (8 * i);
  return strf("data %s/%llu type=0x%x to %s, %zu B", m.hdr.sender.c_str(), ull(counter), t,
              list_text(m.groups).c_str(), m.data.size());
}

}  // namespace

group_workload::group_workload(group_workload_options o, util::prng rng, cluster& c,
                               scheduler& sched, trace& tr, group_checker& chk, checker& run)
    : opts_(o),
      rng_(rng),
      cluster_(c),
      sched_(sched),
      trace_(tr),
      checker_(chk),
      run_(run),
      daemons_(o.nodes) {
  for (std::uint32_t i = 0; i < opts_.names; ++i) names_.push_back("g" + std::to_string(i));
  cluster_.set_listener(this);
}

group_workload::~group_workload() { cluster_.set_listener(nullptr); }

void group_workload::print(const std::string& line) const {
  if (trace_.printing()) trace_.print(sched_.now(), line);
}

void group_workload::sync() {
  checker_.check_views_follow_transitions(sched_.now());
  if (!checker_.ok() && run_.ok()) run_.fail(checker_.violation());
}

// --- daemons ---------------------------------------------------------------------------------

void group_workload::on_node_created(node_id n) {
  daemon& d = at(n);
  d.up = true;
  d.by_id.clear();
  d.next_session = 1;
  checker_.on_daemon_start(n);
  for (std::uint32_t i = 0; i < opts_.sessions; ++i) open(n, opts_.ops);
  sync();
}

void group_workload::on_node_crashed(node_id n) {
  daemon& d = at(n);
  d.up = false;
  d.by_id.clear();
  for (auto& s : sessions_) {
    if (s->daemon != n || !s->alive) continue;
    s->alive = false;
    s->pending.clear();
  }
  checker_.on_daemon_crash(n);
  sync();
}

void group_workload::on_node_output(node_id n, core::engine_output& out) {
  if (!at(n).up) return;
  for (const core::event& e : out.events) {
    if (const auto* del = std::get_if<core::delivery>(&e)) record_ring(n, *del);
    const auto* c = std::get_if<core::configuration>(&e);
    if (c && c->type == core::configuration::kind::regular)
      checker_.on_configuration(n, sched_.now());
  }
  take_output(n, out);
  sync();
}

// The checker's ring log: group requests and our data messages, as the node delivered them.
void group_workload::record_ring(node_id n, const core::delivery& d) {
  const auto bytes = d.payload.span();
  auto kind = wire::peek_group_msg(bytes);
  if (!kind || *kind == wire::group_msg_kind::state) return;
  if (*kind != wire::group_msg_kind::data) {
    if (auto op = wire::decode_group_op(bytes))
      checker_.on_ring_op(n, op->kind, op->member, op->group);
    return;
  }
  const auto msg = bytes.subspan(1);
  if (msg.size() < cl::header_bytes) return;
  const cl::header h = cl::decode_header(msg.first<cl::header_bytes>());
  if (h.num_groups < 0 || h.data_len < 0) return;
  const std::size_t names_bytes = std::size_t(h.num_groups) * cl::name_bytes;
  if (msg.size() != cl::header_bytes + names_bytes + std::size_t(h.data_len)) return;
  auto groups = cl::decode_group_names(msg.subspan(cl::header_bytes, names_bytes), h.num_groups);
  if (!groups) return;
  auto counter = read_group_payload(h.sender, msg.subspan(cl::header_bytes + names_bytes));
  if (!counter) return;  // not the group workload's (the ring workload's payloads are random)
  checker_.on_ring_data(n, h.sender, *counter, *groups, h.type);
}

void group_workload::take_output(node_id n, core::engine_output& o) {
  daemon& d = at(n);
  for (const core::session_message& m : o.messages) {
    auto s = d.by_id.find(m.to.value);
    if (s == d.by_id.end()) {
      checker_.fail(
          strf("sim: daemon %u's groups layer wrote to session id %u, which it never "
               "opened",
               n.value, m.to.value));
      return;
    }
    const session& ss = *sessions_[s->second];
    auto decoded = cl::decode_message(m.bytes.span());
    if (!decoded) {
      checker_.fail(strf("GE delivery: %s received bytes that do not decode: %s", ss.name.c_str(),
                         decoded.error().to_string().c_str()));
      return;
    }
    trace_.record(trace_kind::group, sched_.now(),
                  {n.value, m.to.value, util::hasher().bytes(m.bytes.span()).digest()});
    if (trace_.printing())
      print(strf("group at %u: %s <- %s", n.value, ss.name.c_str(), describe(*decoded).c_str()));
    checker_.on_message(ss.name, *decoded, sched_.now());
  }
  for (core::session_id id : o.released) {
    auto s = d.by_id.find(id.value);
    if (s == d.by_id.end()) {
      checker_.fail(strf("GH released: daemon %u released session id %u, which it never opened",
                         n.value, id.value));
      return;
    }
    print(strf("group at %u: %s released", n.value, sessions_[s->second]->name.c_str()));
    checker_.on_released(n, sessions_[s->second]->name);
  }
}

// --- sessions --------------------------------------------------------------------------------

void group_workload::open(node_id n, std::uint32_t ops) {
  daemon& d = at(n);
  auto s = std::make_unique<session>();
  s->name = strf("#s%u#n%u", d.next_name++, n.value);
  s->id = core::session_id{d.next_session++};
  s->daemon = n;
  s->membership = !rng_.chance(0.1);
  s->ops_left = ops;
  const time_point spread_end = time_point{} + opts_.spread;
  s->deadline = std::max(spread_end, sched_.now() + late_window);
  cluster_.open_session(n, s->id, s->name, s->membership);
  checker_.on_open(n, s->name, s->membership);
  print(strf("group at %u: %s opens%s", n.value, s->name.c_str(),
             s->membership ? "" : " (no membership messages)"));
  const std::size_t idx = sessions_.size();
  d.by_id[s->id.value] = idx;
  sessions_.push_back(std::move(s));
  schedule(idx);
}

void group_workload::schedule(std::size_t idx) {
  const session& s = *sessions_[idx];
  if (!s.alive || (s.ops_left == 0 && s.pending.empty())) return;
  duration gap;
  if (!s.pending.empty()) {
    gap = duration(rng_.uniform(retry_min.count(), retry_max.count()));
  } else {
    const duration left = std::max<duration>(s.deadline - sched_.now(), 1ms);
    gap = duration(rng_.uniform(0, 2 * static_cast<std::uint64_t>(left.count()) / s.ops_left));
  }
  sched_.after(gap, action([this, idx] { fire(idx); }));
}

void group_workload::fire(std::size_t idx) {
  session& s = *sessions_[idx];
  if (!s.alive || !run_.ok()) return;
  if (!submit_pending(s) || s.ops_left == 0) {
    schedule(idx);
    sync();
    return;
  }
  --s.ops_left;
  if (rng_.uniform(0, 99) < kill_percent) {
    kill(idx);
  } else {
    s.pending.push_back(draw(s));
    submit_pending(s);
    schedule(idx);
  }
  sync();
}

group_workload::request group_workload::draw(session& s) {
  const auto r = rng_.uniform(0, 99);
  if (r >= 45) return make_data(s);
  const auto kind = r < 30 ? wire::group_msg_kind::join : wire::group_msg_kind::leave;
  const std::string& g = names_[rng_.uniform(0, names_.size() - 1)];
  return request{core::service::agreed,
                 util::shared_bytes(wire::encode_group_op({kind, s.name, g})),
                 strf("%s %s", kind == wire::group_msg_kind::join ? "join" : "leave", g.c_str())};
}

group_workload::request group_workload::make_data(session& s) {
  static constexpr std::uint32_t services[] = {cl::agreed_mess, cl::safe_mess, cl::fifo_mess,
                                               cl::reliable_mess, cl::causal_mess};
  std::uint32_t type = services[rng_.uniform(0, std::size(services) - 1)];
  if (rng_.chance(0.25)) type |= cl::self_discard;
  std::vector<std::string> groups;
  const auto count = rng_.uniform(1, 2);
  for (std::uint64_t k = 0; k < count; ++k) {
    std::string g = names_[rng_.uniform(0, names_.size() - 1)];
    if (rng_.chance(0.15)) {  // some live session's private group (maybe our own)
      const auto start = rng_.uniform(0, sessions_.size() - 1);
      for (std::size_t i = 0; i < sessions_.size(); ++i) {
        const session& t = *sessions_[(start + i) % sessions_.size()];
        if (!t.alive) continue;
        g = t.name;
        break;
      }
    }
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
  }
  const std::size_t size =
      rng_.chance(0.03) ? rng_.uniform(2000, 6000) : rng_.uniform(8, 300);  // some fragment
  const std::uint64_t counter = ++s.counter;
  const util::byte_vector data = make_group_payload(s.name, counter, size);
  util::byte_vector msg;
  util::byte_writer w(msg);
  w.u8(static_cast<std::uint8_t>(wire::group_msg_kind::data));
  cl::encode_header(w, type, s.name, static_cast<std::int32_t>(groups.size()), {},
                    static_cast<std::int32_t>(data.size()));
  for (const auto& g : groups) {
    std::string field = g;
    field.resize(cl::name_bytes, '\0');
    w.bytes(std::as_bytes(std::span(field)));
  }
  w.bytes(data);
  checker_.on_sent(s.name, counter, type, groups, data.size());
  return request{cl::service_of(type), util::shared_bytes(std::move(msg)),
                 strf("send %s/%llu type=0x%x to %s", s.name.c_str(), ull(counter), type,
                      list_text(groups).c_str())};
}

// The client disconnects (server::closed): the layer stops writing to it, the kill is ordered
// like any request, and a new client connects in its place with the requests that were left.
void group_workload::kill(std::size_t idx) {
  session& s = *sessions_[idx];
  daemon& d = at(s.daemon);
  print(strf("group at %u: %s disconnects", s.daemon.value, s.name.c_str()));
  checker_.on_close(s.name);
  s.alive = false;
  s.pending.clear();
  cluster_.close_session(s.daemon, s.id);
  if (d.up) open(s.daemon, s.ops_left);
}

bool group_workload::submit_pending(session& s) {
  while (!s.pending.empty()) {
    request& r = s.pending.front();
    auto res = cluster_.submit(s.daemon, r.svc, r.payload, false);
    if (!res) {
      if (res.error().code() != util::errc::would_block)
        checker_.fail(strf("sim: daemon %u refused %s's %zu-byte request: %s", s.daemon.value,
                           s.name.c_str(), r.payload.size(), res.error().to_string().c_str()));
      return false;
    }
    print(strf("group at %u: %s %s", s.daemon.value, s.name.c_str(), r.what.c_str()));
    ++requests_;
    s.pending.pop_front();
    if (!s.alive) return true;
  }
  return true;
}

bool group_workload::done() const {
  for (const auto& s : sessions_)
    if (s->alive && (s->ops_left > 0 || !s->pending.empty())) return false;
  for (std::uint32_t i = 0; i < daemons_.size(); ++i) {
    const core::engine* e = cluster_.find_engine(node_id{i + 1});
    if (daemons_[i].up && e != nullptr && e->backlog() > 0) return false;
  }
  return true;
}

std::map<node_id, group_checker::table> group_workload::tables() const {
  std::map<node_id, group_checker::table> out;
  for (std::uint32_t i = 0; i < daemons_.size(); ++i) {
    const core::engine* e = cluster_.find_engine(node_id{i + 1});
    if (!daemons_[i].up || e == nullptr) continue;
    auto& t = out[node_id{i + 1}];
    for (const auto& name : names_)
      if (auto v = e->groups().find(name)) t[name] = {v->gid, v->members};
  }
  return out;
}

}  // namespace chorus::sim
