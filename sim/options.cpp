// options.cpp — descriptions, replay commands and swarm draws of run options (options.hpp).
#include "sim/options.hpp"

#include <charconv>
#include <type_traits>

#include "core/node.hpp"
#include "sim/trace.hpp"
#include "util/hash.hpp"
#include "util/prng.hpp"

namespace chorus::sim {
namespace {

template <typename T>
std::string text(const char* name, const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "1" : "0";
  } else if constexpr (std::is_same_v<T, double>) {
    return format_double(v);
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    return std::string(name) == "seed" ? format_hex(v) : std::to_string(v);
  } else {
    return std::to_string(v);
  }
}

template <typename T>
T pick(util::prng& r, std::initializer_list<T> values) {
  return values.begin()[r.uniform(0, values.size() - 1)];
}

// The membership fault mix; drawn for every seed (so the draws above never shift), used only
// with --membership.
void draw_membership(util::prng& r, options& d) {
  d.crashes = static_cast<std::uint32_t>(r.uniform(0, 3));
  d.cascade = r.chance(0.3);
  d.restart_ms = pick<std::uint32_t>(r, {0, 30, 100, 300});
  d.restart_all = r.chance(0.5);
  d.partitions = static_cast<std::uint32_t>(r.uniform(0, 2));
  d.partition_ms = static_cast<std::uint32_t>(r.uniform(10, 200));
  d.oneway = r.chance(0.3) ? 0.5 : 0.0;
  d.bursts = static_cast<std::uint32_t>(r.uniform(0, 2));
  d.drop_commit = pick<std::uint32_t>(r, {0, 0, 1, 3});
  d.crash_rep = r.chance(0.2);
  d.start_in_recovery = r.chance(0.2);
  d.token_timeout_ms = pick<std::uint32_t>(r, {50, 100, 200});
  d.merge_detect_ms = pick<std::uint32_t>(r, {100, 500});
}

// The group workload's shape; drawn for every seed after everything else, used only with
// --groups.
void draw_groups(util::prng& r, options& d) {
  d.group_sessions = static_cast<std::uint32_t>(r.uniform(1, 4));
  d.group_ops = static_cast<std::uint32_t>(r.uniform(4, 40));
  d.group_names = static_cast<std::uint32_t>(r.uniform(1, 4));
}

}  // namespace

