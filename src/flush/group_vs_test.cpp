// group_vs_test.cpp — View Synchrony of the Flush state machine (flush/group.hpp) over a model of
// the SP layer that chorusd provides: within each network component one total order of joins,
// leaves, disconnects, data and control messages, each delivered to the component's SP members of
// the group at its place in that order. Components split (each side gets a transitional signal,
// then a NETWORK view of its members) and merge (a NETWORK view of all, each member's vs-set its
// own side). Random histories (members join, leave and crash, the network splits and heals, and
// flush requests are answered late) are checked for what View Synchrony promises:
//   VS1 a data message is delivered in the view it was sent in, from a member of that view;
//   VS2 members that install the same two consecutive views (without leaving in between), and
//       come to the second together (after a network change: the same names in its body, those
//       of the first view that came with them, spec §4.2), delivered the same messages, in the
//       same order, between them;
//   VS3 every member that installs a view gets the same member list for it;
//   VS4 once every flush request is answered and the traffic stops, every member has installed
//       the last SP view of its component and is steady.
// A failing seed prints its history.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "flush/group.hpp"
#include "util/prng.hpp"
#include "wire/client_proto.hpp"

namespace chorus::flush {
namespace {

namespace cl = chorus::wire::client;

std::string key(const gid& g) {
  return std::to_string(g.a) + "." + std::to_string(g.b) + "." + std::to_string(g.c);
}

struct sp_event {
  enum class kind { join, leave, disconnect, data, flush_ok, flush_recv } what;
  std::string who;
  gid id{};
  std::uint64_t token = 0;
};

// One side of the network: its members of the group (in SP view order), its total order of
// events not delivered yet, and its last view.
struct component {
  std::vector<std::string> sp;
  std::deque<sp_event> queue;
  gid last_view{};
};

struct member {
  std::optional<group> machine;  // while it is an SP member of the group
  bool asked = false;            // a flush request waits for an answer
  bool leaving = false;
  std::vector<std::string> log;  // "view <gid>" and "data <token>"
};

class world {
 public:
  world(std::uint64_t seed, int people) : rng_(seed) {
    for (int i = 0; i < people; ++i) names_.push_back("#m" + std::to_string(i) + "#d");
    for (const auto& n : names_) members_[n];
  }

  void step() {
    const auto& who = names_[rng_.uniform(0, names_.size() - 1)];
    member& m = members_[who];
    const std::uint64_t dice = rng_.uniform(0, 99);
    if (!m.machine && !m.leaving && !in_sp(who) && !requested(who)) {
      if (dice < 40) request({sp_event::kind::join, who});
    } else if (m.machine && m.asked && !m.leaving && dice < 50) {
      actions out;
      ASSERT_EQ(m.machine->flush(out), 0);
      m.asked = false;
      handle(who, out);
    } else if (m.machine && dice < 70) {
      bool vulnerable = false;
      gid view{};
      if (m.machine->may_send(cl::agreed_mess, vulnerable, view) == 0) {
        const std::uint64_t token = ++tokens_;
        sent_in_[token] = key(view);
        sender_[token] = who;
        request({sp_event::kind::data, who, {}, token});
      }
    } else if (m.machine && !m.leaving && dice < 76) {
      if (m.machine->leave() == 0) {
        m.leaving = true;
        request({sp_event::kind::leave, who});
      }
    } else if (m.machine && !m.leaving && dice < 80) {
      m.leaving = true;
      request({sp_event::kind::disconnect, who});
    }
    if (dice >= 97) split_or_merge();
    if (rng_.chance(0.7)) deliver_one();
  }

  // Everyone answers, nobody sends: the traffic drains.
  void settle() {
    for (int round = 0; round < 10000; ++round) {
      bool idle = std::ranges::all_of(parts_, [](const component& c) { return c.queue.empty(); });
      for (auto& [who, m] : members_) {
        if (m.machine && m.asked && !m.leaving) {
          actions out;
          ASSERT_EQ(m.machine->flush(out), 0);
          m.asked = false;
          handle(who, out);
          idle = false;
        }
      }
      if (idle) return;
      deliver_one();
    }
    FAIL() << "the history does not settle\n" << history_.str();
  }

