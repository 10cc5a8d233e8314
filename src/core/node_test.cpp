// node_test.cpp — core::node driven directly through a tiny lossless in-memory network: the
// basic promises (every service level delivered everywhere in one order, SAFE waits, packing,
// fragmentation, refusal of bad submits, dropping of foreign input). The simulator covers faults.
#include "core/node.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <string>

#include "wire/packet.hpp"

namespace chorus::core {
namespace {

util::shared_bytes bytes_of(std::string_view s) {
  util::byte_vector v(s.size());
  std::memcpy(v.data(), s.data(), s.size());
  return util::shared_bytes(std::move(v));
}

std::string string_of(const util::shared_bytes& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

config make_config(std::uint32_t self, std::uint32_t n) {
  config c;
  c.self = node_id{self};
  for (std::uint32_t i = 1; i <= n; ++i) c.members.push_back(node_id{i});
  c.ring = ring_id{node_id{1}, 1};
  c.hash = conf_hash{0xc0ffee};
  return c;
}

// Nodes 1..n on a lossless network that delivers datagrams in send order, 10 µs apart.
class cluster {
 public:
  explicit cluster(std::uint32_t n, std::function<void(config&)> tune = {}) {
    for (std::uint32_t i = 1; i <= n; ++i) {
      config c = make_config(i, n);
      if (tune) tune(c);
      nodes_.emplace(i, std::make_unique<node>(c, now_));
    }
    for (auto& [id, n] : nodes_) collect(id);
  }

  node& at(std::uint32_t id) { return *nodes_.at(id); }
  const std::vector<delivery>& delivered(std::uint32_t id) { return delivered_[id]; }

  msg_id submit(std::uint32_t id, service svc, util::shared_bytes payload) {
    auto r = at(id).submit(svc, std::move(payload), now_);
    EXPECT_TRUE(r.ok());
    collect(id);
    return r.ok() ? *r : msg_id{};
  }

  // Runs until `done` or `max_steps` network/timer events.
  void run_until(const std::function<bool()>& done, int max_steps = 1'000'000) {
    for (int i = 0; i < max_steps && !done(); ++i) {
      now_ += 10us;
      if (!in_flight_.empty()) {
        auto [from, to, bytes] = in_flight_.front();
        in_flight_.pop_front();
        at(to).step(node_id{from}, bytes, now_);
        collect(to);
      }
      for (auto& [id, n] : nodes_) {
        if (deadline_[id] && *deadline_[id] <= now_) {
          n->tick(now_);
          collect(id);
        }
      }
    }
  }

  bool all_delivered(std::size_t count) {
    for (auto& [id, n] : nodes_)
      if (delivered_[id].size() < count) return false;
    return true;
  }

 private:
  void collect(std::uint32_t id) {
    output o = at(id).take_output();
    for (auto& p : o.packets) {
      if (p.to) {
        in_flight_.push_back({id, p.to->value, p.bytes});
      } else {
        for (auto& [to, n] : nodes_)
          if (to != id) in_flight_.push_back({id, to, p.bytes});
      }
    }
    for (auto& e : o.events)
      if (auto* d = std::get_if<delivery>(&e)) delivered_[id].push_back(*d);
    deadline_[id] = o.deadline;
  }

  struct datagram {
    std::uint32_t from, to;
    util::shared_bytes bytes;
  };
  time_point now_{};
  std::map<std::uint32_t, std::unique_ptr<node>> nodes_;
  std::map<std::uint32_t, std::vector<delivery>> delivered_;
  std::map<std::uint32_t, std::optional<time_point>> deadline_;
  std::deque<datagram> in_flight_;
};

TEST(node, single_daemon_delivers_every_service_level_in_submit_order) {
  cluster c(1);
  for (int s = 0; s <= 5; ++s)
    c.submit(1, static_cast<service>(s), bytes_of("m" + std::to_string(s)));
  c.run_until([&] { return c.all_delivered(6); });
  ASSERT_EQ(c.delivered(1).size(), 6u);
  for (int s = 0; s <= 5; ++s) {
    EXPECT_EQ(string_of(c.delivered(1)[s].payload), "m" + std::to_string(s));
    EXPECT_EQ(c.delivered(1)[s].svc, static_cast<service>(s));
    EXPECT_EQ(c.delivered(1)[s].id, msg_id{static_cast<std::uint64_t>(s + 1)});
  }
}

TEST(node, three_daemons_deliver_the_same_total_order) {
  cluster c(3);
  for (int i = 0; i < 30; ++i)
    c.submit(1 + i % 3, static_cast<service>(i % 6), bytes_of("msg" + std::to_string(i)));
  c.run_until([&] { return c.all_delivered(30); });
  for (std::uint32_t n = 1; n <= 3; ++n) {
    ASSERT_EQ(c.delivered(n).size(), 30u) << "node " << n;
    for (std::size_t k = 0; k < 30; ++k) {
      EXPECT_EQ(c.delivered(n)[k].origin, c.delivered(1)[k].origin);
      EXPECT_EQ(c.delivered(n)[k].id, c.delivered(1)[k].id);
    }
  }
}

TEST(node, safe_message_is_delivered_only_once_every_daemon_holds_it) {
  cluster c(3);
  const msg_id id = c.submit(2, service::safe, bytes_of("safe"));
  c.run_until([&] { return c.all_delivered(1); });
  for (std::uint32_t n = 1; n <= 3; ++n) {
    ASSERT_EQ(c.delivered(n).size(), 1u);
    EXPECT_EQ(c.delivered(n)[0].id, id);
    const seq_t s = c.delivered(n)[0].seq;
    for (std::uint32_t q = 1; q <= 3; ++q) EXPECT_TRUE(c.at(q).has_received(s));
  }
}

TEST(node, small_messages_share_packets_and_large_ones_are_fragmented) {
  cluster c(2);
  for (int i = 0; i < 100; ++i) c.submit(1, service::agreed, bytes_of(std::string(10, 'a')));
  c.run_until([&] { return c.all_delivered(100); });
  EXPECT_LT(c.at(1).stats().packets_sent, 5u);

  util::byte_vector big(3u << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i * 7 + i / 251);
  const util::byte_vector copy = big;
  c.submit(2, service::safe, util::shared_bytes(std::move(big)));
  c.run_until([&] { return c.all_delivered(101); });
  for (std::uint32_t n = 1; n <= 2; ++n) {
    ASSERT_EQ(c.delivered(n).size(), 101u);
    const auto& d = c.delivered(n).back();
    ASSERT_EQ(d.payload.size(), copy.size());
    EXPECT_TRUE(std::equal(copy.begin(), copy.end(), d.payload.data()));
  }
}

TEST(node, refuses_oversized_messages_and_a_full_queue) {
  config cfg = make_config(1, 2);
  cfg.message_bytes_max = 1000;
  cfg.send_queue_bytes_max = 1500;
  node n(cfg, time_point{});
  EXPECT_EQ(n.submit(service::agreed, bytes_of(std::string(1001, 'x')), {}).error().code(),
            util::errc::too_large);
  EXPECT_TRUE(n.submit(service::agreed, bytes_of(std::string(1000, 'x')), {}).ok());
  EXPECT_EQ(n.submit(service::agreed, bytes_of(std::string(600, 'x')), {}).error().code(),
            util::errc::would_block);
  EXPECT_EQ(n.stats().messages_refused, 2u);
}

TEST(node, drops_and_counts_foreign_and_malformed_input) {
  node n(make_config(2, 3), time_point{});
  n.step(node_id{1}, bytes_of("garbage"), {});
  EXPECT_EQ(n.stats().dropped_malformed, 1u);

  wire::token t;
  t.ring = ring_id{node_id{1}, 1};
  t.rotation = 1;
  t.hdr.sender = node_id{1};
  t.hdr.hash = conf_hash{0xbad};
  util::byte_vector buf;
  wire::encode(t, buf);
  n.step(node_id{1}, util::shared_bytes(buf), {});
  EXPECT_EQ(n.stats().dropped_conf_hash, 1u);

  t.hdr.hash = conf_hash{0xc0ffee};
  t.ring = ring_id{node_id{3}, 7};
  buf.clear();
  wire::encode(t, buf);
  n.step(node_id{1}, util::shared_bytes(buf), {});
  EXPECT_EQ(n.stats().dropped_foreign_ring, 1u);

  n.step(node_id{9}, util::shared_bytes(buf), {});
  EXPECT_EQ(n.stats().dropped_not_member, 1u);
  EXPECT_EQ(n.stats().tokens_received, 0u);
}

// Regression (fuzz_node_step): a token whose seq went backwards made the node ask for
// retransmissions above the seq of the token it passed on, which its successor must reject.
TEST(node, drops_a_token_whose_seq_went_backwards) {
  node n(make_config(2, 3), time_point{});
  auto token = [](std::uint64_t rotation, std::uint64_t seq) {
    wire::token t;
    t.hdr = wire::header{wire::protocol_version, wire::packet_type::token, node_id{1},
                         conf_hash{0xc0ffee}};
    t.ring = ring_id{node_id{1}, 1};
    t.rotation = rotation;
    t.seq = seq_t{seq};
    util::byte_vector buf;
    wire::encode(t, buf);
    return util::shared_bytes(std::move(buf));
  };
  n.step(node_id{1}, token(1, 5), {});
  n.step(node_id{1}, token(3, 3), {});
  EXPECT_EQ(n.stats().tokens_received, 1u);
  EXPECT_EQ(n.stats().dropped_stale_token, 1u);
  for (const auto& p : n.take_output().packets)
    EXPECT_TRUE(wire::decode(p.bytes.span()).ok()) << "the node sent a packet peers reject";
}

TEST(node, validate_explains_bad_configurations) {
  config c = make_config(4, 3);
  EXPECT_FALSE(validate(c).ok());
  c = make_config(1, 3);
  c.window_personal = 0;
  EXPECT_FALSE(validate(c).ok());
  EXPECT_TRUE(validate(make_config(1, 3)).ok());
}

}  // namespace
}  // namespace chorus::core
