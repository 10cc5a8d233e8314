// group_vs_test.cpp — View Synchrony of the Flush state machine (flush/group.hpp) over a model of
// the SP layer that chorusd provides: one total order of joins, leaves, disconnects, data and
// control messages, each delivered to the SP members of the group at its place in that order.
// Random histories (members join, leave and crash while others answer flush requests late) are
// checked for what View Synchrony promises:
//   VS1 a data message is delivered in the view it was sent in, from a member of that view;
//   VS2 members that install the same two consecutive views (without leaving in between)
//       delivered the same messages, in the same order, between them;
//   VS3 every member that installs a view gets the same member list for it;
//   VS4 once every flush request is answered and the traffic stops, every member has installed
//       the last SP view and is steady.
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
    if (rng_.chance(0.7)) deliver_one();
  }

  // Everyone answers, nobody sends: the traffic drains.
  void settle() {
    for (int round = 0; round < 10000; ++round) {
      bool idle = queue_.empty();
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
            << who << " delivered " << token << " in view " << view << "\n" << history_.str();
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
        if (!from.empty()) {
          auto [it, fresh] = between.try_emplace({from, to}, got);
          ASSERT_TRUE(fresh || it->second == got)
              << who << " delivered other messages between " << from << " and " << to << "\n"
              << logs() << history_.str();
        }
        from = to;
        got.clear();
      }
    }
    // VS4.
    for (auto& [who, m] : members_) {
      if (!m.machine) continue;
      ASSERT_EQ(key(m.machine->installed()), key(last_view_)) << who << "\n" << history_.str();
      ASSERT_EQ(m.machine->state(), view_state::steady) << who << "\n" << history_.str();
    }
  }

 private:
  bool in_sp(const std::string& who) const {
    return std::find(sp_.begin(), sp_.end(), who) != sp_.end();
  }
  bool requested(const std::string& who) const {
    return std::ranges::any_of(queue_, [&](const sp_event& e) {
      return e.who == who && e.what == sp_event::kind::join;
    });
  }
  void request(sp_event e) { queue_.push_back(std::move(e)); }

  std::string logs() {
    std::ostringstream out;
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
          m.log.push_back("view " + key(a.id) + " " + std::to_string(a.type));
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

  void new_view(std::uint32_t cause, std::vector<std::string> vs_set) {
    last_view_ = gid{7, 7, ++views_};
    const sp_view v{last_view_, cl::reg_memb_mess | cause, sp_, std::move(vs_set)};
    for (const std::string& who : sp_) {
      member& m = members_[who];
      if (!m.machine) m.machine.emplace(who);
      handle(who, m.machine->on_membership(v));
    }
  }

  void deliver_one() {
    if (queue_.empty()) return;
    sp_event e = std::move(queue_.front());
    queue_.pop_front();
    history_ << "event " << static_cast<int>(e.what) << " " << e.who << " " << key(e.id) << " "
             << e.token << "\n";
    switch (e.what) {
      case sp_event::kind::join:
        sp_.push_back(e.who);
        new_view(cl::caused_by_join, {e.who});
        break;
      case sp_event::kind::leave:
      case sp_event::kind::disconnect: {
        if (!in_sp(e.who)) break;
        std::erase(sp_, e.who);
        member& m = members_[e.who];
        m.machine.reset();  // its self-leave (or its crash)
        m.log.push_back("gone");
        m.asked = false;
        m.leaving = false;
        new_view(e.what == sp_event::kind::leave ? cl::caused_by_leave : cl::caused_by_disconnect,
                 {e.who});
        break;
      }
      case sp_event::kind::data:
      case sp_event::kind::flush_ok:
      case sp_event::kind::flush_recv:
        if (!in_sp(e.who)) break;  // EVS: nothing after a member's departure is delivered
        for (const std::string& who : sp_) {
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
  std::vector<std::string> sp_;  // the SP view's members, in join order
  std::deque<sp_event> queue_;   // the total order, not delivered yet
  std::uint32_t views_ = 0;
  gid last_view_{};
  std::uint64_t tokens_ = 0;
  std::map<std::uint64_t, std::string> sent_in_;
  std::map<std::uint64_t, std::string> sender_;
  std::map<std::string, std::vector<std::vector<std::string>>> installs_;
  std::ostringstream history_;
};

TEST(FlushViewSynchrony, RandomHistoriesOverATotalOrder) {
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
