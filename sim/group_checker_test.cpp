// group_checker_test.cpp — the group checker accepts a correct history and names the violated
// rule (GA–GI) for each hand-made bad one.
#include "sim/group_checker.hpp"

#include <gtest/gtest.h>

namespace chorus::sim {
namespace {

namespace cl = wire::client;
using core::node_id;
using kind = wire::group_msg_kind;

const node_id d1{1}, d2{2};
const cl::group_id gid1{1, 7, 1}, gid2{1, 7, 2}, gid3{1, 7, 3};
const std::string a = "#a#n1", b = "#b#n1", c = "#c#n2";

cl::message decode(const util::byte_vector& bytes) {
  auto m = cl::decode_message(bytes);
  EXPECT_TRUE(m.ok());
  return *m;
}

cl::message view(std::uint32_t cause, const std::string& group,
                 const std::vector<std::string>& members, cl::group_id gid,
                 const std::vector<std::vector<std::string>>& vs, std::size_t local = 0) {
  return decode(cl::encode_membership(cause, group, members, gid, vs, local));
}

cl::message data_message(const std::string& sender, std::uint64_t counter,
                         const std::vector<std::string>& groups, std::uint32_t type,
                         std::size_t size = 16) {
  const util::byte_vector payload = make_group_payload(sender, counter, size);
  util::byte_vector out;
  util::byte_writer w(out);
  cl::encode_header(w, type, sender, static_cast<std::int32_t>(groups.size()), {},
                    static_cast<std::int32_t>(payload.size()));
  for (const auto& g : groups) {
    std::string field = g;
    field.resize(cl::name_bytes, '\0');
    w.bytes(std::as_bytes(std::span(field)));
  }
  w.bytes(payload);
  return decode(out);
}

// Two daemons; a and b on d1, c on d2. The good history: a and c join g (in that order, ring
// order on both daemons), then a sends a/1 to g; both get both views and the message.
struct group_history : ::testing::Test {
  group_checker chk;

