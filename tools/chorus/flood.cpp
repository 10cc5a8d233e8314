// flood.cpp — `chorus flood`: N messages of S bytes through the daemons, like spflooder.
//   both (default): joins the group, sends, and receives what is sent there, with at most
//     --window messages in flight: throughput and per-message latency;
//   receive: joins and counts --count messages, then reports (latency if the sender runs on
//     this host). It prints "ready" once its join is in place, so a script can start senders;
//   send: sends without joining, as fast as the daemon takes them.
// Flow control between processes: every member that receives (both, receive) multicasts a small
// acknowledgement to the group every ack_every messages; a "both" sender keeps at most --window
// messages ahead of the slowest member of its view, so no reader falls MaxSessionMessages behind
// and gets cut off by its daemon.
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common.hpp"

namespace chorus::tool {

namespace {

constexpr std::uint32_t ack_magic = 0x41434b21;  // "ACK!"
struct ack {
  std::uint32_t magic = ack_magic;
  std::uint32_t unused = 0;
  std::uint64_t received = 0;  // stamped messages this member has received so far
};

struct report {
  std::string mode;
  std::size_t sent = 0, received = 0, size = 0;
  double seconds = 0;
  std::vector<double> latency_us;
};

void print(const report& r, const flood_options& o) {
  const std::size_t n = r.mode == "send" ? r.sent : r.received;
  const double rate = r.seconds > 0 ? static_cast<double>(n) / r.seconds : 0;
  const double mb = rate * static_cast<double>(r.size) / 1e6;
  auto lat = r.latency_us;
  std::sort(lat.begin(), lat.end());
  if (o.json) {
    nlohmann::json j{{"mode", r.mode},     {"service", o.service},   {"size", r.size},
                     {"sent", r.sent},     {"received", r.received}, {"seconds", r.seconds},
                     {"msgs_per_s", rate}, {"mb_per_s", mb}};
    if (!lat.empty()) {
      j["latency_us"] = {{"p50", percentile_of_sorted(lat, 0.50)},
                         {"p90", percentile_of_sorted(lat, 0.90)},
                         {"p99", percentile_of_sorted(lat, 0.99)},
                         {"max", percentile_of_sorted(lat, 1.0)},
                         {"samples", lat.size()}};
    }
    std::cout << j.dump() << std::endl;
    return;
  }
  std::printf("%s: %zu messages of %zu bytes (%s) in %.3f s: %.0f msg/s, %.1f MB/s\n",
              r.mode.c_str(), n, r.size, o.service.c_str(), r.seconds, rate, mb);
  if (!lat.empty()) {
    std::printf("latency µs: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  (%zu samples)\n",
                percentile_of_sorted(lat, 0.50), percentile_of_sorted(lat, 0.90),
                percentile_of_sorted(lat, 0.99), percentile_of_sorted(lat, 1.0), lat.size());
  }
}

// A live line on stderr, once a second, while `done` is false.
class progress_line {
 public:
  progress_line(bool on, std::function<std::string()> text) : on_(on) {
    if (!on_) return;
    thread_ = std::thread([this, text = std::move(text)] {
      std::unique_lock lock(mutex_);
      while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; })) {
        std::fprintf(stderr, "\r%s   ", text().c_str());
        std::fflush(stderr);
      }
    });
  }
  ~progress_line() {
    if (!on_) return;
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool on_;
  bool stop_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::thread thread_;
};

std::string rate_text(const char* what, std::size_t n, std::size_t total, clock::time_point t0) {
  double s = std::chrono::duration<double>(clock::now() - t0).count();
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s %zu/%zu (%.0f msg/s)", what, n, total,
                s > 0 ? static_cast<double>(n) / s : 0.0);
  return buf;
}

// Waits for our own JOIN view of `group` (the join is in place everywhere we care about) and
// returns its members, or nullopt.
std::optional<std::vector<std::string>> wait_joined(connection& c, const std::string& group,
                                                    double timeout_s) {
  auto deadline = clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto m = c.receive(left);
    if (!m) return std::nullopt;
    if (m->is_regular_membership() && m->sender() == group) return m->members();
  }
}

}  // namespace

