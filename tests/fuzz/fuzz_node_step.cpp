// fuzz_node_step.cpp — libFuzzer target for core::node, the sans-I/O protocol engine. Nothing a
// peer sends may crash a daemon (STYLE.md, Errors), so the fuzz input drives one node of a
// 3-member ring (members 1, 2, 3; self 2) through a sequence of operations:
//   - a datagram from a member (or a stranger): raw fuzz bytes, a well-formed token or data
//     packet whose fields come from the fuzz bytes (near the ring's current seq and rotation, so
//     the fuzzer reaches deep states: retransmissions, SAFE delivery, fragments, flow control),
//     the node's own last token coming back around the ring, or a replay of a packet it sent;
//   - a tick, at an advanced time or at the node's deadline;
//   - a local submit of a small (sometimes too large) message.
// After every operation it takes the output and checks it (every packet decodes, tokens go to
// the successor, deliveries come in seq order) and calls check_invariants().
// Thread-safety: libFuzzer calls this from one thread.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include "core/node.hpp"
#include "fuzz_check.hpp"
#include "wire/packet.hpp"

namespace {

using namespace chorus;
using core::duration;
using core::time_point;
using wire::conf_hash;
using wire::node_id;
using wire::ring_id;
using wire::seq_t;

constexpr node_id self{2};
constexpr node_id successor{3};
constexpr node_id stranger{4};
constexpr std::array<node_id, 3> members = {node_id{1}, node_id{2}, node_id{3}};
constexpr ring_id the_ring{node_id{1}, 7};
constexpr conf_hash the_hash{0x5eed'c0ffeeULL};
constexpr std::size_t ops_max = 512;
constexpr std::size_t replay_max = 32;

bool is_member(node_id n) { return std::find(members.begin(), members.end(), n) != members.end(); }

core::config make_config(FuzzedDataProvider& in) {
  core::config c;
  c.self = self;
  c.members.assign(members.begin(), members.end());
  c.ring = the_ring;
  c.hash = the_hash;
  // Small limits, so that fragmentation, flow control and the window edges are a few packets
  // away rather than thousands.
  c.packet_bytes_max = 512;
  c.message_bytes_max = 4096;
  c.send_queue_bytes_max = 16384;
  c.window_global = 16;
  c.window_personal = 8;
  c.window_accelerated = in.ConsumeBool() ? 2 : 0;
  c.outstanding_max = 64;
  c.rtr_per_visit_max = 8;
  c.token_retransmit = std::chrono::milliseconds(5);
  c.token_hold = in.ConsumeBool() ? std::chrono::milliseconds(1) : duration::zero();
  return c;
}

// One fuzz input's run: owns the node, reads operations from `in` (which outlives it) until the
// input or ops_max runs out, and keeps what it saw of the node's output to aim later inputs.
class harness {
 public:
  explicit harness(FuzzedDataProvider& in) : in_(in), node_(make_config(in), now_) { drain(); }

  void run() {
    for (std::size_t i = 0; i < ops_max && in_.remaining_bytes() > 0; ++i) {
      switch (in_.ConsumeIntegralInRange<int>(0, 8)) {
        case 0:
          step_raw();
          break;
        case 1:
          step_token();
          break;
        case 2:
          step_data();
          break;
        case 3:
          tick_after();
          break;
        case 4:
          tick_at_deadline();
          break;
        case 5:
          submit();
          break;
        case 6:
          replay();
          break;
        case 7:
          token_comes_back();
          break;
        default:  // data packets have the most shapes: twice the weight
          step_data();
          break;
      }
      drain();
    }
  }

 private:
  // --- inputs -----------------------------------------------------------------------------

  node_id pick_from() {
    // Mostly the predecessor (1), which is where tokens come from.
    switch (in_.ConsumeIntegralInRange<int>(0, 7)) {
      case 0:
        return node_id{3};
      case 1:
        return self;
      case 2:
        return stranger;
      default:
        return node_id{1};
    }
  }
  node_id pick_member() { return members[in_.ConsumeIntegralInRange<std::size_t>(0, 2)]; }
  conf_hash pick_hash() {
    return in_.ConsumeIntegralInRange<int>(0, 31) == 0 ? conf_hash{the_hash.value + 1} : the_hash;
  }
  ring_id pick_ring() {
    if (in_.ConsumeIntegralInRange<int>(0, 31) != 0) return the_ring;
    return ring_id{the_ring.rep, the_ring.counter + 1};
  }
  // A seq near the ring's current high, now and then anywhere.
  seq_t pick_seq(std::uint64_t ahead) {
    if (in_.ConsumeIntegralInRange<int>(0, 63) == 0)
      return seq_t{in_.ConsumeIntegral<std::uint64_t>()};
    const std::uint64_t behind = std::min<std::uint64_t>(high_seq_.value, 16);
    return seq_t{high_seq_.value - behind +
                 in_.ConsumeIntegralInRange<std::uint64_t>(0, behind + ahead)};
  }

  void step(node_id from, util::byte_vector bytes) {
    high_seq_ = std::max(high_seq_, seen_seq(bytes));
    node_.step(from, util::shared_bytes(std::move(bytes)), now_);
  }

  static seq_t seen_seq(const util::byte_vector& bytes) {
    auto p = wire::decode(bytes);
    if (!p) return seq_t{0};
    return std::visit(
        [](const auto& v) {
          if constexpr (requires { v.seq; })
            return v.seq;
          else
            return seq_t{0};  // membership packets carry no seq
        },
        *p);
  }

  void step_raw() {
    const node_id from = pick_from();
    const auto raw =
        in_.ConsumeBytes<std::uint8_t>(in_.ConsumeIntegralInRange<std::size_t>(0, 160));
    util::byte_vector b(raw.size());
    std::transform(raw.begin(), raw.end(), b.begin(), [](std::uint8_t x) { return std::byte{x}; });
    step(from, std::move(b));
  }

  void fill_rtr(wire::token& t) {
    std::set<std::uint64_t> rtr;
    const std::size_t n = in_.ConsumeIntegralInRange<std::size_t>(0, 8);
    for (std::size_t i = 0; i < n && t.seq.value > 0; ++i) {
      const std::uint64_t back = std::min<std::uint64_t>(t.seq.value - 1, 40);
      rtr.insert(t.seq.value - in_.ConsumeIntegralInRange<std::uint64_t>(0, back));
    }
    for (std::uint64_t s : rtr) t.rtr.push_back(seq_t{s});
  }

  void lower_aru(wire::token& t) {
    const std::uint64_t down = std::min<std::uint64_t>(t.seq.value, 20);
    t.aru = seq_t{t.seq.value - in_.ConsumeIntegralInRange<std::uint64_t>(0, down)};
    if (t.aru < t.seq && in_.ConsumeBool()) t.aru_id = pick_member();
  }

  void step_token() {
    const node_id from = pick_from();
    wire::token t;
    t.hdr =
        wire::header{wire::protocol_version, wire::packet_type::token, pick_member(), pick_hash()};
    t.ring = pick_ring();
    // The last rotation the node sent (stale), or a little past it, now and then anything.
    t.rotation = in_.ConsumeIntegralInRange<int>(0, 63) == 0
                     ? in_.ConsumeIntegral<std::uint64_t>()
                     : rotation_ + in_.ConsumeIntegralInRange<std::uint64_t>(0, 3);
    // The ring caught up with this node, at the highest seq seen, or near it.
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        t.seq = node_.aru();
        break;
      case 1:
        t.seq = high_seq_;
        break;
      default:
        t.seq = pick_seq(12);
    }
    t.aru_id = wire::no_node;
    lower_aru(t);
    t.fcc = in_.ConsumeIntegralInRange<std::uint32_t>(0, 40);
    t.backlog = in_.ConsumeIntegral<std::uint8_t>();
    fill_rtr(t);
    util::byte_vector b;
    wire::encode(t, b);
    step(from, std::move(b));
  }

  // The node's last token after a trip round the ring: the others may have sequenced packets
  // (which this node then lacks), lowered the aru and asked for retransmissions.
  void token_comes_back() {
    if (!last_token_) return step_token();
    wire::token t = *last_token_;
    t.hdr.sender = node_id{1};
    t.rotation += in_.ConsumeIntegralInRange<std::uint64_t>(1, 3);
    const std::uint64_t added = in_.ConsumeIntegralInRange<std::uint64_t>(0, 6);
    t.seq = seq_t{t.seq.value + added};
    if (added > 0 && (t.aru_id == wire::no_node || in_.ConsumeBool())) t.aru_id = node_id{3};
    if (in_.ConsumeBool()) lower_aru(t);
    t.fcc += static_cast<std::uint32_t>(added);
    if (in_.ConsumeBool()) {
      t.rtr.clear();
      fill_rtr(t);
    }
    util::byte_vector b;
    wire::encode(t, b);
    step(node_id{1}, std::move(b));
  }

  // A fresh item: a whole message or a fragment of one, with fields from the fuzz input.
  wire::item new_item() {
    wire::item it;
    it.svc = static_cast<wire::service>(in_.ConsumeIntegralInRange<std::uint8_t>(0, 5));
    it.id = wire::msg_id{in_.ConsumeIntegralInRange<std::uint64_t>(1, 64)};
    // Mostly messages that fit one item, some a few items long, now and then huge ones.
    std::uint32_t total_max = in_.ConsumeBool() ? 300 : 3000;
    if (in_.ConsumeIntegralInRange<int>(0, 31) == 0) total_max = wire::message_bytes_max;
    it.total_bytes = in_.ConsumeIntegralInRange<std::uint32_t>(0, total_max);
    if (it.total_bytes == 0) return it;
    // Fragments starting at 0, ending at the message's end, or anywhere.
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        it.offset = 0;
        break;
      case 1:
        it.offset = in_.ConsumeIntegralInRange<std::uint32_t>(0, it.total_bytes - 1);
        break;
      default:
        it.offset = in_.ConsumeIntegralInRange<std::uint32_t>(
            it.total_bytes - std::min<std::uint32_t>(it.total_bytes, 400), it.total_bytes - 1);
    }
    return it;
  }

