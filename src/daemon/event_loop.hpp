// event_loop.hpp — runs chorusd's io_context on the calling thread until it is stopped.
//
// By default the loop sleeps in epoll whenever nothing is ready, like any daemon. With
// `busy_poll` > 0 it keeps polling (non-blocking epoll, sched_yield between rounds) for that
// long after the last piece of work before it sleeps again. That keeps this CPU awake while
// traffic flows: on a virtual machine whose idle CPUs halt, every wake-up of a sleeping process
// costs tens of microseconds, several per message through a ring of daemons. The price is CPU
// time: up to one CPU per daemon while it polls (docs/configuration.md, `BusyPoll`).
// Handlers run exactly as with io_context::run(): one at a time, on this thread.
//
// While it polls, the loop also calls its owner's `poll` hook every round, so the owner can check
// a deadline against the clock instead of arming a kernel timer for it (on a virtual machine,
// programming a timer costs far more than reading the clock). Before it sleeps, it calls
// `before_sleep`, where the owner arms whatever its polling stood in for (or finds work that
// came while it was deciding, and keeps polling).
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>

namespace chorus::daemon {

struct poll_hooks {
  std::function<bool()> poll;  // one polling round; true if it did any work
  // The loop is about to sleep until an event; true: work turned up, keep polling instead.
  std::function<bool()> before_sleep;
};

void run_event_loop(asio::io_context& io, std::chrono::microseconds busy_poll,
                    const poll_hooks& hooks = {});

}  // namespace chorus::daemon
