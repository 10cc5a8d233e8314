// daemon_bench.cpp — load generator for running chorusd daemons over the Spread client protocol
// (issue 4, item 7). Two modes:
//   throughput: one sender on the first endpoint floods `--count` messages to group "bench";
//     one receiving member per endpoint counts them. The sender keeps at most `--window`
//     messages in flight (sent, not yet back at its own member), so no reader is ever further
//     behind than the daemon's per-session queue allows.
//   latency: one member sends a message, waits until it comes back, and sends the next (one
//     message outstanding); prints p50/p99 of that round trip. With --gap-us, it pauses that
//     long between rounds: sporadic traffic, which finds the ring idle. With --poll-us, every
//     member polls its socket that long before it blocks (what the client library's
//     busy_poll does). With --member-cpus, member i's thread runs only on the i-th CPU listed
//     (round robin), so the figures do not depend on where the kernel puts the pollers.
//   floor: what this machine allows, with no daemon at all: the round trip of 100 bytes
//     between two processes over a Unix socket (a client and its daemon: two wake-ups), and
//     one rotation of 100 bytes around three processes over UDP on 127.0.0.1 (a token
//     rotation among three daemons: three wake-ups). AGREED latency cannot beat the first;
//     SAFE latency cannot beat the sum. Both are measured twice: with processes that block,
//     and with processes that poll (no wake-ups).
// With --shm, every member's requests go through the daemon's shared-memory ring (the SHM
// method: wire/session_ring.hpp, as the client library does) instead of its socket.
// Prints one line of `key=value` pairs; bench/daemon_bench.py turns them into a table.
// Uses blocking sockets (unless --poll-us) and one thread per connection; the figures are the
// daemons', the client is kept cheap (large reads, no copies beyond parsing).
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "daemon/affinity.hpp"
#include "shm/session_memory.hpp"
#include "util/stats.hpp"
#include "wire/client_proto.hpp"

namespace {

namespace cl = chorus::wire::client;
using clock_type = std::chrono::steady_clock;
using chorus::util::now_ns;
using chorus::util::percentile;

// Reads what `fd` has: with `poll_ns` > 0 it first polls that long (non-blocking reads, yielding
// the CPU in between; the client library's busy_poll), then blocks.
constexpr std::int64_t poll_forever = INT64_MAX;
ssize_t read_some(int fd, void* b, std::size_t n, std::int64_t poll_ns) {
  if (poll_ns > 0) {
    const std::int64_t until = poll_ns == poll_forever ? poll_forever : now_ns() + poll_ns;
    for (;;) {
      ssize_t r = ::recv(fd, b, n, MSG_DONTWAIT);
      if (r >= 0 || errno != EAGAIN) return r;
      if (now_ns() >= until) break;
      ::sched_yield();
    }
  }
  return ::read(fd, b, n);
}

struct conn {
  int fd = -1;
  std::string private_group;
  std::vector<std::byte> buf = std::vector<std::byte>(1 << 20);
  std::size_t begin = 0, end = 0;
  std::int64_t poll_ns = 0;                        // read_some's
  std::shared_ptr<chorus::shm::request_ring> shm;  // --shm: requests go here

  void write_all(const void* p, std::size_t n) {
    if (shm) {
      auto* ring = &shm->ring;
      std::span<const std::byte> left(static_cast<const std::byte*>(p), n);
      for (;;) {
        left = left.subspan(ring->write(left));
        if (ring->publish()) {
          const char bell = 0;
          if (::send(fd, &bell, 1, MSG_NOSIGNAL) != 1) throw std::runtime_error("bell failed");
        }
        if (left.empty()) return;
        if (!ring->consistent()) throw std::runtime_error("ring corrupt");
        ::sched_yield();  // full: the daemon makes room
      }
    }
    auto* b = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = ::write(fd, b, n);
      if (w <= 0) throw std::runtime_error("write failed");
      b += w;
      n -= std::size_t(w);
    }
  }
  void fill(std::size_t need) {
    while (end - begin < need) {
      if (begin > 0 && buf.size() - end < need) {
        std::memmove(buf.data(), buf.data() + begin, end - begin);
        end -= begin;
        begin = 0;
      }
      if (buf.size() < need) buf.resize(need);
      ssize_t r = read_some(fd, buf.data() + end, buf.size() - end, poll_ns);
      if (r <= 0) throw std::runtime_error("connection closed");
      end += std::size_t(r);
    }
  }
  // The next message: its header, and a span over names + data valid until the next call.
  cl::header next(std::span<const std::byte>& body) {
    fill(cl::header_bytes);
    auto h = cl::decode_header(
        std::span<const std::byte, cl::header_bytes>(buf.data() + begin, cl::header_bytes));
    auto total = cl::message_bytes(h);
    if (!total) throw std::runtime_error("bad message from the daemon");
    fill(*total);
    body = {buf.data() + begin + cl::header_bytes, *total - cl::header_bytes};
    begin += *total;
    return h;
  }
};

