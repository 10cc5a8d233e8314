// fuzz_decode.cpp — libFuzzer target for wire::decode, the dispatching decoder the daemon runs
// on every datagram. Any input: no crash, and an accepted packet re-encodes to exactly the input.
// It also checks that decode agrees with the typed decoders: it accepts exactly when the one for
// the header's type does.
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
  if (h && h->type == wire::packet_type::data) FUZZ_CHECK(p.ok() == wire::decode_data(in).ok());
  if (h && h->type == wire::packet_type::token) FUZZ_CHECK(p.ok() == wire::decode_token(in).ok());
  if (!p) return 0;
  FUZZ_CHECK(h.ok());
  util::byte_vector out;
  std::visit([&](const auto& v) { wire::encode(v, out); }, *p);
  FUZZ_CHECK(std::ranges::equal(out, in));
  return 0;
}
