// ping.cpp — `chorus ping`: messages to our own private group go through the ring and come back
// to us alone; each round trip is timed, like ping(8), with percentiles at the end.
#include <csignal>
#include <cstdio>
#include <thread>

#include "common.hpp"

namespace chorus::tool {

int run_ping(const ping_options& o) {
  auto svc = checked_service_and_size("ping", o.service, o.size);
  if (!svc) return 2;
  auto c = connect_or_say(o.endpoint, "", false, std::chrono::microseconds(o.busy_poll_us));
  if (!c) return 1;
  std::printf("PING %s through %s: %zu bytes, %s\n", c->private_group().c_str(),
              endpoint_text(o.endpoint).c_str(), o.size, service_name(*svc));
  std::vector<std::byte> payload(o.size);
  std::vector<double> rtt;
  for (std::size_t i = 0; i < o.count; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.interval_s));
    write_stamp(payload, i);
    if (auto r = c->multicast(*svc, c->private_group(), std::span<const std::byte>(payload)); !r) {
      std::cerr << "chorus ping: " << r.error().message << "\n";
      return 1;
    }
    for (;;) {
      auto m = c->receive(std::chrono::seconds(5));
      if (!m) {
        std::cerr << "chorus ping: no answer for seq " << i << ": " << m.error().message << "\n";
        return 1;
      }
      auto back = read_stamp(m->data());
      if (!m->is_data() || !back || back->seq != i) continue;
      double us = static_cast<double>(now_ns() - back->sent_ns) / 1e3;
      rtt.push_back(us);
      if (!o.quiet) std::printf("%zu bytes: seq=%zu time=%.1f µs\n", m->data().size(), i, us);
      break;
    }
  }
  std::sort(rtt.begin(), rtt.end());
  std::printf("--- %zu round trips: min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f µs\n",
              rtt.size(), percentile_of_sorted(rtt, 0), percentile_of_sorted(rtt, 0.5),
              percentile_of_sorted(rtt, 0.9), percentile_of_sorted(rtt, 0.99),
              percentile_of_sorted(rtt, 1.0));
  return 0;
}

}  // namespace chorus::tool
