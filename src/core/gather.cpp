#include "core/gather.hpp"

#include <algorithm>
#include <iterator>

#include "util/assert.hpp"

namespace chorus::core {
namespace {

void normalize(std::vector<node_id>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

bool contains(const std::vector<node_id>& sorted, node_id n) {
  return std::binary_search(sorted.begin(), sorted.end(), n);
}

std::vector<node_id> set_union(const std::vector<node_id>& a, const std::vector<node_id>& b) {
  std::vector<node_id> r;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(r));
  return r;
}

}  // namespace

gather_sets::gather_sets(node_id self, std::vector<node_id> proc, std::vector<node_id> fail)
    : self_(self), proc_(std::move(proc)), fail_(std::move(fail)) {
  proc_.push_back(self_);
  normalize(proc_);
  std::erase(fail_, self_);
  normalize(fail_);
  proc_ = set_union(proc_, fail_);  // G1: fail ⊆ proc
  changed();
}

gather_sets::outcome gather_sets::on_join(node_id sender, std::vector<node_id> proc,
                                          std::vector<node_id> fail) {
  if (sender == self_) return outcome::unchanged;
  if (contains(fail_, sender)) return outcome::ignored;
  normalize(proc);
  normalize(fail);
  // The sender gave up on us. Totem §4.3 gives up on it in turn, but a join outlives the round
  // it was sent in, and failing each other over stale joins can go on for ever (two daemons
  // forming singleton rings again and again). Ignoring it is enough: the sender either hears
  // our joins and agrees, or our consensus timeout gives up on it.
  if (contains(fail, self_)) return outcome::ignored;
  proc.push_back(sender);
  normalize(proc);
  std::vector<node_id> new_proc = set_union(set_union(proc_, proc), fail);
  std::vector<node_id> new_fail = set_union(fail_, fail);
  const bool grew = new_proc != proc_ || new_fail != fail_;
  if (grew) {
    proc_ = std::move(new_proc);
    fail_ = std::move(new_fail);
    changed();
  }
  if (proc == proc_ && fail == fail_) agreed_.insert(sender);
  return grew ? outcome::changed : outcome::unchanged;
}

template <typename Pred>
bool gather_sets::fail_members_if(Pred give_up) {
  bool grew = false;
  for (node_id n : members()) {
    if (n == self_ || !give_up(n)) continue;
    fail_.push_back(n);
    grew = true;
  }
  if (grew) {
    normalize(fail_);
    changed();
  }
  return grew;
}

bool gather_sets::fail_unagreed() {
  return fail_members_if([&](node_id n) { return agreed_.count(n) == 0; });
}

bool gather_sets::fail_outside(const std::vector<node_id>& group) {
  return fail_members_if([&](node_id n) { return !contains(group, n); });
}

bool gather_sets::add(node_id n) {
  if (contains(proc_, n)) return false;
  proc_.insert(std::lower_bound(proc_.begin(), proc_.end(), n), n);
  changed();
  return true;
}

bool gather_sets::consensus() const {
  const auto m = members();
  return std::all_of(m.begin(), m.end(), [&](node_id n) { return agreed_.count(n) != 0; });
}

std::vector<node_id> gather_sets::members() const {
  std::vector<node_id> r;
  std::set_difference(proc_.begin(), proc_.end(), fail_.begin(), fail_.end(),
                      std::back_inserter(r));
  return r;
}

void gather_sets::changed() {
  agreed_.clear();
  agreed_.insert(self_);
}

void gather_sets::check_invariants() const {
  CHORUS_ASSERT(contains(proc_, self_) && !contains(fail_, self_), "G1: self");
  CHORUS_ASSERT(std::is_sorted(proc_.begin(), proc_.end()) &&
                    std::adjacent_find(proc_.begin(), proc_.end()) == proc_.end(),
                "G1: proc sorted and unique");
  CHORUS_ASSERT(std::includes(proc_.begin(), proc_.end(), fail_.begin(), fail_.end()),
                "G1: fail within proc");
  CHORUS_ASSERT(agreed_.count(self_) == 1, "G2: self agrees");
  for (node_id n : agreed_) CHORUS_ASSERT(contains(proc_, n) && !contains(fail_, n), "G2");
}

}  // namespace chorus::core
