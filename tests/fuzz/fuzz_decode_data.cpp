// fuzz_decode_data.cpp — libFuzzer target for wire::decode_data. Any input: no crash, no read
// past the end (ASan), and an accepted packet satisfies the format's rules (items inside their
// messages, views inside the input) and re-encodes to exactly the input (canonical encoding).
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
  auto p = wire::decode_data(in);
  if (!p) return 0;
  FUZZ_CHECK(p->hdr.type == wire::packet_type::data);
  FUZZ_CHECK(p->seq.value != 0);
  for (const wire::item& it : p->items) {
    FUZZ_CHECK(static_cast<std::uint8_t>(it.svc) <= wire::service_wire_max);
    FUZZ_CHECK(it.id.value != 0);
    FUZZ_CHECK(it.total_bytes <= wire::message_bytes_max);
    FUZZ_CHECK(std::uint64_t{it.offset} + it.data.size() <= it.total_bytes);
    FUZZ_CHECK(!it.data.empty() || it.total_bytes == 0);
    if (!it.data.empty()) {
      FUZZ_CHECK(it.data.data() >= in.data());
      FUZZ_CHECK(it.data.data() + it.data.size() <= in.data() + in.size());
    }
  }
  util::byte_vector out;
  wire::encode(*p, out);
  FUZZ_CHECK(std::ranges::equal(out, in));
  return 0;
}