  // Adds an item from `origin`: often the next fragment of the message that origin has in
  // progress (so that reassembly completes large messages), otherwise a fresh one.
  void add_item(wire::data_packet_builder& b, node_id origin) {
    auto& progress = in_progress_[origin.value - 1];
    wire::item it;
    if (progress && in_.ConsumeBool()) {
      it = *progress;
    } else {
      it = new_item();
    }
    std::uint32_t len = 0;
    if (it.total_bytes > 0) {
      const std::uint32_t room = std::min<std::uint32_t>(it.total_bytes - it.offset, 400);
      len = in_.ConsumeBool() ? room : in_.ConsumeIntegralInRange<std::uint32_t>(1, room);
    }
    auto raw = in_.ConsumeBytes<std::uint8_t>(len);
    raw.resize(len);
    util::byte_vector data(len);
    std::transform(raw.begin(), raw.end(), data.begin(),
                   [](std::uint8_t x) { return std::byte{x}; });
    it.data = data;
    b.add(it);
    progress.reset();
    if (!it.last_fragment()) {
      wire::item next = it;
      next.offset += len;
      next.data = {};
      progress = next;
    }
  }

  void step_data() {
    const node_id from = pick_from();
    const node_id origin = pick_member();
    const wire::header h{wire::protocol_version, wire::packet_type::data, origin, pick_hash()};
    // The next packet this node lacks (in-order delivery), or one near the ring's high.
    seq_t s = in_.ConsumeBool() ? seq_t{node_.aru().value + 1} : pick_seq(16);
    if (s.value == 0) s = seq_t{1};
    util::byte_vector bytes;
    wire::data_packet_builder b(bytes, h, pick_ring(), s);
    const std::size_t items = in_.ConsumeIntegralInRange<std::size_t>(0, 3);
    for (std::size_t i = 0; i < items; ++i) add_item(b, origin);
    b.finish();
    step(from, std::move(bytes));
  }

