// events_test.cpp — Spread's event library (include/sp_events.h) on pipes and timers: times,
// timer order and re-queueing, descriptor callbacks by type and priority, the active
// threshold, turns among LOW_PRIORITY descriptors, and every way out of E_handle_events.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "sp.h"

namespace {

struct pipe_pair {
  int r = -1, w = -1;
  pipe_pair() {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    r = fds[0];
    w = fds[1];
  }
  ~pipe_pair() {
    close(r);
    close(w);
  }
  void put(const char* s = "x") const { ASSERT_EQ(write(w, s, 1), 1); }
  void take() const {
    char c;
    ASSERT_EQ(read(r, &c, 1), 1);
  }
};

std::vector<std::string> events_seen;

void note_timer(int code, void* data) {
  events_seen.push_back(std::string(static_cast<const char*>(data)) + std::to_string(code));
}

void exit_timer(int, void*) { E_exit_events(); }

// Reads one byte and notes "<tag><code>"; exits when the code is 99.
void note_fd(int fd, int code, void* data) {
  char c;
  EXPECT_EQ(read(fd, &c, 1), 1);
  events_seen.push_back(std::string(static_cast<const char*>(data)) + std::to_string(code));
  if (code == 99) E_exit_events();
}

sp_time ms(long m) { return {m / 1000, (m % 1000) * 1000}; }

struct EventsTest : ::testing::Test {
  void SetUp() override {
    E_init();
    events_seen.clear();
  }
  // A timer that ends the loop, so no test can hang.
  void run_for(long m) {
    E_queue(exit_timer, 0, nullptr, ms(m));
    E_handle_events();
  }
};

TEST_F(EventsTest, TimeArithmeticIsNormalised) {
  sp_time a = E_add_time({1, 900000}, {0, 200000});
  EXPECT_EQ(a.sec, 2);
  EXPECT_EQ(a.usec, 100000);
  sp_time b = E_sub_time({1, 100000}, {0, 200000});
  EXPECT_EQ(b.sec, 0);
  EXPECT_EQ(b.usec, 900000);
  sp_time c = E_sub_time({0, 100000}, {1, 0});
  EXPECT_EQ(c.sec, 0);
  EXPECT_EQ(c.usec, -900000);  // negative times keep one sign
  EXPECT_EQ(E_compare_time({1, 0}, {0, 999999}), 1);
  EXPECT_EQ(E_compare_time({0, 5}, {0, 5}), 0);
  EXPECT_EQ(E_compare_time(c, {0, 0}), -1);
  sp_time now = E_get_time();
  EXPECT_GT(now.sec, 1700000000);  // wall clock
  sp_time m1 = E_get_time_monotonic(), m2 = E_get_time_monotonic();
  EXPECT_GE(E_compare_time(m2, m1), 0);
}

TEST_F(EventsTest, TimersRunByDeadline) {
  static char t[] = "t";
  E_queue(note_timer, 3, t, ms(30));
  E_queue(note_timer, 1, t, ms(10));
  E_queue(note_timer, 2, t, ms(10));
  run_for(60);
  EXPECT_EQ(events_seen, (std::vector<std::string>{"t1", "t2", "t3"}));
}

TEST_F(EventsTest, RequeueingReschedulesAndDequeueRemoves) {
  static char t[] = "t";
  E_queue(note_timer, 1, t, ms(10));
  E_queue(note_timer, 2, t, ms(20));
  E_queue(note_timer, 1, t, ms(30));  // the same (func, code, data): rescheduled, not added
  EXPECT_EQ(E_in_queue(note_timer, 1, t), 1);
  EXPECT_EQ(E_in_queue(note_timer, 7, t), 0);
  E_queue(note_timer, 3, t, ms(5));
  EXPECT_EQ(E_dequeue(note_timer, 3, t), 0);
  EXPECT_EQ(E_dequeue(note_timer, 3, t), -1);
  run_for(60);
  EXPECT_EQ(events_seen, (std::vector<std::string>{"t2", "t1"}));
  EXPECT_EQ(E_in_queue(note_timer, 1, t), 0);  // a timer runs once
}

TEST_F(EventsTest, DelaySleepsAtLeastThatLong) {
  const auto start = std::chrono::steady_clock::now();
  E_delay(ms(20));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));
}

