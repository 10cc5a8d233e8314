#include "core/receive_window.hpp"

#include <bit>

#include "util/assert.hpp"

namespace chorus::core {

receive_window::receive_window(std::size_t capacity)
    : slots_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity)),
      present_(slots_.size(), false) {}

receive_window::insert_result receive_window::insert(seq_t s, stored_packet p) {
  if (s <= base_ || holds(s)) return insert_result::duplicate;
  if (s > limit()) return insert_result::beyond;
  const std::size_t i = index(s);
  slots_[i] = std::move(p);
  present_[i] = true;
  ++held_;
  if (s > high_) high_ = s;
  while (aru_ < high_ && present_[index(seq_t{aru_.value + 1})]) ++aru_.value;
  return insert_result::stored;
}

bool receive_window::holds(seq_t s) const noexcept {
  return s > base_ && s <= limit() && present_[index(s)];
}

void receive_window::erase(seq_t s) {
  if (!holds(s) || s <= aru_) return;
  slots_[index(s)] = stored_packet{};
  present_[index(s)] = false;
  --held_;
}

const stored_packet& receive_window::at(seq_t s) const {
  CHORUS_ASSERT(holds(s));
  return slots_[index(s)];
}

void receive_window::missing(seq_t upto, std::size_t max, std::vector<seq_t>& out) const {
  const seq_t end = upto < limit() ? upto : limit();
  std::size_t n = 0;
  for (std::uint64_t s = aru_.value + 1; s <= end.value && n < max; ++s) {
    if (!present_[index(seq_t{s})]) {
      out.push_back(seq_t{s});
      ++n;
    }
  }
}

void receive_window::discard_upto(seq_t s) {
  CHORUS_ASSERT(s <= aru_, "discarding past aru");
  for (; base_ < s; ++base_.value) {
    const std::size_t i = index(seq_t{base_.value + 1});
    CHORUS_ASSERT(present_[i]);
    slots_[i] = stored_packet{};
    present_[i] = false;
    --held_;
  }
}

}  // namespace chorus::core
