// gather.hpp — the bookkeeping of the gather phase of membership (Totem §4.3; docs/protocol.md
// "Membership"): the sets of daemons heard from (`proc`) and given up on (`fail`), and which
// daemons have sent exactly our sets (consensus).
//
// Pure and small on purpose: node's gather role owns one, feeds it every join and the consensus
// timeout, and broadcasts our join whenever a call reports a change.
// Invariants:
//   G1. self ∈ proc and self ∉ fail; fail ⊆ proc; both sorted, without duplicates.
//   G2. agreed ⊆ proc − fail, self ∈ agreed; agreed is reset to {self} whenever the sets change.
// Thread-safety: none; a value owned by one node.
#pragma once

#include <set>
#include <vector>

#include "core/config.hpp"

namespace chorus::core {

class gather_sets {
 public:
  // `proc` and `fail` in any order; self is added to proc and removed from fail.
  gather_sets(node_id self, std::vector<node_id> proc, std::vector<node_id> fail = {});

  enum class outcome {
    ignored,    // the sender is in our fail set, or we are in its
    unchanged,  // nothing new (the sender may now agree with us)
    changed,    // our sets grew: broadcast our join again
  };
  // A join from `sender` carrying its sets (sorted or not).
  outcome on_join(node_id sender, std::vector<node_id> proc, std::vector<node_id> fail);
  // The consensus timeout: every member that has not agreed is given up on. True if the sets
  // changed.
  bool fail_unagreed();
  // The consensus timeout with reachability known: every member outside `group` (ascending;
  // the members this daemon hears both ways, core/reachability.hpp) is given up on. True if
  // the sets changed.
  bool fail_outside(const std::vector<node_id>& group);
  // Adds a daemon heard from (a foreign packet's sender). True if the sets changed.
  bool add(node_id n);

  // Every daemon in proc − fail has sent exactly our sets.
  bool consensus() const;
  // proc − fail, ascending: the members of the ring consensus would form.
  std::vector<node_id> members() const;
  // The smallest member: the one that forms the commit token.
  node_id representative() const { return members().front(); }

  node_id self() const noexcept { return self_; }
  const std::vector<node_id>& proc() const noexcept { return proc_; }
  const std::vector<node_id>& fail() const noexcept { return fail_; }
  void check_invariants() const;

 private:
  void changed();
  // Gives up on every member but self for which `give_up(member)` holds; true if any.
  template <typename Pred>
  bool fail_members_if(Pred give_up);

  node_id self_;
  std::vector<node_id> proc_;  // sorted, unique
  std::vector<node_id> fail_;  // sorted, unique, ⊆ proc_
  std::set<node_id> agreed_;   // G2
};

}  // namespace chorus::core
