// datagrams.cpp — see datagrams.hpp.
#include "core/datagrams.hpp"

#include <algorithm>

#include "wire/packet.hpp"

namespace chorus::core {
namespace {

bool is_token(std::span<const std::byte> packet) {
  auto h = wire::decode_header(packet);
  return h && h->type == wire::packet_type::token;
}

class planner {
 public:
  explicit planner(const datagram_policy& p) : policy_(p) {}

  void add(std::optional<node_id> to, const std::shared_ptr<const std::vector<node_id>>& group,
           const util::shared_bytes& bytes) {
    const std::size_t cost = wire::bundle_part_overhead + bytes.size();
    auto it = std::ranges::find_if(open_, [&](const open_datagram& o) { return o.d.to == to; });
    if (it != open_.end() &&
        (it->d.parts.size() == bundle_packets_max ||
         wire::bundle_prefix_bytes + it->bytes + cost > wire::datagram_bytes_max)) {
      ready_.push_back(std::move(*it));
      open_.erase(it);
      it = open_.end();
    }
    if (it == open_.end()) {
      open_.push_back({{to, group, {}, 0}, index_});
      it = open_.end() - 1;
    }
    it->last = index_++;
    it->bytes += cost;
    it->d.parts.push_back(bytes);
  }

  std::vector<outgoing_datagram> finish(datagram_stats& stats) {
    for (auto& o : open_) ready_.push_back(std::move(o));
    open_.clear();
    std::ranges::stable_sort(ready_, {}, &open_datagram::last);
    std::vector<outgoing_datagram> out;
    out.reserve(ready_.size());
    for (auto& o : ready_) {
      o.d.bytes =
          o.d.parts.size() == 1 ? o.d.parts.front().size() : wire::bundle_prefix_bytes + o.bytes;
      if (o.d.parts.size() > 1) ++stats.bundles_sent;
      out.push_back(std::move(o.d));
    }
    if (policy_.multicast) token_after_small_bursts(out);
    return out;
  }

 private:
  // A lone token goes behind the small multicast datagram right after it (datagrams.hpp).
  static void token_after_small_bursts(std::vector<outgoing_datagram>& out) {
    for (std::size_t i = 0; i + 1 < out.size(); ++i) {
      const outgoing_datagram& d = out[i];
      const outgoing_datagram& next = out[i + 1];
      if (d.parts.size() != 1 || !d.to || next.to || next.bytes > token_delay_bytes_max) continue;
      if (is_token(d.parts.front().span())) {
        std::swap(out[i], out[i + 1]);
        ++i;  // the token, now behind the burst, stays there
      }
    }
  }

  // One datagram being filled, and the place of its last packet in the node's order; `bytes`
  // counts the parts with their lengths, without the bundle's prefix.
  struct open_datagram {
    outgoing_datagram d;
    std::size_t last = 0;
    std::size_t bytes = 0;
  };
  const datagram_policy& policy_;
  std::vector<open_datagram> open_;  // still taking packets, one per destination
  std::vector<open_datagram> ready_;
  std::size_t index_ = 0;
};

}  // namespace

std::vector<outgoing_datagram> plan_datagrams(std::span<const outgoing_packet> packets,
                                              const datagram_policy& policy,
                                              datagram_stats& stats) {
  planner p(policy);
  for (const auto& pk : packets) {
    if (pk.to) {
      p.add(pk.to, nullptr, pk.bytes);
    } else if (policy.multicast) {
      p.add(std::nullopt, pk.group, pk.bytes);
    } else if (pk.group) {
      for (node_id m : *pk.group) {
        if (m != policy.self) p.add(m, nullptr, pk.bytes);
      }
    }
  }
  return p.finish(stats);
}

util::shared_bytes encode_datagram(const outgoing_datagram& d) {
  if (d.parts.size() == 1) return d.parts.front();
  util::byte_vector out;
  wire::encode_bundle(d.parts, out);
  return util::shared_bytes(std::move(out));
}

std::vector<incoming_datagram> open_batch(std::span<const incoming_datagram> batch,
                                          datagram_stats& stats) {
  std::vector<incoming_datagram> packets;
  packets.reserve(batch.size());
  for (const auto& d : batch) {
    auto h = wire::decode_header(d.bytes.span());
    if (!h || h->type != wire::packet_type::bundle) {
      packets.push_back(d);  // the node checks (and counts) bad packets
      continue;
    }
    auto parts = wire::decode_bundle(d.bytes.span());
    if (!parts) {
      ++stats.bad_bundles;
      continue;
    }
    ++stats.bundles_received;
    for (auto part : *parts) packets.push_back({d.from, d.bytes.slice(part)});
  }
  // (std::ranges::stable_partition's subrange does not compile with clang 14 and libstdc++ 12.)
  std::stable_partition(packets.begin(), packets.end(),
                        [](const incoming_datagram& p) { return !is_token(p.bytes.span()); });
  return packets;
}

}  // namespace chorus::core
