// event_loop.cpp — see event_loop.hpp.
#include "daemon/event_loop.hpp"

#include <sched.h>

namespace chorus::daemon {

void run_event_loop(asio::io_context& io, std::chrono::microseconds busy_poll,
                    const poll_hooks& hooks) {
  if (busy_poll <= std::chrono::microseconds::zero()) {
    io.run();
    return;
  }
  using clock = std::chrono::steady_clock;
  auto last_work = clock::now();
  while (!io.stopped()) {
    bool worked = io.poll() > 0;
    if (hooks.poll && !io.stopped() && hooks.poll()) worked = true;
    if (worked) {
      last_work = clock::now();
    } else if (clock::now() - last_work >= busy_poll) {
      if (hooks.before_sleep && hooks.before_sleep()) {
        last_work = clock::now();
        continue;
      }
      io.run_one();  // sleeps until something is ready
      last_work = clock::now();
    } else {
      ::sched_yield();  // whoever else is runnable on this CPU goes first
    }
  }
}

}  // namespace chorus::daemon
