// evs_checker.hpp — checks DESIGN §3.3 invariants 1–8 (Extended Virtual Synchrony) for ANY
// sequence of configurations: crashes, restarts, partitions and merges. The fixed-ring
// checker (checker.hpp) delegates to it when membership runs.
//
// The model. A process is one incarnation of a daemon: (node, incarnation). Its history starts
// when its core::node is built, with no configuration, and ends when it crashes; a restart is a
// new process. A message is named (origin, id); ids of incarnation k start at k·2^40 + 1, so
// FIFO is per (origin, incarnation). A delivery belongs to the configuration the process
// installed most recently. A configuration is identified by (kind, ring, members): all
// installers of a regular ring must agree on its members; a transitional configuration is named
// by the new ring and its members (the survivors of one old ring). The *epoch* of a
// configuration is the regular configuration it belongs to: itself if regular, the regular
// configuration its installers came from if transitional.
//
//   C.  A process delivers only inside a configuration it is a member of. Its first
//       configuration is regular; a transitional one is always followed by a regular one, and a
//       regular one (not the first) is always preceded by a transitional one. It never installs
//       the same regular ring twice. Installers of one transitional configuration came from the
//       same regular configuration.
//   I1. At most once per process. Every process that delivers m does so in the same epoch, with
//       the same seq; a delivery in regular C carries ring C. EVS (Moser et al. 1994) lets one
//       process deliver m in regular C and another in a transitional configuration of C (it could
//       not tell that m met its guarantee in C); `strict_same_configuration` demands the same
//       configuration, kind included, instead.
//   I2. finish(): a process that is alive at the end delivered every message it submitted.
//   I3. Processes that install C and then the same next configuration delivered the same set of
//       messages in C.
//   I4. Any two messages delivered by two processes are delivered in the same order (pairwise,
//       and no cycle over all processes). Within a regular configuration there are no holes: if
//       p delivers m before m' in C and q delivers m' in C, q delivered m in C before m'. Seqs
//       never decrease within a configuration at a process.
//   I5. FIFO: per (origin, incarnation) ids are delivered increasing. Causal: whatever the
//       origin had delivered before submitting m is delivered before m by every process that
//       delivers both.
//   I6. SAFE m delivered in regular C: every member of C delivers m (in C or its transitional
//       configuration) unless it crashes before installing its next regular configuration; and,
//       where the probe can tell, every member still in ring C has received m's packet at that
//       moment. SAFE m delivered in transitional T: every member of T delivers it before its
//       next configuration unless it crashes.
//   I7. p's transitional configuration before regular C' holds exactly the members of C' whose
//       previous regular configuration was p's previous regular configuration (computed from the
//       histories; a member that crashed before installing C' counts with the last regular
//       configuration it had installed).
//   I8. settled()/complete(): every live process is in one regular configuration whose members
//       are exactly the live nodes, every live process delivered all it submitted, and all live
//       processes delivered the same messages in that configuration. The simulation bounds the
//       time to get there after the faults stop.
// UNRELIABLE messages are checked for at-most-once and integrity only (they may be lost under
// faults, DESIGN §3.1). Cross-process checks run when a process leaves a configuration (I3, I6)
// and in check_histories() (I4 pairwise and global, I5 causal, I6 for members that never
// installed C, I7), which finish() calls; the simulation also calls it when a run stops early.
// Deterministic: ordered containers only; reports name the first violation found in a fixed
// iteration order.
// Thread-safety: none; one per simulation.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/output.hpp"

namespace chorus::sim {

class node_probe;

class evs_checker {
 public:
  // Nodes are 1..nodes. Violations go to *violation (the first one wins; it must outlive this).
  evs_checker(std::size_t nodes, std::uint64_t payload_seed, std::string* violation);

  void set_probe(const node_probe* probe) noexcept { probe_ = probe; }
  // EVS allows regular C at one process and a transitional configuration of C at another for
  // the same message (the default, false); true demands the same configuration everywhere.
  void set_strict_same_configuration(bool strict) noexcept { strict_ = strict; }

  void on_start(core::node_id n, std::uint32_t incarnation, core::time_point now);
  void on_crash(core::node_id n, core::time_point now);
  // `content`: a hash (util::hasher over the bytes) of a payload that is not make_payload()'s
  // (the groups layer's requests and announcements); integrity then compares that hash.
  void on_submit(core::node_id origin, core::msg_id id, core::service svc, std::size_t size,
                 core::time_point now, std::optional<std::uint64_t> content = std::nullopt);
  void on_configuration(core::node_id at, const core::configuration& c, core::time_point now);
  void on_delivery(core::node_id at, const core::delivery& d, core::time_point now);

  // The whole-history checks (I4, I5 causal, I6 non-installers, I7). Idempotent.
  void check_histories();
  // check_histories(), I2 and I8 at the end of a run.
  void finish(core::time_point now);

