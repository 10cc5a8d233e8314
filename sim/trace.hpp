// trace.hpp — the run's trace: every event feeds a stable hash, and is optionally printed as a
// readable line (`chorus-sim --trace`).
//
// The hash is the run's fingerprint: a seed replays to the same hash, and any divergence (one
// packet sent at another time, one delivery in another order) changes it. Events are hashed
// from their fields, not from their printed text, so hashing stays cheap when nothing prints.
// Thread-safety: none; one per simulation.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "util/hash.hpp"

namespace chorus::sim {

enum class trace_kind : std::uint8_t {
  start = 1,      // the options of the run
  send,           // a transmission enters the network
  drop,           // a transmission is lost (random loss, rule, filter, link down)
  duplicate,      // the network made an extra copy
  hold,           // a transmission waits for a clogged link
  clog,           // a link clogs until some time
  phase,          // heal, liveness, grace
  receive,        // a datagram is handed to node::step
  tick,           // node::tick
  submit,         // node::submit accepted a message
  refused,        // node::submit refused one (would_block, too_large)
  deliver,        // a node delivered a message
  configuration,  // a node installed a configuration
  create,         // a node object was built
  crash,          // a node object was destroyed (membership faults)
  partition,      // a partition was imposed or healed
  fault,          // another scripted membership fault (a burst, a rule)
  group,          // the groups layer handed a message to a session (groups runs)
  read,           // a batch of received datagrams handed to engine::receive
};

class trace {
 public:
  // Prints every event to `out` when it is not null; `out` must outlive the trace.
  explicit trace(std::FILE* out = nullptr) : out_(out) {}

  bool printing() const noexcept { return out_ != nullptr; }
  // Feeds one event into the hash: its kind, virtual time, fields and extra bytes (a packet's
  // header bytes).
  void record(trace_kind k, core::time_point t, std::initializer_list<std::uint64_t> fields,
              std::span<const std::byte> extra = {}) noexcept;
  // An event described by text (the options of the run, a phase name).
  void record(trace_kind k, core::time_point t, std::string_view text) noexcept;
  // Prints "<time> <line>" when printing; callers build `line` only if printing().
  void print(core::time_point t, std::string_view line) const;

  std::uint64_t hash() const noexcept { return h_.digest(); }
  std::uint64_t events() const noexcept { return events_; }

 private:
  std::FILE* out_;
  // Each event is mixed word by word (cheap), then folded into h_ as one word.
  util::hasher h_;
  std::uint64_t events_ = 0;
};

// printf into a std::string.
std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Virtual time as seconds with nanoseconds: "1.234567890".
std::string format_time(core::time_point t);
std::string format_duration(core::duration d);  // "12.3 ms", "1.234 s"
// One-line summary of a daemon packet for trace lines: "token rot=4 seq=9 aru=9 ...".
std::string describe_packet(std::span<const std::byte> bytes);
std::string format_hex(std::uint64_t v);  // "0x1f"

}  // namespace chorus::sim