  void SetUp() override {
    chk.on_daemon_start(d1);
    chk.on_daemon_start(d2);
    chk.on_open(d1, a, true);
    chk.on_open(d1, b, true);
    chk.on_open(d2, c, true);
  }
  void ring_op(kind k, const std::string& member, const std::string& group = {}) {
    for (node_id d : {d1, d2}) chk.on_ring_op(d, k, member, group);
  }
  void send(const std::string& sender, std::uint64_t counter,
            const std::vector<std::string>& groups, std::uint32_t type = cl::agreed_mess) {
    chk.on_sent(sender, counter, type, groups, 16);
    for (node_id d : {d1, d2}) chk.on_ring_data(d, sender, counter, groups, type);
  }
  void get(const std::string& session, const std::string& sender, std::uint64_t counter,
           const std::vector<std::string>& groups, std::uint32_t type = cl::agreed_mess) {
    chk.on_message(session, data_message(sender, counter, groups, type));
  }
  // Up to and including both joins.
  void joins() {
    ring_op(kind::join, a, "g");
    chk.on_message(a, view(cl::caused_by_join, "g", {a}, gid1, {{a}}));
    ring_op(kind::join, c, "g");
    chk.on_message(a, view(cl::caused_by_join, "g", {a, c}, gid2, {{c}}));
    chk.on_message(c, view(cl::caused_by_join, "g", {a, c}, gid2, {{c}}));
  }
  void good_history() {
    joins();
    send(a, 1, {"g"});
    get(a, a, 1, {"g"});
    get(c, a, 1, {"g"});
  }
  group_checker::table final_table(cl::group_id gid = gid2) { return {{"g", {gid, {a, c}}}}; }
  void finish() { chk.finish({{d1, final_table()}, {d2, final_table()}}); }
  void expect_violation(const std::string& prefix) {
    ASSERT_FALSE(chk.ok()) << "expected " << prefix;
    EXPECT_EQ(chk.violation().rfind(prefix, 0), 0u) << chk.violation();
  }
};

TEST_F(group_history, a_correct_history_passes) {
  good_history();
  finish();
  EXPECT_TRUE(chk.ok()) << chk.violation();
  EXPECT_EQ(chk.views(), 3u);
  EXPECT_EQ(chk.deliveries(), 2u);
}

TEST(group_payload, round_trips_and_rejects_other_bytes) {
  auto p = make_group_payload("#a#n1", 42, 100);
  EXPECT_EQ(read_group_payload("#a#n1", p), 42u);
  EXPECT_FALSE(read_group_payload("#b#n1", p));
  p[50] ^= std::byte{1};
  EXPECT_FALSE(read_group_payload("#a#n1", p));
}

// GA ------------------------------------------------------------------------------------------

TEST_F(group_history, ga_one_gid_for_two_member_lists) {
  ring_op(kind::join, a, "g");
  chk.on_message(a, view(cl::caused_by_join, "g", {a}, gid1, {{a}}));
  chk.on_message(c, view(cl::caused_by_join, "g", {a, c}, gid1, {{c}}));
  expect_violation("GA");
}

TEST_F(group_history, ga_one_gid_twice_at_a_session) {
  chk.on_message(a, view(cl::caused_by_join, "g", {a}, gid1, {{a}}));
  chk.on_message(a, view(cl::caused_by_network, "g", {a}, gid1, {{a}}));
  expect_violation("GA");
}

TEST_F(group_history, ga_transition_names_another_view) {
  chk.on_message(a, view(cl::caused_by_join, "g", {a}, gid1, {{a}}));
  chk.on_message(a, decode(cl::encode_transition("g", gid3)));
  expect_violation("GA");
}

// GB ------------------------------------------------------------------------------------------

TEST_F(group_history, gb_view_without_the_receiver) {
  chk.on_message(a, view(cl::caused_by_join, "g", {c}, gid1, {{c}}));
  expect_violation("GB");
}

TEST_F(group_history, gb_view_for_a_session_that_asked_for_none) {
  chk.on_open(d1, "#q#n1", false);
  chk.on_message("#q#n1", view(cl::caused_by_join, "g", {"#q#n1"}, gid1, {{"#q#n1"}}));
  expect_violation("GB");
}

TEST_F(group_history, gb_members_out_of_daemon_order) {
  chk.on_message(a, view(cl::caused_by_join, "g", {c, a}, gid1, {{c}}));
  expect_violation("GB");
}

TEST_F(group_history, gb_join_with_more_than_the_joiner) {
  chk.on_message(a, view(cl::caused_by_join, "g", {a, c}, gid1, {{a}, {c}}));
  expect_violation("GB");
}

TEST_F(group_history, gb_leave_that_still_lists_the_leaver) {
  chk.on_message(a, view(cl::caused_by_leave, "g", {a, c}, gid1, {{c}}));
  expect_violation("GB");
}

TEST_F(group_history, gb_network_vs_sets_that_do_not_partition_the_members) {
  chk.on_message(a, view(cl::caused_by_network, "g", {a, c}, gid1, {{a}}));
  expect_violation("GB");
}

TEST_F(group_history, gb_local_vs_set_without_the_receiver) {
  chk.on_message(a, view(cl::caused_by_network, "g", {a, c}, gid1, {{a}, {c}}, 1));
  expect_violation("GB");
}

TEST_F(group_history, gb_self_leave_of_a_group_it_is_not_in) {
  chk.on_message(a, decode(cl::encode_self_leave("g")));
  expect_violation("GB");
}

// GC ------------------------------------------------------------------------------------------

TEST_F(group_history, gc_two_members_move_between_the_same_views_with_different_messages) {
  joins();
  send(a, 1, {"g"});
  send(c, 1, {"g"});
  get(a, a, 1, {"g"});
  get(a, c, 1, {"g"});
  get(c, a, 1, {"g"});  // c misses c/1 (its own, without SELF_DISCARD)
  chk.on_message(a, view(cl::caused_by_network, "g", {a, c}, gid3, {{a, c}}));
  EXPECT_TRUE(chk.ok()) << chk.violation();
  chk.on_message(c, view(cl::caused_by_network, "g", {a, c}, gid3, {{a, c}}));
  expect_violation("GC");
}

TEST_F(group_history, gc_sessions_in_different_vs_sets_may_differ) {
  joins();
  send(a, 1, {"g"});
  get(a, a, 1, {"g"});  // c was cut off after the view: it came back from another partition
  chk.on_message(a, view(cl::caused_by_network, "g", {a, c}, gid3, {{a}, {c}}, 0));
  chk.on_message(c, view(cl::caused_by_network, "g", {a, c}, gid3, {{a}, {c}}, 1));
  EXPECT_TRUE(chk.ok()) << chk.violation();
}

TEST_F(group_history, gc_ignores_the_senders_own_self_discard_messages) {
  joins();
  send(c, 1, {"g"}, cl::agreed_mess | cl::self_discard);
  get(a, c, 1, {"g"}, cl::agreed_mess | cl::self_discard);
  chk.on_message(a, view(cl::caused_by_network, "g", {a, c}, gid3, {{a, c}}));
  chk.on_message(c, view(cl::caused_by_network, "g", {a, c}, gid3, {{a, c}}));
  EXPECT_TRUE(chk.ok()) << chk.violation();
}

// GD ------------------------------------------------------------------------------------------

TEST_F(group_history, gd_two_sessions_deliver_two_messages_in_opposite_orders) {
  joins();
  send(a, 1, {"g"});
  send(c, 1, {"g"});
  get(a, a, 1, {"g"});
  get(a, c, 1, {"g"});
  get(c, c, 1, {"g"});
  get(c, a, 1, {"g"});
  EXPECT_TRUE(chk.ok()) << chk.violation();
  chk.check_histories();
  expect_violation("GD");
}

// GE ------------------------------------------------------------------------------------------

TEST_F(group_history, ge_a_message_twice) {
  good_history();
  get(c, a, 1, {"g"});
  expect_violation("GE");
}

TEST_F(group_history, ge_fifo_per_sender) {
  joins();
  send(a, 1, {"g"});
  send(a, 2, {"g"});
  get(c, a, 2, {"g"});
  get(c, a, 1, {"g"});
  expect_violation("GE FIFO");
}

TEST_F(group_history, ge_self_discard_reaches_the_sender) {
  joins();
  send(a, 1, {"g"}, cl::fifo_mess | cl::self_discard);
  get(a, a, 1, {"g"}, cl::fifo_mess | cl::self_discard);
  expect_violation("GE");
}

TEST_F(group_history, ge_a_non_member_receives_a_group_message) {
  joins();
  send(a, 1, {"g"});
  get(b, a, 1, {"g"});
  expect_violation("GE");
}

TEST_F(group_history, ge_a_private_message_reaches_its_owner_only) {
  send(c, 1, {b});
  get(b, c, 1, {b});
  EXPECT_TRUE(chk.ok()) << chk.violation();
  get(a, c, 1, {b});
  expect_violation("GE");
}

TEST_F(group_history, ge_other_bytes_than_were_sent) {
  joins();
  send(a, 1, {"g"}, cl::safe_mess);
  get(c, a, 1, {"g"}, cl::agreed_mess);
  expect_violation("GE");
}

TEST_F(group_history, ge_nothing_after_the_session_ended) {
  joins();
  send(a, 1, {"g"});
  chk.on_close(c);
  get(c, a, 1, {"g"});
  expect_violation("GE");
}

// GF ------------------------------------------------------------------------------------------

TEST_F(group_history, gf_an_open_member_misses_a_message_its_daemon_delivered) {
  joins();
  send(a, 1, {"g"});
  get(a, a, 1, {"g"});
  finish();
  expect_violation("GF");
}

TEST_F(group_history, gf_a_message_sent_before_the_join_is_not_owed) {
  ring_op(kind::join, a, "g");
  chk.on_message(a, view(cl::caused_by_join, "g", {a}, gid1, {{a}}));
  send(a, 1, {"g"});
  get(a, a, 1, {"g"});
  ring_op(kind::join, c, "g");
  chk.on_message(a, view(cl::caused_by_join, "g", {a, c}, gid2, {{c}}));
  chk.on_message(c, view(cl::caused_by_join, "g", {a, c}, gid2, {{c}}));
  finish();
  EXPECT_TRUE(chk.ok()) << chk.violation();
}

TEST_F(group_history, gf_an_ended_session_may_miss_only_a_tail) {
  joins();
  send(a, 1, {"g"});
  send(a, 2, {"g"});
  get(a, a, 1, {"g"});
  get(a, a, 2, {"g"});
  get(c, a, 2, {"g"});  // skipped a/1
  chk.on_daemon_crash(d2);
  chk.finish({{d1, final_table()}});
  expect_violation("GF");
}

TEST_F(group_history, gf_after_a_leave_nothing_more_is_owed) {
  good_history();
  ring_op(kind::leave, c, "g");
  chk.on_message(c, decode(cl::encode_self_leave("g")));
  chk.on_message(a, view(cl::caused_by_leave, "g", {a}, gid3, {{c}}));
  send(a, 2, {"g"});
  get(a, a, 2, {"g"});
  chk.finish({{d1, {{"g", {gid3, {a}}}}}, {d2, {{"g", {gid3, {a}}}}}});
  EXPECT_TRUE(chk.ok()) << chk.violation();
}

// GG ------------------------------------------------------------------------------------------

TEST_F(group_history, gg_daemons_hold_different_gids) {
  good_history();
  chk.finish({{d1, final_table()}, {d2, final_table(gid3)}});
  expect_violation("GG");
}

TEST_F(group_history, gg_a_table_lists_a_session_that_ended) {
  good_history();
  chk.on_close(c);
  chk.on_released(d2, c);
  finish();
  expect_violation("GG");
}

TEST_F(group_history, gg_a_members_last_view_is_not_the_table) {
  good_history();
  const group_checker::table t{{"g", {gid3, {a, c}}}};
  chk.finish({{d1, t}, {d2, t}});
  expect_violation("GG");
}

// GH ------------------------------------------------------------------------------------------

TEST_F(group_history, gh_release_of_a_session_nobody_closed) {
  chk.on_released(d1, a);
  expect_violation("GH");
}

TEST_F(group_history, gh_release_by_another_daemon) {
  chk.on_close(c);
  chk.on_released(d1, c);
  expect_violation("GH");
}

TEST_F(group_history, gh_a_closed_session_of_a_live_daemon_is_never_released) {
  chk.on_close(b);
  chk.finish({{d1, {}}, {d2, {}}});
  expect_violation("GH");
}

// GI ------------------------------------------------------------------------------------------

const core::time_point t0 = core::time_point{} + std::chrono::seconds(1);

TEST_F(group_history, gi_a_transition_that_no_view_follows) {
  using namespace std::chrono_literals;
  joins();
  chk.on_configuration(d1, t0);
  chk.on_message(a, decode(cl::encode_transition("g", gid2)), t0);
  chk.check_views_follow_transitions(t0 + 3s);
  EXPECT_TRUE(chk.ok()) << chk.violation();
  chk.check_views_follow_transitions(t0 + 3s + 1ms);
  expect_violation("GI");
}

TEST_F(group_history, gi_the_wait_counts_from_the_daemons_last_regular_configuration) {
  using namespace std::chrono_literals;
  joins();
  chk.on_message(a, decode(cl::encode_transition("g", gid2)), t0);
  chk.on_configuration(d1, t0 + 2s);  // a newer configuration: the exchange starts over
  chk.check_views_follow_transitions(t0 + 4s);
  EXPECT_TRUE(chk.ok()) << chk.violation();
  chk.on_message(a, view(cl::caused_by_network, "g", {a, c}, gid3, {{a}, {c}}), t0 + 4s);
  chk.check_views_follow_transitions(t0 + 60s);
  EXPECT_TRUE(chk.ok()) << chk.violation();
}

TEST_F(group_history, gi_a_session_that_ended_is_owed_no_view) {
  using namespace std::chrono_literals;
  joins();
  chk.on_message(a, decode(cl::encode_transition("g", gid2)), t0);
  chk.on_close(a);
  chk.check_views_follow_transitions(t0 + 60s);
  EXPECT_TRUE(chk.ok()) << chk.violation();
}

}  // namespace
}  // namespace chorus::sim
