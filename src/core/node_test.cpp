// node_test.cpp — core::node driven directly through a tiny lossless in-memory network: the
// basic promises (every service level delivered everywhere in one order, SAFE waits, packing,
// fragmentation, refusal of bad submits, dropping of foreign input). The simulator covers faults.
#include "core/node.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <set>
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
  const std::vector<configuration>& configurations(std::uint32_t id) { return configs_[id]; }
  // Every datagram to or from `id` is lost from now on, and it no longer ticks (a crash).
  void crash(std::uint32_t id) { crashed_.insert(id); }
  // A new process for `id`: the next incarnation, starting by gathering.
  void restart(std::uint32_t id) {
    config c = nodes_.at(id)->cfg();
    ++c.incarnation;
    c.members.clear();
    nodes_.at(id) = std::make_unique<node>(c, now_);
    crashed_.erase(id);
    delivered_[id].clear();
    configs_[id].clear();
    collect(id);
  }
  // Datagrams between daemons of different sides are lost until heal(); unlisted daemons form
  // one more side.
  void partition(std::vector<std::set<std::uint32_t>> sides) { sides_ = std::move(sides); }
  void heal() { sides_.clear(); }
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
        if (crashed_.count(from) == 0 && crashed_.count(to) == 0 && side(from) == side(to)) {
          at(to).step(node_id{from}, bytes, now_);
          collect(to);
        }
      }
      for (auto& [id, n] : nodes_) {
        if (crashed_.count(id) == 0 && deadline_[id] && *deadline_[id] <= now_) {
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
  std::size_t side(std::uint32_t id) const {
    for (std::size_t i = 0; i < sides_.size(); ++i)
      if (sides_[i].count(id) != 0) return i;
    return sides_.size();
  }

  void collect(std::uint32_t id) {
    output o = at(id).take_output();
    for (auto& p : o.packets) {
      if (p.to) {
        in_flight_.push_back({id, p.to->value, p.bytes});
      } else {
        for (node_id to : *p.group) in_flight_.push_back({id, to.value, p.bytes});
      }
    }
    for (auto& e : o.events) {
      if (auto* d = std::get_if<delivery>(&e)) delivered_[id].push_back(*d);
      if (auto* c = std::get_if<configuration>(&e)) configs_[id].push_back(*c);
    }
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
  std::map<std::uint32_t, std::vector<configuration>> configs_;
  std::set<std::uint32_t> crashed_;
  std::vector<std::set<std::uint32_t>> sides_;
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

// Idle parking (config::park_after_idle_visits): the token of an idle ring parks at the daemon
// that sent last, so that daemon's next message is ordered at once instead of waiting for the
// token to come round (latency of a lone sender).
config& parks_late(config& c) {
  c.token_hold = 4ms;
  c.park_after_idle_visits = 16;
  return c;
}

TEST(node, an_idle_token_parks_at_the_last_sender) {
  cluster c(3, [](config& cfg) { parks_late(cfg); });
  c.submit(2, service::agreed, bytes_of("first"));
  c.run_until([&] { return c.all_delivered(1); });
  c.run_until([] { return false; }, 100);  // 1 ms: the ring goes idle
  c.submit(2, service::agreed, bytes_of("second"));
  // The next tick orders and delivers it at its sender: no datagram has to arrive first.
  c.run_until([&] { return c.delivered(2).size() == 2; }, 1);
  EXPECT_EQ(c.delivered(2).size(), 2u);
  c.run_until([&] { return c.all_delivered(2); });
  EXPECT_TRUE(c.all_delivered(2));
}

TEST(node, a_safe_message_is_stable_everywhere_before_its_sender_parks_the_token) {
  // Data ahead of the token, so the aru is never lowered and the sender knows the message is
  // stable after one rotation, a rotation before the others do.
  cluster c(3, [](config& cfg) { parks_late(cfg).window_accelerated = 0; });
  c.submit(2, service::safe, bytes_of("safe"));
  // Well within one token hold (4 ms = 400 steps): no member waits for a parked token.
  c.run_until([&] { return c.all_delivered(1); }, 300);
  EXPECT_TRUE(c.all_delivered(1));
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

// --- membership ---------------------------------------------------------------------------

void gather_from_scratch(config& c) {
  for (node_id m : c.members) c.daemons.push_back(m);
  c.members.clear();
}

std::vector<node_id> ids(std::initializer_list<std::uint32_t> l) {
  std::vector<node_id> v;
  for (auto i : l) v.push_back(node_id{i});
  return v;
}

bool installed(cluster& c, std::uint32_t n, const std::vector<node_id>& members) {
  const auto& cs = c.configurations(n);
  return !cs.empty() && cs.back().type == configuration::kind::regular &&
         cs.back().members == members;
}

TEST(node, daemons_that_start_together_form_one_ring_and_deliver) {
  cluster c(3, gather_from_scratch);
  c.run_until([&] {
    return installed(c, 1, ids({1, 2, 3})) && installed(c, 2, ids({1, 2, 3})) &&
           installed(c, 3, ids({1, 2, 3}));
  });
  for (std::uint32_t n = 1; n <= 3; ++n) {
    ASSERT_TRUE(installed(c, n, ids({1, 2, 3}))) << "node " << n;
    EXPECT_EQ(c.configurations(n).front().type, configuration::kind::regular);
  }
  c.submit(2, service::safe, bytes_of("hello"));
  c.run_until([&] { return c.all_delivered(1); });
  for (std::uint32_t n = 1; n <= 3; ++n) {
    ASSERT_EQ(c.delivered(n).size(), 1u);
    EXPECT_EQ(c.delivered(n)[0].ring, c.configurations(n).back().ring);
  }
}

TEST(node, survivors_of_a_crash_install_transitional_then_regular_configurations) {
  cluster c(3, [](config& cfg) { cfg.daemons = cfg.members; });
  for (int i = 0; i < 10; ++i) c.submit(1 + i % 3, service::agreed, bytes_of("m"));
  c.run_until([&] { return c.all_delivered(10); });
  c.crash(3);
  c.submit(1, service::safe, bytes_of("after"));
  c.run_until([&] { return installed(c, 1, ids({1, 2})) && installed(c, 2, ids({1, 2})); });
  for (std::uint32_t n = 1; n <= 2; ++n) {
    const auto& cs = c.configurations(n);
    ASSERT_GE(cs.size(), 3u) << "node " << n;
    EXPECT_EQ(cs[cs.size() - 2].type, configuration::kind::transitional);
    EXPECT_EQ(cs[cs.size() - 2].members, ids({1, 2}));
    EXPECT_EQ(cs.back().members, ids({1, 2}));
  }
  c.run_until([&] { return c.delivered(1).size() == 11 && c.delivered(2).size() == 11; });
  EXPECT_EQ(c.delivered(1).back().payload.size(), 5u);
  EXPECT_EQ(c.delivered(2).back().payload.size(), 5u);
}

TEST(node, a_partition_forms_two_rings_that_merge_when_it_heals) {
  cluster c(5, [](config& cfg) { cfg.daemons = cfg.members; });
  c.partition({{1, 2, 3}, {4, 5}});
  c.submit(1, service::agreed, bytes_of("left"));
  c.submit(4, service::agreed, bytes_of("right"));
  c.run_until([&] {
    return installed(c, 1, ids({1, 2, 3})) && installed(c, 2, ids({1, 2, 3})) &&
           installed(c, 3, ids({1, 2, 3})) && installed(c, 4, ids({4, 5})) &&
           installed(c, 5, ids({4, 5}));
  });
  ASSERT_TRUE(installed(c, 2, ids({1, 2, 3})));
  ASSERT_TRUE(installed(c, 5, ids({4, 5})));
  c.heal();
  const auto all = ids({1, 2, 3, 4, 5});
  c.run_until([&] {
    for (std::uint32_t n = 1; n <= 5; ++n)
      if (!installed(c, n, all)) return false;
    return true;
  });
  for (std::uint32_t n = 1; n <= 5; ++n) ASSERT_TRUE(installed(c, n, all)) << "node " << n;
  c.submit(5, service::safe, bytes_of("merged"));
  c.run_until([&] { return c.all_delivered(2); });
  for (std::uint32_t n = 1; n <= 5; ++n) EXPECT_EQ(c.delivered(n).back().payload.size(), 6u);
}

TEST(node, a_restarted_daemon_rejoins_as_a_new_incarnation) {
  cluster c(3, [](config& cfg) { cfg.daemons = cfg.members; });
  c.crash(3);
  c.run_until([&] { return installed(c, 1, ids({1, 2})) && installed(c, 2, ids({1, 2})); });
  ASSERT_TRUE(installed(c, 1, ids({1, 2})));
  c.restart(3);
  const auto all = ids({1, 2, 3});
  c.run_until([&] { return installed(c, 1, all) && installed(c, 2, all) && installed(c, 3, all); });
  for (std::uint32_t n = 1; n <= 3; ++n) {
    std::string seen;
    for (const auto& cf : c.configurations(n)) {
      seen += cf.type == configuration::kind::regular ? " R" : " T";
      for (node_id m : cf.members) seen += std::to_string(m.value);
    }
    EXPECT_TRUE(installed(c, n, all)) << "node " << n << ":" << seen.substr(0, 300) << " role "
                                      << static_cast<int>(c.at(n).role());
  }
  EXPECT_EQ(c.configurations(3).front().type, configuration::kind::regular)
      << "a new process starts with a regular configuration";
  const msg_id id = c.submit(3, service::agreed, bytes_of("again"));
  EXPECT_EQ(id.value, (std::uint64_t{1} << 40) + 1);
  c.run_until([&] { return c.delivered(1).size() == 1 && c.delivered(3).size() == 1; });
  EXPECT_EQ(c.delivered(1).back().id, id);
}

// Regression (fuzz_node_membership): a commit token whose line for us was already filled, with
// an old ring that is not ours, made recovery look for our old ring's survivors and find none.
TEST(node, writes_its_own_commit_line_whatever_a_peer_put_there) {
  config cfg = make_config(2, 2);
  cfg.daemons = cfg.members;
  node n(cfg, time_point{});
  wire::commit_token c;
  c.hdr = wire::header{wire::protocol_version, wire::packet_type::commit, node_id{1},
                       conf_hash{0xc0ffee}};
  c.ring = ring_id{node_id{1}, 5};
  c.rotation = 1;
  c.holder = 1;
  for (std::uint32_t id : {1u, 2u}) {
    wire::commit_entry e;
    e.id = node_id{id};
    e.old_ring = ring_id{node_id{1}, 3};  // not the ring node 2 comes from
    e.filled = true;
    c.members.push_back(e);
  }
  util::byte_vector buf;
  wire::encode(c, buf);
  // Node 2 must first gather and agree with node 1 for the commit token to be for it.
  wire::join j;
  j.hdr = wire::header{wire::protocol_version, wire::packet_type::join, node_id{1},
                       conf_hash{0xc0ffee}};
  j.ring_counter_max = 4;
  j.proc = {node_id{1}, node_id{2}};
  util::byte_vector jb;
  wire::encode(j, jb);
  const time_point later = time_point{} + cfg.token_timeout;
  n.tick(later);  // the token is lost: gather
  ASSERT_EQ(n.role(), node::role_kind::gather);
  n.step(node_id{1}, util::shared_bytes(jb), later);
  ASSERT_EQ(n.role(), node::role_kind::commit) << "agreed with node 1: waits for its token";
  n.step(node_id{1}, util::shared_bytes(buf), later);
  EXPECT_EQ(n.role(), node::role_kind::recovery);
  for (const auto& p : n.take_output().packets) EXPECT_TRUE(wire::decode(p.bytes.span()).ok());
  n.check_invariants();
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
