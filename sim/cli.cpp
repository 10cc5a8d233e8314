// cli.cpp — chorus-sim's command line (see cli.hpp).
//
// This is the edge of the simulator: it may throw and catch (CLI11), read the wall clock (only
// to report the swarm's speed; wall time never reaches a run) and install the abort handler
// that prints the replay command when a core CHORUS_ASSERT or a sanitizer stops the process.
#include "sim/cli.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <type_traits>

#include "sim/simulation.hpp"
#include "sim/trace.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace chorus::sim {
namespace {

constexpr const char* description =
    "chorus-sim — deterministic simulator of the Chorus ring engine.\n"
    "Runs 1–16 core::nodes in one process with virtual time and a simulated network, submits\n"
    "messages of every service level from every node, checks the DESIGN §3.3 invariants on\n"
    "every event and, after the faulty phase, that everything sent is delivered everywhere.\n"
    "Prints the options first and trace_hash=… last; the same options reproduce the same hash.\n"
    "A failure prints `FAIL: …` and the `replay:` command that reproduces it.\n"
    "  chorus-sim --seed 0x2a --nodes 5 --loss 0.1 --dup 0.05 --reorder 0.05\n"
    "  chorus-sim --seeds 1000 --seed 1     (swarm: each seed draws its own options)\n"
    "  chorus-sim --seeds 1000 --membership (swarm: crashes, restarts, partitions; EVS checks)\n"
    "  chorus-sim --seeds 1000 --membership --groups (and the groups layer: views, VS checks)";

// The abort handler's text: FAIL plus the replay command of the run in progress. A fixed
// buffer, because only write(2) may run inside a signal handler.
char abort_text[4096];
std::size_t abort_len = 0;

void write_abort_text() {
  if (abort_len > 0) {
    [[maybe_unused]] const auto n = ::write(2, abort_text, abort_len);
  }
}

extern "C" void on_abort_signal(int sig) {
  write_abort_text();
  // Die of the signal (a SIGABRT sent from outside would otherwise be survived).
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void set_abort_context(const options& o) {
  const std::string s =
      "\nFAIL: the process aborted (a CHORUS_ASSERT, a crash or a sanitizer report above)\n"
      "replay: " +
      replay_command(o) + "\n";
  abort_len = std::min(s.size(), sizeof abort_text);
  std::memcpy(abort_text, s.data(), abort_len);
}

void install_abort_handler() {
  // A crash inside the core (SIGSEGV and friends) also prints the replay command.
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, on_abort_signal);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_set_death_callback(write_abort_text);
#endif
}

bool parse_seed(const std::string& s, std::uint64_t& out) {
  const bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  const char* b = s.data() + (hex ? 2 : 0);
  const char* e = s.data() + s.size();
  auto r = std::from_chars(b, e, out, hex ? 16 : 10);
  return b != e && r.ec == std::errc() && r.ptr == e;
}

bool parse_double(const std::string& s, double& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Registers every run option with CLI11; seed and doubles go through `texts` and are
// converted by finish_options() (exact decimal parsing, hex seeds).
void add_run_options(CLI::App& app, options& o, std::map<std::string, std::string>& texts) {
  visit_options([&](const char* name, auto member, const char* help) {
    using T = std::remove_reference_t<decltype(o.*member)>;
    const std::string flag = std::string("--") + name;
    if constexpr (std::is_same_v<T, bool>) {
      app.add_flag(flag, o.*member, help);
    } else if constexpr (std::is_same_v<T, double> || std::is_same_v<T, std::uint64_t>) {
      const auto& v = o.*member;
      std::string shown;
      if constexpr (std::is_same_v<T, double>)
        shown = format_double(v);
      else
        shown = format_hex(v);
      app.add_option(flag, texts[name], help)
          ->default_str(shown)
          ->type_name(std::is_same_v<T, double> ? "FLOAT" : "SEED");
    } else {
      app.add_option(flag, o.*member, help)->capture_default_str();
    }
  });
}

std::string finish_options(const CLI::App& app, options& o,
                           const std::map<std::string, std::string>& texts,
                           std::set<std::string>& given) {
  std::string error;
  visit_options([&](const char* name, auto member, const char*) {
    using T = std::remove_reference_t<decltype(o.*member)>;
    if (app.count(std::string("--") + name) == 0 || !error.empty()) return;
    given.insert(name);
    if constexpr (std::is_same_v<T, double>) {
      if (!parse_double(texts.at(name), o.*member) || o.*member < 0.0)
        error = std::string("--") + name + ": not a non-negative number: " + texts.at(name);
    } else if constexpr (std::is_same_v<T, std::uint64_t>) {
      if (!parse_seed(texts.at(name), o.*member))
        error = std::string("--") + name + ": not a hex (0x…) or decimal number";
    }
  });
  if (!error.empty()) return error;
  return validate(o);
}

}  // namespace

std::optional<cli_request> parse_command_line(const std::vector<std::string>& args,
                                              std::string* error) {
  cli_request req;
  CLI::App app(description, "chorus-sim");
  std::map<std::string, std::string> texts;
  add_run_options(app, req.opts, texts);
  app.add_option("--seeds", req.seeds,
                 "swarm mode: run this many seeds from --seed on, each drawing every option not "
                 "given explicitly from the seed");
  app.add_flag("--trace", req.trace, "print every trace line (packets, ticks, deliveries)");
  app.add_flag("--verbose", req.verbose,
               "swarm mode: print a line for every seed, not only failures");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    req.help = true;
    req.message = app.help();
    return req;
  } catch (const CLI::ParseError& e) {
    *error = e.what();
    return std::nullopt;
  }
  std::string bad = finish_options(app, req.opts, texts, req.given);
  if (!bad.empty()) {
    *error = bad;
    return std::nullopt;
  }
  return req;
}

