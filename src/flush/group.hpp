// group.hpp — one member's View Synchrony state for one group: Spread's Flush state machine
// (spec shared/specs/flush.md §5–§6) as a pure class. The shell feeds it what the SP layer
// delivers for the group (regular and transitional memberships, FLUSH_OK and FLUSH_RECV control
// messages, data) and what the application asks (flush, send); it answers with what to send and
// what to deliver, in order. No I/O, no clock, no threads: the same code runs under fl.h over a
// real daemon and in the checkers' histories.
//
// Names are private group names ("#user#daemon"). A view's members keep the SP view's order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "flush/wire.hpp"

namespace chorus::flush {

using gid = wire::group_id;

// An SP regular membership as Flush reads it (spec §3.5).
struct sp_view {
  gid id;
  std::uint32_t type = 0;            // REG_MEMB_MESS | CAUSED_BY_JOIN/LEAVE/DISCONNECT/NETWORK
  std::vector<std::string> members;  // the SP view's order
  // JOIN, LEAVE, DISCONNECT: the member that changed. NETWORK: the members that came with the
  // receiver (its local vs-set).
  std::vector<std::string> vs_set;
};

// What the machine asks of its shell, in order.
struct action {
  enum class kind {
    send_flush_ok,          // FLUSH_OK for `id` to the group (FIFO_MESS)
    send_flush_recv,        // FLUSH_RECV for `id` to the group (FIFO_MESS)
    deliver_flush_request,  // FLUSH_REQ_MESS: the application must call FL_flush
    deliver_view,           // an FL view: `id`, `type`, `members`, `names` (its body, §4.2)
    deliver_transition,     // the transitional signal (no gid)
    deliver_data,           // the data message the shell called `token`
    drop_data,              // the shell may forget the data message `token`: never delivered
  };
  kind what{};
  gid id{};
  std::uint32_t type = 0;
  std::vector<std::string> members{};
  std::vector<std::string> names{};
  std::uint64_t token = 0;
};
using actions = std::vector<action>;

// The fl.h codes the machine answers with (the shell returns them to the application).
inline constexpr int illegal_group = -14;  // sp.h ILLEGAL_GROUP
inline constexpr int illegal_state = -27;  // fl.h ILLEGAL_STATE

enum class join_state { joining, joined, leaving };
enum class view_state { steady, authorize, agree, verify };

class group {
 public:
  // A changes table entry without its SP membership is dropped once it is this old (in SP
  // memberships received since), as Spread does: a FLUSH_OK for a view this member never sees.
  static constexpr int stale_change_age = 200;

  // The record Spread creates at the first SP membership for the group: joining, in AGREE (so
  // the joiner flushes on its own), an empty view of just `self`.
  explicit group(std::string self);

  // ---- what the SP layer delivered for this group ----
  actions on_membership(const sp_view& v);
  actions on_transition();
  actions on_flush_ok(gid g, const std::string& sender);
  actions on_flush_recv(gid g);
  // A data message from `sender`; `vulnerable_for` is a vulnerable message's target view. It is
  // delivered now (deliver_data), kept until that view is installed (no action yet), or dropped
  // (drop_data: not from a current member). A kept message is delivered right after the view,
  // or dropped if that view is abandoned.
  actions on_data(const std::string& sender, std::optional<gid> vulnerable_for,
                  std::uint64_t token);

  // ---- what the application asked ----
  // FL_flush: 0 and the FLUSH_OK to send, or illegal_group / illegal_state.
  int flush(actions& out);
  // The error of a flush the machine made on the application's behalf (a change that arrived
  // while it had already agreed, but it was leaving), to be returned from the pending receive;
  // 0 if none. Reading it clears it.
  int take_error() noexcept { return std::exchange(error_, 0); }
  // FL_leave: 0, or illegal_group unless joined.
  int leave();
  // Whether the application may send to the group now: 0, illegal_group or illegal_state; and
  // whether a message of `service` must carry the vulnerable trailer, with the view it names.
  int may_send(std::uint32_t service, bool& vulnerable, gid& view) const;
  // FL_subgroupcast's check: every receiver is an original member of the installed view.
  bool are_members(const std::vector<std::string>& receivers) const;

  join_state joined() const noexcept { return join_; }
  view_state state() const noexcept { return view_; }
  const gid& installed() const noexcept { return fl_.id; }
  const std::vector<std::string>& members() const noexcept { return fl_.members; }
  // Changes known only from FLUSH_OKs (bounded by stale_change_age).
  std::size_t changes_without_view() const {
    return static_cast<std::size_t>(std::ranges::count_if(
        changes_, [](const auto& c) { return !c.second.have_membership; }));
  }

 private:
  struct view {
    gid id{};
    std::uint32_t type = 0;
    std::vector<std::string> members;  // original members
    std::set<std::string> current;     // original members not known to have left
    std::vector<std::string> vs_set;
    bool in_trans = false;
  };
  struct change {
    view v;
    bool have_membership = false;
    int age = 0;
    std::set<std::string> flush_oks;
  };

  change& change_for(const gid& g);
  std::set<std::string> leavers_of(const sp_view& v) const;
  void age_changes();
  // Spread's collapse rule (§6.4): pending changes a leaver never agreed to are dropped, and the
  // change that survives them (or `fresh`) is reported as a network change.
  void collapse(const std::set<std::string>& leavers, change& fresh);
  void next_change(actions& out);
  void install(actions& out);

  struct gid_less {
    bool operator()(const gid& x, const gid& y) const {
      return std::tie(x.a, x.b, x.c) < std::tie(y.a, y.b, y.c);
    }
  };

  std::string self_;
  join_state join_ = join_state::joining;
  view_state view_ = view_state::agree;
  view fl_;
  view sp_;
  std::map<gid, change, gid_less> changes_;
  std::deque<gid> queue_;
  std::optional<gid> current_;
  int flush_recvs_ = 0;
  std::vector<std::uint64_t> postponed_;
  int error_ = 0;
};

}  // namespace chorus::flush
