// group_checker.hpp — checks what the groups layer (core/groups.hpp) hands to client sessions:
// DESIGN §3.3's last paragraph (members that move together between two views of a group delivered
// the same messages for it, in the same order) and the rules of §3.4 and of the client protocol
// spec §4 (views, group ids, vs-sets, who receives what).
//
// The model. A daemon process is one incarnation of a node: its groups layer is built with it and
// dies with it. A session belongs to one daemon process; it opens, receives messages in order and
// ends when its client disconnects (close, then the ordered kill) or its daemon crashes. Session
// names are unique in a run ("#s<k>#n<node>", never reused), so a name identifies a session. Each
// daemon process also has its ring log: the group requests and data its node delivered, in the
// ring's order (the groups layer's input). A data message is named (sender, counter); its payload
// is make_group_payload()'s.
//
//   GA. Group ids: a gid names one membership of one group everywhere (same group, same member
//       list at every session that receives it); a session never receives one gid twice; a
//       TRANSITION_MESS carries the gid of the receiver's current view of that group.
//   GB. Views: a session receives membership messages only if it asked for them, and a regular
//       view of G only if it is in its member list; members are ordered by daemon then name,
//       once each; JOIN/LEAVE/DISCONNECT carry exactly one vs-set holding just the changed member
//       (listed for a join, not for a leave or disconnect); NETWORK vs-sets partition the member
//       list and the receiver's local set holds it. A self-leave comes only to a member.
//   GC. Virtual synchrony: two sessions that install view V of G and then both install the same
//       next view V' of G, moving together (a join, leave or disconnect; for a network change,
//       the same vs-set of V', which holds the members that came from the same configuration),
//       delivered the same data messages addressed to G in between, in the same order (apart
//       from either one's own SELF_DISCARD messages). Sessions in different vs-sets of V' may
//       differ: they were in different partitions after V's transitional signal.
//   GD. Total order: the data deliveries of all sessions are consistent with one total order
//       (no cycle over the sessions' delivery orders; pairwise order follows).
//   GE. Delivery rules: a message reaches a session at most once, with the bytes, type and
//       groups it was sent with, in FIFO order per sender; never the sender itself under
//       SELF_DISCARD; only while the receiver is a member (per its own views) of one of its
//       groups or owns the private group it names; nothing reaches a session after it ended.
//   GF. Completeness against the ring (finish): from the daemon's ring log, a session's data
//       deliveries are determined exactly — m, delivered by the ring after the session opened,
//       is for it iff it names its private group or a group the session joined (ring order) and
//       did not leave before m, and SELF_DISCARD does not exclude it. A session open at the end
//       received exactly that sequence; one that ended received a prefix of it (the groups layer
//       may still have been holding the rest during a state exchange). This is group-level
//       self-delivery and liveness without false alarms: a message sent in another partition
//       never reaches this daemon's ring log, so it is not owed, while one sent in the final
//       configuration reaches every live daemon (EVS I8), so every member that joined before it,
//       its sender included, must receive it.
//   GG. Final tables (finish, after the liveness phase): every live daemon's groups layer holds
//       the same table (gid and members of every group); its members are exactly the open
//       sessions that joined per the ring log; each open membership session's last view of a
//       group it is in is the table's.
//   GH. Released: only a session its client closed is released, once, by its own daemon; at the
//       end every closed session of a live daemon has been.
//   GI. A view follows a transition: a session that got a transitional signal of G gets a view
//       of G (or leaves G, or ends) within `view_bound` of the later of the signal and its
//       daemon's last regular configuration. A daemon whose configurations keep changing is the
//       membership checks' business (changes per fault); one that sits in a configuration owes
//       its sessions the view.
// Deterministic: ordered containers only; the first violation wins.
// Thread-safety: none; one per simulation.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/config.hpp"
#include "util/bytes.hpp"
#include "wire/client_proto.hpp"
#include "wire/group_msg.hpp"

namespace chorus::sim {

// The payload of a group data message: the sender's counter (u64, little-endian) then filler
// that depends on sender and counter. `size` is at least 8.
util::byte_vector make_group_payload(std::string_view sender, std::uint64_t counter,
                                     std::size_t size);
// The counter, if `bytes` is exactly what make_group_payload(sender, counter, bytes.size())
// makes; nullopt otherwise.
std::optional<std::uint64_t> read_group_payload(std::string_view sender,
                                                std::span<const std::byte> bytes);

class group_checker {
 public:
  explicit group_checker(core::duration view_bound = std::chrono::seconds(3))
      : view_bound_(view_bound) {}

  // A group as a daemon's groups layer holds it at the end.
  struct table_view {
    wire::client::group_id gid;
    std::vector<std::string> members;
  };
  using table = std::map<std::string, table_view>;

  // A daemon process starts (its node was built) or ends (its node crashed: its sessions end).
  void on_daemon_start(core::node_id n);
  void on_daemon_crash(core::node_id n);
  // A session opens on `daemon`'s current process (`membership`: it gets membership messages).
  void on_open(core::node_id daemon, const std::string& session, bool membership);
  // Its client disconnected: nothing more may reach it; its kill is submitted.
  void on_close(const std::string& session);
  // The groups layer of `daemon` released `session` (output().released).
  void on_released(core::node_id daemon, const std::string& session);
  // A data message is about to be submitted (before submit(), which may deliver at once; a
  // retry registers the same message again).
  void on_sent(const std::string& sender, std::uint64_t counter, std::uint32_t type,
               const std::vector<std::string>& groups, std::size_t size);

