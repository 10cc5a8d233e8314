// client_test.cpp — the C++ API (include/chorus/client.hpp) against real chorusd daemons: data
// and its accessors, membership accessors across joins, leaves, disconnects and a daemon crash,
// timeouts, errors.
#include "chorus/client.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "daemons.hpp"

namespace {

using namespace std::chrono_literals;
using chorus::testing::daemons;

chorus::connection connect(const daemons& d, int i, const std::string& name) {
  auto c = chorus::connection::connect({.endpoint = d.endpoint(i), .name = name});
  if (!c) ADD_FAILURE() << name << ": " << c.error().message;
  return std::move(*c);
}

chorus::message next(chorus::connection& c) {
  auto m = c.receive(10s);
  if (!m) {
    ADD_FAILURE() << m.error().message;
    return {};
  }
  return std::move(*m);
}

class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { d_ = new daemons(1); }
  static void TearDownTestSuite() {
    delete d_;
    d_ = nullptr;
  }
  static daemons* d_;
};
daemons* ClientTest::d_ = nullptr;

TEST_F(ClientTest, DataMessagesAndTheirAccessors) {
  auto a = connect(*d_, 1, "cpa");
  EXPECT_EQ(a.private_group(), "#cpa#d1");
  ASSERT_TRUE(a.join("cpg"));
  auto view = next(a);
  ASSERT_TRUE(view.is_regular_membership());
  auto sent = a.multicast(chorus::service::safe, "cpg", "hello", {.message_type = -7});
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 5u);
  auto m = next(a);
  ASSERT_TRUE(m.is_data());
  EXPECT_FALSE(m.is_membership());
  EXPECT_EQ(m.service(), chorus::service::safe);
  EXPECT_EQ(m.sender(), "#cpa#d1");
  EXPECT_EQ(m.groups(), std::vector<std::string>{"cpg"});
  EXPECT_EQ(m.message_type(), -7);
  EXPECT_FALSE(m.endian_mismatch());
  EXPECT_EQ(m.text(), "hello");
  // Scatter-gather to several groups; SELF_DISCARD keeps it from us.
  std::array<std::string, 2> groups{"cpg", "other"};
  std::string p1 = "gath", p2 = "ered";
  std::span<const std::byte> parts[] = {std::as_bytes(std::span(p1)), std::as_bytes(std::span(p2))};
  ASSERT_TRUE(a.multicast(chorus::service::fifo, groups, parts));
  ASSERT_TRUE(a.multicast(chorus::service::agreed, "cpg", "discarded", {.self_discard = true}));
  ASSERT_TRUE(a.multicast(chorus::service::agreed, "cpg", "last"));
  m = next(a);
  EXPECT_EQ(m.text(), "gathered");
  EXPECT_EQ(m.groups(), (std::vector<std::string>{"cpg", "other"}));
  EXPECT_EQ(next(a).text(), "last");
}

TEST_F(ClientTest, MembershipAccessorsThroughJoinLeaveAndDisconnect) {
  auto a = connect(*d_, 1, "ma");
  ASSERT_TRUE(a.join("views"));
  auto first = next(a);
  ASSERT_TRUE(first.is_regular_membership());
  EXPECT_EQ(first.cause(), chorus::cause::join);
  EXPECT_EQ(first.sender(), "views");
  EXPECT_EQ(first.members(), std::vector<std::string>{"#ma#d1"});
  EXPECT_EQ(first.changed_member(), "#ma#d1");
  EXPECT_EQ(first.message_type(), 0);
  {
    auto b = connect(*d_, 1, "mb");
    ASSERT_TRUE(b.join("views"));
    auto joined = next(a);
    EXPECT_EQ(joined.cause(), chorus::cause::join);
    EXPECT_EQ(joined.members(), (std::vector<std::string>{"#ma#d1", "#mb#d1"}));
    EXPECT_EQ(joined.vs_sets(), std::vector<std::vector<std::string>>{{"#mb#d1"}});
    EXPECT_EQ(joined.my_vs_set(), 0u);
    EXPECT_EQ(joined.changed_member(), "#mb#d1");
    EXPECT_FALSE(joined.group_id() == first.group_id());
    auto at_b = next(b);
    EXPECT_EQ(at_b.group_id(), joined.group_id());
    EXPECT_EQ(at_b.message_type(), 1);  // b's index among the members
    ASSERT_TRUE(b.leave("views"));
    auto self = next(b);
    EXPECT_TRUE(self.is_self_leave());
    EXPECT_EQ(self.sender(), "views");
    auto left = next(a);
    EXPECT_EQ(left.cause(), chorus::cause::leave);
    EXPECT_EQ(left.changed_member(), "#mb#d1");
    EXPECT_EQ(left.members(), std::vector<std::string>{"#ma#d1"});
    ASSERT_TRUE(b.join("views"));
    EXPECT_EQ(next(a).cause(), chorus::cause::join);
  }  // b's destructor disconnects
  auto gone = next(a);
  EXPECT_EQ(gone.cause(), chorus::cause::disconnect);
  EXPECT_EQ(gone.changed_member(), "#mb#d1");
}

