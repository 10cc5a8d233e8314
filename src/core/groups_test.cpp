// groups_test.cpp — the groups layer driven by hand-made ring events: views, routing, the
// state exchange after configuration changes, and group ids.
#include "core/groups.hpp"

#include <gtest/gtest.h>

namespace chorus::core {
namespace {

namespace cl = wire::client;

const node_id d1{0}, d2{1}, d3{2};

// Two daemons' groups layers fed the same ring events, as the ring would.
struct harness {
  explicit harness(node_id self) : g(groups_config{self, {d1, d2, d3}}), self(self) {}
  groups g;
  node_id self;
  std::uint64_t next_seq = 1;

  void config(configuration::kind k, ring_id r, std::vector<node_id> members) {
    g.on_event(configuration{k, r, std::move(members)});
  }
  void deliver(node_id origin, util::byte_vector payload) {
    delivery d;
    d.origin = origin;
    d.seq = seq_t{next_seq++};
    d.payload = util::shared_bytes(std::move(payload));
    g.on_event(d);
  }
  void op(node_id origin, wire::group_msg_kind k, std::string member, std::string group = {}) {
    deliver(origin, wire::encode_group_op({k, std::move(member), std::move(group)}));
  }
  void data(node_id origin, std::string sender, std::vector<std::string> groups, std::string text,
            std::uint32_t type = cl::agreed_mess) {
    util::byte_vector msg;
    util::byte_writer w(msg);
    cl::encode_header(w, type, sender, static_cast<std::int32_t>(groups.size()), {},
                      static_cast<std::int32_t>(text.size()));
    for (const auto& gname : groups) {
      std::string field = gname;
      field.resize(cl::name_bytes, '\0');
      w.bytes(std::as_bytes(std::span(field)));
    }
    w.bytes(std::as_bytes(std::span(text)));
    deliver(origin, wire::encode_group_data(msg));
  }
  // Delivers every state announcement this layer asked to submit (the ring would, in order).
  std::vector<util::shared_bytes> flush_submits(groups_output& o) {
    return std::exchange(o.submit, {});
  }
};

struct decoded {
  session_id to;
  cl::message m;
};

std::vector<decoded> take(groups& g, std::vector<util::shared_bytes>* submits = nullptr) {
  auto o = g.take_output();
  std::vector<decoded> out;
  for (auto& s : o.messages) {
    auto m = cl::decode_message(s.bytes.span());
    EXPECT_TRUE(m.ok());
    if (m) out.push_back({s.to, *m});
  }
  if (submits) *submits = o.submit;
  return out;
}

// One daemon alone: its first regular configuration and the exchange with itself.
void boot_alone(harness& h, ring_id r) {
  h.config(configuration::kind::regular, r, {h.self});
  std::vector<util::shared_bytes> submits;
  take(h.g, &submits);
  ASSERT_EQ(submits.size(), 1u);
  util::byte_vector state(submits[0].span().begin(), submits[0].span().end());
  h.deliver(h.self, state);
}

TEST(groups, join_notifies_every_member_with_the_joiner_in_the_vs_set) {
  harness h(d1);
  boot_alone(h, ring_id{d1, 1});
  h.g.open_session(session_id{1}, "#a#d1", true);
  h.g.open_session(session_id{2}, "#b#d1", true);
  h.op(d1, wire::group_msg_kind::join, "#a#d1", "g");
  auto m1 = take(h.g);
  ASSERT_EQ(m1.size(), 1u);
  EXPECT_EQ(m1[0].m.hdr.type, cl::reg_memb_mess | cl::caused_by_join);
  EXPECT_EQ(m1[0].m.hdr.sender, "g");
  h.op(d1, wire::group_msg_kind::join, "#b#d1", "g");
  auto m2 = take(h.g);
  ASSERT_EQ(m2.size(), 2u);
  for (const auto& d : m2) {
    EXPECT_EQ(d.m.groups, (std::vector<std::string>{"#a#d1", "#b#d1"}));
    ASSERT_TRUE(d.m.has_membership);
    ASSERT_EQ(d.m.membership.vs_sets.size(), 1u);
    EXPECT_EQ(d.m.membership.vs_sets[0], std::vector<std::string>{"#b#d1"});
  }
  EXPECT_FALSE(m1[0].m.membership.gid == m2[0].m.membership.gid);
}

TEST(groups, data_goes_once_to_each_member_and_self_discard_skips_the_sender) {
  harness h(d1);
  boot_alone(h, ring_id{d1, 1});
  h.g.open_session(session_id{1}, "#a#d1", false);
  h.g.open_session(session_id{2}, "#b#d1", false);
  h.g.open_session(session_id{3}, "#c#d1", false);
  h.op(d1, wire::group_msg_kind::join, "#a#d1", "g");
  h.op(d1, wire::group_msg_kind::join, "#b#d1", "g");
  h.op(d1, wire::group_msg_kind::join, "#b#d1", "h");
  EXPECT_TRUE(take(h.g).empty()) << "no membership messages without the flag";

  h.data(d1, "#a#d1", {"g", "h"}, "hi");
  auto m = take(h.g);
  ASSERT_EQ(m.size(), 2u);  // a and b once each, c is no member
  EXPECT_EQ(m[0].to, session_id{1});
  EXPECT_EQ(m[1].to, session_id{2});
  EXPECT_EQ(m[1].m.groups, (std::vector<std::string>{"g", "h"}));

  h.data(d1, "#a#d1", {"g"}, "x", cl::fifo_mess | cl::self_discard);
  m = take(h.g);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].to, session_id{2});

