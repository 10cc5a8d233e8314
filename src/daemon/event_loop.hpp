// event_loop.hpp — runs chorusd's io_context on the calling thread until it is stopped.
//
// By default the loop sleeps in epoll whenever nothing is ready, like any daemon. With
// `busy_poll` > 0 it keeps polling (non-blocking epoll, sched_yield between rounds) for that
// long after the last piece of work before it sleeps again. That keeps this CPU awake while
// traffic flows: on a virtual machine whose idle CPUs halt, every wake-up of a sleeping process
// costs tens of microseconds, several per message through a ring of daemons. The price is CPU
// time: up to one CPU per daemon while it polls (docs/configuration.md, `BusyPoll`).
// Handlers run exactly as with io_context::run(): one at a time, on this thread.
#pragma once

#include <asio.hpp>
#include <chrono>

namespace chorus::daemon {

void run_event_loop(asio::io_context& io, std::chrono::microseconds busy_poll);

}  // namespace chorus::daemon
