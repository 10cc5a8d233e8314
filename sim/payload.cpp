// payload.cpp — deterministic payloads (see payload.hpp).
#include "sim/payload.hpp"

#include <algorithm>
#include <cstring>

#include "util/hash.hpp"
#include "util/prng.hpp"

namespace chorus::sim {
namespace {

util::prng payload_stream(std::uint64_t seed, core::node_id origin, core::msg_id id) {
  return util::prng(util::hasher().u64(seed).u64(origin.value).u64(id.value).digest());
}

}  // namespace

util::byte_vector make_payload(std::uint64_t seed, core::node_id origin, core::msg_id id,
                               std::size_t size) {
  util::byte_vector out(size);
  util::prng rng = payload_stream(seed, origin, id);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    const std::uint64_t w = rng.next();
    std::memcpy(out.data() + i, &w, 8);
  }
  if (i < size) {
    const std::uint64_t w = rng.next();
    std::memcpy(out.data() + i, &w, size - i);
  }
  return out;
}

std::optional<std::size_t> payload_mismatch(std::uint64_t seed, core::node_id origin,
                                            core::msg_id id, std::span<const std::byte> bytes) {
  util::prng rng = payload_stream(seed, origin, id);
  const std::size_t size = bytes.size();
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t want = rng.next();
    const std::size_t n = std::min<std::size_t>(8, size - i);
    std::uint64_t got = want;  // a short tail keeps the bytes it does not have
    std::memcpy(&got, bytes.data() + i, n);
    if (got == want) continue;
    const auto* w = reinterpret_cast<const std::byte*>(&want);
    for (std::size_t k = 0; k < n; ++k)
      if (bytes[i + k] != w[k]) return i + k;
  }
  return std::nullopt;
}

}  // namespace chorus::sim