  void check() {
    // VS1 and VS3, per member's log.
    std::map<std::string, std::vector<std::string>> view_members;
    for (auto& [who, m] : members_) {
      std::string view;
      for (const std::string& e : m.log) {
        if (e == "gone") continue;
        if (e.rfind("view ", 0) == 0) {
          view = e.substr(5, e.find(' ', 5) - 5);
          continue;
        }
        const std::uint64_t token = std::stoull(e.substr(5));
        ASSERT_EQ(sent_in_[token], view)
            << who << " delivered " << token << " in view " << view << "\n"
            << logs() << history_.str();
        const auto& list = installs_[view].front();
        ASSERT_NE(std::find(list.begin(), list.end(), sender_[token]), list.end())
            << who << " delivered " << token << " from a non-member of " << view;
      }
    }
    for (const auto& [g, lists] : installs_) {
      for (const auto& l : lists) ASSERT_EQ(l, lists.front()) << "view " << g;
    }
    // VS2: what was delivered between two consecutive views, per member.
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> between;
    for (auto& [who, m] : members_) {
      std::string from;
      std::vector<std::string> got;
      for (const std::string& e : m.log) {
        if (e == "gone") {  // left or crashed: its next view follows no view of its own
          from.clear();
          got.clear();
          continue;
        }
        if (e.rfind("view ", 0) != 0) {
          got.push_back(e);
          continue;
        }
        const std::string to = e.substr(5, e.find(' ', 5) - 5);
        // After a network change only members that came together (the view's names, §4.2)
        // share a history; after a join, leave or disconnect all members did.
        const std::string type_and_names = e.substr(e.find(' ', 5) + 1);
        const bool network = (std::stoul(type_and_names) & cl::caused_by_network) != 0;
        const std::string together = network ? type_and_names : "";
        if (!from.empty()) {
          auto [it, fresh] = between.try_emplace({from, to + " " + together}, got);
          ASSERT_TRUE(fresh || it->second == got)
              << who << " delivered other messages between " << from << " and " << to << "\n"
              << logs() << history_.str();
        }
        from = to;
        got.clear();
      }
    }
    // VS4.
    for (const component& c : parts_) {
      for (const std::string& who : c.sp) {
        const group& g = *members_[who].machine;
        ASSERT_EQ(key(g.installed()), key(c.last_view)) << who << "\n" << history_.str();
        ASSERT_EQ(g.state(), view_state::steady) << who << "\n" << history_.str();
      }
    }
  }

 private:
  // The component `who` is in, or the first (where joins happen).
  component& part_of(const std::string& who) {
    for (component& c : parts_) {
      if (std::ranges::find(c.sp, who) != c.sp.end()) return c;
    }
    return parts_.front();
  }
  bool in_sp(const std::string& who) const {
    return std::ranges::any_of(
        parts_, [&](const component& c) { return std::ranges::find(c.sp, who) != c.sp.end(); });
  }
  bool requested(const std::string& who) const {
    return std::ranges::any_of(parts_, [&](const component& c) {
      return std::ranges::any_of(c.queue, [&](const sp_event& e) {
        return e.who == who && e.what == sp_event::kind::join;
      });
    });
  }
  void request(sp_event e) { part_of(e.who).queue.push_back(std::move(e)); }

  static bool changes_membership(const sp_event& e) {
    return e.what == sp_event::kind::join || e.what == sp_event::kind::leave ||
           e.what == sp_event::kind::disconnect;
  }

  std::string logs() {
    std::ostringstream out;
    for (const auto& [g, lists] : installs_) {
      out << "installed " << g << ":";
      for (const auto& m : lists.front()) out << " " << m;
      out << " (" << lists.size() << ")\n";
    }
    for (auto& [who, m] : members_) {
      out << who << ":";
      for (const auto& e : m.log) out << " [" << e << "]";
      out << "\n";
    }
    return out.str();
  }

