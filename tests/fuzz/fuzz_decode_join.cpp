// fuzz_decode_join.cpp — libFuzzer target for wire::decode_join. Any input: no crash, no read
// past the end (ASan), and an accepted join satisfies the format's rules (proc non-empty, both
// sets strictly ascending and at most members_max, no no_node, fail ⊆ proc, the sender in proc
// and not in fail) and re-encodes to exactly the input.
// Thread-safety: libFuzzer calls this from one thread.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.hpp"
#include "wire/packet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chorus;
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  auto j = wire::decode_join(in);
  if (!j) return 0;
  FUZZ_CHECK(j->hdr.type == wire::packet_type::join);
  FUZZ_CHECK(!j->proc.empty() && j->proc.size() <= wire::members_max);
  FUZZ_CHECK(j->fail.size() <= wire::members_max);
  FUZZ_CHECK(j->heard.size() <= wire::members_max);
  FUZZ_CHECK(!j->probe || j->fail.empty());
  FUZZ_CHECK(std::ranges::find(j->heard, j->hdr.sender) == j->heard.end());
  for (const auto* set : {&j->proc, &j->fail, &j->heard}) {
    for (std::size_t i = 0; i < set->size(); ++i) {
      FUZZ_CHECK((*set)[i] != wire::no_node);
      FUZZ_CHECK(i == 0 || (*set)[i - 1] < (*set)[i]);
    }
  }
  FUZZ_CHECK(std::ranges::find(j->proc, j->hdr.sender) != j->proc.end());
  FUZZ_CHECK(std::ranges::find(j->fail, j->hdr.sender) == j->fail.end());
  for (wire::node_id n : j->fail) FUZZ_CHECK(std::ranges::find(j->proc, n) != j->proc.end());
  util::byte_vector out;
  wire::encode(*j, out);
  FUZZ_CHECK(std::ranges::equal(out, in));
  return 0;
}
