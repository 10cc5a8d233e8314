// groups.cpp — see groups.hpp.
#include "core/groups.hpp"

#include <algorithm>

#include "util/assert.hpp"

namespace chorus::core {
namespace {

namespace cl = wire::client;

// spec §5.3: a group name the client protocol can carry (31 bytes, 0x24..0x7E).
bool legal_group(std::string_view s) {
  if (s.empty() || s.size() >= cl::name_bytes) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x24 && c <= 0x7e; });
}

// A private group, "#session#daemon" (spec §1.3): '#' then the legal characters and '#'.
bool legal_member(std::string_view s) {
  if (s.size() < 4 || s.size() >= cl::name_bytes || s[0] != '#') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x23 && c <= 0x7e; });
}

std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The history digest (wire::group_state::history) after one more regular configuration.
std::uint64_t extend_history(std::uint64_t h, ring_id r) {
  return mix64(mix64(h ^ r.counter) ^ (std::uint64_t{r.rep.value} + 1));
}

std::uint32_t mix32(std::uint64_t x) {
  // splitmix64's finalizer: every bit of the ring counter reaches the 32 bits kept.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return static_cast<std::uint32_t>(x);
}

template <typename T>
void insert_sorted(std::vector<T>& v, T x) {
  auto it = std::lower_bound(v.begin(), v.end(), x);
  if (it == v.end() || !(*it == x)) v.insert(it, std::move(x));
}

template <typename T>
void erase_sorted(std::vector<T>& v, const T& x) {
  auto it = std::lower_bound(v.begin(), v.end(), x);
  if (it != v.end() && *it == x) v.erase(it);
}

}  // namespace

groups::groups(groups_config cfg) : cfg_(std::move(cfg)) {
  for (std::size_t i = 0; i < cfg_.daemon_order.size(); ++i) ranks_[cfg_.daemon_order[i]] = i;
  if (!ranks_.contains(cfg_.self)) ranks_[cfg_.self] = cfg_.daemon_order.size();
}

void groups::open_session(session_id id, std::string private_group, bool membership) {
  CHORUS_ASSERT(!name_in_use(private_group), "session name already in use");
  session_by_name_.emplace(private_group, id);
  sessions_.emplace(id.value, session{std::move(private_group), membership, true});
}

void groups::close_session(session_id id) {
  auto it = sessions_.find(id.value);
  if (it != sessions_.end()) it->second.open = false;
}

bool groups::name_in_use(std::string_view private_group) const {
  return session_by_name_.find(private_group) != session_by_name_.end();
}

std::optional<std::string> groups::session_name(session_id id) const {
  auto it = sessions_.find(id.value);
  if (it == sessions_.end()) return std::nullopt;
  return it->second.name;
}

groups_output groups::take_output() { return std::exchange(out_, {}); }

std::optional<groups::view> groups::find(std::string_view group_name) const {
  auto it = groups_.find(group_name);
  if (it == groups_.end()) return std::nullopt;
  return view{it->second.gid, names(it->second.members)};
}

std::vector<groups::summary> groups::summarize(std::size_t groups_max,
                                               std::size_t members_max) const {
  std::vector<summary> out;
  out.reserve(std::min(groups_max, groups_.size()));
  for (const auto& [name, g] : groups_) {
    if (out.size() == groups_max) break;
    out.push_back(summary{name, g.members.size(), names(g.members, members_max)});
  }
  return out;
}

std::size_t groups::rank_of(node_id n) const {
  auto it = ranks_.find(n);
  return it == ranks_.end() ? cfg_.daemon_order.size() + 1 : it->second;
}

std::vector<std::string> groups::names(const std::vector<member>& ms, std::size_t limit) {
  std::vector<std::string> out;
  out.reserve(std::min(limit, ms.size()));
  for (const auto& m : ms) {
    if (out.size() == limit) break;
    out.push_back(m.name);
  }
  return out;
}

