// fuzz_decode_token.cpp — libFuzzer target for wire::decode_token. Any input: no crash, no read
// past the end (ASan), and an accepted token satisfies the format's rules (aru ≤ seq, requests
// ascending within (0, seq], at most rtr_max) and re-encodes to exactly the input.
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
  auto t = wire::decode_token(in);
  if (!t) return 0;
  FUZZ_CHECK(t->hdr.type == wire::packet_type::token);
  FUZZ_CHECK(t->aru <= t->seq);
  FUZZ_CHECK(t->rtr.size() <= wire::rtr_max);
  for (std::size_t i = 0; i < t->rtr.size(); ++i) {
    FUZZ_CHECK(t->rtr[i].value != 0 && t->rtr[i] <= t->seq);
    FUZZ_CHECK(i == 0 || t->rtr[i - 1] < t->rtr[i]);
  }
  util::byte_vector out;
  wire::encode(*t, out);
  FUZZ_CHECK(std::ranges::equal(out, in));
  return 0;
}
