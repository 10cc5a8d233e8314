// group_checker.cpp — checks of the groups layer's output to sessions (see group_checker.hpp).
#include "sim/group_checker.hpp"

#include "sim/order_graph.hpp"

#include <algorithm>
#include <bit>
#include <charconv>

#include "sim/trace.hpp"
#include "util/hash.hpp"

namespace chorus::sim {
namespace {

namespace cl = wire::client;

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

constexpr std::uint32_t causes =
    cl::caused_by_join | cl::caused_by_leave | cl::caused_by_disconnect | cl::caused_by_network;

std::string list_text(const std::vector<std::string>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + v[i];
  return s + "]";
}

std::string gid_text(const cl::group_id& g) { return strf("%x.%x.%u", g.a, g.b, g.c); }

std::string cause_text(std::uint32_t type) {
  if (type & cl::caused_by_join) return "JOIN";
  if (type & cl::caused_by_leave) return "LEAVE";
  if (type & cl::caused_by_disconnect) return "DISCONNECT";
  if (type & cl::caused_by_network) return "NETWORK";
  return "no cause";
}

// The daemon a session name "#s<k>#n<node>" belongs to (member lists order by it), or a rank
// after every daemon for another name.
std::uint32_t daemon_of(std::string_view name) {
  const auto at = name.rfind("#n");
  std::uint32_t v = 0;
  if (at == std::string_view::npos || at == 0) return ~0u;
  auto r = std::from_chars(name.data() + at + 2, name.data() + name.size(), v);
  return r.ec == std::errc() && r.ptr == name.data() + name.size() ? v : ~0u;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::uint64_t filler_seed(std::string_view sender, std::uint64_t counter) {
  return util::hasher().str(sender).u64(counter).digest();
}

std::byte filler(std::uint64_t h, std::size_t i) {
  return static_cast<std::byte>((h >> ((i % 8) * 8)) + i);
}

}  // namespace

util::byte_vector make_group_payload(std::string_view sender, std::uint64_t counter,
                                     std::size_t size) {
  util::byte_vector out(std::max<std::size_t>(size, 8));
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::byte>(counter >> (8 * i));
  const std::uint64_t h = filler_seed(sender, counter);
  for (std::size_t i = 8; i < out.size(); ++i) out[i] = filler(h, i);
  return out;
}

std::optional<std::uint64_t> read_group_payload(std::string_view sender,
                                                std::span<const std::byte> bytes) {
  if (bytes.size() < 8) return std::nullopt;
  std::uint64_t counter = 0;
  for (std::size_t i = 0; i < 8; ++i) counter |= std::uint64_t(bytes[i]) << (8 * i);
  const std::uint64_t h = filler_seed(sender, counter);
  for (std::size_t i = 8; i < bytes.size(); ++i)
    if (bytes[i] != filler(h, i)) return std::nullopt;
  return counter;
}

void group_checker::fail(std::string what) {
  if (violation_.empty()) violation_ = std::move(what);
}

std::string group_checker::mname(index m) const {
  return strf("%s/%llu", msgs_[m].sender.c_str(), ull(msgs_[m].counter));
}

group_checker::index group_checker::live_proc(core::node_id n) const {
  auto it = current_.find(n.value);
  return it == current_.end() ? none : it->second;
}

group_checker::session* group_checker::find_session(const std::string& name, const char* what) {
  auto it = sessions_.find(name);
  if (it != sessions_.end()) return &it->second;
  fail(strf("sim: %s for unknown session %s", what, name.c_str()));
  return nullptr;
}

group_checker::index group_checker::intern(const std::string& sender, std::uint64_t counter) {
  auto [it, added] = msg_index_.try_emplace({sender, counter}, static_cast<index>(msgs_.size()));
  if (added) {
    msg m;
    m.sender = sender;
    m.counter = counter;
    msgs_.push_back(std::move(m));
  }
  return it->second;
}

// --- daemons and sessions --------------------------------------------------------------------

void group_checker::on_daemon_start(core::node_id n) {
  if (live_proc(n) != none) return fail(strf("sim: daemon %u started twice", n.value));
  current_[n.value] = static_cast<index>(procs_.size());
  procs_.push_back(daemon_proc{n, true, {}});
}

void group_checker::on_daemon_crash(core::node_id n) {
  const index p = live_proc(n);
  if (p == none) return;
  procs_[p].alive = false;
  current_.erase(n.value);
  for (auto& [name, s] : sessions_) {
    if (s.proc != p || !s.open) continue;
    s.open = false;
    s.ring_to = procs_[p].ring.size();
  }
}

void group_checker::on_open(core::node_id daemon, const std::string& name, bool membership) {
  const index p = live_proc(daemon);
  if (p == none)
    return fail(
        strf("sim: session %s opened on daemon %u, which is down", name.c_str(), daemon.value));
  if (sessions_.contains(name)) return fail(strf("sim: session name %s reused", name.c_str()));
  session s;
  s.name = name;
  s.proc = p;
  s.membership = membership;
  s.ring_from = procs_[p].ring.size();
  sessions_.emplace(name, std::move(s));
}

void group_checker::on_close(const std::string& name) {
  session* s = find_session(name, "close");
  if (s == nullptr) return;
  if (!s->open) return fail(strf("sim: session %s closed twice", name.c_str()));
  s->open = false;
  s->closed = true;
  s->ring_to = procs_[s->proc].ring.size();
}

void group_checker::on_released(core::node_id daemon, const std::string& name) {
  session* s = find_session(name, "release");
  if (s == nullptr) return;
  if (s->proc != live_proc(daemon))
    return fail(strf("GH released: daemon %u released %s, a session of another daemon",
                     daemon.value, name.c_str()));
  if (!s->closed)
    return fail(strf("GH released: daemon %u released %s, which its client never closed",
                     daemon.value, name.c_str()));
  if (s->released)
    return fail(strf("GH released: daemon %u released %s twice", daemon.value, name.c_str()));
  s->released = true;
}

void group_checker::on_sent(const std::string& sender, std::uint64_t counter, std::uint32_t type,
                            const std::vector<std::string>& groups, std::size_t size) {
  msg& m = msgs_[intern(sender, counter)];
  if (m.known && (m.type != type || m.groups != groups || m.size != size))
    return fail(
        strf("sim: %s/%llu sent twice with different contents", sender.c_str(), ull(counter)));
  m.known = true;
  m.type = type;
  m.groups = groups;
  m.size = size;
}

// --- the ring log ----------------------------------------------------------------------------

void group_checker::on_ring_op(core::node_id daemon, wire::group_msg_kind kind,
                               const std::string& member, const std::string& group) {
  const index p = live_proc(daemon);
  if (p == none) return fail(strf("sim: ring delivery at daemon %u, which is down", daemon.value));
  procs_[p].ring.push_back(ring_item{false, kind, member, group, none});
}

void group_checker::on_ring_data(core::node_id daemon, const std::string& sender,
                                 std::uint64_t counter, const std::vector<std::string>& groups,
                                 std::uint32_t type) {
  const index p = live_proc(daemon);
  if (p == none) return fail(strf("sim: ring delivery at daemon %u, which is down", daemon.value));
  const index m = intern(sender, counter);
  if (!msgs_[m].known || msgs_[m].groups != groups || msgs_[m].type != type)
    return fail(strf("sim: daemon %u's ring delivered %s, which was never sent so", daemon.value,
                     mname(m).c_str()));
  procs_[p].ring.push_back(ring_item{true, wire::group_msg_kind::data, {}, {}, m});
}

// --- what sessions receive -------------------------------------------------------------------

void group_checker::on_message(const std::string& name, const cl::message& m, core::time_point at) {
  session* s = find_session(name, "message");
  if (s == nullptr) return;
  const std::uint32_t type = m.hdr.type;
  if (!s->open)
    return fail(strf("GE delivery: a message of type 0x%x for %s reached %s after it ended", type,
                     m.hdr.sender.c_str(), name.c_str()));
  if (type & (cl::reg_memb_mess | cl::transition_mess) ||
      (type & cl::membership_mess) == cl::caused_by_leave) {
    if (auto w = s->waiting.find(m.hdr.sender); w != s->waiting.end() && at >= w->second) {
      const core::time_point since = std::max(w->second, procs_[s->proc].last_regular);
      seen_.longest_view_wait = std::max(seen_.longest_view_wait, at - since);
    }
    s->waiting.erase(m.hdr.sender);  // a view or a self-leave ends the wait, a signal restarts it
    if (s->waiting.empty()) waiting_.erase(s->name);
  }
  if (type & cl::reg_memb_mess) return on_view(*s, m);
  if (type & cl::transition_mess) return on_transition(*s, m, at);
  if ((type & cl::membership_mess) == cl::caused_by_leave) return on_self_leave(*s, m);
  if (std::popcount(type & cl::regular_mess) == 1) return on_data(*s, m);
  fail(strf("GE delivery: %s received a message of unexpected type 0x%x", name.c_str(), type));
}

bool group_checker::check_view_shape(const session& s, const cl::message& m, std::uint32_t cause) {
  const std::string& group = m.hdr.sender;
  const auto& members = m.groups;
  const auto& vs = m.membership.vs_sets;
  const std::string what =
      strf("%s's %s view of %s gid %s %s", s.name.c_str(), cause_text(cause).c_str(), group.c_str(),
           gid_text(m.membership.gid).c_str(), list_text(members).c_str());
  if (std::popcount(cause) != 1) {
    fail(strf("GB view: %s carries cause bits 0x%x", what.c_str(), cause));
    return false;
  }
  if (!contains(members, s.name)) {
    fail("GB view: " + what + " does not list the receiver");
    return false;
  }
  for (std::size_t i = 1; i < members.size(); ++i) {
    const auto a = std::make_pair(daemon_of(members[i - 1]), members[i - 1]);
    const auto b = std::make_pair(daemon_of(members[i]), members[i]);
    if (!(a < b)) {
      fail("GB view: " + what + " is not ordered by daemon, then name, once each");
      return false;
    }
  }
  if (cause != cl::caused_by_network) {
    if (vs.size() != 1 || vs[0].size() != 1 || m.membership.local_set != 0) {
      fail(strf("GB view: %s must carry one vs-set of one member, not %zu sets", what.c_str(),
                vs.size()));
      return false;
    }
    const bool listed = contains(members, vs[0][0]);
    if (listed != (cause == cl::caused_by_join)) {
      fail(strf("GB view: %s names %s as the changed member, who is %slisted", what.c_str(),
                vs[0][0].c_str(), listed ? "" : "not "));
      return false;
    }
    return true;
  }
  std::vector<std::string> all;
  for (const auto& set : vs) all.insert(all.end(), set.begin(), set.end());
  std::sort(all.begin(), all.end());
  std::vector<std::string> sorted = members;
  std::sort(sorted.begin(), sorted.end());
  if (all != sorted) {
    fail("GB view: " + what + "'s vs-sets do not partition its members");
    return false;
  }
  if (m.membership.local_set >= vs.size() || !contains(vs[m.membership.local_set], s.name)) {
    fail("GB view: " + what + "'s local vs-set does not hold the receiver");
    return false;
  }
  return true;
}

void group_checker::on_view(session& s, const cl::message& m) {
  ++views_;
  const std::uint32_t cause = m.hdr.type & causes;
  const std::string& group = m.hdr.sender;
  const gid_key gid{m.membership.gid.a, m.membership.gid.b, m.membership.gid.c};
  if (!s.membership)
    return fail(strf("GB view: %s, which asked for no membership messages, got a view of %s",
                     s.name.c_str(), group.c_str()));
  if (!check_view_shape(s, m, cause)) return;
  if (cause == cl::caused_by_join) ++seen_.join;
  if (cause == cl::caused_by_leave) ++seen_.leave;
  if (cause == cl::caused_by_disconnect) ++seen_.disconnect;
  if (cause == cl::caused_by_network) ++seen_.network;
  if (m.membership.vs_sets.size() > 1) ++seen_.network_split;
  auto [it, added] = gids_.try_emplace(gid, group, m.groups);
  if (!added && (it->second.first != group || it->second.second != m.groups))
    return fail(strf("GA group ids: %s received gid %s for %s %s; it was %s %s before",
                     s.name.c_str(), gid_text(m.membership.gid).c_str(), group.c_str(),
                     list_text(m.groups).c_str(), it->second.first.c_str(),
                     list_text(it->second.second).c_str()));
  auto [seen, fresh] = s.last_gid.try_emplace(group, gid);
  if (!fresh && seen->second == gid)
    return fail(strf("GA group ids: %s received gid %s for %s twice in a row", s.name.c_str(),
                     gid_text(m.membership.gid).c_str(), group.c_str()));
  seen->second = gid;
  auto v = s.in.find(group);
  if (v != s.in.end()) {
    // Who moved from V to V' with this session: everybody for a join, leave or disconnect;
    // its own vs-set for a network change (the others came from elsewhere).
    std::vector<std::string> together;
    if (cause == cl::caused_by_network) together = m.membership.vs_sets[m.membership.local_set];
    close_segment(s, group, v->second, gid, std::move(together));
  }
  s.in[group] = view_state{gid, m.groups, segment{gid, {}}};
}

void group_checker::close_segment(const session& s, const std::string& group, const view_state& v,
                                  gid_key next, std::vector<std::string> together) {
  auto key = std::make_tuple(group, v.gid, next, std::move(together));
  auto [found, added] = segments_.try_emplace(key, s.name, v.seg.msgs);
  if (added) return;
  const auto it = found;  // a lambda may not capture a structured binding (C++20, clang 14)
  ++seen_.segments_compared;
  if (it->second.second == v.seg.msgs) return;
  // Either session's own SELF_DISCARD messages reach only the other one.
  auto without_own = [&](const std::vector<index>& ms) {
    std::vector<index> out;
    for (index m : ms) {
      const bool own = msgs_[m].sender == s.name || msgs_[m].sender == it->second.first;
      if (!own || (msgs_[m].type & cl::self_discard) == 0) out.push_back(m);
    }
    return out;
  };
  const auto mine = without_own(v.seg.msgs);
  const auto theirs = without_own(it->second.second);
  if (mine == theirs) return;
  std::size_t i = 0;
  while (i < mine.size() && i < theirs.size() && mine[i] == theirs[i]) ++i;
  const std::string a = i < theirs.size() ? mname(theirs[i]) : "nothing more";
  const std::string b = i < mine.size() ? mname(mine[i]) : "nothing more";
  fail(
      strf("GC virtual synchrony: %s and %s moved together from view %x.%x.%u to %x.%x.%u of "
           "%s, but delivered %zu and %zu messages for it in between; at #%zu %s had %s, %s had "
           "%s",
           it->second.first.c_str(), s.name.c_str(), v.gid.a, v.gid.b, v.gid.c, next.a, next.b,
           next.c, group.c_str(), theirs.size(), mine.size(), i, it->second.first.c_str(),
           a.c_str(), s.name.c_str(), b.c_str()));
}

void group_checker::on_configuration(core::node_id daemon, core::time_point at) {
  const index p = live_proc(daemon);
  if (p != none) procs_[p].last_regular = at;
}

void group_checker::check_views_follow_transitions(core::time_point now) {
  for (const std::string& name : waiting_) {
    const session& s = sessions_.find(name)->second;
    if (!s.open) continue;
    for (const auto& [group, signal] : s.waiting) {
      const core::time_point since = std::max(signal, procs_[s.proc].last_regular);
      if (now - since <= view_bound_) continue;
      return fail(
          strf("GI view after transition: %s got a transitional signal of %s at %s and "
               "no view of it since; its daemon's last regular configuration was at %s, "
               "now is %s (bound %s)",
               name.c_str(), group.c_str(), format_time(signal).c_str(),
               format_time(procs_[s.proc].last_regular).c_str(), format_time(now).c_str(),
               format_duration(view_bound_).c_str()));
    }
  }
}

void group_checker::on_transition(session& s, const cl::message& m, core::time_point at) {
  const std::string& group = m.hdr.sender;
  if (!s.membership)
    return fail(
        strf("GB view: %s, which asked for no membership messages, got a transition "
             "of %s",
             s.name.c_str(), group.c_str()));
  auto v = s.in.find(group);
  if (v == s.in.end())
    return fail(strf("GB view: %s got a transition of %s, which it is not in", s.name.c_str(),
                     group.c_str()));
  ++seen_.transitions;
  s.waiting[group] = at;
  waiting_.insert(s.name);
  const gid_key gid{m.membership.gid.a, m.membership.gid.b, m.membership.gid.c};
  if (gid != v->second.gid)
    return fail(
        strf("GA group ids: %s got a transition of %s with gid %s, but its view is "
             "%x.%x.%u",
             s.name.c_str(), group.c_str(), gid_text(m.membership.gid).c_str(), v->second.gid.a,
             v->second.gid.b, v->second.gid.c));
}

void group_checker::on_self_leave(session& s, const cl::message& m) {
  const std::string& group = m.hdr.sender;
  if (!s.membership)
    return fail(
        strf("GB view: %s, which asked for no membership messages, got a self-leave "
             "of %s",
             s.name.c_str(), group.c_str()));
  if (m.hdr.num_groups != 0 || !m.data.empty())
    return fail(
        strf("GB view: %s's self-leave of %s is not a bare header", s.name.c_str(), group.c_str()));
  ++seen_.self_leaves;
  if (s.in.erase(group) == 0)
    return fail(strf("GB view: %s got a self-leave of %s, which it is not in", s.name.c_str(),
                     group.c_str()));
}

void group_checker::on_data(session& s, const cl::message& m) {
  const std::string& sender = m.hdr.sender;
  const auto counter = read_group_payload(sender, m.data);
  if (!counter)
    return fail(
        strf("GE delivery: %s received a %zu-byte message from %s that is no payload "
             "it sent",
             s.name.c_str(), m.data.size(), sender.c_str()));
  const index i = intern(sender, *counter);
  const msg& ms = msgs_[i];
  const std::string who = strf("%s received %s", s.name.c_str(), mname(i).c_str());
  if (!ms.known) return fail("GE delivery: " + who + ", which was never sent");
  if (ms.type != m.hdr.type || ms.groups != m.groups || ms.size != m.data.size())
    return fail(
        strf("GE delivery: %s as type 0x%x to %s with %zu bytes; sent as 0x%x to %s "
             "with %zu",
             who.c_str(), m.hdr.type, list_text(m.groups).c_str(), m.data.size(), ms.type,
             list_text(ms.groups).c_str(), ms.size));
  if (!s.received_set.insert(i).second) return fail("GE delivery: " + who + " twice");
  auto& last = s.fifo[sender];
  if (*counter <= last)
    return fail(strf("GE FIFO: %s after %s/%llu", who.c_str(), sender.c_str(), ull(last)));
  last = *counter;
  if ((ms.type & cl::self_discard) && sender == s.name)
    return fail("GE delivery: " + who + ", its own SELF_DISCARD message");
  if (s.membership) {
    bool member = false;
    for (const auto& g : ms.groups) member = member || g == s.name || s.in.contains(g);
    if (!member)
      return fail(
          strf("GE delivery: %s, addressed to %s, while its views put it in none of "
               "them",
               who.c_str(), list_text(ms.groups).c_str()));
  }
  std::set<std::string> counted;
  for (const auto& g : ms.groups) {
    auto v = s.in.find(g);
    if (v != s.in.end() && counted.insert(g).second) v->second.seg.msgs.push_back(i);
  }
  s.received.push_back(i);
  ++deliveries_;
}

// --- whole-history checks --------------------------------------------------------------------

void group_checker::check_histories() {
  if (!ok()) return;
  // GD: the union of the sessions' delivery orders (consecutive pairs) must be acyclic.
  std::vector<const std::vector<index>*> orders;
  for (const auto& [name, s] : sessions_) orders.push_back(&s.received);
  const std::size_t unordered = unorderable(msgs_.size(), orders).size();
  if (unordered == 0) return;
  // A cycle: name a pair of sessions that disagree if there is one.
  for (auto a = sessions_.begin(); a != sessions_.end(); ++a) {
    std::map<index, std::size_t> pos;
    for (std::size_t k = 0; k < a->second.received.size(); ++k) pos[a->second.received[k]] = k;
    for (auto b = std::next(a); b != sessions_.end(); ++b) {
      std::optional<std::pair<std::size_t, index>> prev;  // a's position, message
      for (index m : b->second.received) {
        auto p = pos.find(m);
        if (p == pos.end()) continue;
        if (prev && p->second < prev->first)
          return fail(strf("GD total order: %s delivered %s before %s, %s the other way round",
                           a->first.c_str(), mname(m).c_str(), mname(prev->second).c_str(),
                           b->first.c_str()));
        prev = std::make_pair(p->second, m);
      }
    }
  }
  fail(
      strf("GD total order: the sessions' delivery orders form a cycle (%zu of %zu messages "
           "cannot be ordered)",
           unordered, msgs_.size()));
}

std::vector<group_checker::index> group_checker::expected(const session& s,
                                                          std::set<std::string>* joined) const {
  const auto& ring = procs_[s.proc].ring;
  const std::size_t end = std::min(s.ring_to, ring.size());
  std::set<std::string> in;
  std::vector<index> out;
  for (std::size_t k = s.ring_from; k < end; ++k) {
    const ring_item& it = ring[k];
    if (!it.data) {
      if (it.member != s.name) continue;
      if (it.kind == wire::group_msg_kind::join) in.insert(it.group);
      if (it.kind == wire::group_msg_kind::leave) in.erase(it.group);
      if (it.kind == wire::group_msg_kind::kill) in.clear();
      continue;
    }
    const msg& ms = msgs_[it.m];
    if ((ms.type & cl::self_discard) && ms.sender == s.name) continue;
    for (const auto& g : ms.groups) {
      if (g == s.name || (!g.starts_with("#") && in.contains(g))) {
        out.push_back(it.m);
        break;
      }
    }
  }
  if (joined) *joined = std::move(in);
  return out;
}

void group_checker::check_completeness() {
  for (const auto& [name, s] : sessions_) {
    const auto want = expected(s, nullptr);
    const auto& got = s.received;
    std::size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    if (i == got.size() && (i == want.size() || !s.open)) continue;
    const std::string had = i < got.size() ? mname(got[i]) : "nothing more";
    const std::string should = i < want.size() ? mname(want[i]) : "nothing more";
    return fail(
        strf("GF completeness: %s (%s) received %zu messages, its daemon's ring order "
             "gives %zu; at #%zu it received %s where the ring order gives %s",
             name.c_str(), s.open ? "open at the end" : "ended", got.size(), want.size(), i,
             had.c_str(), should.c_str()));
  }
}

void group_checker::check_tables(const std::map<core::node_id, table>& tables) {
  if (tables.empty()) return;
  const auto& [first_node, first] = *tables.begin();
  for (const auto& [n, t] : tables) {
    std::set<std::string> names;
    for (const auto& [g, v] : t) names.insert(g);
    for (const auto& [g, v] : first) names.insert(g);
    for (const auto& g : names) {
      auto a = first.find(g);
      auto b = t.find(g);
      const bool same = a != first.end() && b != t.end() && a->second.gid == b->second.gid &&
                        a->second.members == b->second.members;
      if (same) continue;
      auto text = [](const table& tb, const std::string& name) {
        auto it = tb.find(name);
        return it == tb.end() ? std::string("no group")
                              : gid_text(it->second.gid) + " " + list_text(it->second.members);
      };
      return fail(strf("GG final tables: daemon %u holds %s as %s, daemon %u as %s",
                       first_node.value, g.c_str(), text(first, g).c_str(), n.value,
                       text(t, g).c_str()));
    }
  }
  for (const auto& [n, t] : tables) {
    for (const auto& [g, v] : t)
      for (const auto& member : v.members) {
        auto s = sessions_.find(member);
        if (s == sessions_.end() || !s->second.open)
          return fail(strf("GG final tables: daemon %u lists %s in %s, but that session ended",
                           n.value, member.c_str(), g.c_str()));
      }
    const index p = live_proc(n);
    for (const auto& [name, s] : sessions_) {
      if (s.proc != p || !s.open) continue;
      std::set<std::string> joined, listed;
      expected(s, &joined);
      for (const auto& [g, v] : t)
        if (contains(v.members, name)) listed.insert(g);
      if (joined != listed)
        return fail(
            strf("GG final tables: %s joined %zu groups (ring order), daemon %u's table "
                 "lists it in %zu",
                 name.c_str(), joined.size(), n.value, listed.size()));
      if (!s.membership) continue;
      for (const auto& g : joined) {
        auto v = s.in.find(g);
        const auto& tv = t.at(g);
        if (v == s.in.end())
          return fail(strf("GG final tables: %s is in %s, but its views say it is not",
                           name.c_str(), g.c_str()));
        const gid_key tg{tv.gid.a, tv.gid.b, tv.gid.c};
        if (v->second.gid != tg || v->second.members != tv.members)
          return fail(
              strf("GG final tables: %s's last view of %s is %x.%x.%u %s, the table "
                   "holds %s %s",
                   name.c_str(), g.c_str(), v->second.gid.a, v->second.gid.b, v->second.gid.c,
                   list_text(v->second.members).c_str(), gid_text(tv.gid).c_str(),
                   list_text(tv.members).c_str()));
      }
      if (s.in.size() != joined.size())
        return fail(strf("GG final tables: %s's views put it in %zu groups, the ring order in %zu",
                         name.c_str(), s.in.size(), joined.size()));
    }
  }
}

void group_checker::check_released() {
  for (const auto& [name, s] : sessions_)
    if (s.closed && !s.released && procs_[s.proc].alive)
      return fail(
          strf("GH released: %s was closed by its client, but daemon %u never released "
               "it",
               name.c_str(), procs_[s.proc].node.value));
}

void group_checker::finish(const std::map<core::node_id, table>& tables) {
  check_histories();
  if (ok()) check_completeness();
  if (ok()) check_tables(tables);
  if (ok()) check_released();
}

}  // namespace chorus::sim
