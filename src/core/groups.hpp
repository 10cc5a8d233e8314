// groups.hpp — the groups layer (DESIGN §3.4): named process groups on top of the ring's
// totally ordered, EVS-delivered messages. Pure: the daemon and the simulator drive the same
// object with the ring's events and act on its polled output.
//
//   groups g(cfg);
//   g.open_session(id, "#alice#d1", /*membership=*/true);  // a client finished its handshake
//   node.submit(service::agreed, g.encode_join(...));       // requests go through the ring
//   for (auto& e : node_output.events) g.on_event(e);      // every ring event, in order
//   groups_output o = g.take_output();                      // messages for local sessions
//
// Every daemon holds the full group table. Joins, leaves and disconnects are ordered with the
// data, so every daemon applies them at the same point of the total order and every member of a
// group sees the same sequence of views and messages. On a daemon configuration change:
//   transitional configuration: members on departed daemons are removed and the local members
//     of each group that lost someone get TRANSITION_MESS (spec §4.3);
//   regular configuration: every daemon announces its own sessions' groups through the ring
//     (the state exchange) and holds back later deliveries until all announcements of that
//     configuration are in; then the merged table replaces the old one and each group whose
//     membership changed gets REG_MEMB_MESS|CAUSED_BY_NETWORK with vs-sets grouping members by
//     the regular configuration their daemon came from.
// During the transitional period a join, leave or disconnect in a group that lost members is
// announced as CAUSED_BY_NETWORK (the changed member in a vs-set of its own) and followed by a
// new TRANSITION_MESS, as Spread does.
//
// Group ids are (representative, a 32-bit mix naming the id space, a counter that grows with
// every view change in it). A space is shared by exactly the daemons that hold the same table
// and apply the same events: all daemons of a ring once its exchange completed; the daemons of
// one transitional configuration (mixed in: the new ring and the regular configuration they
// came from), if they agreed on their table; otherwise one daemon alone (after an aborted
// exchange its held deliveries were applied to tables that may differ). So one id never names
// two memberships. They are never reused, not even for a group that empties and is created
// again (spec §4.4, Chorus deviation). After a merge every group gets a new id (a group one side
// never had cannot keep its old id at only some daemons).
// vs-sets group members by the path their daemon took since its last completed exchange
// (wire::group_state::history: the regular configurations it installed since, whether or not
// their exchanges completed): daemons that took the same path delivered the same messages since
// the views they last shared (EVS failure atomicity, ring by ring). Grouping by the last
// configuration alone put two daemons that came apart and back together through different rings
// in one vs-set, though one had delivered messages the other never saw.
//
// Invariants:
//   G1. A group in the table has at least one member; members are ordered by daemon (spread.conf
//       order), then by name, and a member name appears once.
//   G2. A group's local session list is exactly its members on this daemon that have a session.
//   G3. member_groups_ is the inverse of the members lists.
// Thread-safety: none; the shell serializes every call.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/output.hpp"
#include "util/bytes.hpp"
#include "util/tagged.hpp"
#include "wire/client_proto.hpp"
#include "wire/group_msg.hpp"

namespace chorus::core {

// The daemon's handle for one client session; never reused while the daemon runs.
using session_id = util::tagged<std::uint32_t, struct session_id_tag>;

struct groups_config {
  node_id self{};
  // Every configured daemon in spread.conf order: member lists are ordered by it.
  std::vector<node_id> daemon_order;
};

// A message for one local session: the bytes to write, shared with other receivers.
struct session_message {
  session_id to;
  util::shared_bytes bytes;
};

struct groups_output {
  // 1. Write these to the sessions, in order.
  std::vector<session_message> messages;
  // 2. Submit these to the ring as AGREED messages (the state announcement).
  std::vector<util::shared_bytes> submit;
  // 3. These sessions' disconnects have been ordered: forget them, their names are free.
  std::vector<session_id> released;
};

struct groups_stats {
  std::uint64_t data_delivered = 0;     // data messages that reached at least one session
  std::uint64_t malformed = 0;          // ring payloads that did not decode (from a peer)
  std::uint64_t ignored_ops = 0;        // joins already done, leaves of non-members, …
  std::uint64_t exchanges = 0;          // state exchanges completed
  std::uint64_t exchanges_aborted = 0;  // a configuration change came first
};

class groups {
 public:
  explicit groups(groups_config cfg);

  // A client finished its handshake as `private_group`, unique among names_in_use().
  void open_session(session_id id, std::string private_group, bool membership);
  // The session is gone locally (disconnect, EOF, malformed input, slow reader): nothing more
  // is sent to it. It stays a member until its disconnect, which the shell submits, is ordered;
  // then it appears in output().released.
  void close_session(session_id id);
  // A private group name held by a live session or one whose disconnect is not yet ordered.
  bool name_in_use(std::string_view private_group) const;
  // The private group of session `id`, until its disconnect is ordered.
  std::optional<std::string> session_name(session_id id) const;