  void replay() {
    if (sent_.empty()) return step_raw();
    const auto& p = sent_[in_.ConsumeIntegralInRange<std::size_t>(0, sent_.size() - 1)];
    node_.step(pick_from(), p, now_);
  }

  void tick_after() {
    now_ += std::chrono::microseconds(in_.ConsumeIntegralInRange<int>(0, 20000));
    node_.tick(now_);
  }

  void tick_at_deadline() {
    if (deadline_ && *deadline_ > now_) now_ = *deadline_;
    node_.tick(now_);
  }

  void submit() {
    const auto svc = static_cast<wire::service>(in_.ConsumeIntegralInRange<std::uint8_t>(0, 5));
    std::size_t n = in_.ConsumeIntegralInRange<std::size_t>(0, 1200);
    if (in_.ConsumeIntegralInRange<int>(0, 31) == 0) n = node_.cfg().message_bytes_max + 1;
    auto raw = in_.ConsumeBytes<std::uint8_t>(n);
    raw.resize(n);
    util::byte_vector payload(n);
    std::transform(raw.begin(), raw.end(), payload.begin(),
                   [](std::uint8_t x) { return std::byte{x}; });
    auto id = node_.submit(svc, util::shared_bytes(std::move(payload)), now_);
    if (n > node_.cfg().message_bytes_max) FUZZ_CHECK(!id.ok());
    if (id) FUZZ_CHECK(id->value == ++submitted_);  // ids count accepted messages from 1
  }

