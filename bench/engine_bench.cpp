// engine_bench.cpp — CPU cost of the ring engine per delivered message per daemon.
//
// N core::nodes run in one thread over an in-memory, lossless network (a FIFO of datagrams, with
// broadcasts copied by reference to every other node). Each iteration submits a batch of
// messages spread over all nodes and runs until every node delivered all of them. The figure
// `ns/msg/node` is the iteration's CPU time divided by (messages × nodes): what one daemon's
// engine spends to order and deliver one message. It includes encoding, decoding, packing,
// reassembly and the in-memory network's bookkeeping, and excludes syscalls. Rates use CPU
// time (everything runs on one thread), so another process on the machine does not skew them.
//
// Side by side: 1 KB messages (about one per 1400-byte packet) against 100 B messages (about a
// dozen per packet): the gap is what packing buys. Goal (issue 2): under 1000 ns/msg/node.
//
//   build/bench/engine_bench            # all cases
//   build/bench/engine_bench --benchmark_filter=/8/
#include <benchmark/benchmark.h>

#include <deque>
#include <memory>
#include <vector>

#include "core/node.hpp"

namespace {

using namespace chorus;
using core::time_point;

class in_memory_ring {
 public:
  explicit in_memory_ring(std::uint32_t n) {
    for (std::uint32_t i = 1; i <= n; ++i) {
      core::config c;
      c.self = core::node_id{i};
      for (std::uint32_t j = 1; j <= n; ++j) c.members.push_back(core::node_id{j});
      c.ring = core::ring_id{core::node_id{1}, 1};
      c.hash = core::conf_hash{42};
      nodes_.push_back(std::make_unique<core::node>(c, now_));
    }
    deadline_.resize(n);
    delivered_.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) collect(i);
  }

  void submit(std::uint32_t index, const chorus::util::shared_bytes& payload) {
    auto r = nodes_[index]->submit(core::service::agreed, payload, now_);
    if (!r.ok()) std::abort();
    collect(index);
  }

  // Runs until every node has delivered `target` messages in total.
  void run_until_delivered(std::uint64_t target) {
    for (;;) {
      bool done = true;
      for (auto d : delivered_) done = done && d >= target;
      if (done) return;
      now_ += std::chrono::microseconds(1);
      if (!in_flight_.empty()) {
        auto [to, from, bytes] = std::move(in_flight_.front());
        in_flight_.pop_front();
        nodes_[to]->step(core::node_id{from + 1}, std::move(bytes), now_);
        collect(to);
      }
      for (std::uint32_t i = 0; i < nodes_.size(); ++i) {
        if (deadline_[i] && *deadline_[i] <= now_) {
          nodes_[i]->tick(now_);
          collect(i);
        }
      }
    }
  }

 private:
  void collect(std::uint32_t i) {
    core::output o = nodes_[i]->take_output();
    for (auto& p : o.packets) {
      if (p.to) {
        in_flight_.push_back({p.to->value - 1, i, std::move(p.bytes)});
      } else {
        for (core::node_id to : *p.group) in_flight_.push_back({to.value - 1, i, p.bytes});
      }
    }
    for (auto& e : o.events) delivered_[i] += std::holds_alternative<core::delivery>(e);
    deadline_[i] = o.deadline;
  }

  struct datagram {
    std::uint32_t to, from;
    chorus::util::shared_bytes bytes;
  };
  time_point now_{};
  std::vector<std::unique_ptr<core::node>> nodes_;
  std::vector<std::optional<time_point>> deadline_;
  std::vector<std::uint64_t> delivered_;
  std::deque<datagram> in_flight_;
};

void bm_engine(benchmark::State& state) {
  const auto nodes = static_cast<std::uint32_t>(state.range(0));
  const auto size = static_cast<std::size_t>(state.range(1));
  constexpr std::uint64_t batch = 4000;
  in_memory_ring ring(nodes);
  const chorus::util::shared_bytes payload(chorus::util::byte_vector(size, std::byte{0x5a}));
  std::uint64_t delivered = 0;
  for (auto _ : state) {
    for (std::uint64_t k = 0; k < batch; ++k) ring.submit(k % nodes, payload);
    delivered += batch;
    ring.run_until_delivered(delivered);
  }
  const double per_node_msgs = static_cast<double>(delivered) * nodes;
  state.counters["ns/msg/node"] =
      benchmark::Counter(per_node_msgs, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["msgs/s(ring)"] =
      benchmark::Counter(static_cast<double>(delivered), benchmark::Counter::kIsRate);
  state.SetLabel(std::to_string(nodes) + " nodes, " + std::to_string(size) + " B");
}

}  // namespace

BENCHMARK(bm_engine)
    ->ArgNames({"nodes", "bytes"})
    ->Args({3, 1024})
    ->Args({3, 100})
    ->Args({8, 1024})
    ->Args({8, 100})
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
