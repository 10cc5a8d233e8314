// workload.hpp — one node's client traffic: messages of every service level and of random sizes
// (mostly small, some up to 64 KiB, rarely multi-MiB), submitted at random virtual times,
// sometimes in bursts.
//
// Payloads come from payload.hpp, so the checker verifies them without the workload keeping
// them. A message refused with would_block is retried later, unchanged (same predicted id, same
// bytes); any other refusal is a violation. Sizes include the fragmentation edges (a multiple
// of the per-packet payload, ±1) because that is where reassembly bugs live.
// While its node is down (crashed) the workload waits; after a restart it goes on with the new
// incarnation's ids (a message drawn for the old incarnation is drawn again). stop() ends it
// when its node stays down for good. Ids come from cluster::next_id(): when another layer (the
// groups layer) submits on the same node in between, a waiting message is remade for its new id
// (same level and size).
// Thread-safety: none; one per node per simulation.
#pragma once

#include <cstdint>
#include <optional>

#include "sim/cluster.hpp"
#include "sim/scheduler.hpp"
#include "util/prng.hpp"

namespace chorus::sim {

struct workload_options {
  std::uint32_t messages = 50;  // messages this node submits
  // Submits are spread over [start, start + spread] on average, unless `rate` is set.
  duration spread = 300ms;
  double rate = 0.0;  // messages per second (mean); 0: messages / spread
  // Chance a message is multi-MiB (1 MiB .. big_bytes_max).
  double big_chance = 0.0002;
  bool force_big = false;  // at least one multi-MiB message, and big_chance raised to 5 %
  std::size_t big_bytes_max = 8u << 20;
  // Payload bytes one data packet carries (packet_bytes_max minus headers), for edge sizes.
  std::size_t chunk_bytes = 1333;
  double burst_chance = 0.1;  // chance a submit is a burst of 2..6 back-to-back messages
};

class workload {
 public:
  // `c` and `sched` must outlive the workload. `payload_seed` is the run's payload seed.
  workload(workload_options o, node_id self, std::uint64_t payload_seed, util::prng rng, cluster& c,
           scheduler& sched, checker& chk);

  // Schedules the first submit.
  void start();
  bool done() const noexcept { return stopped_ || submitted_ == opts_.messages; }
  // Submits nothing more (its node is down for good).
  void stop() noexcept { stopped_ = true; }

  std::uint64_t submitted() const noexcept { return submitted_; }
  std::uint64_t would_block() const noexcept { return would_block_; }
  std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  struct pending {
    service svc;
    util::shared_bytes payload;
    std::uint32_t incarnation;  // of the node it was drawn for (its id depends on it)
    msg_id id;                  // the id its payload was made for
  };
  std::size_t draw_size(bool big);
  pending draw();
  void fire();
  void schedule_next();

  workload_options opts_;
  node_id self_;
  std::uint64_t payload_seed_;
  util::prng rng_;
  cluster& cluster_;
  scheduler& sched_;
  checker& checker_;
  std::optional<pending> pending_;   // drawn but not yet accepted (retried after would_block)
  std::uint32_t burst_left_ = 0;     // further messages of the current burst
  std::uint64_t forced_big_at_ = 0;  // with force_big: this message index (from 0) is big
  std::uint64_t submitted_ = 0;
  bool stopped_ = false;
  std::uint64_t would_block_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace chorus::sim