  h.data(d1, "#c#d1", {"#a#d1"}, "private");  // open group: a non-member may send
  m = take(h.g);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].to, session_id{1});
}

TEST(groups, leave_sends_self_leave_then_others_see_leave_and_ids_never_repeat) {
  harness h(d1);
  boot_alone(h, ring_id{d1, 1});
  h.g.open_session(session_id{1}, "#a#d1", true);
  h.g.open_session(session_id{2}, "#b#d1", true);
  h.op(d1, wire::group_msg_kind::join, "#a#d1", "g");
  h.op(d1, wire::group_msg_kind::join, "#b#d1", "g");
  auto joined = take(h.g);
  h.op(d1, wire::group_msg_kind::leave, "#b#d1", "g");
  auto m = take(h.g);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].to, session_id{2});
  EXPECT_EQ(m[0].m.hdr.type, cl::caused_by_leave);  // self-leave
  EXPECT_EQ(m[1].to, session_id{1});
  EXPECT_EQ(m[1].m.hdr.type, cl::reg_memb_mess | cl::caused_by_leave);
  EXPECT_EQ(m[1].m.membership.vs_sets[0], std::vector<std::string>{"#b#d1"});

  // The group empties and is created again: a new id, never an old one.
  std::vector<cl::group_id> seen;
  for (const auto& d : joined) seen.push_back(d.m.membership.gid);
  seen.push_back(m[1].m.membership.gid);
  h.op(d1, wire::group_msg_kind::leave, "#a#d1", "g");
  take(h.g);
  h.op(d1, wire::group_msg_kind::join, "#a#d1", "g");
  auto again = take(h.g);
  ASSERT_EQ(again.size(), 1u);
  for (const auto& gid : seen) EXPECT_FALSE(gid == again[0].m.membership.gid);
}

TEST(groups, disconnect_removes_from_every_group_and_frees_the_name_once_ordered) {
  harness h(d1);
  boot_alone(h, ring_id{d1, 1});
  h.g.open_session(session_id{1}, "#a#d1", true);
  h.g.open_session(session_id{2}, "#b#d1", true);
  h.op(d1, wire::group_msg_kind::join, "#a#d1", "g");
  h.op(d1, wire::group_msg_kind::join, "#a#d1", "h");
  h.op(d1, wire::group_msg_kind::join, "#b#d1", "g");
  h.op(d1, wire::group_msg_kind::join, "#b#d1", "h");
  take(h.g);
  h.g.close_session(session_id{2});
  EXPECT_TRUE(h.g.name_in_use("#b#d1")) << "reserved until the disconnect is ordered";
  h.op(d1, wire::group_msg_kind::kill, "#b#d1");
  auto o = h.g.take_output();
  ASSERT_EQ(o.released, std::vector<session_id>{session_id{2}});
  ASSERT_EQ(o.messages.size(), 2u);
  for (const auto& s : o.messages) {
    auto m = cl::decode_message(s.bytes.span());
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(s.to, session_id{1});
    EXPECT_EQ(m->hdr.type, cl::reg_memb_mess | cl::caused_by_disconnect);
  }
  EXPECT_FALSE(h.g.name_in_use("#b#d1"));
}

