// fuzz_decode_header.cpp — libFuzzer target for wire::decode_header. Any input: no crash, no
// read past the end (ASan), and an accepted header re-encodes to exactly the input's first
// header_bytes (the header encoding is canonical).
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
  auto h = wire::decode_header(in);
  if (!h) {
    FUZZ_CHECK(!h.error().message().empty());
    return 0;
  }
  FUZZ_CHECK(size >= wire::header_bytes);
  FUZZ_CHECK(h->version == wire::protocol_version);
  util::byte_vector out;
  util::byte_writer w(out);
  wire::encode_header(*h, w);
  FUZZ_CHECK(out.size() == wire::header_bytes);
  FUZZ_CHECK(std::ranges::equal(out, in.first(wire::header_bytes)));
  return 0;
}
