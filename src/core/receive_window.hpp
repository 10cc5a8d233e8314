// receive_window.hpp — the packets of one ring held by a daemon, indexed by seq.
//
// Holds every packet in (base, base + capacity]: received from the network, or built locally.
// `base` is the discard point: every packet at or below it was delivered here and is known to be
// held by every member, so no one will ask for it again (Totem §3.3). `aru` is the highest seq
// with no hole in (base, aru].
// Invariants:
//   W1. base ≤ aru ≤ high.
//   W2. every seq in (base, aru] is held; nothing outside (base, base + capacity] is.
// Thread-safety: none; owned by one ring.
#pragma once

#include <cstddef>
#include <vector>

#include "core/config.hpp"
#include "util/bytes.hpp"
#include "wire/packet.hpp"

namespace chorus::core {

// A data packet as held for delivery and retransmission.
struct stored_packet {
  util::shared_bytes bytes;       // the datagram, retransmitted verbatim
  node_id origin;                 // who assigned its seq
  std::vector<wire::item> items;  // views into `bytes`
  bool needs_safe = false;        // completes a SAFE message: delivered only once stable
};

class receive_window {
 public:
  // `capacity` is rounded up to a power of two.
  explicit receive_window(std::size_t capacity);

  enum class insert_result { stored, duplicate, beyond };
  insert_result insert(seq_t s, stored_packet p);

  bool holds(seq_t s) const noexcept;
  // Forgets an undelivered packet above aru (a faulty peer's, about to be replaced).
  void erase(seq_t s);
  // The packet at `s`; requires holds(s).
  const stored_packet& at(seq_t s) const;
  // Appends to `out` the seqs in (aru, min(upto, limit)] not held, at most `max`, ascending.
  void missing(seq_t upto, std::size_t max, std::vector<seq_t>& out) const;
  // Drops every packet at or below `s` (s ≤ aru).
  void discard_upto(seq_t s);

  seq_t base() const noexcept { return base_; }
  seq_t aru() const noexcept { return aru_; }
  seq_t high() const noexcept { return high_; }
  // Highest seq this window can hold right now.
  seq_t limit() const noexcept { return seq_t{base_.value + slots_.size()}; }
  std::size_t held() const noexcept { return held_; }

 private:
  std::size_t index(seq_t s) const noexcept { return s.value & (slots_.size() - 1); }

  std::vector<stored_packet> slots_;  // slot i holds seq ≡ i (mod size) when `present_[i]`
  std::vector<bool> present_;
  seq_t base_{0};
  seq_t aru_{0};
  seq_t high_{0};
  std::size_t held_ = 0;  // packets currently held
};

}  // namespace chorus::core