  // I8: every live process is in one regular configuration whose members are the live nodes.
  bool settled() const;
  // settled(), every live process delivered what it submitted, and the live processes
  // delivered the same number of messages in the final configuration.
  bool complete() const;
  // Where each live process stands, for failure reports (up to `max` lines).
  std::vector<std::string> missing_report(std::size_t max) const;

  std::uint64_t deliveries() const noexcept { return deliveries_; }
  std::uint64_t configurations() const noexcept { return installs_; }
  std::uint64_t unreliable_missing() const noexcept { return 0; }
  // For each crash whose ring mates survived it: the virtual time until every one of them that
  // is still alive had installed a new regular configuration (crashes not yet followed by one
  // are left out).
  std::vector<core::duration> crash_recovery_times() const;

 private:
  using index = std::uint32_t;
  static constexpr index none = ~index{0};

  struct conf_key {
    std::uint8_t kind;
    std::uint32_t rep;
    std::uint64_t counter;
    std::vector<std::uint32_t> members;  // transitional only (a regular ring names its members)
    auto operator<=>(const conf_key&) const = default;
  };
  struct conf {
    core::configuration::kind kind;
    core::ring_id ring;
    std::vector<core::node_id> members;  // as the first installer reported them
    index epoch = none;                  // regular: itself; transitional: where it came from
    std::vector<index> installers;       // processes, in order of installation
    std::vector<index> safe;             // SAFE messages delivered in it (anywhere)
    core::time_point safe_first_at = core::time_point::max();  // the first of them
  };
  struct message {
    core::node_id origin;
    core::msg_id id;
    core::service svc;
    std::uint64_t size = 0;
    std::optional<std::uint64_t> content;  // hash of an opaque payload (else make_payload's)
    index submitter = none;
    std::uint32_t causal_len = 0;  // submitter's ordered deliveries when it submitted this
    index epoch = none;            // where it was first delivered
    index first_conf = none;
    index first_by = none;
    core::seq_t seq{};
    std::vector<index> delivered_by;  // processes
  };
  struct item {
    bool is_conf;
    index what;  // conf or message
    core::time_point t;
  };
  struct process {
    core::node_id node;
    std::uint32_t incarnation = 0;
    core::time_point started{};
    std::optional<core::time_point> crashed;
    std::vector<item> history;
    index conf = none;           // current configuration
    index last_regular = none;   // most recent regular configuration
    core::seq_t last_seq{};      // of the last delivery in `conf`
    std::vector<index> in_conf;  // ordered (non-UNRELIABLE) messages delivered in `conf`
    std::vector<index> ordered;  // every ordered message delivered, in order
    std::uint64_t next_id = 0;   // the id its next submit must return
    std::uint64_t own_required = 0, own_delivered = 0;
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> fifo;  // (origin, inc) → id
  };

  void fail(std::string what);
  std::string pname(index p) const;
  std::string mname(index m) const;
  std::string cname(index c) const;
  index live(core::node_id n) const;
  index intern(const core::configuration& c, index p);
  bool check_transition(index p, const core::configuration& c, core::time_point now);
  void leave_conf(index p, index next);
  void check_safe_left(index p, index c);
  bool check_basics(index p, const core::delivery& d, index m);
  bool check_same_epoch(index p, const core::delivery& d, index m);
  void check_safe_delivery(index p, const core::delivery& d, index m, core::time_point now);
  // positions_[p][m]: where process p delivered ordered message m (-1: never).
  void build_positions();
  void check_pairwise();
  void check_no_holes();
  void check_global_order();
  void check_causal();
  void check_safe_members();
  void check_transitional_sets();
  index regular_before(index p, std::size_t pos) const;
  index previous_regular_of(core::node_id n, index c_next, core::time_point t) const;

  std::size_t nodes_;
  std::uint64_t payload_seed_;
  std::string* violation_;
  const node_probe* probe_ = nullptr;
  bool strict_ = false;
  std::vector<process> procs_;
  std::vector<index> current_;  // [node-1]: its live process, or none
  std::vector<conf> confs_;
  std::map<conf_key, index> conf_index_;
  std::vector<message> messages_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, index> message_index_;
  // (configuration, next configuration) → the first process that left one for the other, and
  // what it delivered in the first (sorted message indices): I3.
  std::map<std::pair<index, index>, std::pair<index, std::vector<index>>> segments_;
  struct crash_record {
    index proc;
    core::time_point at;
    std::vector<index> survivors;
  };
  std::vector<crash_record> crashes_;
  std::vector<std::vector<std::int32_t>> positions_;  // check_histories() only
  std::uint64_t deliveries_ = 0;
  std::uint64_t installs_ = 0;
};

}  // namespace chorus::sim
