// send_queue.hpp — messages submitted by local clients, waiting for the token, and the packing
// of them into data packets: many small messages share one packet; a large one is cut into
// fragments that fill packets (DESIGN §3.1).
//
// Packing rule: messages go out in submit order (FIFO per origin). A message that fits in the
// space left in the current packet goes whole; one that would fit whole in a fresh packet starts
// one, so small messages are never split; a larger one fills the space left and continues in
// the next packets.
// Invariants: bytes() is the sum of the unsent bytes of queued messages and ≤ bytes_max;
// ids are assigned first_id, first_id + 1, … in submit order.
// Thread-safety: none; owned by one node.
#pragma once

#include <cstddef>
#include <deque>

#include "core/config.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"
#include "wire/packet.hpp"

namespace chorus::core {

class send_queue {
 public:
  // Ids start at `first_id` (config.hpp: incarnation · 2^40 + 1).
  send_queue(std::size_t bytes_max, msg_id first_id = msg_id{1})
      : bytes_max_(bytes_max), next_id_(first_id) {}

  // Queues a message and returns its id; would_block if it does not fit in bytes_max.
  util::result<msg_id> push(service svc, util::shared_bytes payload);
  // Adds items to `b` until the packet reaches `packet_bytes_max` or the queue empties.
  // Returns the number of items added (0 only if the queue is empty).
  std::size_t pack(wire::data_packet_builder& b, std::size_t packet_bytes_max);

  // The ring the front message was being cut into is gone: send it whole again in the next.
  void rewind_partial() noexcept {
    if (!queue_.empty()) {
      bytes_ += queue_.front().sent;
      queue_.front().sent = 0;
    }
  }

  bool empty() const noexcept { return queue_.empty(); }
  std::size_t messages() const noexcept { return queue_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }

 private:
  struct pending {
    service svc;
    msg_id id;
    util::shared_bytes payload;
    std::size_t sent = 0;  // bytes already packed into earlier packets
  };

  std::deque<pending> queue_;
  std::size_t bytes_max_;
  std::size_t bytes_ = 0;
  msg_id next_id_;
};

}  // namespace chorus::core
