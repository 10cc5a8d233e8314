// stats.hpp — counters a node keeps about what it did and what it dropped. Dropping input is
// never an error (STYLE.md): it is counted here, and the daemon exports these.
// Thread-safety: a value type.
#pragma once

#include <cstdint>

namespace chorus::core {

struct stats {
  // input
  std::uint64_t packets_received = 0;
  std::uint64_t dropped_malformed = 0;      // failed to decode
  std::uint64_t dropped_conf_hash = 0;      // sent under another configuration (I-10)
  std::uint64_t dropped_foreign_ring = 0;   // another ring's packet or token
  std::uint64_t dropped_not_member = 0;     // from a daemon outside the ring
  std::uint64_t dropped_duplicate = 0;      // a data packet already held or discarded
  std::uint64_t dropped_beyond_window = 0;  // a data packet too far ahead to buffer
  std::uint64_t dropped_stale_token = 0;    // a token rotation already seen
  std::uint64_t dropped_unsupported = 0;    // well-formed, but a kind this node does not handle
  // ordering
  std::uint64_t tokens_received = 0;
  std::uint64_t tokens_retransmitted = 0;
  std::uint64_t token_lingers = 0;          // visits a lone sender extended (token_linger)
  std::uint64_t packets_sent = 0;           // new data packets this node originated
  std::uint64_t packets_retransmitted = 0;  // answers to retransmission requests
  std::uint64_t retransmit_requests = 0;    // seqs this node added to tokens
  // messages
  std::uint64_t messages_submitted = 0;
  std::uint64_t messages_refused = 0;  // submit() refused: too large or queue full
  std::uint64_t messages_delivered = 0;
  std::uint64_t bytes_delivered = 0;
  std::uint64_t reassembly_errors = 0;  // fragments that did not continue a message
};

}  // namespace chorus::core
