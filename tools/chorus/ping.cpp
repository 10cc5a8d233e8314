// ping.cpp — `chorus ping`: messages to our own private group go through the ring and come back
// to us alone; each round trip is timed, like ping(8), with percentiles at the end.
#include <csignal>
#include <cstdio>
#include <thread>

#include "common.hpp"

namespace chorus::tool {

int run_ping(const ping_options& o) {
  auto svc = parse_service(o.service);
  if (!svc) {
    std::cerr << "chorus ping: unknown service '" << o.service << "' (" << service_choices << ")\n";
    return 2;
  }
  if (o.size < sizeof(stamp) || o.size > 100000) {
    std::cerr << "chorus ping: --size must be " << sizeof(stamp) << "…100000 bytes\n";
    return 2;
  }
  auto c = connect_or_say(o.endpoint, "", false);
  if (!c) return 1;
  std::printf("PING %s through %s: %zu bytes, %s\n", c->private_group().c_str(),
              o.endpoint.empty() ? "4803" : o.endpoint.c_str(), o.size, service_name(*svc));
  std::vector<std::byte> payload(o.size);
  std::vector<double> rtt;
  for (std::size_t i = 0; i < o.count; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.interval_s));
    stamp s;
    s.host = host_id();
    s.seq = i;
    s.sent_ns = now_ns();
    std::memcpy(payload.data(), &s, sizeof s);
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
  std::printf("--- %zu round trips: min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f µs\n",
              rtt.size(), percentile(rtt, 0), percentile(rtt, 0.5), percentile(rtt, 0.9),
              percentile(rtt, 0.99), percentile(rtt, 1.0));
  return 0;
}

}  // namespace chorus::tool