// Every daemon that applies the same events to the same table computes the same ids, and no
// other daemon draws from the same space: see gid_space.
void groups::enter_space(ring_id ring, ring_id from, bool own, std::uint32_t base) {
  std::uint64_t key = ring.counter;  // a completed exchange: as before, mix32(ring counter)
  if (from != ring_id{} || own || base != 0) {
    key = mix64(key ^ (std::uint64_t{from.rep.value} << 32 | base));
    key = mix64(key ^ from.counter);
    if (own) key = mix64(key ^ (std::uint64_t{cfg_.self.value} + 1));
  }
  space_ = gid_space{ring.rep.value, mix32(key), base};
  gid_index_ = 0;
}

cl::group_id groups::next_gid() {
  return cl::group_id{space_.a, space_.b, space_.base + ++gid_index_};
}

std::optional<session_id> groups::local_session(node_id daemon, const std::string& name) const {
  if (daemon != cfg_.self) return std::nullopt;
  auto it = session_by_name_.find(name);
  if (it == session_by_name_.end()) return std::nullopt;
  return it->second;
}

void groups::send(session_id to, util::shared_bytes bytes) {
  auto it = sessions_.find(to.value);
  if (it == sessions_.end() || !it->second.open) return;
  out_.messages.push_back(session_message{to, std::move(bytes)});
}

// --- events -------------------------------------------------------------------------------

void groups::on_event(const event& e) {
  if (const auto* c = std::get_if<configuration>(&e)) {
    on_configuration(*c);
  } else {
    on_delivery(std::get<delivery>(e));
  }
#ifdef CHORUS_CHECK_INVARIANTS
  check_invariants();
#endif
}

void groups::on_configuration(const configuration& c) {
  if (exchange_) abort_exchange();
  std::set<node_id> present(c.members.begin(), c.members.end());
  if (c.type == configuration::kind::transitional) {
    in_transition_ = true;
    enter_space(c.ring, installed_, !agreed_, transitional_index_base);
    // Members on departed daemons leave silently; their groups get the transitional signal.
    for (auto it = groups_.begin(); it != groups_.end();) {
      auto& [gname, g] = *it;
      std::vector<member> gone;
      for (const auto& m : g.members) {
        if (!present.contains(member_daemon_.at(m.name))) gone.push_back(m);
      }
      for (const auto& m : gone) remove_member_from(g, gname, m);
      if (!gone.empty()) {
        g.changed = true;
        transition(gname, g);
      }
      it = g.members.empty() ? groups_.erase(it) : std::next(it);
    }
    std::erase_if(member_daemon_, [&](const auto& kv) {
      return !present.contains(kv.second) && !member_groups_.contains(kv.first);
    });
    return;
  }
  // A regular configuration: announce our sessions' groups and hold deliveries until every
  // member's announcement is in.
  exchange_ = exchange{c.ring, present, {}};
  wire::group_state s;
  s.ring = c.ring;
  s.previous = installed_;
  s.history = history_;
  installed_ = c.ring;
  history_ = extend_history(history_, c.ring);
  for (const auto& [name, groups_of] : member_groups_) {
    if (member_daemon_.at(name) != cfg_.self) continue;
    s.members.push_back({name, {groups_of.begin(), groups_of.end()}});
  }
  out_.submit.push_back(util::shared_bytes(wire::encode_group_state(s)));
}

void groups::on_delivery(const delivery& d) {
  if (exchange_) {
    auto kind = wire::peek_group_msg(d.payload.span());
    if (kind && *kind == wire::group_msg_kind::state) {
      auto s = wire::decode_group_state(d.payload.span());
      if (!s) {
        ++stats_.malformed;
        return;
      }
      on_state(std::move(*s), d.origin);
      return;
    }
    held_.push_back(d);
    return;
  }
  apply(d);
}

void groups::apply(const delivery& d) {
  auto kind = wire::peek_group_msg(d.payload.span());
  if (!kind) {
    ++stats_.malformed;
    return;
  }
  switch (*kind) {
    case wire::group_msg_kind::data:
      on_data(d);
      return;
    case wire::group_msg_kind::state:
      return;  // an announcement for an exchange that is over (or was aborted)
    default: {
      auto op = wire::decode_group_op(d.payload.span());
      if (!op) {
        ++stats_.malformed;
        return;
      }
      on_op(*op, d.origin);
    }
  }
}