TEST_F(EventsTest, AReadableDescriptorCallsItsCallbackWithFdCodeAndData) {
  pipe_pair p;
  static char tag[] = "r";
  ASSERT_EQ(E_attach_fd(p.r, READ_FD, note_fd, 99, tag, LOW_PRIORITY), 0);
  EXPECT_EQ(E_num_active(LOW_PRIORITY), 1);
  p.put();
  run_for(10000);
  EXPECT_EQ(events_seen, std::vector<std::string>{"r99"});
  ASSERT_EQ(E_detach_fd(p.r, READ_FD), 0);
  EXPECT_EQ(E_detach_fd(p.r, READ_FD), -1);
  EXPECT_EQ(E_num_active(LOW_PRIORITY), 0);
}

void note_writable(int fd, int code, void*) {
  events_seen.push_back("w" + std::to_string(code));
  E_detach_fd(fd, WRITE_FD);
  E_exit_events();
}

TEST_F(EventsTest, AWritableDescriptorIsReportedForWriteFd) {
  pipe_pair p;
  ASSERT_EQ(E_attach_fd(p.w, WRITE_FD, note_writable, 5, nullptr, MEDIUM_PRIORITY), 0);
  run_for(10000);
  EXPECT_EQ(events_seen, std::vector<std::string>{"w5"});
}

TEST_F(EventsTest, AttachingAgainAtThePriorityReplacesTheCallback) {
  pipe_pair p;
  static char a[] = "a", b[] = "b";
  ASSERT_EQ(E_attach_fd(p.r, READ_FD, note_fd, 1, a, HIGH_PRIORITY), 0);
  EXPECT_EQ(E_deactivate_fd(p.r, READ_FD), 0);
  EXPECT_EQ(E_num_active(HIGH_PRIORITY), 0);
  EXPECT_EQ(E_attach_fd(p.r, READ_FD, note_fd, 99, b, HIGH_PRIORITY), 1);  // replaced, active
  EXPECT_EQ(E_num_active(HIGH_PRIORITY), 1);
  p.put();
  run_for(10000);
  EXPECT_EQ(events_seen, std::vector<std::string>{"b99"});
}

TEST_F(EventsTest, BadArgumentsAreRefused) {
  pipe_pair p;
  EXPECT_EQ(E_attach_fd(-1, READ_FD, note_fd, 0, nullptr, LOW_PRIORITY), -1);
  EXPECT_EQ(E_attach_fd(p.r, NUM_FDTYPES, note_fd, 0, nullptr, LOW_PRIORITY), -1);
  EXPECT_EQ(E_attach_fd(p.r, READ_FD, note_fd, 0, nullptr, NUM_PRIORITY), -1);
  EXPECT_EQ(E_attach_fd(p.r, READ_FD, nullptr, 0, nullptr, LOW_PRIORITY), -1);
  EXPECT_EQ(E_set_active_threshold(-1), -1);
  EXPECT_EQ(E_num_active(3), -1);
  EXPECT_EQ(E_activate_fd(p.r, READ_FD), -1);  // not attached
  EXPECT_EQ(E_detach_fd(p.r, -1), -1);
  for (int i = 0; i < MAX_FD_EVENTS; ++i)
    ASSERT_EQ(E_attach_fd(1000 + i, READ_FD, note_fd, 0, nullptr, LOW_PRIORITY), 0);
  EXPECT_EQ(E_attach_fd(p.r, READ_FD, note_fd, 0, nullptr, LOW_PRIORITY), -1);  // full
}

// Reads one byte, notes it, and ends the loop 20 ms later.
void note_then_exit_soon(int fd, int code, void* data) {
  char c;
  EXPECT_EQ(read(fd, &c, 1), 1);
  events_seen.push_back(std::string(static_cast<const char*>(data)) + std::to_string(code));
  E_queue(exit_timer, 0, nullptr, ms(20));
}

// Reads one byte, notes it, and ends the loop at the sixth.
void note_six(int fd, int code, void* data) {
  char c;
  EXPECT_EQ(read(fd, &c, 1), 1);
  events_seen.push_back(std::string(static_cast<const char*>(data)) + std::to_string(code));
  if (events_seen.size() == 6) E_exit_events();
}

