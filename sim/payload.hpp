// payload.hpp — message contents as a pure function of (run seed, origin, message id, size).
//
// The workload builds each payload from this function and the checker regenerates it to verify
// every delivered byte, so no run stores the payloads it sent (multi-MiB messages included).
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/config.hpp"
#include "util/bytes.hpp"

namespace chorus::sim {

util::byte_vector make_payload(std::uint64_t seed, core::node_id origin, core::msg_id id,
                               std::size_t size);

// Offset of the first byte of `bytes` that differs from make_payload(seed, origin, id,
// bytes.size()), or nullopt if they are equal. The size is checked by the caller.
std::optional<std::size_t> payload_mismatch(std::uint64_t seed, core::node_id origin,
                                            core::msg_id id, std::span<const std::byte> bytes);

}  // namespace chorus::sim
