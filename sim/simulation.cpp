// simulation.cpp — one run through its phases (see simulation.hpp).
//
// Phases (TigerBeetle's safety-then-liveness shape):
//   1. faults   [0, fault_ms): the network loses, duplicates, reorders and clogs; workloads
//               submit; the checker checks every event.
//   2. heal     at fault_ms: every link becomes clean (delay and jitter remain).
//   3. liveness until every workload has submitted everything and every message (UNRELIABLE
//               excepted) is delivered at every node; failing when nothing progresses for
//               liveness_ms (a stall), or after 100 × liveness_ms in all (a crawl). Progress, not
//               a fixed bound, so that a slow but moving ring (tiny windows, tens of MiB) passes
//               while a stuck one fails within liveness_ms.
//   4. grace    20 ms more, to catch late duplicate deliveries; then the final checks.
// With membership (issue 3) the fault phase also runs the fault plan (faults.hpp); at the heal
// crashed nodes restart or stay down for good (their workloads stop), and the live daemons
// must settle into one regular configuration of exactly themselves within settle_ms (I8);
// completion is evs_checker::complete().
// With groups, every daemon also runs a groups layer and sessions (group_workload.hpp); the
// workload must be done before completion, and group_checker.hpp's final checks run last.
#include "sim/simulation.hpp"

#include <algorithm>
#include <map>

#include "util/hash.hpp"

