// fuzz_node_membership.cpp — libFuzzer target: core::node with membership on (daemons 1..4,
// self 2), fed joins, commit tokens, tokens and data packets of whatever rings the fuzzer
// chooses, ticks and submits. Nothing a peer sends may crash the node or trip an invariant, and
// everything it sends must decode. Complements fuzz_node_step, which drives a fixed ring deeply.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdio>

#include "core/node.hpp"
#include "fuzz_check.hpp"
#include "wire/packet.hpp"

namespace {

using namespace chorus;
using core::node_id;
using core::ring_id;
using core::seq_t;

constexpr node_id self{2};
constexpr core::conf_hash hash{0xfeed};
constexpr std::size_t ops_max = 256;

std::vector<node_id> some_ids(FuzzedDataProvider& in, bool with_self) {
  std::vector<node_id> v;
  for (std::uint32_t n = 1; n <= 4; ++n)
    if (in.ConsumeBool() || (with_self && node_id{n} == self)) v.push_back(node_id{n});
  return v;
}

ring_id some_ring(FuzzedDataProvider& in, const core::node& n) {
  if (in.ConsumeBool()) return n.current_ring();
  return ring_id{node_id{in.ConsumeIntegralInRange<std::uint32_t>(1, 4)},
                 in.ConsumeIntegralInRange<std::uint64_t>(0, 6)};
}

class harness {
 public:
  explicit harness(FuzzedDataProvider& in) : in_(in), node_(make_config(), now_) { drain(); }

  void run() {
    for (std::size_t i = 0; i < ops_max && in_.remaining_bytes() > 0; ++i) {
      switch (in_.ConsumeIntegralInRange<int>(0, 6)) {
        case 0:
          step(in_.ConsumeBytes<std::uint8_t>(in_.ConsumeIntegralInRange<int>(0, 64)));
          break;
        case 1:
          join();
          break;
        case 2:
          commit();
          break;
        case 3:
          token();
          break;
        case 4:
          data();
          break;
        case 5:
          now_ += std::chrono::microseconds(in_.ConsumeIntegralInRange<int>(0, 300000));
          node_.tick(now_);
          break;
        default: {
          auto id = node_.submit(
              core::service::agreed,
              util::shared_bytes(util::byte_vector(in_.ConsumeIntegralInRange(0, 900))), now_);
          (void)id;
        }
      }
      drain();
    }
  }

 private:
  static core::config make_config() {
    core::config c;
    c.self = self;
    c.daemons = {node_id{1}, node_id{2}, node_id{3}, node_id{4}};
    c.hash = hash;
    c.packet_bytes_max = 512;
    c.message_bytes_max = 2048;
    c.send_queue_bytes_max = 8192;
    c.window_global = 16;
    c.window_personal = 8;
    c.outstanding_max = 64;
    return c;
  }

  node_id sender() { return node_id{in_.ConsumeIntegralInRange<std::uint32_t>(1, 5)}; }
  wire::header header(wire::packet_type t, node_id from) {
    return {wire::protocol_version, t, from, hash};
  }

  void step(std::vector<std::uint8_t> raw) {
    util::byte_vector b(raw.size());
    std::transform(raw.begin(), raw.end(), b.begin(), [](std::uint8_t x) { return std::byte{x}; });
    node_.step(sender(), util::shared_bytes(std::move(b)), now_);
  }
  void send(node_id from, util::byte_vector b) {
    node_.step(from, util::shared_bytes(std::move(b)), now_);
  }

  void join() {
    wire::join j;
    const node_id from = sender();
    j.hdr = header(wire::packet_type::join, from);
    j.ring = some_ring(in_, node_);
    j.ring_counter_max = in_.ConsumeIntegralInRange<std::uint64_t>(0, 8);
    j.proc = some_ids(in_, false);
    if (std::find(j.proc.begin(), j.proc.end(), from) == j.proc.end() && from.value <= 4) {
      j.proc.push_back(from);
      std::sort(j.proc.begin(), j.proc.end());
    }
    for (node_id n : j.proc)
      if (n != from && in_.ConsumeIntegralInRange<int>(0, 3) == 0) j.fail.push_back(n);
    j.probe = j.fail.empty() && in_.ConsumeBool();  // a probe: reachability only
    for (node_id n : some_ids(in_, false))
      if (n != from) j.heard.push_back(n);
    util::byte_vector b;
    if (j.proc.empty()) return;
    wire::encode(j, b);
    send(from, std::move(b));
  }

  void commit() {
    wire::commit_token c;
    const node_id from = sender();
    c.hdr = header(wire::packet_type::commit, from);
    for (node_id n : some_ids(in_, true)) {
      wire::commit_entry e;
      e.id = n;
      e.filled = in_.ConsumeBool();
      e.old_ring = some_ring(in_, node_);
      e.old_delivered = seq_t{in_.ConsumeIntegralInRange<std::uint64_t>(0, 4)};
      e.old_aru = seq_t{e.old_delivered.value + in_.ConsumeIntegralInRange<std::uint64_t>(0, 4)};
      e.old_high_seq = seq_t{e.old_aru.value + in_.ConsumeIntegralInRange<std::uint64_t>(0, 4)};
      c.members.push_back(e);
    }
    c.ring = ring_id{c.members.front().id, in_.ConsumeIntegralInRange<std::uint64_t>(1, 8)};
    c.rotation = in_.ConsumeIntegralInRange<std::uint64_t>(0, 10);
    c.holder = in_.ConsumeIntegralInRange<std::uint16_t>(0, c.members.size() - 1);
    util::byte_vector b;
    wire::encode(c, b);
    send(from, std::move(b));
  }

  void token() {
    wire::token t;
    const node_id from = sender();
    t.hdr = header(wire::packet_type::token, from);
    t.ring = some_ring(in_, node_);
    t.rotation = in_.ConsumeIntegralInRange<std::uint64_t>(0, 64);
    t.seq = seq_t{in_.ConsumeIntegralInRange<std::uint64_t>(0, 20)};
    t.aru = seq_t{in_.ConsumeIntegralInRange<std::uint64_t>(0, t.seq.value)};
    t.aru_id = in_.ConsumeBool() ? wire::no_node : from;
    util::byte_vector b;
    wire::encode(t, b);
    send(from, std::move(b));
  }

  void data() {
    const node_id from = sender();
    util::byte_vector b;
    wire::data_packet_builder pb(b, header(wire::packet_type::data, from), some_ring(in_, node_),
                                 seq_t{in_.ConsumeIntegralInRange<std::uint64_t>(1, 20)});
    const auto svc = static_cast<wire::service>(in_.ConsumeIntegralInRange<int>(0, 6));
    util::byte_vector payload(in_.ConsumeIntegralInRange<int>(0, 100));
    wire::item it{svc, core::msg_id{in_.ConsumeIntegralInRange<std::uint64_t>(1, 5)},
                  static_cast<std::uint32_t>(payload.size()), 0, payload};
    pb.add(it);
    pb.finish();
    send(from, std::move(b));
  }

  void drain() {
    node_.check_invariants();
    core::output o = node_.take_output();
    for (const auto& p : o.packets) {
      auto d = wire::decode(p.bytes.span());
      if (!d) std::fprintf(stderr, "undecodable output: %s\n", d.error().to_string().c_str());
      FUZZ_CHECK(d.ok());
      FUZZ_CHECK(p.to || (p.group && !p.group->empty()));
    }
  }

  FuzzedDataProvider& in_;
  core::time_point now_{};
  core::node node_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  harness h(in);
  h.run();
  return 0;
}
