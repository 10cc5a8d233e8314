// group_test.cpp — the Flush state machine (flush/group.hpp) on the spec's acceptance cases
// (flush.md §9: 1–4 and the state table of §5.5), driven by hand the way an SP layer over a
// daemon with total order would drive it: every control message reaches every member, in one
// order, its sender included.
#include "flush/group.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wire/client_proto.hpp"

namespace chorus::flush {
namespace {

namespace cl = chorus::wire::client;
using kind = action::kind;

const std::string A = "#a#d1", B = "#b#d2", C = "#c#d3";
constexpr gid g1{1, 1, 1}, g2{1, 1, 2}, g3{1, 1, 3}, g4{1, 1, 4};

sp_view view(gid id, std::uint32_t cause, std::vector<std::string> members,
             std::vector<std::string> vs_set) {
  return {id, cl::reg_memb_mess | cause, std::move(members), std::move(vs_set)};
}

std::vector<kind> kinds(const actions& a) {
  std::vector<kind> out;
  for (const action& x : a) out.push_back(x.what);
  return out;
}

// A member alone in a group it created, its first view installed and steady.
group founder(const std::string& self) {
  group m(self);
  auto a = m.on_membership(view(g1, cl::caused_by_join, {self}, {self}));
  EXPECT_EQ(kinds(a), std::vector<kind>{kind::send_flush_ok});  // a joiner flushes on its own
  a = m.on_flush_ok(g1, self);
  EXPECT_EQ(kinds(a), (std::vector<kind>{kind::deliver_view, kind::send_flush_recv}));
  m.on_flush_recv(g1);
  EXPECT_EQ(m.state(), view_state::steady);
  EXPECT_EQ(m.joined(), join_state::joined);
  return m;
}

TEST(FlushGroup, AJoinAsksTheMemberAndNotTheJoiner) {
  group a = founder(A);
  group b(B);
  const sp_view v2 = view(g2, cl::caused_by_join, {A, B}, {B});
  EXPECT_EQ(kinds(a.on_membership(v2)), std::vector<kind>{kind::deliver_flush_request});
  EXPECT_EQ(kinds(b.on_membership(v2)), std::vector<kind>{kind::send_flush_ok});
  actions out;
  EXPECT_EQ(a.flush(out), 0);
  EXPECT_EQ(kinds(out), std::vector<kind>{kind::send_flush_ok});
  EXPECT_EQ(out[0].id, g2);
  EXPECT_EQ(a.flush(out), illegal_state);  // one flush per request
  // No one may send between its flush and the view.
  bool vulnerable = false;
  gid target{};
  EXPECT_EQ(a.may_send(cl::agreed_mess, vulnerable, target), illegal_state);
  EXPECT_EQ(b.may_send(cl::agreed_mess, vulnerable, target), illegal_group);  // not joined yet
  // B's FLUSH_OK, then A's, reach both in the same order.
  for (group* m : {&a, &b}) {
    EXPECT_TRUE(m->on_flush_ok(g2, B).empty());
    auto got = m->on_flush_ok(g2, A);
    ASSERT_EQ(kinds(got), (std::vector<kind>{kind::deliver_view, kind::send_flush_recv}));
    EXPECT_EQ(got[0].id, g2);
    EXPECT_EQ(got[0].type, cl::reg_memb_mess | cl::caused_by_join);
    EXPECT_EQ(got[0].members, (std::vector<std::string>{A, B}));
    EXPECT_EQ(got[0].names, std::vector<std::string>{B});
    EXPECT_EQ(m->state(), view_state::verify);
    // Weak services are marked vulnerable until every member said it installed the view.
    ASSERT_EQ(m->may_send(cl::fifo_mess, vulnerable, target), 0);
    EXPECT_TRUE(vulnerable);
    EXPECT_EQ(target, g2);
    ASSERT_EQ(m->may_send(cl::agreed_mess, vulnerable, target), 0);
    EXPECT_FALSE(vulnerable);
  }
  for (group* m : {&a, &b}) {
    m->on_flush_recv(g2);
    EXPECT_EQ(m->state(), view_state::verify);
    m->on_flush_recv(g2);
    EXPECT_EQ(m->state(), view_state::steady);
    EXPECT_EQ(m->joined(), join_state::joined);
  }
}

// A and B in g2, steady.
std::pair<group, group> pair_of_members() {
  group a = founder(A);
  group b(B);
  const sp_view v2 = view(g2, cl::caused_by_join, {A, B}, {B});
  a.on_membership(v2);
  b.on_membership(v2);
  actions out;
  EXPECT_EQ(a.flush(out), 0);
  for (group* m : {&a, &b}) {
    m->on_flush_ok(g2, B);
    m->on_flush_ok(g2, A);
    m->on_flush_recv(g2);
    m->on_flush_recv(g2);
    EXPECT_EQ(m->state(), view_state::steady);
  }
  return {std::move(a), std::move(b)};
}

TEST(FlushGroup, AMemberThatLeavesBeforeAgreeingCollapsesTheChangeIntoANetworkView) {
  auto [a, b] = pair_of_members();
  // C joins; A agrees; B disconnects before it does.
  a.on_membership(view(g3, cl::caused_by_join, {A, B, C}, {C}));
  actions out;
  ASSERT_EQ(a.flush(out), 0);
  EXPECT_TRUE(a.on_flush_ok(g3, A).empty());
  auto got = a.on_membership(view(g4, cl::caused_by_disconnect, {A, C}, {B}));
  // g3 can never be installed: A's agreement carries over to g4, and the view shrank.
  ASSERT_EQ(kinds(got), (std::vector<kind>{kind::send_flush_ok, kind::deliver_transition}));
  EXPECT_EQ(got[0].id, g4);
  EXPECT_TRUE(a.on_flush_ok(g4, C).empty());
  got = a.on_flush_ok(g4, A);
  ASSERT_EQ(kinds(got), (std::vector<kind>{kind::deliver_view, kind::send_flush_recv}));
  EXPECT_EQ(got[0].id, g4);
  EXPECT_EQ(got[0].type, cl::reg_memb_mess | cl::caused_by_network);  // it stands for g3 too
  EXPECT_EQ(got[0].members, (std::vector<std::string>{A, C}));
  EXPECT_EQ(got[0].names, std::vector<std::string>{A});  // who came with A from g2
}

TEST(FlushGroup, AMemberThatAgreedAndLeftLetsTheViewInstallThenATransitionalSignal) {
  auto [a, b] = pair_of_members();
  a.on_membership(view(g3, cl::caused_by_join, {A, B, C}, {C}));
  actions out;
  ASSERT_EQ(a.flush(out), 0);
  a.on_flush_ok(g3, A);
  a.on_flush_ok(g3, B);
  // B agreed to g3, then disconnected: g3 stays, g4 waits behind it.
  auto got = a.on_membership(view(g4, cl::caused_by_disconnect, {A, C}, {B}));
  EXPECT_EQ(kinds(got), std::vector<kind>{kind::deliver_transition});
  got = a.on_flush_ok(g3, C);
  ASSERT_EQ(kinds(got), (std::vector<kind>{kind::deliver_view, kind::deliver_flush_request,
                                           kind::deliver_transition}));
  EXPECT_EQ(got[0].id, g3);
  EXPECT_EQ(got[0].members, (std::vector<std::string>{A, B, C}));
  EXPECT_EQ(a.state(), view_state::authorize);  // asked again, now for g4
  ASSERT_EQ(a.flush(out = {}), 0);
  EXPECT_EQ(out[0].id, g4);
}

TEST(FlushGroup, VulnerableMessagesForTheViewAboutToBeInstalledWaitForIt) {
  auto [a, b] = pair_of_members();
  a.on_membership(view(g3, cl::caused_by_join, {A, B, C}, {C}));
  actions out;
  ASSERT_EQ(a.flush(out), 0);
  // C installed g3 already and sent a FIFO message marked for g3: A holds it.
  EXPECT_TRUE(a.on_data(C, g3, 7).empty());
  // From someone outside the pending view: dropped.
  EXPECT_EQ(kinds(a.on_data("#x#d9", g3, 8)), std::vector<kind>{kind::drop_data});
  a.on_flush_ok(g3, A);
  a.on_flush_ok(g3, B);
  auto got = a.on_flush_ok(g3, C);
  ASSERT_EQ(kinds(got),
            (std::vector<kind>{kind::deliver_view, kind::send_flush_recv, kind::deliver_data}));
  EXPECT_EQ(got[2].token, 7u);
  // Closed group: only current members of the view are delivered.
  EXPECT_EQ(kinds(a.on_data(C, std::nullopt, 9)), std::vector<kind>{kind::deliver_data});
  EXPECT_EQ(kinds(a.on_data("#x#d9", std::nullopt, 10)), std::vector<kind>{kind::drop_data});
}

TEST(FlushGroup, AHeldMessageIsDroppedWhenItsViewIsAbandoned) {
  auto [a, b] = pair_of_members();
  a.on_membership(view(g3, cl::caused_by_join, {A, B, C}, {C}));
  actions out;
  ASSERT_EQ(a.flush(out), 0);
  EXPECT_TRUE(a.on_data(C, g3, 11).empty());
  // B leaves without agreeing: g3 is abandoned, and with it what was held for it.
  auto got = a.on_membership(view(g4, cl::caused_by_leave, {A, C}, {B}));
  EXPECT_EQ(kinds(got), (std::vector<kind>{kind::drop_data, kind::send_flush_ok,
                                           kind::deliver_transition}));
  EXPECT_EQ(got[0].token, 11u);
}

TEST(FlushGroup, TheStateTable) {
  auto [a, b] = pair_of_members();
  bool vulnerable = false;
  gid target{};
  actions out;
  EXPECT_EQ(a.flush(out), illegal_state);  // steady: nothing to agree to
  ASSERT_EQ(a.may_send(cl::fifo_mess, vulnerable, target), 0);
  EXPECT_FALSE(vulnerable);  // steady: nothing to protect
  a.on_membership(view(g3, cl::caused_by_join, {A, B, C}, {C}));
  ASSERT_EQ(a.may_send(cl::reliable_mess, vulnerable, target), 0);  // authorize: still may send
  EXPECT_TRUE(vulnerable);
  EXPECT_EQ(target, g2);
  EXPECT_TRUE(a.are_members({A, B}));
  EXPECT_FALSE(a.are_members({A, C}));  // C is not in the installed view yet
  EXPECT_EQ(a.leave(), 0);
  EXPECT_EQ(a.leave(), illegal_group);
  EXPECT_EQ(a.flush(out), illegal_group);  // leaving
  EXPECT_EQ(a.may_send(cl::agreed_mess, vulnerable, target), illegal_group);
}

TEST(FlushGroup, AChangeKnownOnlyFromAFlushOkIsForgottenWhenOld) {
  auto [a, b] = pair_of_members();
  a.on_flush_ok(gid{9, 9, 9}, "#z#d9");  // a FLUSH_OK for a view A will never see
  EXPECT_EQ(a.changes_without_view(), 1u);
  const sp_view v3 = view(g3, cl::caused_by_join, {A, B, C}, {C});
  for (int i = 0; i < group::stale_change_age; ++i) a.on_membership(v3);
  EXPECT_EQ(a.changes_without_view(), 1u);
  a.on_membership(v3);  // the 201st membership since: it is dropped
  EXPECT_EQ(a.changes_without_view(), 0u);
}

}  // namespace
}  // namespace chorus::flush
