// config.hpp — everything that parameterizes a core::node: identity, the ring it forms, windows,
// limits and timers. Plain data; the daemon fills it from spread.conf, the simulator from its
// options. docs/protocol.md "Timers and windows" explains each trade-off.
// Thread-safety: a value type.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "wire/types.hpp"

namespace chorus::core {

using wire::conf_hash;
using wire::msg_id;
using wire::node_id;
using wire::ring_id;
using wire::seq_t;
using wire::service;

// Time enters the core only as arguments (DESIGN §2). `clock` has no now(): it only gives
// time_point and duration a type of their own.
struct clock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<clock>;
  static constexpr bool is_steady = true;
};
using time_point = clock::time_point;
using duration = clock::duration;
using namespace std::chrono_literals;

struct config {
  node_id self{};
  // Grows each time this daemon restarts (the shell persists or derives it). A restarted daemon
  // is a new process to the others: its message ids start at incarnation · 2^40 + 1, so
  // (origin, id) names one message for ever.
  std::uint32_t incarnation = 0;
  // Every daemon that may ever be a member (from spread.conf), ascending. Membership sends joins
  // and merge detection to all of them. Empty: a fixed ring of the members below, which never
  // changes membership (benchmarks, ordering tests).
  std::vector<node_id> daemons;
  // The ring to start in, in ring order (the token goes from members[i] to members[i+1]); must
  // contain `self`. Empty (with daemons): start by gathering.
  std::vector<node_id> members;
  ring_id ring{};
  conf_hash hash{};

  // --- packets and messages ---
  // Largest datagram the node produces (headers included). 1400 fits an Ethernet MTU.
  std::size_t packet_bytes_max = 1400;
  // Largest client message accepted by submit(); larger ones are refused, not truncated.
  std::size_t message_bytes_max = 16u << 20;
  // Bytes of submitted messages waiting for the token; submit() says would_block beyond it.
  std::size_t send_queue_bytes_max = 64u << 20;

  // --- flow control (Totem §3.5) ---
  // Packets (new + retransmitted) all daemons together may broadcast in one token rotation.
  std::uint32_t window_global = 1024;
  // Packets one daemon may broadcast in one token visit.
  std::uint32_t window_personal = 256;
  // Of a visit's new packets, how many are sent after the token is passed (Accelerated Ring).
  // 0 turns acceleration off.
  std::uint32_t window_accelerated = 64;
  // Largest gap the ring allows between seq and aru: bounds every daemon's receive buffer.
  std::uint32_t outstanding_max = 4096;
  // Retransmission requests one daemon adds to the token per visit.
  std::uint32_t rtr_per_visit_max = 256;

  // --- timers ---
  // Membership (docs/protocol.md "Membership"); unused by a fixed ring (daemons empty).
  // No token accepted for this long: the token is lost, start gathering.
  duration token_timeout = 200ms;
  // Rebroadcast our join this often while gathering.
  duration join_timeout = 10ms;
  // Give up on daemons that have not agreed with our sets after this long in gather.
  duration consensus_timeout = 60ms;
  // The representative announces its ring to configured daemons outside it this often.
  duration merge_detect = 500ms;
  // Resend the token to the successor if no sign of it moving on arrives within this time.
  duration token_retransmit = 5ms;
  // An idle ring parks the token this long at each holder before passing it on (0: never park,
  // the token circulates as fast as the network allows). A single daemon always parks when idle.
  duration token_hold = 0ms;
  // Park only after this many idle visits in a row: a ring that was just busy keeps the token
  // moving for a few rotations, so a client that answers a delivery within that time finds the
  // token on its way instead of parked (latency with one message outstanding). 1: park at once.
  // The daemon that stamped the last message parks it at once regardless (docs/protocol.md).
  std::uint32_t park_after_idle_visits = 1;
  // A lone sender keeps the token up to this long after its visit (0: never), so the next
  // message of a client that answers its own delivery is ordered at once instead of waiting a
  // rotation. Only while nobody else sent during the last rotation, no retransmission is asked
  // for and no SAFE message waits to become stable; messages submitted meanwhile are sent as
  // part of the same visit. Another daemon's first message may wait up to this long
  // (docs/protocol.md, "A lone sender"). Must be below token_retransmit.
  duration token_linger = 0ms;
};

}  // namespace chorus::core