TEST(groups, partition_gives_transition_then_network_with_the_survivors) {
  // d1 and d2 in one ring, each with a member of g; d2 vanishes.
  harness a(d1), b(d2);
  ring_id r1{d1, 1};
  for (auto* h : {&a, &b}) h->config(configuration::kind::regular, r1, {d1, d2});
  std::vector<util::shared_bytes> sa, sb;
  take(a.g, &sa);
  take(b.g, &sb);
  for (auto* h : {&a, &b}) {
    h->deliver(d1, {sa[0].span().begin(), sa[0].span().end()});
    h->deliver(d2, {sb[0].span().begin(), sb[0].span().end()});
  }
  a.g.open_session(session_id{1}, "#a#d1", true);
  b.g.open_session(session_id{1}, "#b#d2", true);
  for (auto* h : {&a, &b}) {
    h->op(d1, wire::group_msg_kind::join, "#a#d1", "g");
    h->op(d2, wire::group_msg_kind::join, "#b#d2", "g");
  }
  auto va = take(a.g), vb = take(b.g);
  ASSERT_EQ(va.back().m.groups, vb.back().m.groups);
  EXPECT_EQ(va.back().m.groups, (std::vector<std::string>{"#a#d1", "#b#d2"}));
  EXPECT_TRUE(va.back().m.membership.gid == vb.back().m.membership.gid);

  ring_id r2{d1, 2};
  a.config(configuration::kind::transitional, r2, {d1});
  auto t = take(a.g);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].m.hdr.type, cl::transition_mess);
  a.config(configuration::kind::regular, r2, {d1});
  take(a.g, &sa);
  a.data(d1, "#a#d1", {"g"}, "held until the exchange ends");
  EXPECT_TRUE(take(a.g).empty());
  a.deliver(d1, {sa[0].span().begin(), sa[0].span().end()});
  auto n = take(a.g);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].m.hdr.type, cl::reg_memb_mess | cl::caused_by_network);
  EXPECT_EQ(n[0].m.groups, std::vector<std::string>{"#a#d1"});
  EXPECT_EQ(n[0].m.membership.vs_sets.size(), 1u);
  EXPECT_EQ(n[1].m.hdr.type, cl::agreed_mess);
}

TEST(groups, merge_exchanges_state_and_groups_members_by_previous_ring) {
  harness a(d1), c(d3);
  boot_alone(a, ring_id{d1, 1});
  boot_alone(c, ring_id{d3, 1});
  a.g.open_session(session_id{1}, "#a#d1", true);
  c.g.open_session(session_id{1}, "#c#d3", true);
  a.op(d1, wire::group_msg_kind::join, "#a#d1", "g");
  c.op(d3, wire::group_msg_kind::join, "#c#d3", "g");
  take(a.g);
  take(c.g);
  ring_id merged{d1, 5};
  std::vector<util::shared_bytes> sa, sc;
  a.config(configuration::kind::transitional, merged, {d1});
  c.config(configuration::kind::transitional, merged, {d3});
  a.config(configuration::kind::regular, merged, {d1, d3});
  c.config(configuration::kind::regular, merged, {d1, d3});
  take(a.g, &sa);
  take(c.g, &sc);
  for (auto* h : {&a, &c}) {
    h->deliver(d3, {sc[0].span().begin(), sc[0].span().end()});
    h->deliver(d1, {sa[0].span().begin(), sa[0].span().end()});
  }
  auto ma = take(a.g), mc = take(c.g);
  ASSERT_EQ(ma.size(), 1u);
  ASSERT_EQ(mc.size(), 1u);
  EXPECT_EQ(ma[0].m.hdr.type, cl::reg_memb_mess | cl::caused_by_network);
  EXPECT_EQ(ma[0].m.groups, (std::vector<std::string>{"#a#d1", "#c#d3"}));
  EXPECT_EQ(ma[0].m.groups, mc[0].m.groups);
  EXPECT_TRUE(ma[0].m.membership.gid == mc[0].m.membership.gid);
  ASSERT_EQ(ma[0].m.membership.vs_sets.size(), 2u);
  // Each receiver's local set holds its own member.
  const auto& la = ma[0].m.membership.vs_sets[ma[0].m.membership.local_set];
  const auto& lc = mc[0].m.membership.vs_sets[mc[0].m.membership.local_set];
  EXPECT_EQ(la, std::vector<std::string>{"#a#d1"});
  EXPECT_EQ(lc, std::vector<std::string>{"#c#d3"});
}

// Every harness installs `r` with `members` after its own transitional configuration (the
// daemons it came with), then delivers everyone's announcement in `members` order.
void merge(std::vector<harness*> hs, ring_id r, std::vector<node_id> members) {
  std::vector<util::shared_bytes> states;
  for (auto* h : hs) {
    h->config(configuration::kind::regular, r, members);
    std::vector<util::shared_bytes> s;
    take(h->g, &s);
    states.push_back(s.at(0));
  }
  for (auto* h : hs)
    for (std::size_t i = 0; i < hs.size(); ++i)
      h->deliver(hs[i]->self, {states[i].span().begin(), states[i].span().end()});
}