  // --- output -----------------------------------------------------------------------------

  void check_packet(const core::outgoing_packet& out) {
    FUZZ_CHECK(!out.to || (is_member(*out.to) && *out.to != self));
    auto p = wire::decode(out.bytes.span());
    if (!p) std::fprintf(stderr, "undecodable output: %s\n", p.error().to_string().c_str());
    FUZZ_CHECK(p.ok());  // the node never sends what a peer could not decode
    if (const auto* t = std::get_if<wire::token>(&*p)) {
      FUZZ_CHECK(out.to == successor);
      FUZZ_CHECK(t->hdr.sender == self);
      FUZZ_CHECK(t->hdr.hash == the_hash);
      FUZZ_CHECK(t->ring == the_ring);
      rotation_ = std::max(rotation_, t->rotation);
      high_seq_ = std::max(high_seq_, t->seq);
      last_token_ = *t;
    } else {
      const auto& d = std::get<wire::data_packet>(*p);
      FUZZ_CHECK(!out.to);
      FUZZ_CHECK(d.hdr.hash == the_hash);
      FUZZ_CHECK(d.ring == the_ring);
      high_seq_ = std::max(high_seq_, d.seq);
    }
    sent_.push_back(out.bytes);
    if (sent_.size() > replay_max) sent_.pop_front();
  }

  void check_event(const core::event& e) {
    const auto* d = std::get_if<core::delivery>(&e);
    if (!d) return;
    FUZZ_CHECK(d->ring == the_ring);
    FUZZ_CHECK(is_member(d->origin));
    FUZZ_CHECK(d->seq >= last_delivered_);  // the ring's total order
    FUZZ_CHECK(d->seq <= node_.delivered_upto());
    FUZZ_CHECK(static_cast<std::uint8_t>(d->svc) <= wire::service_max);
    last_delivered_ = d->seq;
  }

  void drain() {
    core::output o = node_.take_output();
    for (const auto& p : o.packets) check_packet(p);
    for (const auto& e : o.events) check_event(e);
    deadline_ = o.deadline;
    FUZZ_CHECK(node_.delivered_upto() <= node_.aru());
    FUZZ_CHECK(node_.safe_upto() <= node_.aru());
    node_.check_invariants();
  }

  FuzzedDataProvider& in_;
  time_point now_{};
  core::node node_;
  seq_t high_seq_{0};                      // highest seq seen in any packet, in or out
  std::uint64_t rotation_ = 0;             // highest rotation the node has sent
  std::optional<wire::token> last_token_;  // the node's last token, as sent
  std::deque<util::shared_bytes> sent_;    // the node's recent packets, for replays
  std::optional<time_point> deadline_;     // from the last output
  seq_t last_delivered_{0};                // seq of the last delivery
  std::uint64_t submitted_ = 0;            // messages submit() accepted
  // Per origin (index id - 1): the next fragment of the message it has in progress, no data.
  std::array<std::optional<wire::item>, 3> in_progress_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  harness h(in);
  h.run();
  return 0;
}
