// reassembly.hpp — turns delivered items back into whole messages (DESIGN §3.1).
//
// Items arrive in the ring's total order. An origin packs its messages in submit order and never
// interleaves two of them, so each origin has at most one message in progress. A whole item is
// handed out as a slice of its packet (zero copy); fragments are copied into one buffer.
// A fragment that does not continue its origin's message (only a faulty peer sends one) drops the
// message in progress and is counted by the caller.
// Thread-safety: none; owned by one ring.
#pragma once

#include <map>
#include <optional>

#include "core/config.hpp"
#include "util/bytes.hpp"
#include "wire/packet.hpp"

namespace chorus::core {

class reassembly {
 public:
  // Messages above `bytes_max` are refused (reported as errors) before anything is allocated.
  explicit reassembly(std::size_t bytes_max) : bytes_max_(bytes_max) {}

  struct outcome {
    std::optional<util::shared_bytes> message;  // set when `it` completed a message
    bool error = false;                          // `it` did not continue a message
  };

  // `packet` owns the bytes `it.data` points into; it must outlive this call only.
  outcome add(node_id origin, const wire::item& it, const util::shared_bytes& packet);

  // Messages in progress (for invariant checks and the monitor).
  std::size_t in_progress() const noexcept { return partial_.size(); }
  // Forgets the message in progress from `origin`, if any.
  void drop(node_id origin) { partial_.erase(origin); }

 private:
  struct partial {
    msg_id id;
    util::byte_vector bytes;  // sized to the whole message
    std::size_t filled = 0;   // bytes received, from offset 0
  };
  std::size_t bytes_max_;
  std::map<node_id, partial> partial_;
};

}  // namespace chorus::core