void groups::on_data(const delivery& d) {
  auto msg = d.payload.span().subspan(1);
  if (msg.size() < cl::header_bytes) {
    ++stats_.malformed;
    return;
  }
  auto h = cl::decode_header(msg.first<cl::header_bytes>());
  std::size_t names_bytes = std::size_t(std::max(h.num_groups, 0)) * cl::name_bytes;
  if (h.num_groups < 0 || h.data_len < 0 ||
      msg.size() != cl::header_bytes + names_bytes + std::size_t(h.data_len)) {
    ++stats_.malformed;
    return;
  }
  auto groups_named =
      cl::decode_group_names(msg.subspan(cl::header_bytes, names_bytes), h.num_groups);
  if (!groups_named) {
    ++stats_.malformed;
    return;
  }
  std::vector<session_id> targets;
  for (const auto& name : *groups_named) {
    if (name[0] == '#') {
      if (auto s = local_session(cfg_.self, name)) targets.push_back(*s);
      continue;
    }
    auto g = groups_.find(name);
    if (g != groups_.end())
      targets.insert(targets.end(), g->second.local.begin(), g->second.local.end());
  }
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  if ((h.type & cl::self_discard) != 0 && d.origin == cfg_.self) {
    if (auto s = local_session(cfg_.self, h.sender)) erase_sorted(targets, *s);
  }
  if (targets.empty()) return;
  ++stats_.data_delivered;
  auto bytes = d.payload.slice(msg);
  for (auto t : targets) send(t, bytes);
}

void groups::on_op(const wire::group_op& op, node_id origin) {
  if (!legal_member(op.member) ||
      (op.kind != wire::group_msg_kind::kill && !legal_group(op.group))) {
    ++stats_.malformed;
    return;
  }
  auto known = member_daemon_.find(op.member);
  if (known != member_daemon_.end() && known->second != origin) {
    ++stats_.malformed;  // a name another daemon owns: a confused or forged peer
    return;
  }
  switch (op.kind) {
    case wire::group_msg_kind::join:
      join(op.member, origin, op.group);
      return;
    case wire::group_msg_kind::leave:
      remove(op.member, op.group, cl::caused_by_leave);
      return;
    default: {
      auto gs = member_groups_.find(op.member);
      if (gs != member_groups_.end()) {
        for (std::string g : std::set<std::string>(gs->second)) {
          remove(op.member, g, cl::caused_by_disconnect);
        }
      }
      member_daemon_.erase(op.member);
      if (auto s = local_session(origin, op.member)) {
        out_.released.push_back(*s);
        sessions_.erase(s->value);
        session_by_name_.erase(op.member);
      }
    }
  }
}

void groups::join(const std::string& name, node_id origin, const std::string& group_name) {
  auto& g = groups_[group_name];
  member m{rank_of(origin), name};
  if (std::binary_search(g.members.begin(), g.members.end(), m)) {
    ++stats_.ignored_ops;
    return;
  }
  auto before = names(g.members);
  insert_sorted(g.members, m);
  member_daemon_[name] = origin;
  member_groups_[name].insert(group_name);
  if (auto s = local_session(origin, name)) insert_sorted(g.local, *s);
  g.gid = next_gid();
  if (in_transition_ && g.changed) {
    notify(group_name, g, cl::caused_by_network, {before, {name}}, 0, &name);
    transition(group_name, g);
  } else {
    notify(group_name, g, cl::caused_by_join, {{name}}, 0, nullptr);
  }
}

