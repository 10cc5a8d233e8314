// event_loop_test.cpp — run_event_loop runs every handler in order, returns when stopped, and
// with busy polling still sleeps once the polling window after the last event is over.
#include "daemon/event_loop.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <vector>

namespace chorus::daemon {
namespace {

using namespace std::chrono_literals;

double thread_cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

class EventLoop : public ::testing::TestWithParam<std::chrono::microseconds> {};

TEST_P(EventLoop, RunsHandlersInOrderAndReturnsWhenStopped) {
  asio::io_context io(1);
  std::vector<int> order;
  asio::steady_timer t1(io), t2(io);
  asio::post(io, [&] { order.push_back(1); });
  t1.expires_after(2ms);
  t1.async_wait([&](const asio::error_code&) {
    order.push_back(2);
    asio::post(io, [&] { order.push_back(3); });
    t2.expires_after(2ms);
    t2.async_wait([&](const asio::error_code&) {
      order.push_back(4);
      io.stop();
    });
  });
  run_event_loop(io, GetParam());
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_TRUE(io.stopped());
}

INSTANTIATE_TEST_SUITE_P(BusyPoll, EventLoop, ::testing::Values(0us, 500us, 50000us),
                         [](const auto& info) {
                           return std::to_string(info.param.count()) + "us";
                         });

TEST(EventLoopBusyPoll, SleepsWhenIdleLongerThanTheWindow) {
  // 1 ms of polling after the last event, then 300 ms with nothing to do: the loop must sleep
  // through them. A loop that kept spinning would use about 300 ms of CPU.
  asio::io_context io(1);
  asio::steady_timer t(io);
  t.expires_after(300ms);
  t.async_wait([&](const asio::error_code&) { io.stop(); });
  double before = thread_cpu_ms();
  run_event_loop(io, 1000us);
  EXPECT_LT(thread_cpu_ms() - before, 100.0);
}

TEST(EventLoopBusyPoll, CallsThePollHookEveryRoundAndBeforeSleepBeforeItSleeps) {
  // The hook reports work for its first 1000 rounds, then nothing: the loop keeps polling,
  // then (1 ms after the last work) calls before_sleep, which arms what wakes it: a timer that
  // stops the loop. Without the before_sleep call the loop would sleep forever.
  asio::io_context io(1);
  auto busy = asio::make_work_guard(io);  // as a daemon's listeners keep it: never out of work
  asio::steady_timer t(io);
  int rounds = 0, sleeps = 0;
  poll_hooks hooks;
  hooks.poll = [&] { return ++rounds <= 1000; };
  hooks.before_sleep = [&] {
    ++sleeps;
    EXPECT_GT(rounds, 1000) << "slept while the hook still had work";
    t.expires_after(1ms);
    t.async_wait([&](const asio::error_code&) { io.stop(); });
    return false;
  };
  run_event_loop(io, 1000us, hooks);
  EXPECT_EQ(sleeps, 1);
  EXPECT_TRUE(io.stopped());
}

TEST(EventLoopBusyPoll, WorkFoundBeforeSleepKeepsTheLoopPolling) {
  // before_sleep finds work the first time (a shared-memory request that arrived while the
  // loop decided to sleep): the loop must poll again instead of sleeping, and only sleep at the
  // second attempt.
  asio::io_context io(1);
  auto busy = asio::make_work_guard(io);
  asio::steady_timer t(io);
  int rounds_after_first = 0, sleeps = 0;
  poll_hooks hooks;
  hooks.poll = [&] {
    if (sleeps == 1) ++rounds_after_first;
    return false;
  };
  hooks.before_sleep = [&] {
    if (++sleeps == 1) return true;
    t.expires_after(1ms);
    t.async_wait([&](const asio::error_code&) { io.stop(); });
    return false;
  };
  run_event_loop(io, 200us, hooks);
  EXPECT_EQ(sleeps, 2);
  EXPECT_GT(rounds_after_first, 0);
}

TEST(EventLoopBusyPoll, NoPollHookRoundAfterStop) {
  // A handler that stops the loop is the last thing that runs: the hook does not run after it.
  asio::io_context io(1);
  auto busy = asio::make_work_guard(io);
  bool stopped_seen = false;
  poll_hooks hooks;
  hooks.poll = [&] {
    stopped_seen = stopped_seen || io.stopped();
    return false;
  };
  asio::post(io, [&] { io.stop(); });
  run_event_loop(io, 1000us, hooks);
  EXPECT_FALSE(stopped_seen);
}

}  // namespace
}  // namespace chorus::daemon