  // Every event of the ring, in order.
  void on_event(const event& e);
  groups_output take_output();

  // Introspection (monitor, tests, the simulator's checkers).
  struct view {
    wire::client::group_id gid;
    std::vector<std::string> members;
  };
  std::optional<view> find(std::string_view group) const;
  struct summary {
    std::string name;
    std::size_t member_count = 0;
    std::vector<std::string> members;  // the first of them (member order, G1)
  };
  // The first `groups_max` groups by name, each with its first `members_max` members: a copy
  // bounded however large the table is (the daemon's control socket).
  std::vector<summary> summarize(std::size_t groups_max, std::size_t members_max) const;
  std::size_t group_count() const noexcept { return groups_.size(); }
  std::size_t session_count() const noexcept { return sessions_.size(); }
  const groups_stats& stats() const noexcept { return stats_; }
  void check_invariants() const;

 private:
  struct member {
    std::size_t rank;  // the daemon's place in daemon_order
    std::string name;
    friend auto operator<=>(const member&, const member&) = default;
  };
  struct group {
    wire::client::group_id gid;
    std::vector<member> members;    // G1: sorted
    std::vector<session_id> local;  // G2: sorted
    bool changed = false;           // lost members in the current transitional period
  };
  struct session {
    std::string name;
    bool membership = false;
    bool open = true;
  };
  struct exchange {
    ring_id ring;
    std::set<node_id> waiting;
    std::map<node_id, wire::group_state> states;
  };

  void on_configuration(const configuration& c);
  void on_delivery(const delivery& d);
  void apply(const delivery& d);
  void on_data(const delivery& d);
  void on_op(const wire::group_op& op, node_id origin);
  void on_state(wire::group_state s, node_id origin);
  void abort_exchange();
  void finish_exchange();
  void join(const std::string& name, node_id origin, const std::string& group_name);
  void remove(const std::string& name, const std::string& group_name, std::uint32_t cause);
  void remove_member_from(group& g, const std::string& group_name, const member& m);
  void notify(const std::string& group_name, group& g, std::uint32_t cause,
              const std::vector<std::vector<std::string>>& vs_sets, std::size_t local_set,
              const std::string* own_set_member);
  void transition(const std::string& group_name, const group& g);
  void send(session_id to, util::shared_bytes bytes);
  wire::client::group_id next_gid();
  std::size_t rank_of(node_id n) const;
  std::optional<session_id> local_session(node_id daemon, const std::string& name) const;
  // The names of (at most `limit` of) `ms`, in order.
  static std::vector<std::string> names(const std::vector<member>& ms,
                                        std::size_t limit = SIZE_MAX);

  groups_config cfg_;
  std::map<node_id, std::size_t> ranks_;
  std::map<std::string, group, std::less<>> groups_;
  std::map<std::string, std::set<std::string>, std::less<>> member_groups_;  // G3
  std::map<std::string, node_id, std::less<>> member_daemon_;  // each known member's daemon
  std::unordered_map<std::uint32_t, session> sessions_;        // by session_id value
  std::map<std::string, session_id, std::less<>> session_by_name_;

  // Group ids come from a space shared by exactly the daemons that hold the same table and
  // apply the same events (gid = a, b, base + index): a completed exchange of ring R (every
  // daemon of R); a transitional configuration of R (the daemons that came from the same
  // regular configuration, with an agreed table); otherwise this daemon alone.
  struct gid_space {
    std::uint32_t a = 0, b = 0, base = 0;
  };
  void enter_space(ring_id ring, ring_id from, bool own, std::uint32_t base);
  static constexpr std::uint32_t transitional_index_base = 0x80000000u;
  static constexpr std::uint32_t own_index_base = 0x40000000u;
  gid_space space_;
  std::uint32_t gid_index_ = 0;  // ids drawn in space_
  ring_id installed_{};          // the last regular configuration installed
  // wire::group_state::history: the regular configurations installed since the last completed
  // exchange (its ring first), digested.
  std::uint64_t history_ = 0;
  // The table is the one every daemon we share events with holds: false from an aborted
  // exchange (its held deliveries were applied to tables that differ) to the next completed one.
  bool agreed_ = true;
  bool in_transition_ = false;
  std::optional<exchange> exchange_;
  std::vector<delivery> held_;  // delivered while the exchange runs, applied after it

  groups_output out_;
  groups_stats stats_;
};

}  // namespace chorus::core
