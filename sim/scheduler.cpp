// scheduler.cpp — the deterministic event queue (see scheduler.hpp).
#include "sim/scheduler.hpp"

#include <algorithm>

#include "util/assert.hpp"

namespace chorus::sim {

void scheduler::at(time_point t, event e) {
  std::uint32_t slot;
  if (free_.empty()) {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.push_back(std::move(e));
  } else {
    slot = free_.back();
    free_.pop_back();
    slots_[slot] = std::move(e);
  }
  heap_.push_back(entry{std::max(t, now_), order_++, slot});
  std::push_heap(heap_.begin(), heap_.end(), later);
}

time_point scheduler::next_time() const {
  CHORUS_ASSERT(!heap_.empty());
  return heap_.front().t;
}

event scheduler::pop() {
  CHORUS_ASSERT(!heap_.empty());
  std::pop_heap(heap_.begin(), heap_.end(), later);
  const entry top = heap_.back();
  heap_.pop_back();
  now_ = top.t;
  ++popped_;
  event e = std::move(slots_[top.slot]);
  slots_[top.slot] = timer_event{};  // release what the moved-from event still holds
  free_.push_back(top.slot);
  return e;
}

void scheduler::advance_to(time_point t) {
  CHORUS_ASSERT(t >= now_);
  CHORUS_ASSERT(heap_.empty() || heap_.front().t >= t, "an event would run in the past");
  now_ = t;
}

}  // namespace chorus::sim