// Below the threshold nothing is watched; above it, every ready descriptor of the highest busy
// priority runs in a pass, and LOW_PRIORITY ones take turns, one per pass.
TEST_F(EventsTest, TheThresholdHoldsBackLowerPriorities) {
  pipe_pair low, high;
  static char l[] = "l", h[] = "h";
  ASSERT_EQ(E_attach_fd(low.r, READ_FD, note_fd, 99, l, LOW_PRIORITY), 0);
  ASSERT_EQ(E_attach_fd(high.r, READ_FD, note_then_exit_soon, 2, h, HIGH_PRIORITY), 0);
  EXPECT_EQ(E_set_active_threshold(HIGH_PRIORITY), HIGH_PRIORITY);
  low.put();
  high.put();
  run_for(10000);  // ends 20 ms after the high one ran: the low one waited all along
  EXPECT_EQ(events_seen, std::vector<std::string>{"h2"});
  EXPECT_EQ(E_set_active_threshold(LOW_PRIORITY), LOW_PRIORITY);
  run_for(10000);  // ends when the low one runs
  EXPECT_EQ(events_seen, (std::vector<std::string>{"h2", "l99"}));
}

TEST_F(EventsTest, LowPriorityDescriptorsTakeTurns) {
  pipe_pair a, b;
  static char ta[] = "a", tb[] = "b";
  ASSERT_EQ(E_attach_fd(a.r, READ_FD, note_six, 0, ta, LOW_PRIORITY), 0);
  ASSERT_EQ(E_attach_fd(b.r, READ_FD, note_six, 0, tb, LOW_PRIORITY), 0);
  for (int i = 0; i < 3; ++i) {
    a.put();
    b.put();
  }
  run_for(10000);
  EXPECT_EQ(events_seen, (std::vector<std::string>{"a0", "b0", "a0", "b0", "a0", "b0"}));
}

void detach_the_other(int fd, int, void* data) {
  char c;
  EXPECT_EQ(read(fd, &c, 1), 1);
  events_seen.push_back("first");
  E_detach_fd(*static_cast<int*>(data), READ_FD);
  E_queue(exit_timer, 0, nullptr, ms(20));
}

TEST_F(EventsTest, ACallbackMayDetachAnotherReadyDescriptor) {
  pipe_pair a, b;
  int other = b.r;
  static char tb[] = "b";
  ASSERT_EQ(E_attach_fd(a.r, READ_FD, detach_the_other, 0, &other, HIGH_PRIORITY), 0);
  ASSERT_EQ(E_attach_fd(b.r, READ_FD, note_fd, 0, tb, HIGH_PRIORITY), 0);
  a.put();
  b.put();
  run_for(10000);
  EXPECT_EQ(events_seen, std::vector<std::string>{"first"});  // b was ready, then detached
}

TEST_F(EventsTest, AnExitRequestedBeforeTheLoopIsForgottenAsInSpread) {
  static char t[] = "t";
  E_exit_events();
  E_queue(note_timer, 1, t, ms(10));
  run_for(30);
  EXPECT_EQ(events_seen, std::vector<std::string>{"t1"});
}

// Set by a timer inside the loop: from then on a request to exit is not forgotten.
std::atomic<bool> loop_running{false};

void mark_running(int, void*) { loop_running = true; }

void wait_until_running() {
  while (!loop_running) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST_F(EventsTest, AnotherThreadEndsAWaitingLoop) {
  loop_running = false;
  E_queue(mark_running, 0, nullptr, ms(1));
  std::thread t([] {
    wait_until_running();
    E_exit_events();
  });
  const auto start = std::chrono::steady_clock::now();
  run_for(10000);  // waits in poll for the 10 s timer unless the request wakes it
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

void on_alarm(int) { E_exit_events_async_safe(); }

TEST_F(EventsTest, ASignalHandlerEndsTheLoop) {
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  ASSERT_EQ(sigaction(SIGALRM, &sa, nullptr), 0);
  loop_running = false;
  E_queue(mark_running, 0, nullptr, ms(1));
  const pthread_t self = pthread_self();
  std::thread t([self] {
    wait_until_running();
    pthread_kill(self, SIGALRM);
  });
  const auto start = std::chrono::steady_clock::now();
  run_for(10000);
  t.join();
  signal(SIGALRM, SIG_DFL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

void exit_soon(int, void*) { E_queue(exit_timer, 0, nullptr, ms(20)); }

TEST_F(EventsTest, ADescriptorClosedWhileAttachedIsNoLongerWatched) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(E_attach_fd(fds[0], READ_FD, note_fd, 0, nullptr, LOW_PRIORITY), 0);
  close(fds[0]);
  close(fds[1]);
  E_queue(exit_soon, 0, nullptr, ms(1));  // a poll happens after it, then 20 ms of passes
  run_for(10000);                         // no busy loop, no callback on a closed descriptor
  EXPECT_TRUE(events_seen.empty());
  EXPECT_EQ(E_num_active(LOW_PRIORITY), 0);
}

}  // namespace