// The views a layer wrote for `group`: gid → member list.
std::vector<std::pair<std::vector<std::string>, cl::group_id>> views_of(
    const std::vector<decoded>& out, const std::string& group) {
  std::vector<std::pair<std::vector<std::string>, cl::group_id>> v;
  for (const auto& d : out)
    if ((d.m.hdr.type & cl::reg_memb_mess) && d.m.hdr.sender == group)
      v.push_back({d.m.groups, d.m.membership.gid});
  return v;
}

// Two daemons merge, holding different tables, and the next change comes before the
// announcements: the join delivered meanwhile is applied to tables that differ, so the views it
// makes must not share an id.
TEST(groups, views_made_after_an_aborted_exchange_never_share_an_id) {
  harness a(d1), b(d2);
  boot_alone(a, ring_id{d1, 1});
  boot_alone(b, ring_id{d2, 1});
  a.g.open_session(session_id{1}, "#a#d1", true);
  a.g.open_session(session_id{2}, "#x#d1", true);
  b.g.open_session(session_id{1}, "#b#d2", true);
  a.op(d1, wire::group_msg_kind::join, "#a#d1", "g");
  b.op(d2, wire::group_msg_kind::join, "#b#d2", "g");
  take(a.g);
  take(b.g);
  ring_id r{d1, 5}, r2{d1, 6};
  for (auto* h : {&a, &b}) {
    h->config(configuration::kind::transitional, r, {h->self});
    h->config(configuration::kind::regular, r, {d1, d2});
    take(h->g);
    h->op(d1, wire::group_msg_kind::join, "#x#d1", "g");  // held: the exchange runs
    h->config(configuration::kind::transitional, r2, {d1, d2});
  }
  auto va = views_of(take(a.g), "g"), vb = views_of(take(b.g), "g");
  ASSERT_FALSE(va.empty());
  ASSERT_FALSE(vb.empty());
  for (const auto& [ma, ga] : va)
    for (const auto& [mb, gb] : vb)
      if (ma != mb) {
        EXPECT_FALSE(ga == gb) << "one id for two memberships";
      }
}

// Two rings merge; in its transitional configuration each side delivers a join its old ring
// ordered. The two transitional configurations share the new ring id but not their views.
TEST(groups, transitional_views_of_two_merging_rings_have_different_ids) {
  harness a(d1), b(d2);
  boot_alone(a, ring_id{d1, 1});
  boot_alone(b, ring_id{d2, 1});
  a.g.open_session(session_id{1}, "#a#d1", true);
  b.g.open_session(session_id{1}, "#b#d2", true);
  ring_id r{d1, 5};
  a.config(configuration::kind::transitional, r, {d1});
  b.config(configuration::kind::transitional, r, {d2});
  a.op(d1, wire::group_msg_kind::join, "#a#d1", "g");
  b.op(d2, wire::group_msg_kind::join, "#b#d2", "g");
  auto va = views_of(take(a.g), "g"), vb = views_of(take(b.g), "g");
  ASSERT_EQ(va.size(), 1u);
  ASSERT_EQ(vb.size(), 1u);
  EXPECT_FALSE(va[0].second == vb[0].second);
}

// A group only one side had is unchanged for that side but new for the other: after the merge
// every daemon must hold it under one id, the one its members were told.
TEST(groups, after_a_merge_every_daemon_holds_a_group_under_the_same_id) {
  harness a(d1), b(d2);
  boot_alone(a, ring_id{d1, 1});
  boot_alone(b, ring_id{d2, 1});
  a.g.open_session(session_id{1}, "#a#d1", true);
  a.op(d1, wire::group_msg_kind::join, "#a#d1", "g");
  take(a.g);
  ring_id r{d1, 5};
  a.config(configuration::kind::transitional, r, {d1});
  b.config(configuration::kind::transitional, r, {d2});
  merge({&a, &b}, r, {d1, d2});
  auto ga = a.g.find("g"), gb = b.g.find("g");
  ASSERT_TRUE(ga && gb);
  EXPECT_TRUE(ga->gid == gb->gid);
  EXPECT_EQ(ga->members, gb->members);
  auto told = views_of(take(a.g), "g");
  ASSERT_FALSE(told.empty());
  EXPECT_TRUE(told.back().second == ga->gid);
}