TEST_F(ClientTest, ReceiveTimesOutAndPollSaysNothingWaits) {
  auto a = connect(*d_, 1, "idle");
  auto p = a.poll();
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, 0u);
  auto m = a.receive(50ms);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, chorus::error::timed_out);
  // The connection still works afterwards.
  ASSERT_TRUE(a.join("afteridle"));
  EXPECT_TRUE(next(a).is_regular_membership());
}

// A polling receiver gets everything in order, whether a message comes while it polls or after
// it has gone to sleep; a receive deadline shorter than the poll still holds; and a receiver
// polling in one thread is ended by a disconnect in another.
TEST_F(ClientTest, BusyPollingReceivesInOrderAndKeepsDeadlines) {
  auto a =
      chorus::connection::connect({.endpoint = d_->endpoint(1), .name = "poller", .busy_poll = 1s});
  ASSERT_TRUE(a) << a.error().message;
  auto b = chorus::connection::connect(
      {.endpoint = d_->endpoint(1), .name = "napper", .busy_poll = 1ms});
  ASSERT_TRUE(b) << b.error().message;
  auto sender = connect(*d_, 1, "bpsend");
  for (auto* c : {&*a, &*b}) {
    ASSERT_TRUE(c->join("bpg"));
    EXPECT_TRUE(next(*c).is_regular_membership());
  }
  EXPECT_TRUE(next(*a).is_regular_membership());  // napper joined
  std::thread t([&] {
    for (int i = 0; i < 50; ++i) {
      // Sometimes after the napper's 1 ms poll is over: it must wake from its sleep.
      if (i % 10 == 0) std::this_thread::sleep_for(5ms);
      ASSERT_TRUE(sender.multicast(chorus::service::agreed, "bpg", std::to_string(i)));
    }
  });
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(next(*a).text(), std::to_string(i));
    EXPECT_EQ(next(*b).text(), std::to_string(i));
  }
  t.join();
  auto start = std::chrono::steady_clock::now();
  auto m = a->receive(50ms);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, chorus::error::timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 900ms) << "polled past the deadline";
  std::thread receiver([&] { EXPECT_FALSE(a->receive()); });
  std::this_thread::sleep_for(50ms);  // the stimulus: it polls first
  ASSERT_TRUE(a->disconnect());
  receiver.join();
  for (auto us : {-1, 1000001}) {
    auto bad = chorus::connection::connect({.endpoint = d_->endpoint(1),
                                            .name = "badpoll",
                                            .busy_poll = std::chrono::microseconds(us)});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, -20);  // ILLEGAL_TIME
    EXPECT_NE(bad.error().message.find("busy_poll"), std::string::npos);
  }
}