int run_flood(const flood_options& o) {
  auto svc = checked_service_and_size("flood", o.service, o.size);
  if (!svc) return 2;
  if (o.mode != "both" && o.mode != "send" && o.mode != "receive") {
    std::cerr << "chorus flood: --mode must be both, send or receive\n";
    return 2;
  }
  auto c = connect_or_say(o.endpoint, "", o.mode != "send");
  if (!c) return 1;
  const bool show = o.progress || (!o.json && ::isatty(2));
  const std::uint32_t me = host_id();
  report r;
  r.mode = o.mode;
  r.size = o.size;
  std::vector<std::byte> payload(o.size);

  std::vector<std::string> first_view;
  if (o.mode != "send") {
    auto j = c->join(o.group);
    auto view = j ? wait_joined(*c, o.group, o.timeout_s) : std::nullopt;
    if (!view) {
      std::cerr << "chorus flood: cannot join " << o.group << "\n";
      return 1;
    }
    first_view = std::move(*view);
  }
  if (o.mode == "receive") {
    std::cout << "ready" << std::endl;
  }

  std::atomic<std::size_t> received{0};
  std::atomic<bool> failed{false};
  std::mutex flow_mutex;  // guards acked, peers, r.latency_us
  std::condition_variable room;
  std::map<std::string, std::uint64_t> acked;  // member → messages it acknowledged
  std::set<std::string> peers;                 // the view's other members
  for (const auto& p : first_view) {
    if (p != c->private_group()) peers.insert(p);
  }
  constexpr std::size_t ack_every = 64;
  clock::time_point t0 = clock::now(), first_receive{};
  auto send_ack = [&](std::size_t n) {
    ack a;
    a.received = n;
    auto bytes = std::as_bytes(std::span(&a, 1));
    (void)c->multicast(service::fifo, o.group, bytes);
  };
  std::thread receiver;
  if (o.mode != "send") {
    receiver = std::thread([&] {
      const auto idle = std::chrono::milliseconds(static_cast<long>(o.timeout_s * 1000));
      while (received < o.count) {
        auto m = c->receive(idle);
        if (!m) {
          std::cerr << "\nchorus flood: receive: " << m.error().message << "\n";
          failed = true;
          room.notify_all();
          return;
        }
        if (m->is_regular_membership() && m->sender() == o.group) {
          std::lock_guard lock(flow_mutex);
          peers.clear();
          for (const auto& p : m->members()) {
            if (p != c->private_group()) peers.insert(p);
          }
          room.notify_all();
          continue;
        }
        if (!m->is_data()) continue;
        if (m->data().size() == sizeof(ack)) {
          ack a;
          std::memcpy(&a, m->data().data(), sizeof a);
          if (a.magic == ack_magic) {
            std::lock_guard lock(flow_mutex);
            auto& v = acked[m->sender()];
            v = std::max<std::uint64_t>(v, a.received);
            room.notify_all();
            continue;
          }
        }
        auto st = read_stamp(m->data());
        if (!st) continue;
        if (received == 0) first_receive = clock::now();
        if (st->host == me) {
          std::lock_guard lock(flow_mutex);
          r.latency_us.push_back(static_cast<double>(now_ns() - st->sent_ns) / 1e3);
        }
        std::size_t n = ++received;
        if (n % ack_every == 0 || n == o.count) send_ack(n);
        room.notify_all();
      }
    });
  }
  // The slowest member's progress: ours, and every peer's last acknowledgement.
  auto slowest = [&] {
    std::uint64_t least = received;
    for (const auto& p : peers) {
      auto it = acked.find(p);
      least = std::min<std::uint64_t>(least, it == acked.end() ? 0 : it->second);
    }
    return least;
  };

  {
    progress_line line(show, [&] {
      return o.mode == "receive" ? rate_text("received", received, o.count, t0)
                                 : rate_text("sent", r.sent, o.count, t0);
    });
    t0 = clock::now();
    if (o.mode != "receive") {
      for (std::size_t i = 0; i < o.count && !failed; ++i) {
        if (o.mode == "both") {
          std::unique_lock lock(flow_mutex);
          const auto idle = std::chrono::duration<double>(o.timeout_s);
          if (!room.wait_for(lock, idle, [&] { return failed || r.sent - slowest() < o.window; })) {
            std::cerr << "\nchorus flood: no progress for " << o.timeout_s << " s: a member of "
                      << o.group << " stopped acknowledging (only chorus flood members do)\n";
            failed = true;
            c->kill();  // ends the receiver thread too
            break;
          }
        }
        write_stamp(payload, i);
        auto sent = c->multicast(*svc, o.group, std::span<const std::byte>(payload));
        if (!sent) {
          std::cerr << "\nchorus flood: multicast: " << sent.error().message << "\n";
          failed = true;
          break;
        }
        ++r.sent;
      }
    }
    if (receiver.joinable()) receiver.join();
  }
  auto t_end = clock::now();
  r.received = received;
  if (o.mode == "receive" && received > 0) t0 = first_receive;
  r.seconds = std::chrono::duration<double>(t_end - t0).count();
  if (failed) return 1;
  print(r, o);
  return 0;
}

}  // namespace chorus::tool