  // Ring log: `daemon`'s node delivered a group request or a data message, in ring order.
  void on_ring_op(core::node_id daemon, wire::group_msg_kind kind, const std::string& member,
                  const std::string& group);
  void on_ring_data(core::node_id daemon, const std::string& sender, std::uint64_t counter,
                    const std::vector<std::string>& groups, std::uint32_t type);

  // `session` received `m` (decoded from the groups layer's bytes), in order, at `at`.
  void on_message(const std::string& session, const wire::client::message& m,
                  core::time_point at = {});
  // `daemon`'s node installed a regular configuration at `at` (GI).
  void on_configuration(core::node_id daemon, core::time_point at);
  // GI as of `now`: fails if a session has waited too long for a view after a transition.
  void check_views_follow_transitions(core::time_point now);

  // GD over everything so far. Idempotent.
  void check_histories();
  // The end of the run: check_histories(), GF, GG with every live daemon's final table, GH.
  void finish(const std::map<core::node_id, table>& tables);

  // Records a violation found elsewhere (the group workload); the first one wins.
  void fail(std::string what);
  bool ok() const noexcept { return violation_.empty(); }
  const std::string& violation() const noexcept { return violation_; }

  // How much the checks saw (so a run shows they were not vacuous).
  struct counts {
    std::uint64_t join = 0, leave = 0, disconnect = 0, network = 0;
    std::uint64_t network_split = 0;  // network views with more than one vs-set
    std::uint64_t transitions = 0, self_leaves = 0;
    std::uint64_t segments_compared = 0;  // GC: a second session moved between the same views
    // GI: the longest wait for a view that ended one, counted as GI counts it
    core::duration longest_view_wait{};
  };
  const counts& seen() const noexcept { return seen_; }
  std::uint64_t sessions() const noexcept { return sessions_.size(); }
  std::uint64_t views() const noexcept { return views_; }
  std::uint64_t deliveries() const noexcept { return deliveries_; }
  std::uint64_t sent() const noexcept { return msgs_.size(); }

 private:
  using index = std::uint32_t;
  static constexpr index none = ~index{0};

  struct gid_key {
    std::uint32_t a, b, c;
    auto operator<=>(const gid_key&) const = default;
  };
  struct msg {
    std::string sender;
    std::uint64_t counter = 0;
    bool known = false;  // on_sent() registered it
    std::uint32_t type = 0;
    std::vector<std::string> groups;
    std::size_t size = 0;
  };
  // A stretch of one group's views at one session: from the view `from`, the messages for the
  // group delivered since (GC).
  struct segment {
    gid_key from;
    std::vector<index> msgs;
  };
  struct view_state {
    gid_key gid;
    std::vector<std::string> members;
    segment seg;
  };
  struct ring_item {
    bool data;
    wire::group_msg_kind kind;  // join, leave, kill (ops)
    std::string member, group;  // ops
    index m = none;             // data
  };
  struct daemon_proc {
    core::node_id node;
    bool alive = true;
    std::vector<ring_item> ring;
    core::time_point last_regular{};  // GI
  };
  struct session {
    std::string name;
    index proc = none;
    bool membership = true;
    bool open = true;
    bool closed = false;  // by its client (not by a crash)
    bool released = false;
    std::size_t ring_from = 0;                          // its daemon's ring log at open
    std::size_t ring_to = SIZE_MAX;                     // … when it ended
    std::map<std::string, view_state, std::less<>> in;  // groups it is in, per its views
    std::map<std::string, gid_key, std::less<>> last_gid;
    std::vector<index> received;  // data messages, in order
    std::set<index> received_set;
    std::map<std::string, std::uint64_t, std::less<>> fifo;  // sender → last counter
    std::map<std::string, core::time_point, std::less<>> waiting;  // GI: group → its signal
  };

  session* find_session(const std::string& name, const char* what);
  index live_proc(core::node_id n) const;
  index intern(const std::string& sender, std::uint64_t counter);
  std::string mname(index m) const;
  void on_view(session& s, const wire::client::message& m);
  void on_transition(session& s, const wire::client::message& m, core::time_point at);
  void on_self_leave(session& s, const wire::client::message& m);
  void on_data(session& s, const wire::client::message& m);
  bool check_view_shape(const session& s, const wire::client::message& m, std::uint32_t cause);
  void close_segment(const session& s, const std::string& group, const view_state& v, gid_key next,
                     std::vector<std::string> together);
  // GF: the data messages `s` must receive, and its groups at the end (ring log).
  std::vector<index> expected(const session& s, std::set<std::string>* joined) const;
  void check_completeness();
  void check_tables(const std::map<core::node_id, table>& tables);
  void check_released();

  core::duration view_bound_;
  std::set<std::string, std::less<>> waiting_;  // GI: sessions with a transition pending
  std::string violation_;
  std::vector<daemon_proc> procs_;
  std::map<std::uint32_t, index> current_;  // node → its live process
  std::map<std::string, session, std::less<>> sessions_;
  std::vector<msg> msgs_;
  std::map<std::pair<std::string, std::uint64_t>, index> msg_index_;
  // GA: gid → (group, members) as first seen.
  std::map<gid_key, std::pair<std::string, std::vector<std::string>>> gids_;
  // GC: (group, view, next view, the receiver's vs-set of a network view) → the first session
  // that moved so, and what it delivered.
  std::map<std::tuple<std::string, gid_key, gid_key, std::vector<std::string>>,
           std::pair<std::string, std::vector<index>>>
      segments_;
  std::uint64_t views_ = 0;
  std::uint64_t deliveries_ = 0;
  counts seen_;
};

}  // namespace chorus::sim
