// chorusd — the Chorus daemon. Reads spread.conf (or runs an embedded one-daemon default),
// joins the ring of configured daemons and serves Spread clients on TCP and a Unix socket.
// See docs/configuration.md and `chorusd --help`.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <bit>
#include <filesystem>
#include <iostream>
#include <optional>

#include "daemon/affinity.hpp"
#include "daemon/config_file.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/server.hpp"

namespace {

using namespace chorus;

std::vector<std::string> local_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (auto* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    char buf[INET_ADDRSTRLEN];
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) out.emplace_back(buf);
  }
  freeifaddrs(list);
  return out;
}

// -c FILE, else ./spread.conf, /etc/chorus/spread.conf, /etc/spread.conf, else the default.
util::result<daemon::file_config> load(const std::string& given, std::string& source) {
  if (!given.empty()) {
    source = given;
    return daemon::load_config(given);
  }
  for (const char* p : {"./spread.conf", "/etc/chorus/spread.conf", "/etc/spread.conf"}) {
    if (std::filesystem::exists(p)) {
      source = p;
      return daemon::load_config(p);
    }
  }
  source = "(embedded default: one daemon 'localhost' on 127.0.0.1:4803)";
  return daemon::default_config();
}

spdlog::level::level_enum level_of(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "pdebug" || s == "debug") return spdlog::level::debug;
  if (s == "trace") return spdlog::level::trace;
  if (s == "warning" || s == "warn") return spdlog::level::warn;
  if (s == "error") return spdlog::level::err;
  if (s == "critical" || s == "fatal") return spdlog::level::critical;
  return spdlog::level::info;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "chorusd — the Chorus group communication daemon.\n"
      "Forms a token ring with the daemons of its configuration and gives Spread 4.x/5.x\n"
      "clients reliable, totally ordered multicast to named groups with EVS membership.\n"
      "Clients connect over TCP (the daemon's port) or the Unix socket <UnixSocketDir>/<port>.\n"
      "Status: write 'status' and a newline to the Unix socket <RuntimeDir>/control (default\n"
      "/tmp/chorus-<name>/control, mode 0600); the daemon answers one line of JSON."};
  std::string file, name, log_level;
  std::string spread_log;
  std::optional<std::uint32_t> busy_poll_us;
  std::string cpu_affinity;
  app.add_option("-c,--config", file,
                 "configuration file (spread.conf syntax); default: ./spread.conf, "
                 "/etc/chorus/spread.conf, /etc/spread.conf, else one daemon on 127.0.0.1:4803");
  app.add_option("-n,--name", name,
                 "which daemon of the configuration this is (default: the entry whose address "
                 "is local)");
  app.add_option("--log-level", log_level,
                 "debug, info, warning, error (default: EventPriority from the file, else info)");
  app.add_option("--busy-poll", busy_poll_us,
                 "after each event, keep polling this many microseconds before sleeping "
                 "(0-1000000; default: BusyPoll from the file, else 0). Lower latency on hosts "
                 "whose idle CPUs are slow to wake, at the cost of up to one CPU while polling")
      ->check(CLI::Range(0u, daemon::busy_poll_us_max));
  app.add_option("--cpu-affinity", cpu_affinity,
                 "run only on these CPUs, a list as in taskset -c: 0,2-3 (default: CpuAffinity "
                 "from the file, else any). With busy polling, keeps daemons that share a host "
                 "on different cores");
  app.add_option("-l", spread_log, "accepted for Spread compatibility (y|n); ignored");
  app.add_flag_callback(
      "-V,--version",
      [] {
        std::cout << "chorusd " << daemon::version << " (Spread client protocol 5.0.1)\n";
        throw CLI::Success();
      },
      "print the version and exit");
  CLI11_PARSE(app, argc, argv);

  std::string source;
  auto conf = load(file, source);
  if (!conf) {
    std::cerr << "chorusd: " << conf.error().message() << "\n";
    return 2;
  }
  if (!cpu_affinity.empty()) {
    auto cpus = daemon::parse_cpu_list(cpu_affinity);
    if (!cpus) {
      std::cerr << "chorusd: --cpu-affinity: " << cpus.error().message() << "\n";
      return 2;
    }
    conf->cpu_affinity = std::move(*cpus);
  }
  if (!conf->cpu_affinity.empty()) {
    if (auto pinned = daemon::pin_to(conf->cpu_affinity); !pinned.ok()) {
      std::cerr << "chorusd: " << pinned.message() << "\n";
      return 2;
    }
  }
  auto self = daemon::identify(*conf, name, local_addresses());
  if (!self) {
    std::cerr << "chorusd: " << self.error().message() << "\n";
    return 2;
  }
  if (!conf->event_log_file.empty()) {
    try {
      spdlog::set_default_logger(spdlog::basic_logger_mt("chorusd", conf->event_log_file));
    } catch (const spdlog::spdlog_ex& e) {
      std::cerr << "chorusd: cannot open the log file: " << e.what() << "\n";
      return 2;
    }
  }
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [" + (*self)->name + "] [%l] %v");
  spdlog::set_level(level_of(log_level.empty() ? conf->event_priority : log_level));
  spdlog::flush_on(spdlog::level::info);

  // 997 sessions need about a thousand descriptors: lift the soft limit to the hard one.
  if (rlimit nofile{}; getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 4096) {
    rlim_t want = std::min<rlim_t>(nofile.rlim_max, 4096);
    if (want > nofile.rlim_cur) {
      nofile.rlim_cur = want;
      setrlimit(RLIMIT_NOFILE, &nofile);
    }
    getrlimit(RLIMIT_NOFILE, &nofile);
    if (nofile.rlim_cur < 1100) {
      spdlog::warn("only {} file descriptors (ulimit -n): fewer than 997 clients fit",
                   static_cast<unsigned long>(nofile.rlim_cur));
    }
  }
  asio::io_context io(1);
  daemon::server_options opt;
  opt.conf = std::move(*conf);
  opt.source = source;
  opt.daemon_name = (*self)->name;
  opt.limits.queue_messages_max = opt.conf.max_session_messages;
  opt.limits.shm_ring_bytes =
      opt.conf.shared_memory_ring_kib == 0
          ? 0
          : std::bit_ceil(std::size_t{opt.conf.shared_memory_ring_kib} * 1024);
  if (opt.limits.shm_ring_bytes == 0) {
    spdlog::info("shared-memory sessions: not offered (SharedMemoryRing = 0)");
  } else {
    spdlog::info("shared-memory sessions: offered on the Unix socket, {} KiB rings",
                 opt.limits.shm_ring_bytes / 1024);
  }
  auto busy_poll = std::chrono::microseconds(busy_poll_us.value_or(opt.conf.busy_poll_us));
  if (busy_poll.count() > 0) {
    spdlog::info("busy polling: {} µs after each event before sleeping", busy_poll.count());
  }
  if (!opt.conf.cpu_affinity.empty()) {
    spdlog::info("CPU affinity: {}", daemon::format_cpu_list(opt.conf.cpu_affinity));
  }
  spdlog::info("configuration from {}", source);
  auto srv = daemon::server::create(io, std::move(opt));
  if (!srv) {
    spdlog::critical("{}", srv.error().message());
    std::cerr << "chorusd: " << srv.error().message() << "\n";
    return 1;
  }
  (*srv)->start();
  daemon::run_event_loop(io, busy_poll,
                         busy_poll.count() > 0 ? (*srv)->polling_hooks() : daemon::poll_hooks{});
  spdlog::info("stopped");
  return 0;
}
