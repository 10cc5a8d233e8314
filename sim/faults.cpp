// faults.cpp — the membership fault plan (see faults.hpp).
#include "sim/faults.hpp"

#include <algorithm>

namespace chorus::sim {
namespace {

duration ms(std::uint64_t v) { return std::chrono::milliseconds(v); }

}  // namespace

fault_injector::fault_injector(fault_plan p, util::prng rng, cluster& c, network& net,
                               scheduler& sched, trace& tr)
    : plan_(p), rng_(rng), cluster_(c), net_(net), sched_(sched), trace_(tr) {}

void fault_injector::start() {
  const auto phase_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(plan_.fault_phase).count());
  const std::uint64_t first = std::max<std::uint64_t>(1, phase_ms / 10);
  duration at = ms(rng_.uniform(first, std::max(first, phase_ms / 2)));
  for (std::uint32_t i = 0; i < plan_.crashes; ++i) {
    if (!plan_.cascade && i > 0) at = ms(rng_.uniform(first, std::max(first, phase_ms * 4 / 5)));
    if (plan_.cascade && i > 0) at += ms(rng_.uniform(1, 40));
    if (at < plan_.fault_phase) sched_.after(at, action([this] { crash_random(); }));
  }
  for (std::uint32_t i = 0; i < plan_.partitions; ++i) {
    const duration when = ms(rng_.uniform(0, std::max<std::uint64_t>(1, phase_ms * 7 / 10)));
    sched_.after(when, action([this] { start_partition(); }));
  }
  for (std::uint32_t i = 0; i < plan_.link_cuts; ++i) {
    const duration when = ms(rng_.uniform(0, std::max<std::uint64_t>(1, phase_ms * 7 / 10)));
    sched_.after(when, action([this] { cut_link(); }));
  }
  if (plan_.drop_commit > 0)
    net_.add_rule({.type = wire::packet_type::commit, .count = plan_.drop_commit});
  bursts_left_ = plan_.bursts;
  if (plan_.crash_rep || plan_.start_in_recovery || plan_.bursts > 0)
    net_.set_observer([this](const in_flight& p) { on_send(p); });
}

std::vector<node_id> fault_injector::heal() {
  healed_ = true;
  in_burst_ = false;
  std::vector<node_id> down;
  for (node_id n : cluster_.members()) {
    if (cluster_.up(n)) continue;
    if (plan_.restart_all)
      restart(n);
    else
      down.push_back(n);
  }
  return down;
}

std::vector<node_id> fault_injector::up_nodes() const {
  std::vector<node_id> up;
  for (node_id n : cluster_.members())
    if (cluster_.up(n)) up.push_back(n);
  return up;
}

void fault_injector::crash_random() {
  if (healed_) return;
  const auto up = up_nodes();
  if (up.size() < 2) return;
  crash(up[rng_.uniform(0, up.size() - 1)]);
}

void fault_injector::crash(node_id n) {
  if (healed_ || !cluster_.up(n) || up_nodes().size() < 2) return;
  cluster_.crash(n);
  ++crashes_;
  if (plan_.start_in_recovery) waiting_.push_back(n);
  if (plan_.restart_after > duration::zero()) {
    const auto longest = static_cast<std::uint64_t>(plan_.restart_after.count());
    sched_.after(duration(rng_.uniform(1, longest)), action([this, n] { restart(n); }));
  }
}

void fault_injector::restart(node_id n) {
  if (cluster_.up(n)) return;
  if (healed_ && !plan_.restart_all) return;  // after the heal only heal() restarts
  cluster_.restart(n);
  ++restarts_;
  std::erase(waiting_, n);
}

