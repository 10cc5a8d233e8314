// evs_checker.cpp — EVS invariant checks over any sequence of configurations (evs_checker.hpp).
#include "sim/evs_checker.hpp"

#include "sim/order_graph.hpp"

#include <algorithm>

#include "sim/checker.hpp"
#include "sim/payload.hpp"
#include "sim/trace.hpp"
#include "util/hash.hpp"

namespace chorus::sim {
namespace {

using kind = core::configuration::kind;

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

std::string set_text(std::vector<std::uint32_t> ids) {
  std::string s = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) s += strf("%s%u", i ? "," : "", ids[i]);
  return s + "}";
}

std::vector<std::uint32_t> sorted_ids(const std::vector<core::node_id>& m) {
  std::vector<std::uint32_t> v;
  for (core::node_id n : m) v.push_back(n.value);
  std::sort(v.begin(), v.end());
  return v;
}

bool contains(const std::vector<std::uint32_t>& v, std::uint32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

constexpr std::uint64_t incarnation_shift = 40;

}  // namespace

evs_checker::evs_checker(std::size_t nodes, std::uint64_t payload_seed, std::string* violation)
    : nodes_(nodes), payload_seed_(payload_seed), violation_(violation), current_(nodes, none) {}

void evs_checker::fail(std::string what) {
  if (violation_->empty()) *violation_ = std::move(what);
}

// --- names for reports -----------------------------------------------------------------------

std::string evs_checker::pname(index p) const {
  const process& pr = procs_[p];
  if (pr.incarnation == 0) return strf("node %u", pr.node.value);
  return strf("node %u (incarnation %u)", pr.node.value, pr.incarnation);
}

std::string evs_checker::mname(index m) const {
  const message& ms = messages_[m];
  const std::uint64_t inc = ms.id.value >> incarnation_shift;
  std::string s = inc == 0 ? strf("%u#%llu", ms.origin.value, ull(ms.id.value))
                           : strf("%u#%llu:%llu", ms.origin.value, ull(inc),
                                  ull(ms.id.value - (inc << incarnation_shift)));
  return s + strf(" (%s, %llu B)", wire::to_string(ms.svc), ull(ms.size));
}

std::string evs_checker::cname(index c) const {
  const conf& cf = confs_[c];
  return strf("%s %s %s", cf.kind == kind::regular ? "regular" : "transitional",
              wire::to_string(cf.ring).c_str(), set_text(sorted_ids(cf.members)).c_str());
}

evs_checker::index evs_checker::live(core::node_id n) const {
  if (n.value < 1 || n.value > nodes_) return none;
  return current_[n.value - 1];
}

// --- process lifecycle and submits -----------------------------------------------------------

void evs_checker::on_start(core::node_id n, std::uint32_t incarnation, core::time_point now) {
  if (n.value < 1 || n.value > nodes_) return fail(strf("sim: node %u does not exist", n.value));
  if (current_[n.value - 1] != none) return fail(strf("sim: node %u started twice", n.value));
  process pr;
  pr.node = n;
  pr.incarnation = incarnation;
  pr.started = now;
  pr.next_id = (std::uint64_t{incarnation} << incarnation_shift) + 1;
  current_[n.value - 1] = static_cast<index>(procs_.size());
  procs_.push_back(std::move(pr));
}

void evs_checker::on_crash(core::node_id n, core::time_point now) {
  const index p = live(n);
  if (p == none) return;
  process& pr = procs_[p];
  pr.crashed = now;
  current_[n.value - 1] = none;
  crash_record cr{p, now, {}};
  if (pr.last_regular != none) {
    for (core::node_id m : confs_[pr.last_regular].members) {
      const index q = live(m);
      if (q != none && procs_[q].last_regular == pr.last_regular) cr.survivors.push_back(q);
    }
  }
  crashes_.push_back(std::move(cr));
}

void evs_checker::on_submit(core::node_id origin, core::msg_id id, core::service svc,
                            std::size_t size, core::time_point /*now*/,
                            std::optional<std::uint64_t> content) {
  const index p = live(origin);
  if (p == none) return fail(strf("submit: node %u is down", origin.value));
  process& pr = procs_[p];
  if (id.value != pr.next_id)
    return fail(strf("submit: %s's submit() returned id %llu, expected %llu", pname(p).c_str(),
                     ull(id.value), ull(pr.next_id)));
  ++pr.next_id;
  message m;
  m.origin = origin;
  m.id = id;
  m.svc = svc;
  m.size = size;
  m.content = content;
  m.submitter = p;
  m.causal_len = static_cast<std::uint32_t>(pr.ordered.size());
  message_index_[{origin.value, id.value}] = static_cast<index>(messages_.size());
  messages_.push_back(std::move(m));
  if (svc != core::service::unreliable) ++pr.own_required;
}

// --- configurations --------------------------------------------------------------------------

void evs_checker::on_configuration(core::node_id at, const core::configuration& c,
                                   core::time_point now) {
  const index p = live(at);
  ++installs_;
  if (p == none)
    return fail(strf("C configuration: node %u installed a configuration while down", at.value));
  if (!check_transition(p, c, now)) return;
  const index ci = intern(c, p);
  if (!violation_->empty()) return;
  process& pr = procs_[p];
  if (pr.conf != none) leave_conf(p, ci);
  pr.history.push_back(item{true, ci, now});
  pr.conf = ci;
  pr.in_conf.clear();
  pr.last_seq = core::seq_t{};
  if (c.type == kind::regular) pr.last_regular = ci;
  confs_[ci].installers.push_back(p);
}

// C: the shape of one process's sequence of configurations.
bool evs_checker::check_transition(index p, const core::configuration& c, core::time_point now) {
  const process& pr = procs_[p];
  const bool regular = c.type == kind::regular;
  const std::string what =
      strf("%s %s %s", regular ? "regular" : "transitional", wire::to_string(c.ring).c_str(),
           set_text(sorted_ids(c.members)).c_str());
  const std::string who = strf("C configuration: %s installed %s at %s", pname(p).c_str(),
                               what.c_str(), format_time(now).c_str());
  if (!contains(sorted_ids(c.members), pr.node.value))
    fail(who + ", which does not contain it");
  else if (pr.conf == none && !regular)
    fail(who + " as its first configuration");
  else if (pr.conf != none && confs_[pr.conf].kind == kind::transitional && !regular)
    fail(who + " right after transitional " + cname(pr.conf));
  else if (pr.conf != none && confs_[pr.conf].kind == kind::regular && regular)
    fail(who + " right after " + cname(pr.conf) + ", without a transitional configuration");
  else if (regular) {
    for (const item& it : pr.history)
      if (it.is_conf && confs_[it.what].kind == kind::regular && confs_[it.what].ring == c.ring)
        fail(who + ", a ring it had installed before");
  }
  return violation_->empty();
}

evs_checker::index evs_checker::intern(const core::configuration& c, index p) {
  const bool regular = c.type == kind::regular;
  conf_key key{static_cast<std::uint8_t>(c.type), c.ring.rep.value, c.ring.counter, {}};
  if (!regular) key.members = sorted_ids(c.members);
  const index came_from = procs_[p].last_regular;
  auto it = conf_index_.find(key);
  if (it == conf_index_.end()) {
    const index ci = static_cast<index>(confs_.size());
    conf cf{c.type, c.ring, c.members, regular ? ci : came_from, {}, {}, core::time_point::max()};
    confs_.push_back(std::move(cf));
    conf_index_.emplace(std::move(key), ci);
    return ci;
  }
  const conf& cf = confs_[it->second];
  const index first = cf.installers.empty() ? none : cf.installers.front();
  const std::string other = first == none ? "another node" : pname(first);
  for (index q : cf.installers)
    if (regular && procs_[q].node == procs_[p].node) {
      fail(
          strf("C configuration: %s installed regular %s, which %s had installed: a ring id "
               "names one configuration (a restarted daemon must not reuse ring ids)",
               pname(p).c_str(), wire::to_string(c.ring).c_str(), pname(q).c_str()));
      return it->second;
    }
  if (regular && sorted_ids(cf.members) != sorted_ids(c.members))
    fail(strf("C configuration: %s installed regular %s with members %s, %s with %s",
              pname(p).c_str(), wire::to_string(c.ring).c_str(),
              set_text(sorted_ids(c.members)).c_str(), other.c_str(),
              set_text(sorted_ids(cf.members)).c_str()));
  else if (!regular && cf.epoch != came_from)
    fail(strf("C configuration: %s installed %s coming from %s, %s coming from %s",
              pname(p).c_str(), cname(it->second).c_str(),
              came_from == none ? "no configuration" : cname(came_from).c_str(), other.c_str(),
              cf.epoch == none ? "no configuration" : cname(cf.epoch).c_str()));
  return it->second;
}

// I3 and I6 when process p leaves its configuration for `next`.
void evs_checker::leave_conf(index p, index next) {
  process& pr = procs_[p];
  const index c = pr.conf;
  std::vector<index> got = pr.in_conf;
  std::sort(got.begin(), got.end());
  auto [it, fresh] = segments_.try_emplace({c, next}, p, got);
  if (!fresh && it->second.second != got) {
    const std::vector<index>& theirs = it->second.second;
    std::vector<index> only_mine, only_theirs;
    std::set_difference(got.begin(), got.end(), theirs.begin(), theirs.end(),
                        std::back_inserter(only_mine));
    std::set_difference(theirs.begin(), theirs.end(), got.begin(), got.end(),
                        std::back_inserter(only_theirs));
    const bool mine = !only_mine.empty();
    return fail(strf(
        "I3 failure atomicity: %s and %s both went from %s to %s, but only %s "
        "delivered %s there (%zu vs %zu messages)",
        pname(p).c_str(), pname(it->second.first).c_str(), cname(c).c_str(), cname(next).c_str(),
        pname(mine ? p : it->second.first).c_str(),
        mname(mine ? only_mine.front() : only_theirs.front()).c_str(), got.size(), theirs.size()));
  }
  if (confs_[c].kind == kind::transitional && confs_[next].kind == kind::regular) {
    check_safe_left(p, c);
    if (confs_[c].epoch != none) check_safe_left(p, confs_[c].epoch);
  }
}

// I6: p leaves configuration c (and its epoch) for good; every SAFE message delivered in c
// must be delivered by p.
void evs_checker::check_safe_left(index p, index c) {
  for (index m : confs_[c].safe) {
    const auto& by = messages_[m].delivered_by;
    if (std::find(by.begin(), by.end(), p) != by.end()) continue;
    return fail(
        strf("I6 safe delivery: %s delivered SAFE %s in %s, but member %s moved on to "
             "a new regular configuration without delivering it",
             pname(messages_[m].first_by).c_str(), mname(m).c_str(), cname(c).c_str(),
             pname(p).c_str()));
  }
}

// --- deliveries ------------------------------------------------------------------------------

void evs_checker::on_delivery(core::node_id at, const core::delivery& d, core::time_point now) {
  ++deliveries_;
  const index p = live(at);
  if (p == none) return fail(strf("sim: node %u delivered while down", at.value));
  auto it = message_index_.find({d.origin.value, d.id.value});
  if (it == message_index_.end())
    return fail(strf("P integrity: %s delivered %u#%llu (seq %llu), which was never submitted",
                     pname(p).c_str(), d.origin.value, ull(d.id.value), ull(d.seq.value)));
  const index m = it->second;
  if (!check_basics(p, d, m) || !check_same_epoch(p, d, m)) return;
  if (d.svc == core::service::unreliable) return;
  process& pr = procs_[p];
  if (d.seq < pr.last_seq)
    return fail(strf("I4 total order: %s delivered %s at seq %llu after seq %llu in %s",
                     pname(p).c_str(), mname(m).c_str(), ull(d.seq.value), ull(pr.last_seq.value),
                     cname(pr.conf).c_str()));
  pr.last_seq = d.seq;
  const std::pair<std::uint32_t, std::uint32_t> fifo_key{
      d.origin.value, static_cast<std::uint32_t>(d.id.value >> incarnation_shift)};
  auto [f, fresh] = pr.fifo.try_emplace(fifo_key, d.id.value);
  if (!fresh && d.id.value < f->second)
    return fail(strf("I5 FIFO: %s delivered %s after %u#%llu of the same origin incarnation",
                     pname(p).c_str(), mname(m).c_str(), d.origin.value, ull(f->second)));
  f->second = d.id.value;
  pr.in_conf.push_back(m);
  pr.ordered.push_back(m);
  pr.history.push_back(item{false, m, now});
  if (messages_[m].submitter == p) ++pr.own_delivered;
  if (d.svc == core::service::safe) check_safe_delivery(p, d, m, now);
}

// C, I1 at most once, and P integrity.
bool evs_checker::check_basics(index p, const core::delivery& d, index m) {
  message& ms = messages_[m];
  const process& pr = procs_[p];
  const std::string who =
      strf("%s delivered %s (seq %llu)", pname(p).c_str(), mname(m).c_str(), ull(d.seq.value));
  if (pr.conf == none) {
    fail("C configuration: " + who + " before installing a configuration");
  } else if (std::find(ms.delivered_by.begin(), ms.delivered_by.end(), p) !=
             ms.delivered_by.end()) {
    fail("I1 at most once: " + who + " a second time");
  } else if (confs_[pr.conf].kind == kind::regular && d.ring != confs_[pr.conf].ring) {
    fail(strf("I1 same configuration: %s in ring %s while in %s", who.c_str(),
              wire::to_string(d.ring).c_str(), cname(pr.conf).c_str()));
  } else if (confs_[pr.conf].kind == kind::transitional && d.ring != confs_[pr.conf].ring &&
             (confs_[pr.conf].epoch == none || d.ring != confs_[confs_[pr.conf].epoch].ring)) {
    fail(strf("I1 same configuration: %s in ring %s while in %s", who.c_str(),
              wire::to_string(d.ring).c_str(), cname(pr.conf).c_str()));
  } else if (d.svc != ms.svc) {
    fail(strf("P integrity: %s as %s", who.c_str(), wire::to_string(d.svc)));
  } else if (d.payload.size() != ms.size) {
    fail(strf("P integrity: %s with %zu bytes", who.c_str(), d.payload.size()));
  } else if (ms.content) {
    if (util::hasher().bytes(d.payload.span()).digest() != *ms.content)
      fail(strf("P integrity: %s with other bytes than were submitted", who.c_str()));
  } else if (auto off = payload_mismatch(payload_seed_, d.origin, d.id, d.payload.span())) {
    fail(strf("P integrity: %s with a wrong byte at offset %zu", who.c_str(), *off));
  }
  if (!violation_->empty()) return false;
  ms.delivered_by.push_back(p);
  return true;
}

// I1: the same epoch (or configuration, when strict) and the same seq everywhere.
bool evs_checker::check_same_epoch(index p, const core::delivery& d, index m) {
  message& ms = messages_[m];
  const index c = procs_[p].conf;
  if (ms.first_conf == none) {
    ms.first_conf = c;
    ms.epoch = confs_[c].epoch;
    ms.first_by = p;
    ms.seq = d.seq;
    return true;
  }
  const bool same = strict_ ? c == ms.first_conf : confs_[c].epoch == ms.epoch;
  if (!same)
    fail(strf("I1 same configuration: %s delivered %s in %s, %s in %s", pname(p).c_str(),
              mname(m).c_str(), cname(c).c_str(), pname(ms.first_by).c_str(),
              cname(ms.first_conf).c_str()));
  else if (d.seq != ms.seq)
    fail(strf("I1 same position: %s delivered %s at seq %llu, %s at seq %llu", pname(p).c_str(),
              mname(m).c_str(), ull(d.seq.value), pname(ms.first_by).c_str(), ull(ms.seq.value)));
  return violation_->empty();
}

// I6 at the moment of a SAFE delivery.
void evs_checker::check_safe_delivery(index p, const core::delivery& d, index m,
                                      core::time_point now) {
  const index c = procs_[p].conf;
  conf& cf = confs_[c];
  const auto& by = messages_[m].delivered_by;
  auto lacks = [&](index q) { return std::find(by.begin(), by.end(), q) == by.end(); };
  for (index q : cf.installers) {
    // A member that has left: for a regular C, installed a later regular configuration; for a
    // transitional T, installed anything after T.
    const bool left = cf.kind == kind::regular ? procs_[q].last_regular != c : procs_[q].conf != c;
    if (left && lacks(q))
      return fail(
          strf("I6 safe delivery: %s delivered SAFE %s in %s at %s, but member %s had "
               "already moved on without delivering it",
               pname(p).c_str(), mname(m).c_str(), cname(c).c_str(), format_time(now).c_str(),
               pname(q).c_str()));
  }
  if (cf.kind == kind::regular && probe_ != nullptr) {
    for (core::node_id n : cf.members) {
      const std::optional<bool> got = probe_->received(n, cf.ring, d.seq);
      if (!got || *got) continue;
      return fail(
          strf("I6 safe delivery: %s delivered SAFE %s (seq %llu) in %s at %s, but node "
               "%u has not received seq %llu (%s)",
               pname(p).c_str(), mname(m).c_str(), ull(d.seq.value), cname(c).c_str(),
               format_time(now).c_str(), n.value, ull(d.seq.value), probe_->describe(n).c_str()));
    }
  }
  if (std::find(cf.safe.begin(), cf.safe.end(), m) == cf.safe.end()) cf.safe.push_back(m);
  cf.safe_first_at = std::min(cf.safe_first_at, now);
}

// --- whole-history checks --------------------------------------------------------------------

void evs_checker::check_histories() {
  if (!violation_->empty()) return;
  build_positions();
  check_pairwise();
  if (violation_->empty()) check_no_holes();
  if (violation_->empty()) check_global_order();
  if (violation_->empty()) check_causal();
  if (violation_->empty()) check_safe_members();
  if (violation_->empty()) check_transitional_sets();
  positions_.clear();
}

void evs_checker::build_positions() {
  positions_.assign(procs_.size(), std::vector<std::int32_t>(messages_.size(), -1));
  for (index p = 0; p < procs_.size(); ++p)
    for (std::size_t i = 0; i < procs_[p].ordered.size(); ++i)
      positions_[p][procs_[p].ordered[i]] = static_cast<std::int32_t>(i);
}

// I4: every two processes deliver their common messages in the same order.
void evs_checker::check_pairwise() {
  for (index p = 0; p < procs_.size(); ++p)
    for (index q = p + 1; q < procs_.size(); ++q) {
      index prev = none;
      for (index m : procs_[p].ordered) {
        if (positions_[q][m] < 0) continue;
        if (prev != none && positions_[q][m] < positions_[q][prev])
          return fail(strf("I4 total order: %s delivered %s before %s, %s the other way round",
                           pname(p).c_str(), mname(prev).c_str(), mname(m).c_str(),
                           pname(q).c_str()));
        prev = m;
      }
    }
}

// I4: within a regular configuration, q's deliveries are a prefix of p's (and vice versa).
void evs_checker::check_no_holes() {
  for (index c = 0; c < confs_.size(); ++c) {
    if (confs_[c].kind != kind::regular) continue;
    // Each installer's ordered deliveries in c: a contiguous run of its `ordered`.
    std::vector<std::pair<index, std::pair<std::size_t, std::size_t>>> runs;
    for (index p : confs_[c].installers) {
      std::size_t begin = 0, n = 0;
      bool inside = false;
      for (const item& it : procs_[p].history) {
        if (it.is_conf) {
          if (inside) break;
          inside = it.what == c;
        } else if (inside && n++ == 0) {
          begin = static_cast<std::size_t>(positions_[p][it.what]);
        }
      }
      runs.push_back({p, {begin, n}});
    }
    for (const auto& [p, pr] : runs)
      for (const auto& [q, qr] : runs) {
        if (p == q) continue;
        std::size_t k = 0;  // p's messages in c that q has delivered so far
        for (std::size_t j = 0; j < qr.second; ++j) {
          const index m = procs_[q].ordered[qr.first + j];
          const std::int32_t at = positions_[p][m];
          if (at < 0 || static_cast<std::size_t>(at) < pr.first ||
              static_cast<std::size_t>(at) >= pr.first + pr.second)
            continue;  // p did not deliver m in c
          const std::size_t i = static_cast<std::size_t>(at) - pr.first;
          if (i != k) {
            const index missing = procs_[p].ordered[pr.first + k];
            return fail(
                strf("I4 no holes: %s delivered %s in %s without %s, which %s delivered "
                     "before it there",
                     pname(q).c_str(), mname(m).c_str(), cname(c).c_str(), mname(missing).c_str(),
                     pname(p).c_str()));
          }
          ++k;
        }
      }
  }
}

// I4: one total order for all: the union of every process's order has no cycle.
void evs_checker::check_global_order() {
  std::vector<const std::vector<index>*> orders;
  for (const process& pr : procs_) orders.push_back(&pr.ordered);
  const auto left = unorderable(messages_.size(), orders);
  if (left.empty()) return;
  fail(strf("I4 total order: the delivery orders of the processes form a cycle "
            "through %s (no two processes disagree directly)",
            mname(left.front()).c_str()));
}

// I5 causal: what m's origin had delivered before sending m precedes m wherever both are
// delivered.
void evs_checker::check_causal() {
  for (index q = 0; q < procs_.size(); ++q) {
    const process& pq = procs_[q];
    for (std::size_t i = 0; i < pq.ordered.size(); ++i) {
      const message& ms = messages_[pq.ordered[i]];
      const process& origin = procs_[ms.submitter];
      for (std::uint32_t j = 0; j < ms.causal_len; ++j) {
        const index before = origin.ordered[j];
        if (positions_[q][before] <= static_cast<std::int32_t>(i)) continue;
        return fail(
            strf("I5 causal: %s delivered %s after %s, but %s had delivered the first "
                 "before sending the second",
                 pname(q).c_str(), mname(before).c_str(), mname(pq.ordered[i]).c_str(),
                 pname(ms.submitter).c_str()));
      }
    }
  }
}

// I6: a member of regular C that never installed C, although a SAFE message was delivered in
// C, must have crashed.
void evs_checker::check_safe_members() {
  for (index c = 0; c < confs_.size(); ++c) {
    const conf& cf = confs_[c];
    if (cf.kind != kind::regular || cf.safe.empty()) continue;
    for (core::node_id n : cf.members) {
      bool installed = false;
      for (index q : cf.installers) installed |= procs_[q].node == n;
      if (installed) continue;
      for (index q = 0; q < procs_.size(); ++q) {
        const process& pq = procs_[q];
        if (pq.node != n || pq.started > cf.safe_first_at ||
            (pq.crashed && *pq.crashed < cf.safe_first_at))
          continue;
        if (pq.crashed) break;
        return fail(
            strf("I6 safe delivery: %s delivered SAFE %s in %s, but member %s never "
                 "installed it and did not crash",
                 pname(messages_[cf.safe.front()].first_by).c_str(), mname(cf.safe.front()).c_str(),
                 cname(c).c_str(), pname(q).c_str()));
      }
    }
  }
}

evs_checker::index evs_checker::regular_before(index p, std::size_t pos) const {
  const auto& h = procs_[p].history;
  for (std::size_t i = pos; i-- > 0;)
    if (h[i].is_conf && confs_[h[i].what].kind == kind::regular) return h[i].what;
  return none;
}

// The regular configuration node n came from into c_next: that of its process that installed
// c_next, or else (it crashed first) the last one its process alive at `t` had installed.
evs_checker::index evs_checker::previous_regular_of(core::node_id n, index c_next,
                                                    core::time_point t) const {
  for (index q : confs_[c_next].installers) {
    if (procs_[q].node != n) continue;
    const auto& h = procs_[q].history;
    for (std::size_t i = 0; i < h.size(); ++i)
      if (h[i].is_conf && h[i].what == c_next) return regular_before(q, i);
  }
  index latest = none;
  for (index q = 0; q < procs_.size(); ++q)
    if (procs_[q].node == n && procs_[q].started <= t) latest = q;
  if (latest == none) return none;
  const auto& h = procs_[latest].history;
  std::size_t upto = 0;
  while (upto < h.size() && h[upto].t <= t) ++upto;
  return regular_before(latest, upto);
}

// I7: the transitional configuration before C' holds exactly the members of C' that came from
// the same regular configuration.
void evs_checker::check_transitional_sets() {
  for (index p = 0; p < procs_.size(); ++p) {
    const auto& h = procs_[p].history;
    index trans = none;
    for (const item& it : h) {
      if (!it.is_conf) continue;
      if (confs_[it.what].kind == kind::transitional) {
        trans = it.what;
        continue;
      }
      if (trans == none) continue;
      const index from = confs_[trans].epoch;
      // A member that never installed C' (it crashed while C' was forming) may be in the
      // transitional set or not: only its commit-token line, which we do not see, says where it
      // came from. Every member that did install C' is held to the rule.
      std::vector<std::uint32_t> expected, unknown;
      for (core::node_id n : confs_[it.what].members) {
        const bool installed =
            std::any_of(confs_[it.what].installers.begin(), confs_[it.what].installers.end(),
                        [&](index q) { return procs_[q].node == n; });
        if (!installed)
          unknown.push_back(n.value);
        else if (from != none && previous_regular_of(n, it.what, it.t) == from)
          expected.push_back(n.value);
      }
      std::sort(expected.begin(), expected.end());
      std::vector<std::uint32_t> got = sorted_ids(confs_[trans].members), extra;
      std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(),
                          std::back_inserter(extra));
      const bool extras_unknown = std::includes(unknown.begin(), unknown.end(), extra.begin(),
                                                extra.end());
      if (!std::includes(got.begin(), got.end(), expected.begin(), expected.end()) ||
          !extras_unknown)
        return fail(
            strf("I7 transitional sets: %s installed %s before %s; the members of the "
                 "latter that came from %s are %s",
                 pname(p).c_str(), cname(trans).c_str(), cname(it.what).c_str(),
                 from == none ? "nowhere" : cname(from).c_str(), set_text(expected).c_str()));
      trans = none;
    }
  }
}