conn connect_to(const std::string& endpoint, const std::string& name, bool shm) {
  conn c;
  c.fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", endpoint.c_str());
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("cannot connect to " + endpoint);
  }
  std::string hello = {5, 0, 1, 1, static_cast<char>(name.size())};
  hello += name;
  c.write_all(hello.data(), hello.size());
  c.fill(1);
  auto len = static_cast<std::int8_t>(c.buf[c.begin]);
  if (len < 0) throw std::runtime_error("rejected: " + std::to_string(len));
  c.fill(1 + std::size_t(len));
  c.begin += 1 + std::size_t(len);
  const auto auth = cl::encode_auth_choice(shm);
  c.write_all(auth.data(), auth.size());
  if (shm) {
    // The accept's first byte brings the memory file's descriptor.
    std::byte first{};
    int fd = -1;
    if (chorus::shm::receive_byte_with_descriptor(c.fd, first, fd) != 1 || fd < 0) {
      throw std::runtime_error("no shared memory with the accept");
    }
    auto ring = chorus::shm::request_ring::attach(fd);
    if (!ring) throw std::runtime_error(ring.error().message());
    c.shm = std::make_shared<chorus::shm::request_ring>(std::move(*ring));
    c.buf[c.end++] = first;
  }
  c.fill(5);
  std::size_t p = std::size_t(c.buf[c.begin + 4]);
  c.fill(5 + p);
  c.private_group.assign(reinterpret_cast<const char*>(c.buf.data() + c.begin + 5), p);
  c.begin += 5 + p;
  return c;
}

std::vector<std::byte> frame(const conn& c, std::uint32_t type, const std::string& group,
                             std::size_t size) {
  chorus::util::byte_vector out;
  chorus::util::byte_writer w(out);
  std::array<std::byte, 4> hint{std::byte{0x80}, std::byte{0}, std::byte{0}, std::byte{0x80}};
  cl::encode_header(w, type, c.private_group, 1, hint, static_cast<std::int32_t>(size));
  std::string g = group;
  g.resize(cl::name_bytes, '\0');
  w.bytes(std::as_bytes(std::span(g)));
  out.resize(out.size() + size, std::byte{'x'});
  return out;
}

void join(conn& c, const std::string& group) {
  auto f = frame(c, cl::join_mess, group, 0);
  c.write_all(f.data(), f.size());
}

// Reads until a membership message for `group` lists `members` names.
void wait_members(conn& c, std::size_t members) {
  for (;;) {
    std::span<const std::byte> body;
    auto h = c.next(body);
    if ((h.type & cl::reg_memb_mess) && std::size_t(h.num_groups) == members) return;
  }
}

struct options {
  std::vector<std::string> endpoints;
  std::string mode = "throughput";
  std::uint32_t service = cl::agreed_mess;
  std::size_t size = 1000;
  std::size_t count = 100000;
  std::size_t window = 800;  // below MaxSessionMessages (1000): no member is ever cut off
  std::size_t stalled = 0;   // extra members that join and never read (slow-reader check)
  std::size_t gap_us = 0;    // latency: pause between rounds (sporadic traffic; 0: back to back)
  std::size_t poll_us = 0;   // latency: every member polls its socket this long before it blocks
  bool shm = false;          // requests through the daemon's shared-memory ring
  std::vector<std::uint32_t>
      member_cpus;  // latency: member i's thread runs on member_cpus[i % size]
};

