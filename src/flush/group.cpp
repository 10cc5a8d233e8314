// group.cpp — the Flush state machine of one member for one group (group.hpp; spec flush.md
// §5–§6). Section numbers below are the spec's.
#include "flush/group.hpp"

#include <algorithm>

#include "wire/client_proto.hpp"

namespace chorus::flush {
namespace {

namespace cl = chorus::wire::client;

constexpr std::uint32_t weak_services = cl::unreliable_mess | cl::reliable_mess | cl::fifo_mess;
constexpr std::uint32_t network_view = cl::reg_memb_mess | cl::caused_by_network;

bool is_network(std::uint32_t type) { return (type & cl::caused_by_network) != 0; }
bool is_join(std::uint32_t type) { return (type & cl::caused_by_join) != 0; }

}  // namespace

group::group(std::string self) : self_(std::move(self)) {
  fl_.members = {self_};
  fl_.current = {self_};
  fl_.in_trans = true;  // no transitional signal before the first real view
  sp_ = fl_;
}

group::change& group::change_for(const gid& g) {
  auto [it, fresh] = changes_.try_emplace(g);
  if (fresh) it->second.v.id = g;
  return it->second;
}

// §6.3 step 3: who left between the last SP view known and `v`.
std::set<std::string> group::leavers_of(const sp_view& v) const {
  if (is_join(v.type)) return {};
  if (!is_network(v.type)) return {v.vs_set.begin(), v.vs_set.end()};  // the leaver
  std::set<std::string> gone(sp_.members.begin(), sp_.members.end());
  for (const std::string& m : v.vs_set) gone.erase(m);
  return gone;
}

// §6.3 step 5: changes known only from FLUSH_OKs grow old; one too old is dropped per event.
void group::age_changes() {
  for (auto it = changes_.begin(); it != changes_.end(); ++it) {
    if (it->second.have_membership) continue;
    if (++it->second.age > stale_change_age) {
      changes_.erase(it);
      return;
    }
  }
}

void group::collapse(const std::set<std::string>& leavers, change& fresh) {
  if (queue_.empty() || leavers.empty()) return;
  bool collapsing = false;
  for (auto it = queue_.begin(); it != queue_.end();) {
    change& p = changes_.at(*it);
    bool dropped = false;
    for (const std::string& x : leavers) {
      if (!p.v.current.contains(x)) continue;
      if (!p.flush_oks.contains(x)) {  // x will never agree to p: p can never be installed
        dropped = true;
        break;
      }
      p.v.current.erase(x);  // x agreed before it left: its FLUSH_OK still counts
    }
    if (dropped) {
      changes_.erase(*it);
      it = queue_.erase(it);
      collapsing = true;
      continue;
    }
    if (collapsing) {
      p.v.type = network_view;  // p now stands for the changes dropped before it
      collapsing = false;
    }
    ++it;
  }
  if (collapsing) fresh.v.type = network_view;
}

actions group::on_membership(const sp_view& v) {
  actions out;
  change& c = change_for(v.id);
  c.have_membership = true;
  c.age = 0;
  c.v.type = v.type;
  c.v.members = v.members;
  c.v.current = {v.members.begin(), v.members.end()};
  c.v.vs_set = v.vs_set;
  c.v.in_trans = false;
  const std::set<std::string> leavers = leavers_of(v);
  bool shrank = false;
  for (const std::string& x : leavers) shrank |= fl_.current.erase(x) > 0;
  age_changes();
  collapse(leavers, c);
  queue_.push_back(v.id);
  sp_ = c.v;
  if (!current_ || queue_.front() != *current_) {
    for (std::uint64_t token : postponed_) {  // sent for a view that will not be installed
      out.push_back({.what = action::kind::drop_data, .token = token});
    }
    postponed_.clear();
    next_change(out);
  }
  if (shrank && !fl_.in_trans) {
    fl_.in_trans = true;
    out.push_back({.what = action::kind::deliver_transition});
  }
  return out;
}

// §6.2: work starts on the change at the head of the queue.
void group::next_change(actions& out) {
  current_ = queue_.front();
  flush_recvs_ = 0;
  switch (view_) {
    case view_state::steady:
    case view_state::verify:
      view_ = view_state::authorize;
      out.push_back({.what = action::kind::deliver_flush_request});
      break;
    case view_state::authorize:
      break;  // the application still owes its flush, which will name this change
    case view_state::agree:
      // The application agreed already: the agreement carries over to the new change.
      view_ = view_state::authorize;
      if (int e = flush(out); e != 0) error_ = e;
      break;
  }
}

int group::flush(actions& out) {
  if (join_ == join_state::leaving) return illegal_group;
  if (view_ != view_state::authorize) return illegal_state;
  view_ = view_state::agree;
  out.push_back({.what = action::kind::send_flush_ok, .id = *current_});
  return 0;
}

actions group::on_flush_ok(gid g, const std::string& sender) {
  actions out;
  change& c = change_for(g);
  c.flush_oks.insert(sender);
  if (view_ != view_state::agree || current_ != g || !c.have_membership) return out;
  const auto agreed = std::ranges::count_if(
      c.v.members, [&](const std::string& m) { return c.flush_oks.contains(m); });
  if (static_cast<std::size_t>(agreed) == c.v.members.size()) install(out);
  return out;
}

// §6.5 step 2: every member of the current change agreed.
void group::install(actions& out) {
  change c = std::move(changes_.at(*current_));
  changes_.erase(*current_);
  queue_.pop_front();
  // The view's names (§4.2): the member that changed, or, after a network change, those of the
  // previous view, in its order, that are still with us.
  std::vector<std::string> names;
  if (is_network(c.v.type)) {
    for (const std::string& m : fl_.members) {
      if (fl_.current.contains(m)) names.push_back(m);
    }
  } else {
    names = c.v.vs_set;
  }
  out.push_back({.what = action::kind::deliver_view,
                 .id = c.v.id,
                 .type = c.v.type,
                 .members = c.v.members,
                 .names = std::move(names)});
  view_ = view_state::verify;
  if (join_ == join_state::joining) join_ = join_state::joined;
  fl_ = std::move(c.v);
  if (queue_.empty()) {
    current_.reset();
    out.push_back({.what = action::kind::send_flush_recv, .id = fl_.id});
  } else {
    next_change(out);
  }
  if (fl_.current.size() < fl_.members.size()) {  // members that agreed, then left
    fl_.in_trans = true;
    out.push_back({.what = action::kind::deliver_transition});
  }
  for (std::uint64_t token : postponed_) {
    out.push_back({.what = action::kind::deliver_data, .token = token});
  }
  postponed_.clear();
}

actions group::on_flush_recv(gid g) {
  if (view_ == view_state::verify && g == fl_.id) {
    if (static_cast<std::size_t>(++flush_recvs_) == fl_.members.size()) view_ = view_state::steady;
  } else if (view_ == view_state::agree && current_ == g) {
    ++flush_recvs_;  // a member that installed before us
  }
  return {};
}

actions group::on_transition() {
  actions out;
  sp_.in_trans = true;
  if (!queue_.empty()) changes_.at(queue_.back()).v.in_trans = true;
  if (!fl_.in_trans) {
    fl_.in_trans = true;
    out.push_back({.what = action::kind::deliver_transition});
  }
  return out;
}

actions group::on_data(const std::string& sender, std::optional<gid> vulnerable_for,
                       std::uint64_t token) {
  actions out;
  if (view_ == view_state::agree && vulnerable_for && current_ == *vulnerable_for) {
    // Sent right after the sender installed the view we are about to install (§6.10).
    if (changes_.at(*current_).v.current.contains(sender)) {
      postponed_.push_back(token);
    } else {
      out.push_back({.what = action::kind::drop_data, .token = token});
    }
    return out;
  }
  // Delivered only from a current member of the view: the group is closed.
  out.push_back({.what = fl_.current.contains(sender) ? action::kind::deliver_data
                                                      : action::kind::drop_data,
                 .token = token});
  return out;
}

int group::leave() {
  if (join_ != join_state::joined) return illegal_group;
  join_ = join_state::leaving;
  return 0;
}

int group::may_send(std::uint32_t service, bool& vulnerable, gid& view) const {
  if (join_ != join_state::joined) return illegal_group;
  if (view_ == view_state::agree) return illegal_state;
  vulnerable = (view_ == view_state::authorize || view_ == view_state::verify) &&
               (service & weak_services) != 0;
  view = fl_.id;
  return 0;
}

bool group::are_members(const std::vector<std::string>& receivers) const {
  return std::ranges::all_of(receivers, [&](const std::string& r) {
    return std::ranges::find(fl_.members, r) != fl_.members.end();
  });
}

}  // namespace chorus::flush