void groups::remove(const std::string& name, const std::string& group_name, std::uint32_t cause) {
  auto it = groups_.find(group_name);
  auto daemon = member_daemon_.find(name);
  if (it == groups_.end() || daemon == member_daemon_.end()) {
    ++stats_.ignored_ops;
    return;
  }
  group& g = it->second;
  member m{rank_of(daemon->second), name};
  if (!std::binary_search(g.members.begin(), g.members.end(), m)) {
    ++stats_.ignored_ops;
    return;
  }
  if (cause == cl::caused_by_leave) {
    if (auto s = local_session(daemon->second, name)) {
      auto ss = sessions_.find(s->value);
      if (ss != sessions_.end() && ss->second.membership) {
        send(*s, util::shared_bytes(cl::encode_self_leave(group_name)));
      }
    }
  }
  remove_member_from(g, group_name, m);
  if (g.members.empty()) {
    groups_.erase(it);
    return;
  }
  g.gid = next_gid();
  if (in_transition_ && g.changed) {
    notify(group_name, g, cl::caused_by_network, {names(g.members)}, 0, nullptr);
    transition(group_name, g);
  } else {
    notify(group_name, g, cause, {{name}}, 0, nullptr);
  }
}

void groups::remove_member_from(group& g, const std::string& group_name, const member& m) {
  erase_sorted(g.members, m);
  auto daemon = member_daemon_.find(m.name);
  if (daemon != member_daemon_.end()) {
    if (auto s = local_session(daemon->second, m.name)) erase_sorted(g.local, *s);
  }
  auto gs = member_groups_.find(m.name);
  if (gs != member_groups_.end()) {
    gs->second.erase(group_name);
    if (gs->second.empty()) member_groups_.erase(gs);
  }
}

// Sends a regular membership to the group's local members that asked for membership messages.
// `own_set_member`: a member whose own copy points at the last vs-set (a joiner during the
// transitional period, spec §4.3); everybody else's is `local_set`.
void groups::notify(const std::string& group_name, group& g, std::uint32_t cause,
                    const std::vector<std::vector<std::string>>& vs_sets, std::size_t local_set,
                    const std::string* own_set_member) {
  if (g.local.empty()) return;
  auto members = names(g.members);
  util::shared_bytes common, own;
  for (auto s : g.local) {
    auto it = sessions_.find(s.value);
    if (it == sessions_.end() || !it->second.open || !it->second.membership) continue;
    bool is_own = own_set_member != nullptr && it->second.name == *own_set_member;
    util::shared_bytes& bytes = is_own ? own : common;
    if (bytes.empty()) {
      bytes = util::shared_bytes(cl::encode_membership(cause, group_name, members, g.gid, vs_sets,
                                                       is_own ? vs_sets.size() - 1 : local_set));
    }
    send(s, bytes);
  }
}

void groups::transition(const std::string& group_name, const group& g) {
  util::shared_bytes bytes;
  for (auto s : g.local) {
    auto it = sessions_.find(s.value);
    if (it == sessions_.end() || !it->second.open || !it->second.membership) continue;
    if (bytes.empty()) bytes = util::shared_bytes(cl::encode_transition(group_name, g.gid));
    send(s, bytes);
  }
}

// --- the state exchange ---------------------------------------------------------------------

void groups::on_state(wire::group_state s, node_id origin) {
  if (s.ring != exchange_->ring || !exchange_->waiting.contains(origin)) return;
  for (const auto& m : s.members) {
    bool ok =
        legal_member(m.name) && std::all_of(m.groups.begin(), m.groups.end(),
                                            [](const std::string& g) { return legal_group(g); });
    if (!ok) {
      ++stats_.malformed;
      return;
    }
  }
  exchange_->waiting.erase(origin);
  exchange_->states.emplace(origin, std::move(s));
  if (exchange_->waiting.empty()) finish_exchange();
}

void groups::abort_exchange() {
  ++stats_.exchanges_aborted;
  // The daemons of the configuration may hold different tables: what the held deliveries do
  // here is this daemon's alone until an exchange completes.
  agreed_ = false;
  enter_space(exchange_->ring, {}, true, own_index_base);
  exchange_.reset();
  auto held = std::exchange(held_, {});
  for (const auto& d : held) apply(d);
}

