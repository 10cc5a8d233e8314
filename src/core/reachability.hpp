// reachability.hpp — who hears whom, as one daemon knows it (docs/protocol.md "Asymmetric
// links"): when it last received a packet from each configured daemon, and what each of them
// said it hears (the `heard` set of its latest join or probe).
//
// Membership uses it twice. In gather, at the consensus timeout, a daemon gives up on every
// daemon outside its clique: the daemons that hear each other both ways split into groups by one
// deterministic rule, so daemons that know the same split alike and a one-way link excludes the
// same daemon everywhere. Operational, the representative merges with daemons outside its ring
// only when that split puts one of them in its group, so a daemon that can send to the ring but
// not hear it (or the reverse) is not asked in again and again while the fault lasts.
//
// Invariants: 1. every entry is younger than the last reset(); 2. no entry is about self.
// Thread-safety: none; a value owned by one node.
#pragma once

#include <map>
#include <vector>

#include "core/config.hpp"

namespace chorus::core {

class reachability {
 public:
  // `window`: a daemon counts as heard, and a row as current, this long after it arrived.
  reachability(node_id self, duration window) : self_(self), window_(window) {}

  // A packet from `n` arrived at `now`. True if `n` was not heard until now: a reason to tell
  // the others soon.
  bool heard_from(node_id n, time_point now);
  // `n` says it hears `heard` (ascending), as of `now`: in a probe, as an operational member of
  // `ring` (ascending, holding n); else in a join, while it gathers.
  void row(node_id n, std::vector<node_id> heard, std::vector<node_id> ring, bool probe,
           time_point now);
  // Forgets everything: only what arrives from `now` on counts (a gather after a failure starts
  // afresh, so a link that failed a moment ago is not taken for one that works).
  void reset(time_point now);

  // The daemons heard within the window, ascending.
  std::vector<node_id> heard(time_point now) const;
  // Whether `a` and `b` hear each other, as far as this daemon knows (the newest rows).
  bool both_ways(node_id a, node_id b, time_point now) const;
  // A daemon outside `ring` (ascending, holding self) whose whole ring hears the whole of
  // `ring` both ways, as far as this daemon knows: a merge that would stick. Without a row of
  // every daemon involved it says no: a merge waits for knowledge, it never guesses.
  bool mergeable_outsider(const std::vector<node_id>& ring, time_point now) const;
  // The group this daemon belongs to when `candidates` (ascending, holding self) split into
  // cliques of daemons that hear each other both ways: candidates ordered by how many others
  // they hear both ways (most first, then by id) and each taken into the first group it fits
  // whole; the first group of those left, and so on. Ascending.
  std::vector<node_id> clique(const std::vector<node_id>& candidates, time_point now) const;

 private:
  struct heard_row {
    std::vector<node_id> heard;  // ascending
    std::vector<node_id> ring;   // ascending, holding the row's daemon
    time_point at;
  };
  bool current(time_point at, time_point now) const { return at >= since_ && now - at <= window_; }
  // `a`'s newest current row, probe or join; nullptr if none.
  const heard_row* latest(node_id a, time_point now) const;
  // What `a` says (or for self, knows) it hears: does it hear `b`?
  bool hears(node_id a, node_id b, time_point now) const;

  node_id self_;
  duration window_;
  time_point since_{};                   // the last reset()
  std::map<node_id, time_point> last_;   // the last packet from each daemon
  std::map<node_id, heard_row> probes_;  // each daemon's latest probe
  std::map<node_id, heard_row> joins_;   // each daemon's latest join
};

}  // namespace chorus::core
