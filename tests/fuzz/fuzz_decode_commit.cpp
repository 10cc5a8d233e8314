// fuzz_decode_commit.cpp — libFuzzer target for wire::decode_commit. Any input: no crash, no read
// past the end (ASan), and an accepted commit token satisfies the format's rules (new ring
// counter ≥ 1 and its rep a member, 1..members_max members strictly ascending and not no_node,
// holder a valid index, each entry delivered ≤ aru ≤ high seq) and re-encodes to exactly the
// input.
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
  auto c = wire::decode_commit(in);
  if (!c) return 0;
  FUZZ_CHECK(c->hdr.type == wire::packet_type::commit);
  FUZZ_CHECK(c->ring.counter >= 1);
  FUZZ_CHECK(!c->members.empty() && c->members.size() <= wire::members_max);
  FUZZ_CHECK(c->holder < c->members.size());
  bool rep_is_member = false;
  for (std::size_t i = 0; i < c->members.size(); ++i) {
    const wire::commit_entry& e = c->members[i];
    FUZZ_CHECK(e.id != wire::no_node);
    FUZZ_CHECK(i == 0 || c->members[i - 1].id < e.id);
    FUZZ_CHECK(e.old_delivered <= e.old_aru && e.old_aru <= e.old_high_seq);
    rep_is_member = rep_is_member || e.id == c->ring.rep;
  }
  FUZZ_CHECK(rep_is_member);
  util::byte_vector out;
  wire::encode(*c, out);
  FUZZ_CHECK(std::ranges::equal(out, in));
  return 0;
}