void groups::finish_exchange() {
  ++stats_.exchanges;
  exchange ex = std::move(*exchange_);
  exchange_.reset();
  // The merged table: every daemon's own members, as it announced them.
  std::map<std::string, std::vector<member>, std::less<>> merged;
  std::map<std::string, node_id, std::less<>> daemons;
  std::map<std::string, std::set<std::string>, std::less<>> member_groups;
  for (const auto& [origin, st] : ex.states) {
    for (const auto& m : st.members) {
      if (daemons.contains(m.name)) continue;  // two daemons claiming one name: first wins
      daemons[m.name] = origin;
      for (const auto& gname : m.groups) {
        insert_sorted(merged[gname], member{rank_of(origin), m.name});
        member_groups[m.name].insert(gname);
      }
    }
  }
  std::set<std::string, std::less<>> all;
  for (const auto& [n, g] : groups_) all.insert(n);
  for (const auto& [n, ms] : merged) all.insert(n);

  // Ids from here on depend only on the merged table, which every daemon of the configuration
  // shares; each group draws one whether or not it changed, so the counter stays in step.
  // A group keeps its id only where every daemon judges "unchanged" alike: all of them came
  // from one regular configuration and agreed on its table (so they share table and flags).
  // After a merge, a group one side never had is new there: every group gets a new id.
  bool merge = false;
  for (const auto& [origin, st] : ex.states)
    merge = merge || st.previous != ex.states.begin()->second.previous;
  const bool keep = !merge && agreed_;
  agreed_ = true;
  in_transition_ = false;
  history_ = extend_history(0, ex.ring);  // every daemon of the ring shares the past from here
  enter_space(ex.ring, {}, false, 0);
  std::map<std::string, group, std::less<>> next;
  std::vector<std::string> to_notify;
  for (const auto& name : all) {
    auto old = groups_.find(name);
    auto fresh = merged.find(name);
    if (fresh == merged.end()) continue;  // emptied: nobody left to tell
    group g;
    g.members = fresh->second;
    for (const auto& m : g.members) {
      if (auto s = local_session(daemons.at(m.name), m.name)) insert_sorted(g.local, *s);
    }
    bool same =
        keep && old != groups_.end() && !old->second.changed && old->second.members == g.members;
    g.gid = next_gid();
    if (same) {
      g.gid = old->second.gid;  // unchanged everywhere: its members keep the view they have
    } else {
      to_notify.push_back(name);
    }
    next.emplace(name, std::move(g));
  }
  groups_ = std::move(next);
  member_daemon_ = std::move(daemons);
  member_groups_ = std::move(member_groups);

  for (const auto& name : to_notify) {
    group& g = groups_.at(name);
    // vs-sets: members grouped by the regular configuration their daemon came from.
    std::map<std::uint64_t, std::vector<std::string>> by_history;
    for (const auto& m : g.members) {
      by_history[ex.states.at(member_daemon_.at(m.name)).history].push_back(m.name);
    }
    std::vector<std::vector<std::string>> sets;
    std::size_t local = 0;
    for (auto& [history, ms] : by_history) {
      if (history == ex.states.at(cfg_.self).history) local = sets.size();
      sets.push_back(std::move(ms));
    }
    notify(name, g, cl::caused_by_network, sets, local, nullptr);
  }
  auto held = std::exchange(held_, {});
  for (const auto& d : held) apply(d);
}

// --- invariants -------------------------------------------------------------------------------

void groups::check_invariants() const {
  for (const auto& [name, g] : groups_) {
    CHORUS_ASSERT(!g.members.empty(), "G1: empty group in the table");
    CHORUS_ASSERT(std::is_sorted(g.members.begin(), g.members.end()), "G1: members unsorted");
    CHORUS_ASSERT(std::adjacent_find(g.members.begin(), g.members.end()) == g.members.end(),
                  "G1: duplicate member");
    std::vector<session_id> local;
    for (const auto& m : g.members) {
      auto gs = member_groups_.find(m.name);
      CHORUS_ASSERT(gs != member_groups_.end() && gs->second.contains(name), "G3");
      if (auto s = local_session(member_daemon_.at(m.name), m.name)) local.push_back(*s);
    }
    std::sort(local.begin(), local.end());
    CHORUS_ASSERT(local == g.local, "G2: local session list differs from the members");
  }
}

}  // namespace chorus::core