// --- the end of a run ------------------------------------------------------------------------

bool evs_checker::settled() const {
  index c = none;
  std::vector<std::uint32_t> alive;
  for (std::size_t n = 0; n < nodes_; ++n) {
    const index p = current_[n];
    if (p == none) continue;
    alive.push_back(static_cast<std::uint32_t>(n + 1));
    const index pc = procs_[p].conf;
    if (pc == none || confs_[pc].kind != kind::regular || (c != none && pc != c)) return false;
    c = pc;
  }
  return c == none || sorted_ids(confs_[c].members) == alive;
}

bool evs_checker::complete() const {
  if (!settled()) return false;
  std::optional<std::size_t> count;
  for (index p : current_) {
    if (p == none) continue;
    const process& pr = procs_[p];
    if (pr.own_delivered != pr.own_required) return false;
    if (count && *count != pr.in_conf.size()) return false;
    count = pr.in_conf.size();
  }
  return true;
}

void evs_checker::finish(core::time_point now) {
  check_histories();
  if (!violation_->empty()) return;
  for (index p : current_) {
    if (p == none) continue;
    const process& pr = procs_[p];
    if (pr.own_delivered == pr.own_required) continue;
    for (index m = 0; m < messages_.size(); ++m) {
      const message& ms = messages_[m];
      if (ms.submitter != p || ms.svc == core::service::unreliable) continue;
      if (std::find(ms.delivered_by.begin(), ms.delivered_by.end(), p) != ms.delivered_by.end())
        continue;
      return fail(strf("I2 self-delivery: %s never delivered its own %s (end of run at %s)",
                       pname(p).c_str(), mname(m).c_str(), format_time(now).c_str()));
    }
  }
  if (!settled())
    fail(
        strf("L8 liveness: at the end of the run (%s) the live daemons are not in one regular "
             "configuration of exactly the live daemons",
             format_time(now).c_str()));
  else if (!complete())
    fail(
        strf("L completion: at the end of the run (%s) the live daemons delivered different "
             "messages in their final configuration",
             format_time(now).c_str()));
}