std::string format_double(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string describe(const options& o) {
  std::string s;
  visit_options([&](const char* name, auto member, const char*) {
    if (!s.empty()) s += ' ';
    s += name;
    s += '=';
    s += text(name, o.*member);
  });
  return s;
}

std::string replay_command(const options& o) {
  std::string s = "chorus-sim";
  visit_options([&](const char* name, auto member, const char*) {
    const auto& v = o.*member;
    if constexpr (std::is_same_v<std::decay_t<decltype(v)>, bool>) {
      if (v) s += std::string(" --") + name;
    } else {
      s += std::string(" --") + name + " " + text(name, v);
    }
  });
  return s;
}

options draw_swarm(std::uint64_t seed, const options& base, const std::set<std::string>& given) {
  util::prng r(util::hasher().str("chorus-sim swarm").u64(seed).digest());
  options d = base;
  // Every value is drawn, in a fixed order, whether or not it is overridden below: an explicit
  // option never shifts the draws of the others.
  d.seed = seed;
  d.nodes = static_cast<std::uint32_t>(r.uniform(1, 8));
  d.loss = static_cast<double>(r.uniform(0, 200)) / 1000.0;
  d.dup = static_cast<double>(r.uniform(1, 100)) / 1000.0;
  d.reorder = static_cast<double>(r.uniform(1, 100)) / 1000.0;
  d.delay_us = static_cast<std::uint32_t>(r.uniform(5, 100));
  d.jitter_us = static_cast<std::uint32_t>(r.uniform(0, 300));
  d.reorder_us = static_cast<std::uint32_t>(r.uniform(50, 2000));
  d.clog = r.chance(0.3) ? static_cast<double>(r.uniform(1, 30)) / 1000.0 : 0.0;
  d.clog_ms = static_cast<std::uint32_t>(r.uniform(1, 30));
  d.messages = static_cast<std::uint32_t>(r.uniform(1, 60));
  d.rate = 0.0;
  d.big = r.chance(0.01);
  d.fault_ms = static_cast<std::uint32_t>(r.uniform(50, 400));
  d.packet_bytes = pick<std::uint32_t>(r, {1000, 1400, 1400, 9000});
  d.window_personal = pick<std::uint32_t>(r, {4, 16, 64, 256});
  d.window_global = d.window_personal * pick<std::uint32_t>(r, {1, 4, 16});
  d.window_accelerated = pick<std::uint32_t>(r, {0, d.window_personal / 4, d.window_personal});
  d.token_hold_us = pick<std::uint32_t>(r, {0, 0, 0, 100, 1000});
  draw_membership(r, d);
  draw_groups(r, d);
  // Drawn last so the draws above, and the seeds kept as regressions, stay what they were.
  d.park_after_idle_visits = pick<std::uint32_t>(r, {1, 1, 4, 16});
  d.token_linger_us = pick<std::uint32_t>(r, {0, 0, 50, 500, 2000});
  d.link_cuts = static_cast<std::uint32_t>(pick<std::uint32_t>(r, {0, 0, 1, 2}));
  d.batch_us = pick<std::uint32_t>(r, {0, 5, 20, 20, 50});
  d.multicast = r.chance(0.25);
  visit_options([&](const char* name, auto member, const char*) {
    if (given.count(name)) d.*member = base.*member;
  });
  if (!d.membership)
    visit_membership_options(
        [&](const char*, auto member, const char*) { d.*member = base.*member; });
  if (!d.groups)
    visit_groups_options([&](const char*, auto member, const char*) { d.*member = base.*member; });
  // Keep drawn windows consistent with explicit ones (the core needs personal ≤ global).
  if (d.window_personal > d.window_global) {
    if (!given.count("window-global"))
      d.window_global = d.window_personal;
    else if (!given.count("window-personal"))
      d.window_personal = d.window_global;
  }
  d.seed = seed;  // --seed names the first seed of the swarm, not every run's seed
  return d;
}

std::string validate(const options& o) {
  for (double p : {o.loss, o.dup, o.reorder, o.clog})
    if (!(p >= 0.0 && p <= 1.0))
      return "probabilities (--loss, --dup, --reorder, --clog) must be within 0..1";
  if (!(o.rate >= 0.0)) return "--rate must not be negative";
  if (o.nodes < 1 || o.nodes > 16) return "--nodes must be within 1..16";
  if (!o.membership) {
    const options defaults;
    std::string bad;
    visit_membership_options([&](const char* name, auto member, const char*) {
      if (bad.empty() && o.*member != defaults.*member)
        bad = std::string("--") + name + " needs --membership";
    });
    if (!bad.empty()) return bad;
  }
  if (!(o.oneway >= 0.0 && o.oneway <= 1.0)) return "--oneway must be within 0..1";
  if (!o.groups) {
    const options defaults;
    std::string bad;
    visit_groups_options([&](const char* name, auto member, const char*) {
      if (bad.empty() && o.*member != defaults.*member)
        bad = std::string("--") + name + " needs --groups";
    });
    if (!bad.empty()) return bad;
  } else {
    if (!o.membership) return "--groups needs --membership";
    if (o.group_sessions < 1 || o.group_sessions > 8) return "--group-sessions must be within 1..8";
    if (o.group_names < 1 || o.group_names > 8) return "--group-names must be within 1..8";
  }
  core::config cfg = make_config(o);
  for (std::uint32_t i = 1; i <= o.nodes; ++i) cfg.members.push_back(core::node_id{i});
  if (o.membership) cfg.daemons = cfg.members;
  cfg.self = cfg.members.front();
  if (const util::status st = core::validate(cfg); !st.ok())
    return "invalid core configuration: " + st.message();
  return {};
}

std::string identity(const options& o) {
  options n = o;
  n.node_invariants = false;
  std::set<std::string> skip;
  if (!o.membership)
    visit_membership_options([&](const char* name, auto, const char*) { skip.insert(name); });
  if (!o.groups)
    visit_groups_options([&](const char* name, auto, const char*) { skip.insert(name); });
  std::string s;
  visit_options([&](const char* name, auto member, const char*) {
    if (skip.count(name)) return;
    if (!s.empty()) s += ' ';
    s += name;
    s += '=';
    s += text(name, n.*member);
  });
  return s;
}

core::config make_config(const options& o) {
  core::config c;
  c.ring = core::ring_id{core::node_id{1}, 1};
  c.hash = core::conf_hash{util::hasher().str(identity(o)).digest()};
  c.packet_bytes_max = o.packet_bytes;
  c.window_global = o.window_global;
  c.window_personal = o.window_personal;
  c.window_accelerated = o.window_accelerated;
  c.token_hold = std::chrono::microseconds(o.token_hold_us);
  c.park_after_idle_visits = o.park_after_idle_visits;
  c.token_linger = std::chrono::microseconds(o.token_linger_us);
  c.token_retransmit = std::chrono::microseconds(o.token_retransmit_us);
  c.token_timeout = std::chrono::milliseconds(o.token_timeout_ms);
  c.join_timeout = std::chrono::milliseconds(o.join_timeout_ms);
  c.consensus_timeout = std::chrono::milliseconds(o.consensus_timeout_ms);
  c.merge_detect = std::chrono::milliseconds(o.merge_detect_ms);
  return c;
}

}  // namespace chorus::sim
