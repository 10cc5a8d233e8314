// workload.cpp — random client traffic for one node (see workload.hpp).
#include "sim/workload.hpp"

#include <algorithm>

#include "sim/payload.hpp"

namespace chorus::sim {

workload::workload(workload_options o, node_id self, std::uint64_t payload_seed, util::prng rng,
                   cluster& c, scheduler& sched, checker& chk)
    : opts_(o),
      self_(self),
      payload_seed_(payload_seed),
      rng_(rng),
      cluster_(c),
      sched_(sched),
      checker_(chk) {
  if (opts_.force_big) {
    opts_.big_chance = std::max(opts_.big_chance, 0.05);
    forced_big_at_ = opts_.messages ? rng_.uniform(0, opts_.messages - 1) : 0;
  }
}

void workload::start() {
  if (!done()) schedule_next();
}

void workload::schedule_next() {
  const double mean_ns =
      opts_.rate > 0.0 ? 1e9 / opts_.rate
                       : static_cast<double>(opts_.spread.count()) / std::max(1u, opts_.messages);
  const auto gap = rng_.uniform(0, static_cast<std::uint64_t>(2.0 * mean_ns));
  sched_.after(duration(gap), action([this] { fire(); }));
}

std::size_t workload::draw_size(bool big) {
  if (big || rng_.chance(opts_.big_chance)) return rng_.uniform(1u << 20, opts_.big_bytes_max);
  const auto r = rng_.uniform(0, 99);
  if (r < 3) return 0;
  if (r < 10) {  // a fragmentation edge: k chunks, ±1
    const auto k = rng_.uniform(1, 3);
    return k * opts_.chunk_bytes + rng_.uniform(0, 2) - 1;
  }
  if (r < 20) return rng_.uniform(1501, 64u << 10);
  return rng_.uniform(1, 1500);
}

workload::pending workload::draw() {
  const auto svc = static_cast<service>(rng_.uniform(0, wire::service_max));
  const bool big = opts_.force_big && submitted_ == forced_big_at_;
  const std::size_t size = draw_size(big);
  // The id submit() will return (checked by the checker): ids of incarnation k start at
  // k · 2^40 + 1 (core/config.hpp).
  const std::uint32_t inc = cluster_.incarnation(self_);
  const msg_id id = cluster_.next_id(self_);
  return pending{svc, util::shared_bytes(make_payload(payload_seed_, self_, id, size)), inc, id};
}

void workload::fire() {
  if (!checker_.ok() || done()) return;
  if (!cluster_.up(self_)) {  // crashed: look again later
    sched_.after(duration(rng_.uniform(1'000'000, 5'000'000)), action([this] { fire(); }));
    return;
  }
  for (;;) {
    if (pending_ && pending_->incarnation != cluster_.incarnation(self_)) pending_.reset();
    if (!pending_) pending_ = draw();
    if (const msg_id id = cluster_.next_id(self_); id != pending_->id) {
      pending_->payload =
          util::shared_bytes(make_payload(payload_seed_, self_, id, pending_->payload.size()));
      pending_->id = id;
    }
    auto r = cluster_.submit(self_, pending_->svc, pending_->payload);
    if (!r) {
      if (r.error().code() != util::errc::would_block)
        return checker_.fail(strf("submit: node %u refused a %zu-byte %s message: %s", self_.value,
                                  pending_->payload.size(), wire::to_string(pending_->svc),
                                  r.error().to_string().c_str()));
      ++would_block_;
      sched_.after(duration(rng_.uniform(200'000, 2'000'000)), action([this] { fire(); }));
      return;
    }
    bytes_ += pending_->payload.size();
    pending_.reset();
    ++submitted_;
    if (done()) return;
    if (burst_left_ == 0 && rng_.chance(opts_.burst_chance))
      burst_left_ = static_cast<std::uint32_t>(rng_.uniform(1, 5));
    if (burst_left_ == 0) break;
    --burst_left_;
  }
  schedule_next();
}

}  // namespace chorus::sim