namespace {

int run_one(const cli_request& req) {
  const options& o = req.opts;
  std::printf("%s\n", describe(o).c_str());
  std::fflush(stdout);
  set_abort_context(o);
  simulation sim(o, req.trace ? stdout : nullptr);
  const report r = sim.run();
  for (const std::string& line : summary_lines(r)) std::printf("%s\n", line.c_str());
  if (!r.ok) {
    std::printf("FAIL: %s\n", r.failure.c_str());
    for (const std::string& d : r.details) std::printf("  %s\n", d.c_str());
    std::printf("replay: %s\n", replay_command(o).c_str());
  }
  std::printf("trace_hash=%s\n", format_hex(r.trace_hash).c_str());
  return r.ok ? 0 : 1;
}

int run_swarm(const cli_request& req) {
  const auto wall_start = std::chrono::steady_clock::now();
  std::printf("swarm: %llu seeds from %s; explicit:", static_cast<unsigned long long>(req.seeds),
              format_hex(req.opts.seed).c_str());
  for (const std::string& g : req.given)
    if (g != "seed") std::printf(" --%s", g.c_str());
  std::printf("\n");
  std::fflush(stdout);
  std::uint64_t passed = 0, failed = 0;
  std::vector<duration> times;
  std::vector<duration> recoveries;  // membership: crash → survivors' regular configuration
  report groups;                     // groups: the group checker's counts, summed
  for (std::uint64_t k = 0; k < req.seeds; ++k) {
    const options o = draw_swarm(req.opts.seed + k, req.opts, req.given);
    if (const std::string bad = validate(o); !bad.empty()) {
      ++failed;
      std::printf("FAIL seed=%s: %s; options: %s\n", format_hex(o.seed).c_str(), bad.c_str(),
                  describe(o).c_str());
      continue;
    }
    set_abort_context(o);
    simulation sim(o, req.trace ? stdout : nullptr);
    const report r = sim.run();
    times.push_back(r.complete_at);
    recoveries.insert(recoveries.end(), r.crash_recovery.begin(), r.crash_recovery.end());
    groups.group_views += r.group_views;
    groups.group_deliveries += r.group_deliveries;
    groups.group_seen.network_split += r.group_seen.network_split;
    groups.group_seen.transitions += r.group_seen.transitions;
    groups.group_seen.segments_compared += r.group_seen.segments_compared;
    groups.group_seen.longest_view_wait =
        std::max(groups.group_seen.longest_view_wait, r.group_seen.longest_view_wait);
    if (req.verbose)
      std::printf("%s %s complete=%s events=%llu %s\n", r.ok ? "pass" : "FAIL",
                  format_hex(o.seed).c_str(), format_duration(r.complete_at).c_str(),
                  static_cast<unsigned long long>(r.trace_events), describe(o).c_str());
    if (r.ok) {
      ++passed;
      continue;
    }
    ++failed;
    std::printf("FAIL seed=%s: %s; replay: %s\n", format_hex(o.seed).c_str(), r.failure.c_str(),
                replay_command(o).c_str());
    std::fflush(stdout);
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::sort(times.begin(), times.end());
  const duration median = times.empty() ? duration{} : times[times.size() / 2];
  const duration longest = times.empty() ? duration{} : times.back();
  std::printf(
      "seeds: %llu passed, %llu failed; virtual time median %s, max %s; wall %.2f s "
      "(%.1f seeds/s)\n",
      static_cast<unsigned long long>(passed), static_cast<unsigned long long>(failed),
      format_duration(median).c_str(), format_duration(longest).c_str(), wall,
      wall > 0 ? static_cast<double>(req.seeds) / wall : 0.0);
  if (req.opts.membership)
    std::printf("membership: crash to survivors' regular configuration %s over %zu crashes\n",
                median_max(recoveries).c_str(), recoveries.size());
  if (req.opts.groups)
    std::printf(
        "groups: %llu views and %llu data messages received by sessions; %llu network "
        "views with several vs-sets, %llu transitional signals, %llu view changes "
        "compared for virtual synchrony; longest wait from a transitional signal to its view "
        "%s\n",
        static_cast<unsigned long long>(groups.group_views),
        static_cast<unsigned long long>(groups.group_deliveries),
        static_cast<unsigned long long>(groups.group_seen.network_split),
        static_cast<unsigned long long>(groups.group_seen.transitions),
        static_cast<unsigned long long>(groups.group_seen.segments_compared),
        format_duration(groups.group_seen.longest_view_wait).c_str());
  return failed == 0 ? 0 : 1;
}

}  // namespace

int cli_main(int argc, const char* const* argv) {
  std::vector<std::string> args(argv, argv + argc);
  std::string error;
  auto req = parse_command_line(args, &error);
  if (!req) {
    std::fprintf(stderr, "chorus-sim: %s\nRun with --help for more information.\n", error.c_str());
    return 2;
  }
  if (req->help) {
    std::printf("%s", req->message.c_str());
    return 0;
  }
  install_abort_handler();
  if (req->trace && req->seeds > 0)
    std::fprintf(stderr, "chorus-sim: --trace with --seeds prints every run's trace\n");
  return req->seeds > 0 ? run_swarm(*req) : run_one(*req);
}

}  // namespace chorus::sim