// Runs the calling thread on `cpu` only (pin_to() acts on the thread that calls it).
void pin_thread(std::uint32_t cpu) {
  if (auto st = chorus::daemon::pin_to({cpu}); !st.ok()) throw std::runtime_error(st.message());
}

int throughput(const options& o) {
  std::vector<conn> members;
  for (std::size_t i = 0; i < o.endpoints.size(); ++i) {
    members.push_back(connect_to(o.endpoints[i], "r" + std::to_string(i), o.shm));
    join(members.back(), "bench");
  }
  std::vector<conn> stalled;
  for (std::size_t i = 0; i < o.stalled; ++i) {
    stalled.push_back(connect_to(o.endpoints[0], "s" + std::to_string(i), o.shm));
    join(stalled.back(), "bench");
  }
  for (auto& m : members) wait_members(m, members.size() + stalled.size());
  conn& sender = members[0];  // a member: its own messages pace it
  auto f = frame(sender, o.service, "bench", o.size);
  std::atomic<std::size_t> done{0};
  std::vector<std::thread> readers;
  std::int64_t start = now_ns();
  std::vector<std::int64_t> finished(members.size());
  // Flow control on the slowest member, so no member's daemon queue grows past the window.
  std::vector<std::atomic<std::size_t>> received(members.size());
  auto slowest = [&] {
    std::size_t m = SIZE_MAX;
    for (auto& r : received) m = std::min(m, r.load(std::memory_order_acquire));
    return m;
  };
  for (std::size_t i = 0; i < members.size(); ++i) {
    readers.emplace_back([&, i] {
      std::size_t got = 0;
      while (got < o.count) {
        std::span<const std::byte> body;
        auto h = members[i].next(body);
        if ((h.type & cl::regular_mess) == 0) continue;
        ++got;
        if (got % 16 == 0 || got == o.count) received[i].store(got, std::memory_order_release);
      }
      finished[i] = now_ns();
      ++done;
    });
  }
  // Batches of frames per write: the client does not become the bottleneck.
  std::vector<std::byte> batch;
  for (std::size_t sent = 0; sent < o.count;) {
    std::size_t low = slowest();
    while (sent - low >= o.window) {
      std::this_thread::yield();
      low = slowest();
    }
    std::size_t n = std::min({o.count - sent, std::size_t(64), o.window - (sent - low)});
    batch.clear();
    for (std::size_t i = 0; i < n; ++i) batch.insert(batch.end(), f.begin(), f.end());
    sender.write_all(batch.data(), batch.size());
    sent += n;
  }
  for (auto& t : readers) t.join();
  std::int64_t end = *std::max_element(finished.begin(), finished.end());
  double secs = double(end - start) / 1e9;
  std::printf(
      "mode=throughput size=%zu count=%zu receivers=%zu seconds=%.3f msgs_per_s=%.0f "
      "mb_per_s=%.1f\n",
      o.size, o.count, members.size(), secs, double(o.count) / secs,
      double(o.count) * double(o.size) / secs / 1e6);
  return 0;
}

int latency(const options& o) {
  const auto allowed = chorus::daemon::allowed_cpus();
  for (auto cpu : o.member_cpus) {
    if (!std::ranges::binary_search(allowed, cpu))
      throw std::runtime_error("--member-cpus: CPU " + std::to_string(cpu) +
                               " is not one this process may run on");
  }
  std::vector<conn> members;
  for (std::size_t i = 0; i < o.endpoints.size(); ++i) {
    members.push_back(
        connect_to(o.endpoints[i],
                   "l" + std::to_string(i) + "-" + std::to_string(::getpid() % 100000), o.shm));
    join(members.back(), "bench-lat");
    members.back().poll_ns = std::int64_t(o.poll_us) * 1000;
  }
  for (auto& m : members) wait_members(m, members.size());
  // The other members read in the background so their queues never fill.
  std::atomic<bool> stop{false};
  std::vector<std::thread> drains;
  for (std::size_t i = 1; i < members.size(); ++i) {
    drains.emplace_back([&, i] {
      try {
        if (!o.member_cpus.empty()) pin_thread(o.member_cpus[i % o.member_cpus.size()]);
        while (!stop) {
          std::span<const std::byte> body;
          members[i].next(body);
        }
      } catch (const std::exception&) {
      }
    });
  }
  if (!o.member_cpus.empty()) pin_thread(o.member_cpus[0]);
  conn& c = members[0];
  auto f = frame(c, o.service, "bench-lat", o.size);
  std::vector<double> us;
  us.reserve(o.count);
  for (std::size_t i = 0; i < o.count + 100; ++i) {
    if (o.gap_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(o.gap_us));
    std::int64_t t0 = now_ns();
    c.write_all(f.data(), f.size());
    for (;;) {
      std::span<const std::byte> body;
      auto h = c.next(body);
      if ((h.type & cl::regular_mess) != 0) break;
    }
    if (i >= 100) us.push_back(double(now_ns() - t0) / 1e3);  // 100 warm-up rounds
  }
  stop = true;
  for (auto& m : members) ::shutdown(m.fd, SHUT_RDWR);
  for (auto& t : drains) t.join();
  std::printf("mode=latency size=%zu count=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f\n", o.size,
              o.count, percentile(us, 0.50), percentile(us, 0.99), percentile(us, 1.0));
  return 0;
}

