// common.hpp — what the `chorus` subcommands share: connecting with a clear error, service names,
// percentiles, and the payload header flood and ping put in their messages.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "chorus/client.hpp"
#include "util/hash.hpp"
#include "util/stats.hpp"

namespace chorus::tool {

using clock = std::chrono::steady_clock;

inline std::optional<service> parse_service(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "unreliable") return service::unreliable;
  if (s == "reliable") return service::reliable;
  if (s == "fifo") return service::fifo;
  if (s == "causal") return service::causal;
  if (s == "agreed") return service::agreed;
  if (s == "safe") return service::safe;
  return std::nullopt;
}

inline const char* service_name(service s) {
  switch (s) {
    case service::unreliable:
      return "UNRELIABLE";
    case service::reliable:
      return "RELIABLE";
    case service::fifo:
      return "FIFO";
    case service::causal:
      return "CAUSAL";
    case service::agreed:
      return "AGREED";
    case service::safe:
      return "SAFE";
  }
  return "?";
}

inline constexpr const char* service_choices = "unreliable, reliable, fifo, causal, agreed, safe";

// How the user would name the endpoint: the default daemon is 4803.
inline std::string endpoint_text(const std::string& endpoint) {
  return endpoint.empty() ? "4803" : endpoint;
}

// The --service and --size of flood and ping, checked: the service, or nullopt after saying
// what is wrong (exit status 2).
inline std::optional<service> checked_service_and_size(const char* command,
                                                       const std::string& service_text,
                                                       std::size_t size);

// Connects or prints why not (to stderr) and returns nullopt.
inline std::optional<connection> connect_or_say(
    const std::string& endpoint, const std::string& name, bool membership = true,
    std::chrono::microseconds busy_poll = std::chrono::microseconds{0}) {
  auto c = connection::connect(
      {.endpoint = endpoint, .name = name, .membership = membership, .busy_poll = busy_poll});
  if (!c) {
    std::cerr << "chorus: cannot connect to '" << endpoint_text(endpoint)
              << "': " << c.error().message << " (error " << c.error().code << ")\n";
    return std::nullopt;
  }
  return std::move(*c);
}

using util::now_ns;
using util::percentile_of_sorted;

// The first bytes of a flood or ping payload: a magic, the sequence number, the send time on
// the sender's monotonic clock and the sender's host, so a receiver on the same host can tell
// the latency (monotonic clocks of different hosts do not compare).
struct stamp {
  static constexpr std::uint32_t magic_value = 0x43484f52;  // "CHOR"
  std::uint32_t magic = magic_value;
  std::uint32_t host = 0;
  std::uint64_t seq = 0;
  std::int64_t sent_ns = 0;
};
static_assert(sizeof(stamp) == 24);

// A hash of this boot's id (/proc/sys/kernel/random/boot_id), read once.
inline std::uint32_t host_id() {
  static const std::uint32_t id = [] {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string text;
    std::getline(in, text);
    return static_cast<std::uint32_t>(util::hasher().str(text).digest());
  }();
  return id;
}

// Stamps the start of a payload (at least sizeof(stamp) bytes) with `seq`, now, and this host.
inline void write_stamp(std::span<std::byte> payload, std::uint64_t seq) {
  stamp s;
  s.host = host_id();
  s.seq = seq;
  s.sent_ns = now_ns();
  std::memcpy(payload.data(), &s, sizeof s);
}

inline std::optional<stamp> read_stamp(std::span<const std::byte> data) {
  if (data.size() < sizeof(stamp)) return std::nullopt;
  stamp s;
  std::memcpy(&s, data.data(), sizeof s);
  if (s.magic != stamp::magic_value) return std::nullopt;
  return s;
}

inline std::optional<service> checked_service_and_size(const char* command,
                                                       const std::string& service_text,
                                                       std::size_t size) {
  auto svc = parse_service(service_text);
  if (!svc) {
    std::cerr << "chorus " << command << ": unknown service '" << service_text << "' ("
              << service_choices << ")\n";
    return std::nullopt;
  }
  if (size < sizeof(stamp) || size > 100000) {
    std::cerr << "chorus " << command << ": --size must be " << sizeof(stamp) << "…100000 bytes\n";
    return std::nullopt;
  }
  return svc;
}

struct user_options {
  std::string endpoint, name;
};
struct flood_options {
  std::string endpoint, group = "flood", mode = "both", service = "agreed";
  std::size_t count = 100000, size = 1000, window = 500;
  bool json = false, progress = false;
  double timeout_s = 60;
};
struct ping_options {
  std::string endpoint, service = "agreed";
  std::size_t count = 10, size = 64;
  double interval_s = 0.2;
  std::int64_t busy_poll_us = 0;
  bool quiet = false;
};
struct monitor_options {
  std::string control, config, name;
  bool json = false;
};

int run_user(const user_options& o);
int run_flood(const flood_options& o);
int run_ping(const ping_options& o);
int run_monitor_status(const monitor_options& o);
int run_shm_ls(bool json);
int run_shm_rm(const std::vector<std::string>& names);

}  // namespace chorus::tool