  void handle(const std::string& who, const actions& out) {
    member& m = members_[who];
    for (const action& a : out) {
      switch (a.what) {
        case action::kind::send_flush_ok:
          request({sp_event::kind::flush_ok, who, a.id});
          break;
        case action::kind::send_flush_recv:
          request({sp_event::kind::flush_recv, who, a.id});
          break;
        case action::kind::deliver_flush_request:
          m.asked = true;
          break;
        case action::kind::deliver_view: {
          std::string names;
          for (const std::string& n : a.names) names += n + ",";
          m.log.push_back("view " + key(a.id) + " " + std::to_string(a.type) + " " + names);
          installs_[key(a.id)].push_back(a.members);
          m.asked = false;  // a new view: any request was for an older change
          break;
        }
        case action::kind::deliver_data:
          m.log.push_back("data " + std::to_string(a.token));
          break;
        case action::kind::deliver_transition:
        case action::kind::drop_data:
          break;
      }
    }
    history_ << "  " << who << ": " << out.size() << " actions\n";
  }

  // A new SP view of component `c` to its members; `vs_set_of` gives each member's vs-set.
  template <typename VsSet>
  void new_view(component& c, std::uint32_t cause, VsSet vs_set_of) {
    c.last_view = gid{7, 7, ++views_};
    for (const std::string& who : c.sp) {
      member& m = members_[who];
      if (!m.machine) m.machine.emplace(who);
      const sp_view v{c.last_view, cl::reg_memb_mess | cause, c.sp, vs_set_of(who)};
      handle(who, m.machine->on_membership(v));
    }
    history_ << "view " << key(c.last_view) << " cause " << cause << ":";
    for (const auto& m : c.sp) history_ << " " << m;
    history_ << "\n";
  }

  // The network splits a component in two, or merges two.
  void split_or_merge() {
    if (parts_.size() > 1 && rng_.chance(0.5)) {
      // What each side ordered before the merge is delivered there first (EVS: in the
      // configuration it was sent in).
      for (component* c : {&parts_.front(), &parts_.back()}) {
        std::deque<sp_event> before = std::exchange(c->queue, {});
        for (sp_event& e : before) {
          if (changes_membership(e)) {
            c->queue.push_back(std::move(e));  // ordered after the merge
          } else {
            deliver(*c, std::move(e));
          }
        }
      }
      component b = std::move(parts_.back());
      parts_.pop_back();
      component& a = parts_.front();
      const std::vector<std::string> side_a = a.sp, side_b = b.sp;
      a.sp.insert(a.sp.end(), side_b.begin(), side_b.end());
      for (sp_event& e : b.queue) a.queue.push_back(std::move(e));
      history_ << "merge\n";
      if (a.sp.empty()) return;
      new_view(a, cl::caused_by_network, [&](const std::string& who) {
        return std::ranges::find(side_a, who) != side_a.end() ? side_a : side_b;
      });
      return;
    }
    const std::size_t at = rng_.uniform(0, parts_.size() - 1);
    component& whole = parts_[at];
    if (whole.sp.size() < 2) return;
    component other;
    std::vector<std::string> stay;
    for (const std::string& who : whole.sp) {
      (rng_.chance(0.5) ? other.sp : stay).push_back(who);
    }
    if (other.sp.empty() || stay.empty()) return;
    whole.sp = stay;
    std::deque<sp_event> before = std::exchange(whole.queue, {});
    parts_.push_back(std::move(other));  // `whole` may move: use its index from here on
    history_ << "split\n";
    component* sides[] = {&parts_[at], &parts_.back()};
    // EVS: each side gets the transitional signal, then the messages its own members sent
    // before the split (the other side never sees them), then its new view. Joins, leaves and
    // disconnects not delivered yet are ordered after the new view, on their member's side (a
    // join stays where it was asked).
    for (component* c : sides) {
      for (const std::string& who : c->sp) handle(who, members_[who].machine->on_transition());
    }
    for (sp_event& e : before) {
      component* side = nullptr;
      for (component* c : sides) {
        if (std::ranges::find(c->sp, e.who) != c->sp.end()) side = c;
      }
      if (side == nullptr) side = sides[0];
      if (changes_membership(e)) {
        side->queue.push_back(std::move(e));
      } else {
        deliver(*side, std::move(e));
      }
    }
    for (component* c : sides) {
      new_view(*c, cl::caused_by_network, [c](const std::string&) { return c->sp; });
    }
  }

