// scheduler.hpp — virtual time and the simulator's single event queue.
//
// Every simulated happening is an event at a virtual time: a datagram arriving at a node, a
// node's timer, or an action (a workload submit, a round of random clogs, a scenario step).
// Events pop in (time, insertion order) — never by address or hash order — so a seed replays
// bit for bit. Virtual time moves only when an event pops (or advance_to() is called between
// phases); nothing here reads a clock.
// Thread-safety: none; one simulation per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <variant>
#include <vector>

#include "core/config.hpp"
#include "util/bytes.hpp"
#include "wire/packet.hpp"

namespace chorus::sim {

using core::duration;
using core::node_id;
using core::time_point;
using namespace std::chrono_literals;

// A datagram travelling through the simulated network.
struct in_flight {
  std::uint64_t id = 0;  // network-wide number of the transmission; a duplicate shares it
  node_id from{};
  node_id to{};
  wire::packet_type type = wire::packet_type::data;  // from the header (data if undecodable)
  std::uint32_t types = 0;  // bit t: it carries a packet of type t (a bundle carries several)
  util::shared_bytes bytes;
  time_point sent{};
  bool copy = false;        // the extra copy made by duplication
  std::uint32_t epoch = 0;  // the link's epoch when sent: lost if the link went down since

  bool carries(wire::packet_type t) const noexcept {
    return (types >> static_cast<unsigned>(t) & 1u) != 0;
  }
};

// A node's timer: call tick() if `generation` is still the node's current timer generation
// (re-arming bumps the generation, so superseded timers pop as no-ops).
struct timer_event {
  node_id node{};
  std::uint64_t generation = 0;
};

// Anything else: workload submits, random clog rounds, scripted scenario steps.
using action = std::function<void()>;

using event = std::variant<in_flight, timer_event, action>;

class scheduler {
 public:
  time_point now() const noexcept { return now_; }
  // Schedules `e` at `t`; a time in the past is clamped to now (it runs after the events
  // already queued for now).
  void at(time_point t, event e);
  void after(duration d, event e) { at(now_ + d, std::move(e)); }
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  // Time of the earliest event; the queue must not be empty.
  time_point next_time() const;
  // Removes the earliest event and advances now() to its time.
  event pop();
  // Moves now() forward to `t` between phases; no queued event may be earlier than `t`.
  void advance_to(time_point t);
  // Events popped so far.
  std::uint64_t popped() const noexcept { return popped_; }

 private:
  // Heap entries are small and trivially movable; the events themselves stay put in slots_
  // (moving variants around the heap cost more than the heap itself).
  struct entry {
    time_point t;
    std::uint64_t order;  // insertion counter: breaks ties between events of the same time
    std::uint32_t slot;   // index into slots_
  };
  // Heap order: std::push_heap keeps the greatest at the front, so "greater" means earlier.
  static bool later(const entry& a, const entry& b) noexcept {
    return a.t != b.t ? a.t > b.t : a.order > b.order;
  }

  time_point now_{};
  std::uint64_t order_ = 0;
  std::uint64_t popped_ = 0;
  std::vector<entry> heap_;          // binary heap under later()
  std::vector<event> slots_;         // the queued events (and free slots)
  std::vector<std::uint32_t> free_;  // free indices into slots_
};

}  // namespace chorus::sim
