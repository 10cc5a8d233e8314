// user.cpp — `chorus user`: an interactive client like Spread's spuser. Commands on stdin, one
// per line; messages and views are printed as they arrive (a receiver thread), so it works
// typed by hand and driven by a script alike.
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <thread>

#include "common.hpp"

namespace chorus::tool {
namespace {

constexpr const char* help_text =
    "commands:\n"
    "  j GROUP              join GROUP\n"
    "  l GROUP              leave GROUP\n"
    "  s GROUP[,GROUP…] TEXT  send TEXT to the groups (current service and type)\n"
    "  service NAME         unreliable, reliable, fifo, causal, agreed (default) or safe\n"
    "  type N               the 16-bit message type of what s sends (default 0)\n"
    "  r                    wait (up to 10 s) for the next message (each r accounts for one)\n"
    "  p                    bytes waiting to be read\n"
    "  h                    this help\n"
    "  q                    disconnect and quit (so does end of input)\n";

const char* cause_text(cause c) {
  switch (c) {
    case cause::join:
      return "joined";
    case cause::leave:
      return "left";
    case cause::disconnect:
      return "disconnected";
    default:
      return "";
  }
}

std::string describe(const message& m, const std::string& me) {
  std::ostringstream out;
  if (m.is_data()) {
    out << "received " << service_name(m.service()) << " message from " << m.sender() << ", type "
        << m.message_type() << (m.endian_mismatch() ? " (other byte order)" : "") << ", to";
    for (const auto& g : m.groups()) out << ' ' << g;
    out << " (" << m.data().size() << " bytes): " << m.text();
    if (m.text().empty() || m.text().back() != '\n') out << '\n';
  } else if (m.is_regular_membership()) {
    auto id = m.group_id();
    out << "view of " << m.sender() << " (id " << id.a << ' ' << id.b << ' ' << id.c << "), "
        << m.members().size() << " members";
    if (m.cause() == cause::network) {
      out << ", after a network change, " << m.vs_sets().size() << " vs-sets";
    } else if (!m.changed_member().empty()) {
      out << ", because " << m.changed_member() << ' ' << cause_text(m.cause());
    }
    out << ":\n";
    for (const auto& n : m.members()) out << "    " << n << (n == me ? "  (me)" : "") << '\n';
    if (m.cause() == cause::network) {
      for (std::size_t i = 0; i < m.vs_sets().size(); ++i) {
        out << "  " << (i == m.my_vs_set() ? "our" : "other") << " vs-set:";
        for (const auto& n : m.vs_sets()[i]) out << ' ' << n;
        out << '\n';
      }
    }
  } else if (m.is_transition()) {
    out << "transitional view of " << m.sender() << " (messages until the next view are "
        << "guaranteed among the members that stay)\n";
  } else if (m.is_self_leave()) {
    out << "left " << m.sender() << '\n';
  } else if (m.is_reject()) {
    out << "REJECTED message from " << m.sender() << ", type 0x" << std::hex << m.type() << '\n';
  } else {
    out << "message of type 0x" << std::hex << m.type() << '\n';
  }
  return out.str();
}

}  // namespace

int run_user(const user_options& o) {
  auto c = connect_or_say(o.endpoint, o.name);
  if (!c) return 1;
  const bool interactive = ::isatty(0) != 0;
  std::mutex print_mutex;
  std::condition_variable printed_cv;
  std::size_t printed = 0;  // messages printed so far
  std::size_t waited = 0;   // of those, how many an r command has accounted for
  std::atomic<bool> quitting{false};
  auto say = [&](const std::string& s) {
    std::lock_guard lock(print_mutex);
    std::fputs(s.c_str(), stdout);
    std::fflush(stdout);
  };
  say("connected to " + (o.endpoint.empty() ? std::string("4803") : o.endpoint) + " as " +
      c->private_group() + "; h for help\n");

  std::thread receiver([&] {
    for (;;) {
      auto m = c->receive();
      if (!m) {
        if (!quitting) say("connection lost: " + m.error().message + "\n");
        quitting = true;
        printed_cv.notify_all();
        return;
      }
      {
        std::lock_guard lock(print_mutex);
        std::fputs(describe(*m, c->private_group()).c_str(), stdout);
        if (interactive) std::fputs("User> ", stdout);
        std::fflush(stdout);
        ++printed;
      }
      printed_cv.notify_all();
    }
  });

  service svc = service::agreed;
  std::int16_t type = 0;
  std::string line;
  int status = 0;
  if (interactive) say("User> ");
  while (!quitting && std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    std::string arg;
    in >> arg;
    std::string rest;
    std::getline(in >> std::ws, rest);
    auto fail = [&](const std::string& what, const error& e) {
      say(what + ": " + e.message + "\n");
    };
    if (cmd.empty()) {
    } else if (cmd == "j" || cmd == "l") {
      auto r = cmd == "j" ? c->join(arg) : c->leave(arg);
      if (!r) fail(cmd == "j" ? "join" : "leave", r.error());
    } else if (cmd == "s") {
      std::vector<std::string> groups;
      std::stringstream gs(arg);
      for (std::string g; std::getline(gs, g, ',');) {
        if (!g.empty()) groups.push_back(g);
      }
      if (groups.empty()) {
        say("usage: s GROUP[,GROUP…] TEXT\n");
      } else {
        std::span<const std::byte> parts[] = {std::as_bytes(std::span(rest))};
        auto r = c->multicast(svc, groups, parts, {.message_type = type});
        if (!r) fail("send", r.error());
      }
    } else if (cmd == "service") {
      if (auto s = parse_service(arg)) {
        svc = *s;
        say(std::string("service ") + service_name(svc) + "\n");
      } else {
        say("unknown service '" + arg + "' (" + service_choices + ")\n");
      }
    } else if (cmd == "type") {
      try {
        int v = std::stoi(arg);
        if (v < -32768 || v > 32767) throw std::out_of_range("type");
        type = static_cast<std::int16_t>(v);
        say("type " + std::to_string(type) + "\n");
      } catch (const std::exception&) {
        say("type must be a number in -32768…32767\n");
      }
    } else if (cmd == "r") {
      // Each r accounts for one printed message, whether it came before the r or after.
      std::unique_lock lock(print_mutex);
      if (printed_cv.wait_for(lock, std::chrono::seconds(10),
                              [&] { return printed > waited || quitting; })) {
        if (printed > waited) ++waited;
      } else {
        std::fputs("nothing received within 10 s\n", stdout);
        status = 1;
      }
    } else if (cmd == "p") {
      auto r = c->poll();
      if (r) {
        say(std::to_string(*r) + " bytes waiting\n");
      } else {
        fail("poll", r.error());
      }
    } else if (cmd == "h" || cmd == "?") {
      say(help_text);
    } else if (cmd == "q") {
      break;
    } else {
      say("unknown command '" + cmd + "'; h for help\n");
    }
    if (interactive && !quitting) say("User> ");
  }
  quitting = true;
  (void)c->disconnect();  // also wakes the receiver
  receiver.join();
  return status;
}

}  // namespace chorus::tool