std::vector<std::string> evs_checker::missing_report(std::size_t max) const {
  std::vector<std::string> out;
  for (std::size_t n = 0; n < nodes_ && out.size() < max; ++n) {
    const index p = current_[n];
    if (p == none) {
      out.push_back(strf("node %zu: down", n + 1));
      continue;
    }
    const process& pr = procs_[p];
    out.push_back(
        strf("%s: in %s, delivered %llu of its %llu own messages, %zu in this "
             "configuration",
             pname(p).c_str(), pr.conf == none ? "no configuration" : cname(pr.conf).c_str(),
             ull(pr.own_delivered), ull(pr.own_required), pr.in_conf.size()));
  }
  return out;
}

std::vector<core::duration> evs_checker::crash_recovery_times() const {
  std::vector<core::duration> out;
  for (const crash_record& cr : crashes_) {
    const process& dead = procs_[cr.proc];
    core::duration worst{};
    bool counted = false, open = false;
    for (index s : cr.survivors) {
      std::optional<core::time_point> at;
      for (const item& it : procs_[s].history) {
        if (!it.is_conf || it.t <= cr.at || confs_[it.what].kind != kind::regular) continue;
        // A new ring without the crashed process: its node is not a member, or is back as a
        // new incarnation (a ring formed before the crash may still name the dead one).
        const conf& cf = confs_[it.what];
        bool named = false, back = false;
        for (core::node_id m : cf.members) named |= m == dead.node;
        for (index q : cf.installers)
          back |= procs_[q].node == dead.node && procs_[q].incarnation > dead.incarnation;
        if (named && !back) continue;
        at = it.t;
        break;
      }
      if (!at) {
        open |= !procs_[s].crashed;
        continue;
      }
      worst = std::max(worst, *at - cr.at);
      counted = true;
    }
    if (counted && !open) out.push_back(worst);
  }
  return out;
}

}  // namespace chorus::sim
