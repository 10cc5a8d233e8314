// fuzz_decode.cpp — libFuzzer target for wire::decode, the dispatching decoder the daemon runs
// on every datagram. Any input: no crash, and an accepted packet re-encodes to exactly the input.
// It also checks that decode agrees with the typed decoders (data, token, join, commit): it accepts
// exactly when the one for the header's type does, and yields that type's alternative.
// Thread-safety: libFuzzer calls this from one thread.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "fuzz_check.hpp"
#include "wire/packet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chorus;
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  auto p = wire::decode(in);
  const auto h = wire::decode_header(in);
  if (h) {
    switch (h->type) {
      case wire::packet_type::data:
        FUZZ_CHECK(p.ok() == wire::decode_data(in).ok());
        break;
      case wire::packet_type::token:
        FUZZ_CHECK(p.ok() == wire::decode_token(in).ok());
        break;
      case wire::packet_type::join:
        FUZZ_CHECK(p.ok() == wire::decode_join(in).ok());
        break;
      case wire::packet_type::commit:
        FUZZ_CHECK(p.ok() == wire::decode_commit(in).ok());
        break;
      case wire::packet_type::bundle:  // opened by the transport, never a packet
        FUZZ_CHECK(!p.ok());
        break;
    }
  }
  if (!p) return 0;
  FUZZ_CHECK(h.ok());
  // The variant holds the alternative of the header's type (types 1..4 in variant order).
  FUZZ_CHECK(p->index() + 1 == static_cast<std::size_t>(h->type));
  util::byte_vector out;
  std::visit([&](const auto& v) { wire::encode(v, out); }, *p);
  FUZZ_CHECK(std::ranges::equal(out, in));
  return 0;
}
