// fuzz_flush_wire.cpp — libFuzzer target for Flush's wire format (flush/wire.hpp). Input: a
// flags byte (bit 0: SUBGROUP_CAST in the service; bit 1: the sender's byte order is foreign),
// two bytes of message type, then the message. What decodes must re-encode, from its parts, to
// a message of the same length that decodes to the same parts: the decoder keeps inside its
// input and the encoders write what it reads.
// Thread-safety: libFuzzer calls this from one thread.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "flush/wire.hpp"
#include "fuzz_check.hpp"

namespace fw = chorus::flush::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint32_t service = 0x02 | ((data[0] & 1) != 0 ? fw::subgroup_cast : 0);
  const bool foreign = (data[0] & 2) != 0;
  const auto type = static_cast<std::int16_t>(data[1] | (data[2] << 8));
  std::span<const std::byte> message(reinterpret_cast<const std::byte*>(data + 3), size - 3);
  auto d = fw::decode(service, type, message, foreign);
  if (!d) return 0;
  FUZZ_CHECK(d->payload_bytes <= message.size());
  constexpr bool little = std::endian::native == std::endian::little;
  const std::endian order = (little != foreign) ? std::endian::little : std::endian::big;
  chorus::util::byte_vector again(message.begin(),
                                  message.begin() + static_cast<std::ptrdiff_t>(d->payload_bytes));
  if (d->what != fw::decoded::kind::data) {
    FUZZ_CHECK(d->gid.has_value() && d->payload_bytes == 0 && !d->reference_group);
    again = fw::encode_gid_body(*d->gid, order);
  } else {
    fw::trailer t;
    if (d->vulnerable) t.vulnerable = fw::trailer::vulnerable_part{d->mess_type, *d->gid};
    t.reference_group = d->reference_group;
    auto tail = fw::encode_trailer(t, order);
    again.insert(again.end(), tail.begin(), tail.end());
  }
  FUZZ_CHECK(again.size() == message.size());
  auto e = fw::decode(service, type, again, foreign);
  FUZZ_CHECK(e.ok());
  FUZZ_CHECK(e->what == d->what && e->payload_bytes == d->payload_bytes &&
             e->mess_type == d->mess_type && e->gid == d->gid && e->vulnerable == d->vulnerable &&
             e->reference_group == d->reference_group);
  return 0;
}