  void deliver_one() {
    std::vector<component*> busy;
    for (component& c : parts_) {
      if (!c.queue.empty()) busy.push_back(&c);
    }
    if (busy.empty()) return;
    component& c = *busy[rng_.uniform(0, busy.size() - 1)];
    sp_event e = std::move(c.queue.front());
    c.queue.pop_front();
    deliver(c, std::move(e));
  }

  // Event `e` at its place in component `c`'s order, to `c`'s members.
  void deliver(component& c, sp_event e) {
    history_ << "event " << static_cast<int>(e.what) << " " << e.who << " " << key(e.id) << " "
             << e.token << "\n";
    const auto in_c = [&](const std::string& who) {
      return std::ranges::find(c.sp, who) != c.sp.end();
    };
    switch (e.what) {
      case sp_event::kind::join:
        if (in_sp(e.who)) break;
        c.sp.push_back(e.who);
        new_view(c, cl::caused_by_join, [&](const std::string&) {
          return std::vector<std::string>{e.who};
        });
        break;
      case sp_event::kind::leave:
      case sp_event::kind::disconnect: {
        if (!in_c(e.who)) break;
        std::erase(c.sp, e.who);
        member& m = members_[e.who];
        m.machine.reset();  // its self-leave (or its crash)
        m.log.push_back("gone");
        m.asked = false;
        m.leaving = false;
        const std::uint32_t cause =
            e.what == sp_event::kind::leave ? cl::caused_by_leave : cl::caused_by_disconnect;
        new_view(c, cause, [&](const std::string&) { return std::vector<std::string>{e.who}; });
        break;
      }
      case sp_event::kind::data:
      case sp_event::kind::flush_ok:
      case sp_event::kind::flush_recv:
        if (!in_c(e.who)) break;  // EVS: nothing after a member's departure is delivered
        for (const std::string& who : c.sp) {
          group& g = *members_[who].machine;
          if (e.what == sp_event::kind::data) {
            handle(who, g.on_data(e.who, std::nullopt, e.token));
          } else if (e.what == sp_event::kind::flush_ok) {
            handle(who, g.on_flush_ok(e.id, e.who));
          } else {
            handle(who, g.on_flush_recv(e.id));
          }
        }
        break;
    }
  }

  util::prng rng_;
  std::vector<std::string> names_;
  std::map<std::string, member> members_;
  std::vector<component> parts_ = std::vector<component>(1);
  std::uint32_t views_ = 0;
  std::uint64_t tokens_ = 0;
  std::map<std::uint64_t, std::string> sent_in_;
  std::map<std::uint64_t, std::string> sender_;
  std::map<std::string, std::vector<std::vector<std::string>>> installs_;
  std::ostringstream history_;
};

TEST(FlushViewSynchrony, RandomHistoriesWithCrashesPartitionsAndMerges) {
  for (std::uint64_t seed = 1; seed <= 2000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    world w(seed, 2 + static_cast<int>(seed % 5));
    for (int i = 0; i < 400; ++i) {
      w.step();
      if (testing::Test::HasFatalFailure()) return;
    }
    w.settle();
    if (testing::Test::HasFatalFailure()) return;
    w.check();
    if (testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace chorus::flush
