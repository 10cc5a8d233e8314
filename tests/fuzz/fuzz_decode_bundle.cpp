// fuzz_decode_bundle.cpp — libFuzzer target for wire::decode_bundle, which the transport runs on
// every bundle a peer sends. Any input: no crash, no read past the end (ASan), and an accepted
// bundle holds at least two packets, each a valid header and no bundle, that bundle again to
// exactly the input.
// Thread-safety: libFuzzer calls this from one thread.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_check.hpp"
#include "wire/packet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chorus;
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  auto parts = wire::decode_bundle(in);
  if (!parts) return 0;
  FUZZ_CHECK(parts->size() >= 2);
  std::vector<util::shared_bytes> copies;
  for (auto p : *parts) {
    FUZZ_CHECK(p.data() >= in.data() && p.data() + p.size() <= in.data() + in.size());
    auto h = wire::decode_header(p);
    FUZZ_CHECK(h.ok() && h->type != wire::packet_type::bundle);
    copies.emplace_back(util::byte_vector(p.begin(), p.end()));
  }
  // The bundle's header names the first packet's sender and hash; a fuzzed one may differ, so
  // compare from the count on.
  util::byte_vector out;
  wire::encode_bundle(copies, out);
  FUZZ_CHECK(out.size() == in.size());
  FUZZ_CHECK(std::ranges::equal(std::span(out).subspan(wire::header_bytes),
                                in.subspan(wire::header_bytes)));
  return 0;
}
