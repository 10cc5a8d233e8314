// monitor.cpp — `chorus monitor status`: asks a daemon on this host for its status over its
// control socket (<RuntimeDir>/control, docs/daemon.md) and prints it readably, or as JSON.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "daemon/config_file.hpp"

namespace chorus::tool {
namespace {

using nlohmann::json;

// Where the control socket is: --control, else RuntimeDir of daemon --name in --config (the
// embedded default's daemon when neither is given).
std::optional<std::string> control_path(const monitor_options& o) {
  if (!o.control.empty()) return o.control;
  auto conf = o.config.empty() ? util::result<daemon::file_config>(daemon::default_config())
                               : daemon::load_config(o.config);
  if (!conf) {
    std::cerr << "chorus monitor: " << conf.error().message() << "\n";
    return std::nullopt;
  }
  std::string name = o.name;
  if (name.empty()) {
    auto all = conf->all_daemons();
    if (all.size() != 1) {
      std::cerr << "chorus monitor: the configuration has " << all.size()
                << " daemons; say which with --name\n";
      return std::nullopt;
    }
    name = all.front()->name;
  } else if (conf->find(name) == nullptr) {
    std::cerr << "chorus monitor: no daemon named '" << name << "' in the configuration\n";
    return std::nullopt;
  }
  return conf->runtime_dir_of(name) + "/control";
}

std::optional<std::string> ask(const std::string& path, const std::string& request) {
  // Only a daemon of our own user (or root) may answer: in a shared /tmp anyone could plant a
  // socket where a daemon's would be.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    std::cerr << "chorus monitor: no control socket at " << path
              << " (is the daemon running? is --name or --config right?)\n";
    return std::nullopt;
  }
  if (!S_ISSOCK(st.st_mode) || (st.st_uid != ::getuid() && st.st_uid != 0)) {
    std::cerr << "chorus monitor: " << path
              << " is not a socket owned by this user or root; not asking it\n";
    return std::nullopt;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    std::cerr << "chorus monitor: socket path too long: " << path << "\n";
    ::close(fd);
    return std::nullopt;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::cerr << "chorus monitor: cannot connect to " << path << ": " << std::strerror(errno)
              << "\n";
    ::close(fd);
    return std::nullopt;
  }
  std::string line = request + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    std::cerr << "chorus monitor: cannot write to " << path << "\n";
    ::close(fd);
    return std::nullopt;
  }
  std::string answer;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (answer.empty()) {
    std::cerr << "chorus monitor: the daemon closed the connection without answering\n";
    return std::nullopt;
  }
  return answer;
}

std::string duration_text(std::int64_t s) {
  char buf[64];
  if (s >= 86400) {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  } else if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

std::string join_names(const json& a) {
  std::string out;
  for (const auto& n : a) {
    if (!out.empty()) out += ' ';
    out += n.get<std::string>();
  }
  return out;
}

void print_readably(const json& j) {
  const auto& d = j.at("daemon");
  std::printf("daemon %s (node %d, incarnation %d), chorusd %s, up %s\n",
              d.at("name").get<std::string>().c_str(), d.at("node_id").get<int>(),
              d.at("incarnation").get<int>(), d.at("version").get<std::string>().c_str(),
              duration_text(j.at("uptime_s").get<std::int64_t>()).c_str());
  std::printf("config: %s (hash %s)\n", d.at("config_source").get<std::string>().c_str(),
              d.at("config_hash").get<std::string>().c_str());
  const auto& c = j.at("configuration");
  if (c.is_null()) {
    std::printf("configuration: none installed yet\n");
  } else {
    const auto& r = c.at("ring");
    std::printf("configuration: %s, ring %s/%d/%lld: %s\n", c.at("type").get<std::string>().c_str(),
                r.at("representative").get<std::string>().c_str(), r.at("incarnation").get<int>(),
                static_cast<long long>(r.at("sequence").get<std::int64_t>()),
                join_names(c.at("members")).c_str());
  }
  std::printf("daemons:\n");
  for (const auto& x : j.at("daemons")) {
    std::printf("  %-12s %s:%d%s%s\n", x.at("name").get<std::string>().c_str(),
                x.at("address").get<std::string>().c_str(), x.at("port").get<int>(),
                x.at("in_configuration").get<bool>() ? "  in the ring" : "  NOT in the ring",
                x.at("self").get<bool>() ? "  (this daemon)" : "");
  }
  const auto& t = j.at("transport");
  std::printf(
      "transport: %s; sent %llu datagrams (%llu bytes), received %llu (%llu bytes), "
      "send errors %llu\n",
      t.at("mode").get<std::string>().c_str(), t.at("datagrams_sent").get<unsigned long long>(),
      t.at("bytes_sent").get<unsigned long long>(),
      t.at("datagrams_received").get<unsigned long long>(),
      t.at("bytes_received").get<unsigned long long>(),
      t.at("send_errors").get<unsigned long long>());
  const auto& r = j.at("ring");
  std::printf(
      "ring: %s; delivered %llu messages (%llu bytes); sent %llu packets, retransmitted "
      "%llu; tokens %llu\n",
      r.at("role").get<std::string>().c_str(), r.at("messages_delivered").get<unsigned long long>(),
      r.at("bytes_delivered").get<unsigned long long>(),
      r.at("packets_sent").get<unsigned long long>(),
      r.at("packets_retransmitted").get<unsigned long long>(),
      r.at("tokens_received").get<unsigned long long>());
  const auto& s = j.at("sessions");
  std::printf("sessions: %d of %d\n", s.at("count").get<int>(), s.at("max").get<int>());
  for (const auto& x : s.at("list")) {
    std::printf("  %-32s %-24s %s, %llu queued\n", x.at("private_group").get<std::string>().c_str(),
                x.at("peer").get<std::string>().c_str(), x.at("state").get<std::string>().c_str(),
                x.at("queued_messages").get<unsigned long long>());
  }
  if (s.at("truncated").get<bool>()) std::printf("  …\n");
  const auto& g = j.at("groups");
  std::printf("groups: %d\n", g.at("count").get<int>());
  for (const auto& x : g.at("list")) {
    std::printf("  %-32s %d members: %s%s\n", x.at("name").get<std::string>().c_str(),
                x.at("member_count").get<int>(), join_names(x.at("members")).c_str(),
                x.at("truncated").get<bool>() ? " …" : "");
  }
  if (g.at("truncated").get<bool>()) std::printf("  …\n");
}

}  // namespace

int run_monitor_status(const monitor_options& o) {
  auto path = control_path(o);
  if (!path) return 1;
  auto answer = ask(*path, "status");
  if (!answer) return 1;
  json j;
  try {
    j = json::parse(*answer);
  } catch (const json::exception& e) {
    std::cerr << "chorus monitor: the daemon's answer is not JSON: " << e.what() << "\n";
    return 1;
  }
  if (j.contains("error")) {
    std::cerr << "chorus monitor: the daemon says: " << j["error"].get<std::string>() << "\n";
    return 1;
  }
  if (o.json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  try {
    print_readably(j);
  } catch (const json::exception& e) {
    std::cerr << "chorus monitor: unexpected status layout (" << e.what() << "); try --json\n";
    return 1;
  }
  return 0;
}

}  // namespace chorus::tool