void fault_injector::start_partition() {
  if (healed_) return;
  std::vector<node_id> order = cluster_.members();
  if (order.size() < 2) return;
  for (std::size_t i = order.size() - 1; i > 0; --i)  // Fisher–Yates, our own prng
    std::swap(order[i], order[rng_.uniform(0, i)]);
  const std::size_t k = order.size() >= 3 && rng_.chance(0.5) ? 3 : 2;
  // k - 1 distinct cut points in 1..size-1, ascending.
  std::vector<std::size_t> cuts;
  while (cuts.size() < k - 1) {
    const std::size_t c = rng_.uniform(1, order.size() - 1);
    if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(order.size());
  std::vector<std::vector<node_id>> sides;
  std::size_t from = 0;
  for (std::size_t c : cuts) {
    sides.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(from),
                       order.begin() + static_cast<std::ptrdiff_t>(c));
    std::sort(sides.back().begin(), sides.back().end());
    from = c;
  }
  const bool oneway = rng_.chance(plan_.oneway);
  net_.partition(sides, oneway);
  ++partitions_;
  if (partition_epoch_ > 0 && !windows_[partition_window_].end)
    windows_[partition_window_].end = sched_.now();  // a partition replaces the one in force
  partition_window_ = windows_.size();
  windows_.push_back({sched_.now(), std::nullopt});
  const std::uint64_t which = ++partition_epoch_;
  const auto longest =
      static_cast<std::uint64_t>(std::max<duration::rep>(1, plan_.partition_longest.count()));
  sched_.after(duration(rng_.uniform(1, longest)), action([this, which] { end_partition(which); }));
}

void fault_injector::end_partition(std::uint64_t which) {
  if (healed_ || which != partition_epoch_) return;  // the heal, or a later partition, ended it
  net_.heal_partition();
  windows_[partition_window_].end = sched_.now();
  windows_.push_back({sched_.now(), std::nullopt, true});
}

void fault_injector::cut_link() {
  if (healed_) return;
  const auto& m = cluster_.members();
  if (m.size() < 2) return;
  const node_id from = m[rng_.uniform(0, m.size() - 1)];
  node_id to = from;
  while (to == from) to = m[rng_.uniform(0, m.size() - 1)];
  net_.set_up(from, to, false);
  ++link_cuts_;
  const std::size_t window = windows_.size();
  windows_.push_back({sched_.now(), std::nullopt});
  note(strf("link %u->%u fails", from.value, to.value));
  const auto longest =
      static_cast<std::uint64_t>(std::max<duration::rep>(1, plan_.partition_longest.count()));
  sched_.after(duration(rng_.uniform(1, longest)), action([this, from, to, window] {
                 if (healed_) return;
                 net_.set_up(from, to, true);
                 windows_[window].end = sched_.now();
                 windows_.push_back({sched_.now(), std::nullopt, true});
                 note(strf("link %u->%u mended", from.value, to.value));
               }));
}

// Watches transmissions; only schedules.
void fault_injector::on_send(const in_flight& p) {
  if (healed_) return;
  const bool commit = p.carries(wire::packet_type::commit);
  const bool membership = commit || p.carries(wire::packet_type::join);
  if (commit && plan_.crash_rep && !rep_crashed_) {
    rep_crashed_ = true;
    const node_id rep = p.from;
    sched_.after(duration::zero(), action([this, rep] {
                   note("crash the representative");
                   crash(rep);
                 }));
  }
  if (commit && !waiting_.empty()) {
    const node_id n = waiting_.front();
    waiting_.erase(waiting_.begin());
    sched_.after(duration::zero(), action([this, n] { restart(n); }));
  }
  if (membership && bursts_left_ > 0 && !in_burst_) {
    --bursts_left_;
    in_burst_ = true;
    sched_.after(duration::zero(), action([this] { start_burst(); }));
  }
}

void fault_injector::start_burst() {
  if (healed_) return;
  link_params p = plan_.base;
  p.loss = static_cast<double>(rng_.uniform(100, 500)) / 1000.0;
  p.dup = static_cast<double>(rng_.uniform(0, 300)) / 1000.0;
  net_.set_params(p);
  ++bursts_;
  note(
      strf("burst: loss %s dup %s", std::to_string(p.loss).c_str(), std::to_string(p.dup).c_str()));
  sched_.after(ms(rng_.uniform(2, 30)), action([this] { end_burst(); }));
}

void fault_injector::end_burst() {
  if (healed_) return;
  net_.set_params(plan_.base);
  in_burst_ = false;
  note("burst over");
}

void fault_injector::note(const std::string& what) {
  trace_.record(trace_kind::fault, sched_.now(), what);
  if (trace_.printing()) trace_.print(sched_.now(), "fault: " + what);
}

}  // namespace chorus::sim