namespace chorus::sim {
namespace {

constexpr duration grace = 20ms;
constexpr duration watch_period = 10ms;

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

link_params make_link_params(const options& o) {
  link_params p;
  p.loss = o.loss;
  p.dup = o.dup;
  p.reorder = o.reorder;
  p.delay = std::chrono::microseconds(o.delay_us);
  p.jitter = std::chrono::microseconds(o.jitter_us);
  p.reorder_delay = std::chrono::microseconds(o.reorder_us);
  return p;
}

std::vector<node_id> member_ids(std::uint32_t n) {
  std::vector<node_id> m;
  for (std::uint32_t i = 1; i <= n; ++i) m.push_back(node_id{i});
  return m;
}

}  // namespace

simulation::simulation(const options& o, std::FILE* trace_out) : opts_(o), trace_(trace_out) {
  CHORUS_ASSERT(o.nodes >= 1 && o.nodes <= 16);
  util::prng root(o.seed);
  util::prng net_rng = root.fork();
  const std::uint64_t payload_seed = root.next();
  const core::config cfg = make_config(o);
  checker_ = std::make_unique<checker>(member_ids(o.nodes), cfg.ring, payload_seed);
  if (o.membership) checker_->enable_membership();
  net_ = std::make_unique<network>(o.nodes, make_link_params(o), net_rng, sched_, trace_);
  cluster_options co;
  co.nodes = o.nodes;
  co.base = cfg;
  co.check_node_invariants = o.node_invariants;
  co.membership = o.membership;
  co.groups = o.groups;
  co.multicast = o.multicast;
  co.batch_window = std::chrono::microseconds(o.batch_us);
  cluster_ = std::make_unique<cluster>(co, sched_, *net_, trace_, *checker_);
  workload_options wo;
  wo.messages = o.messages;
  wo.spread = std::chrono::milliseconds(o.fault_ms);
  wo.rate = o.rate;
  wo.force_big = o.big;
  wo.chunk_bytes = o.packet_bytes - wire::data_prefix_bytes - wire::item_header_bytes;
  for (node_id n : cluster_->members())
    workloads_.push_back(
        std::make_unique<workload>(wo, n, payload_seed, root.fork(), *cluster_, sched_, *checker_));
  if (o.membership) {
    fault_plan fp;
    fp.crashes = o.crashes;
    fp.cascade = o.cascade;
    fp.restart_after = std::chrono::milliseconds(o.restart_ms);
    fp.restart_all = o.restart_all;
    fp.partitions = o.partitions;
    fp.partition_longest = std::chrono::milliseconds(o.partition_ms);
    fp.oneway = o.oneway;
    fp.link_cuts = o.link_cuts;
    fp.bursts = o.bursts;
    fp.drop_commit = o.drop_commit;
    fp.crash_rep = o.crash_rep;
    fp.start_in_recovery = o.start_in_recovery;
    fp.fault_phase = std::chrono::milliseconds(o.fault_ms);
    fp.base = make_link_params(o);
    faults_ = std::make_unique<fault_injector>(fp, root.fork(), *cluster_, *net_, sched_, trace_);
  }
  if (o.groups) {
    group_workload_options go;
    go.nodes = o.nodes;
    go.sessions = o.group_sessions;
    go.ops = o.group_ops;
    go.names = o.group_names;
    go.spread = std::chrono::milliseconds(o.fault_ms);
    group_checker_ = std::make_unique<group_checker>(std::chrono::milliseconds(o.settle_ms));
    group_workload_ = std::make_unique<group_workload>(go, root.fork(), *cluster_, sched_, trace_,
                                                       *group_checker_, *checker_);
  }
}

simulation::~simulation() = default;

bool simulation::workloads_done() const {
  for (const auto& w : workloads_)
    if (!w->done()) return false;
  return !group_workload_ || group_workload_->done();
}

void simulation::phase(const char* name) {
  trace_.record(trace_kind::phase, sched_.now(), name);
  if (trace_.printing()) trace_.print(sched_.now(), std::string("=== ") + name);
}

report simulation::run() {
  trace_.record(trace_kind::start, sched_.now(), identity(opts_));
  phase("faults");
  cluster_->start();
  for (auto& w : workloads_) w->start();
  net_->start_random_clogs(opts_.clog, clog_period, std::chrono::milliseconds(opts_.clog_ms));
  if (faults_) faults_->start();

  const time_point heal_at = time_point{} + std::chrono::milliseconds(opts_.fault_ms);
  auto stop = cluster_->run(heal_at, {});
  if (stop == cluster::stop_reason::failed) return make_report(sched_.now());
  if (sched_.now() < heal_at) sched_.advance_to(heal_at);
  check_changes_per_fault();
  if (!checker_->ok()) return make_report(sched_.now());
  phase("heal");
  net_->heal();
  if (faults_) heal_membership(heal_at);

  const duration liveness = std::chrono::milliseconds(opts_.liveness_ms);
  watching_ = true;
  last_progress_ = progress();
  progressed_at_ = heal_at;
  sched_.after(watch_period, action([this] { watch(); }));
  stop = cluster_->run(heal_at + 100 * liveness,
                       [this] { return stalled_ || (workloads_done() && checker_->complete()); });
  watching_ = false;
  if (stop == cluster::stop_reason::failed) return make_report(sched_.now());
  if (!workloads_done() || !checker_->complete()) {
    report r = make_report(sched_.now());
    fail_completion(r, stop);
    return r;
  }
  const time_point complete_at = sched_.now();
  phase("grace");
  stop = cluster_->run(complete_at + grace, {});
  if (stop != cluster::stop_reason::failed) {
    if (sched_.now() < complete_at + grace) sched_.advance_to(complete_at + grace);
    checker_->finish(sched_.now());
    if (group_checker_ && checker_->ok()) {
      group_checker_->check_views_follow_transitions(sched_.now());
      group_checker_->finish(group_workload_->tables());
      if (!group_checker_->ok()) checker_->fail(group_checker_->violation());
    }
  }
  return make_report(complete_at);
}

void simulation::heal_membership(time_point heal_at) {
  for (node_id n : faults_->heal()) workloads_[n.value - 1]->stop();
  sched_.at(heal_at + std::chrono::milliseconds(opts_.settle_ms),
            action([this] { check_settled(); }));
}

void simulation::check_settled() {
  if (!checker_->ok() || checker_->evs()->settled()) return;
  std::string where;
  for (const std::string& line : checker_->evs()->missing_report(opts_.nodes)) where += "; " + line;
  checker_->fail(
      strf("L8 liveness: the live daemons are not in one regular configuration of "
           "exactly themselves %u ms after the heal (at %s)%s",
           opts_.settle_ms, format_time(sched_.now()).c_str(), where.c_str()));
}

std::uint64_t simulation::progress() const {
  std::uint64_t p = checker_->deliveries() + checker_->configurations();
  for (const auto& w : workloads_) p += w->submitted();
  for (node_id n : cluster_->members()) {
    if (const core::node* nd = cluster_->find(n))
      p += nd->aru().value + nd->delivered_upto().value + nd->safe_upto().value;
  }
  return p;
}

void simulation::watch() {
  if (!watching_) return;
  const std::uint64_t p = progress();
  if (p != last_progress_) {
    last_progress_ = p;
    progressed_at_ = sched_.now();
  } else if (sched_.now() - progressed_at_ >= std::chrono::milliseconds(opts_.liveness_ms)) {
    stalled_ = true;
  }
  sched_.after(watch_period, action([this] { watch(); }));
}

void simulation::fail_completion(report& r, cluster::stop_reason why) {
  checker_->check_histories();  // a safety violation explains a stall best
  if (!checker_->ok()) {
    r.ok = false;
    r.failure = checker_->violation();
    return;
  }
  std::uint64_t unsent = 0;
  for (const auto& w : workloads_) unsent += opts_.messages - w->submitted();
  std::string what;
  if (stalled_)
    what = strf("no progress since %s (%u ms)", format_time(progressed_at_).c_str(),
                opts_.liveness_ms);
  else if (why == cluster::stop_reason::idle)
    what = "no event left to run";
  else
    what = strf("still incomplete %u ms after the heal", 100 * opts_.liveness_ms);
  checker_->fail(strf("L completion: %s at %s; %llu messages not yet accepted by submit(), %s",
                      what.c_str(), format_time(sched_.now()).c_str(), ull(unsent),
                      checker_->complete() ? "every accepted message delivered everywhere"
                                           : "accepted messages missing (see below)"));
  r.ok = false;
  r.failure = checker_->violation();
  r.details = checker_->missing_report(opts_.nodes);
  for (node_id n : cluster_->members()) r.details.push_back(cluster_->describe(n));
}

report simulation::make_report(time_point complete_at) const {
  report r;
  r.ok = checker_->ok();
  r.failure = checker_->violation();
  r.trace_hash = trace_.hash();
  r.trace_events = trace_.events();
  r.complete_at = complete_at.time_since_epoch();
  r.end = sched_.now().time_since_epoch();
  for (const auto& w : workloads_) {
    r.submitted += w->submitted();
    r.submitted_bytes += w->bytes();
    r.would_block += w->would_block();
  }
  r.deliveries = checker_->deliveries();
  r.unreliable_missing = checker_->unreliable_missing();
  r.net = net_->stats();
  r.nodes = cluster_->total_stats();
  r.reads = cluster_->total_reads();
  r.membership = opts_.membership;
  r.configurations = checker_->configurations();
  r.crash_recovery = checker_->crash_recovery_times();
  fault_figures(r);
  if (group_workload_) {
    r.groups = true;
    r.group_sessions = group_checker_->sessions();
    r.group_requests = group_workload_->requests();
    r.group_sent = group_checker_->sent();
    r.group_views = group_checker_->views();
    r.group_deliveries = group_checker_->deliveries();
    r.group_seen = group_checker_->seen();
  }
  if (faults_) {
    r.crashes = faults_->crashes();
    r.restarts = faults_->restarts();
    r.partitions = faults_->partitions();
    r.bursts = faults_->bursts();
  }
  return r;
}

std::vector<simulation::window_figures> simulation::window_figures_now() const {
  std::vector<window_figures> out;
  if (!faults_) return out;
  const auto& windows = faults_->windows();
  const auto& installs = checker_->regular_installs();
  for (std::size_t f = 0; f < windows.size(); ++f) {
    // A window ends when it does, when the next one starts, or at the heal.
    time_point until = windows[f].end.value_or(sched_.now());
    if (f + 1 < windows.size()) until = std::min(until, windows[f + 1].start);
    std::map<std::uint32_t, std::uint32_t> per_node;
    std::map<std::uint32_t, const checker::install*> first;
    for (const auto& i : installs) {
      if (i.at < windows[f].start || i.at >= until) continue;
      ++per_node[i.node.value];
      first.try_emplace(i.node.value, &i);
    }
    window_figures w;
    for (const auto& [n, count] : per_node) w.changes = std::max(w.changes, count);
    // The survivors' time: of the daemons whose next ring has company; a daemon cut off alone
    // (or everyone, when all are) counts only when no one has.
    std::optional<duration> shared, alone;
    for (const auto& [n, i] : first) {
      auto& worst = i->members > 1 ? shared : alone;
      worst = std::max(worst.value_or(duration{}), i->at - windows[f].start);
    }
    w.to_view = shared ? shared : alone;
    out.push_back(w);
  }
  return out;
}

void simulation::fault_figures(report& r) const {
  const auto figures = window_figures_now();
  for (std::size_t f = 0; f < figures.size(); ++f) {
    const bool mend = faults_->windows()[f].mend;
    (mend ? r.changes_per_mend : r.changes_per_fault).push_back(figures[f].changes);
    if (figures[f].to_view)
      (mend ? r.mend_to_view : r.fault_to_view).push_back(*figures[f].to_view);
  }
}

void simulation::check_changes_per_fault() {
  if (opts_.changes_per_fault_max == 0 || !faults_) return;
  const auto figures = window_figures_now();
  for (std::size_t f = 0; f < figures.size(); ++f) {
    if (figures[f].changes <= opts_.changes_per_fault_max) continue;
    const fault_window& w = faults_->windows()[f];
    checker_->fail(
        strf("L stability: the %s at %s made one daemon install %u regular "
             "configurations before the next fault; at most %u allowed",
             w.mend ? "end of a fault" : "fault", format_time(w.start).c_str(), figures[f].changes,
             opts_.changes_per_fault_max));
    return;
  }
}

std::string median_max(std::vector<duration> v) {
  if (v.empty()) return "n/a";
  std::sort(v.begin(), v.end());
  return strf("median %s, max %s", format_duration(v[v.size() / 2]).c_str(),
              format_duration(v.back()).c_str());
}

std::vector<std::string> summary_lines(const report& r) {
  const auto& n = r.nodes;
  const auto& w = r.net;
  std::vector<std::string> lines = {
      strf("messages: %llu submitted (%.1f KiB, %llu would_block retries), %llu deliveries, "
           "%llu unreliable deliveries missing",
           ull(r.submitted), static_cast<double>(r.submitted_bytes) / 1024.0, ull(r.would_block),
           ull(r.deliveries), ull(r.unreliable_missing)),
      strf("ring: %llu data packets sent, %llu retransmitted, %llu retransmit requests, "
           "%llu tokens received, %llu token retransmits, %llu duplicates dropped",
           ull(n.packets_sent), ull(n.packets_retransmitted), ull(n.retransmit_requests),
           ull(n.tokens_received), ull(n.tokens_retransmitted), ull(n.dropped_duplicate)),
      strf("network: %llu transmissions, %llu lost, %llu scripted drops, %llu duplicated, "
           "%llu reordered, %llu clogs (%llu held), %llu arrived",
           ull(w.transmissions), ull(w.lost), ull(w.dropped_scripted), ull(w.duplicated),
           ull(w.reordered), ull(w.clogs), ull(w.held), ull(w.arrived)),
      strf("shell: %llu reads of %llu datagrams (largest batch %llu), %llu bundles sent, %llu "
           "received, %llu bad",
           ull(r.reads.reads), ull(r.reads.datagrams), ull(r.reads.largest),
           ull(r.reads.bundles.bundles_sent), ull(r.reads.bundles.bundles_received),
           ull(r.reads.bundles.bad_bundles)),
      strf("virtual time: complete at %s, end %s; %llu trace events",
           format_duration(r.complete_at).c_str(), format_duration(r.end).c_str(),
           ull(r.trace_events)),
  };
  if (r.membership)
    lines.push_back(
        strf("membership: %llu crashes, %llu restarts, %llu partitions, %llu bursts, "
             "%llu configurations installed; crash to survivors' regular "
             "configuration: %s",
             ull(r.crashes), ull(r.restarts), ull(r.partitions), ull(r.bursts),
             ull(r.configurations), median_max(r.crash_recovery).c_str()));
  auto most = [](const std::vector<std::uint32_t>& v) {
    return v.empty() ? 0u : *std::max_element(v.begin(), v.end());
  };
  if (!r.changes_per_fault.empty()) {
    lines.push_back(
        strf("faults: %zu partitions and link cuts; configuration changes per fault "
             "(most at one daemon): max %u; fault to the survivors' regular "
             "configuration: %s",
             r.changes_per_fault.size(), most(r.changes_per_fault),
             median_max(r.fault_to_view).c_str()));
  }
  if (!r.changes_per_mend.empty()) {
    lines.push_back(strf(
        "mends: %zu before the heal; configuration changes per mend (most at "
        "one daemon): max %u; mend to the merged regular configuration: %s",
        r.changes_per_mend.size(), most(r.changes_per_mend), median_max(r.mend_to_view).c_str()));
  }
  if (r.groups) {
    const auto& g = r.group_seen;
    lines.push_back(
        strf("groups: %llu sessions, %llu requests ordered, %llu data messages sent, "
             "%llu views and %llu data messages received by sessions",
             ull(r.group_sessions), ull(r.group_requests), ull(r.group_sent), ull(r.group_views),
             ull(r.group_deliveries)));
    lines.push_back(
        strf("group views: %llu join, %llu leave, %llu disconnect, %llu network (%llu "
             "with several vs-sets), %llu transitional signals, %llu self-leaves; "
             "%llu view changes compared for virtual synchrony; longest wait from a "
             "transitional signal to its view %s",
             ull(g.join), ull(g.leave), ull(g.disconnect), ull(g.network), ull(g.network_split),
             ull(g.transitions), ull(g.self_leaves), ull(g.segments_compared),
             format_duration(g.longest_view_wait).c_str()));
  }
  return lines;
}

}  // namespace chorus::sim