TEST_F(ClientTest, SharedMemoryAndSocketSendersAlike) {
  // The default sends through the daemon's shared-memory ring; the other over the socket. Both
  // are ordered alike, and the largest messages, several at once, go through the 256 KiB ring
  // (the sender waits for room while the daemon, which sleeps between events, takes them).
  auto shm = connect(*d_, 1, "shmsend");
  auto plain = chorus::connection::connect(
      {.endpoint = d_->endpoint(1), .name = "socksend", .shared_memory = false});
  ASSERT_TRUE(plain) << plain.error().message;
  auto reader = connect(*d_, 1, "shmread");
  ASSERT_TRUE(reader.join("shmg"));
  EXPECT_TRUE(next(reader).is_regular_membership());
  std::thread senders([&] {
    for (int i = 0; i < 200; ++i) {
      auto& c = i % 2 == 0 ? shm : *plain;
      ASSERT_TRUE(c.multicast(chorus::service::fifo, "shmg", std::to_string(i)));
    }
    const std::string big(144000 - 32, 'b');
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(shm.multicast(chorus::service::safe, "shmg", big));
  });
  // The two senders' messages interleave in any order; each sender's arrive in its order (the
  // large ones after the small ones of their sender).
  int small_shm = 0, small_plain = 0, large = 0;
  for (int i = 0; i < 204; ++i) {
    auto m = next(reader);
    if (m.data().size() == 144000u - 32) {
      EXPECT_EQ(m.sender(), shm.private_group());
      EXPECT_EQ(small_shm, 100) << "a large message before its sender's small ones";
      ++large;
      continue;
    }
    const bool from_shm = m.sender() == shm.private_group();
    int& count = from_shm ? small_shm : small_plain;
    EXPECT_EQ(m.text(), std::to_string(2 * count + (from_shm ? 0 : 1)));
    ++count;
  }
  EXPECT_EQ(large, 4);
  senders.join();
}

TEST_F(ClientTest, ErrorsSayWhatWentWrong) {
  auto bad = chorus::connection::connect({.endpoint = "no such place", .name = ""});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, -1);  // ILLEGAL_SPREAD
  EXPECT_NE(bad.error().message.find("no such place"), std::string::npos);
  auto dup1 = connect(*d_, 1, "dup");
  auto dup2 = chorus::connection::connect({.endpoint = d_->endpoint(1), .name = "dup"});
  ASSERT_FALSE(dup2);
  EXPECT_EQ(dup2.error().code, -6);  // REJECT_NOT_UNIQUE
  auto j = dup1.join("bad group");
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().code, -14);  // ILLEGAL_GROUP
  ASSERT_TRUE(dup1.disconnect());
  EXPECT_FALSE(dup1.connected());
  auto after = dup1.multicast(chorus::service::agreed, "g", "x");
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, -11);  // ILLEGAL_SESSION
}

TEST(ClientCrash, TransitionThenNetworkViewWithTheSurvivors) {
  daemons d(3);
  auto a = connect(d, 1, "ca");
  auto b = connect(d, 2, "cb");
  auto c = connect(d, 3, "cc");
  chorus::message view;
  for (auto* x : {&a, &b, &c}) {
    ASSERT_TRUE(x->join("crash"));
    // Wait until this member sees everyone who joined so far.
  }
  for (auto* x : {&a, &b}) {
    for (;;) {
      view = next(*x);
      if (view.is_regular_membership() && view.members().size() == 3) break;
    }
  }
  const auto before = view.group_id();
  d.kill9(3);
  for (auto* x : {&a, &b}) {
    auto t = next(*x);
    ASSERT_TRUE(t.is_transition()) << std::hex << t.type();
    EXPECT_EQ(t.sender(), "crash");
    EXPECT_EQ(t.group_id(), before);
    auto n = next(*x);
    ASSERT_TRUE(n.is_regular_membership());
    EXPECT_EQ(n.cause(), chorus::cause::network);
    EXPECT_EQ(n.members(), (std::vector<std::string>{"#ca#d1", "#cb#d2"}));
    EXPECT_EQ(n.vs_sets(), (std::vector<std::vector<std::string>>{{"#ca#d1", "#cb#d2"}}));
    EXPECT_EQ(n.changed_member(), "");
    EXPECT_FALSE(n.group_id() == before);
  }
}

}  // namespace

extern "C" int c_api_roundtrip(const char* spread_name);
extern "C" int c_events_timer(void);

namespace {

TEST_F(ClientTest, TheCApiFromC) { EXPECT_EQ(c_api_roundtrip(d_->endpoint(1).c_str()), 0); }

TEST(CApi, TheEventLibraryFromC) { EXPECT_EQ(c_events_timer(), 0); }

}  // namespace