// d1 and d2 split; on each side the exchange is cut short, so both still name the ring they
// shared as the last one whose exchange completed; then they merge. They came from different
// configurations (and a's side delivered a message b never saw): different vs-sets.
// d1 and d2 in ring {d1, d2} (agreed), #a#d1 and #b#d2 both in group g.
void both_in_group_g(harness& a, harness& b) {
  ring_id p{d1, 1};
  for (auto* h : {&a, &b}) h->config(configuration::kind::transitional, p, {h->self});
  merge({&a, &b}, p, {d1, d2});
  a.g.open_session(session_id{1}, "#a#d1", true);
  b.g.open_session(session_id{1}, "#b#d2", true);
  for (auto* h : {&a, &b}) {
    h->op(d1, wire::group_msg_kind::join, "#a#d1", "g");
    h->op(d2, wire::group_msg_kind::join, "#b#d2", "g");
    take(h->g);
  }
}

TEST(groups, vs_sets_group_members_by_the_configuration_their_daemon_came_from) {
  harness a(d1), b(d2);
  both_in_group_g(a, b);
  ring_id ra{d1, 2}, rb{d2, 2}, r{d1, 3};
  a.config(configuration::kind::transitional, ra, {d1});
  a.config(configuration::kind::regular, ra, {d1});
  a.data(d1, "#a#d1", {"g"}, "only on d1's side");  // held, then applied when ra ends
  b.config(configuration::kind::transitional, rb, {d2});
  b.config(configuration::kind::regular, rb, {d2});
  a.config(configuration::kind::transitional, r, {d1});
  b.config(configuration::kind::transitional, r, {d2});
  take(a.g);
  take(b.g);
  merge({&a, &b}, r, {d1, d2});
  auto na = take(a.g);
  ASSERT_FALSE(na.empty());
  const auto& view = na.back().m;
  ASSERT_TRUE(view.hdr.type & cl::reg_memb_mess);
  EXPECT_EQ(view.membership.vs_sets.size(), 2u);
}

// Configurations changing faster than exchanges complete (issue 18, seen on real daemons with a
// one-way link): d1 and d2 leave ring p for rings of their own, d1 delivers a message there, then
// both pass through ring q, whose exchange never completes, to ring r. Both came to r from q, but
// not from the same past: since the last view they share (p's), d1 delivered a message d2 never
// did, so r's view must not put them in one vs-set.
TEST(groups, vs_sets_split_members_whose_daemons_took_different_paths_since_the_last_view) {
  harness a(d1), b(d2);
  both_in_group_g(a, b);
  ring_id ra{d1, 2}, rb{d2, 2}, q{d1, 3}, r{d1, 4};
  a.config(configuration::kind::transitional, ra, {d1});
  a.config(configuration::kind::regular, ra, {d1});
  a.data(d1, "#a#d1", {"g"}, "only on d1's side");
  b.config(configuration::kind::transitional, rb, {d2});
  b.config(configuration::kind::regular, rb, {d2});
  a.config(configuration::kind::transitional, q, {d1});
  b.config(configuration::kind::transitional, q, {d2});
  for (auto* h : {&a, &b}) h->config(configuration::kind::regular, q, {d1, d2});  // aborted
  for (auto* h : {&a, &b}) h->config(configuration::kind::transitional, r, {d1, d2});
  take(a.g);
  take(b.g);
  merge({&a, &b}, r, {d1, d2});
  for (auto* h : {&a, &b}) {
    auto out = take(h->g);
    ASSERT_FALSE(out.empty());
    const auto& view = out.back().m;
    ASSERT_TRUE(view.hdr.type & cl::reg_memb_mess);
    EXPECT_EQ(view.membership.vs_sets.size(), 2u) << "at d" << h->self.value + 1;
  }
}

TEST(groups, forged_or_malformed_ring_payloads_are_counted_not_applied) {
  harness h(d1);
  boot_alone(h, ring_id{d1, 1});
  h.deliver(d2, util::byte_vector{std::byte{9}});
  h.deliver(d2, util::byte_vector{std::byte{2}, std::byte{40}});
  h.op(d2, wire::group_msg_kind::join, "no-hash", "g");
  h.op(d2, wire::group_msg_kind::join, "#x#d2", "#private");
  h.data(d2, "#x#d2", {"g"}, "");
  EXPECT_EQ(h.g.stats().malformed, 4u);
  EXPECT_EQ(h.g.group_count(), 0u);
}

}  // namespace
}  // namespace chorus::core