// Echoes 100-byte messages from `in` to `out` until `in` closes; runs in a child process.
[[noreturn]] void relay(int in, int out, bool datagram, const sockaddr_in* to, std::int64_t poll) {
  char b[100];
  for (;;) {
    ssize_t r = read_some(in, b, sizeof b, poll);
    if (r <= 0) ::_exit(0);
    if (datagram) {
      ::sendto(out, b, std::size_t(r), 0, reinterpret_cast<const sockaddr*>(to), sizeof *to);
    } else if (::write(out, b, std::size_t(r)) != r) {
      ::_exit(1);
    }
  }
}

struct floor_figures {
  std::vector<double> unix_us, ring_us;
};

// One pass of the floor measurement; with `spin`, every process polls instead of blocking.
floor_figures measure_floor(std::size_t rounds, bool spin) {
  const std::int64_t poll = spin ? poll_forever : 0;
  floor_figures out;
  char b[100] = {};
  // Two processes, a Unix stream socket, one message outstanding.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) throw std::runtime_error("socketpair");
  pid_t echo = ::fork();
  if (echo == 0) {
    ::close(sv[0]);
    relay(sv[1], sv[1], false, nullptr, poll);
  }
  ::close(sv[1]);
  conn c;
  c.fd = sv[0];
  for (std::size_t i = 0; i < rounds + 100; ++i) {
    auto t0 = clock_type::now();
    c.write_all(b, sizeof b);
    std::size_t got = 0;
    while (got < sizeof b) {
      ssize_t r = read_some(sv[0], b + got, sizeof b - got, poll);
      if (r <= 0) throw std::runtime_error("echo process died");
      got += std::size_t(r);
    }
    if (i >= 100)
      out.unix_us.push_back(
          std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  ::close(sv[0]);
  ::waitpid(echo, nullptr, 0);

  // Three processes in a UDP ring on 127.0.0.1: this one, then two relays.
  int fds[3];
  sockaddr_in addrs[3];
  for (int i = 0; i < 3; ++i) {
    fds[i] = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fds[i] < 0 || ::bind(fds[i], reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fds[i], reinterpret_cast<sockaddr*>(&addrs[i]), &len) != 0) {
      throw std::runtime_error("cannot bind a UDP socket on 127.0.0.1");
    }
  }
  pid_t relays[2];
  for (int i = 1; i < 3; ++i) {
    relays[i - 1] = ::fork();
    if (relays[i - 1] == 0) relay(fds[i], fds[i], true, &addrs[(i + 1) % 3], poll);
  }
  for (std::size_t i = 0; i < rounds + 100; ++i) {
    auto t0 = clock_type::now();
    ::sendto(fds[0], b, sizeof b, 0, reinterpret_cast<sockaddr*>(&addrs[1]), sizeof addrs[1]);
    if (read_some(fds[0], b, sizeof b, poll) <= 0) throw std::runtime_error("relay process died");
    if (i >= 100)
      out.ring_us.push_back(
          std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  for (pid_t r : relays) ::kill(r, SIGTERM);
  for (pid_t r : relays) ::waitpid(r, nullptr, 0);
  for (int fd : fds) ::close(fd);
  return out;
}

int floor_mode(const options& o) {
  auto blocking = measure_floor(o.count, false);
  auto polling = measure_floor(o.count, true);
  std::printf(
      "mode=floor count=%zu unix_round_trip_p50_us=%.1f unix_round_trip_p99_us=%.1f "
      "udp_rotation3_p50_us=%.1f udp_rotation3_p99_us=%.1f "
      "polling_unix_round_trip_p50_us=%.1f polling_unix_round_trip_p99_us=%.1f "
      "polling_udp_rotation3_p50_us=%.1f polling_udp_rotation3_p99_us=%.1f\n",
      o.count, percentile(blocking.unix_us, 0.5), percentile(blocking.unix_us, 0.99),
      percentile(blocking.ring_us, 0.5), percentile(blocking.ring_us, 0.99),
      percentile(polling.unix_us, 0.5), percentile(polling.unix_us, 0.99),
      percentile(polling.ring_us, 0.5), percentile(polling.ring_us, 0.99));
  return 0;
}

// `text` as a whole decimal number; throws unless every character is part of it.
std::size_t number(std::string_view text) {
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    throw std::invalid_argument(std::string(text));
  return n;
}

// The options that take a number, and where it goes.
constexpr std::pair<std::string_view, std::size_t options::*> numeric_options[] = {
    {"--size", &options::size},       {"--count", &options::count},
    {"--stalled", &options::stalled}, {"--gap-us", &options::gap_us},
    {"--poll-us", &options::poll_us}, {"--window", &options::window}};

// The options, or nullopt after printing why not (or the usage, for --help: `help` is set).
std::optional<options> parse(int argc, char** argv, bool& help) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--shm") {
      o.shm = true;
      continue;
    }
    auto numeric = std::ranges::find(numeric_options, a, [](const auto& n) { return n.first; });
    const bool known = numeric != std::end(numeric_options) || a == "--endpoint" || a == "--mode" ||
                       a == "--service" || a == "--member-cpus";
    if (!known || i + 1 >= argc) {
      help = a == "--help";
      if (known) std::fprintf(stderr, "daemon_bench: %s needs a value\n", a.c_str());
      std::fprintf(stderr,
                   "usage: daemon_bench --endpoint UNIX_SOCKET [--endpoint …] "
                   "[--mode throughput|latency|floor] [--service agreed|safe|fifo] [--size BYTES] "
                   "[--count N] [--window N] [--stalled N] [--gap-us N] [--poll-us N] [--shm] "
                   "[--member-cpus CPU,CPU,…]\n");
      return std::nullopt;
    }
    const std::string v = argv[++i];
    try {
      if (numeric != std::end(numeric_options)) {
        o.*(numeric->second) = number(v);
      } else if (a == "--endpoint") {
        o.endpoints.push_back(v);
      } else if (a == "--mode") {
        o.mode = v;
      } else if (a == "--service") {
        if (v != "safe" && v != "fifo" && v != "agreed") throw std::invalid_argument(v);
        o.service = v == "safe" ? cl::safe_mess : v == "fifo" ? cl::fifo_mess : cl::agreed_mess;
      } else {  // --member-cpus
        for (std::size_t at = 0; at < v.size();) {
          std::size_t comma = std::min(v.find(',', at), v.size());
          const std::size_t cpu = number(std::string_view(v).substr(at, comma - at));
          if (cpu >= CPU_SETSIZE) throw std::invalid_argument(v);
          o.member_cpus.push_back(static_cast<std::uint32_t>(cpu));
          at = comma + 1;
        }
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "daemon_bench: bad value for %s: '%s'\n", a.c_str(), v.c_str());
      return std::nullopt;
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  bool help = false;
  auto parsed = parse(argc, argv, help);
  if (!parsed) return help ? 0 : 2;
  const options& o = *parsed;
  if (o.mode == "floor") {
    try {
      return floor_mode(o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "daemon_bench: %s\n", e.what());
      return 1;
    }
  }
  if (o.endpoints.empty()) {
    std::fprintf(stderr, "daemon_bench: give at least one --endpoint\n");
    return 2;
  }
  try {
    return o.mode == "latency" ? latency(o) : throughput(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "daemon_bench: %s\n", e.what());
    return 1;
  }
}
