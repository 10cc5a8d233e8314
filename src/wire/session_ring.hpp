// session_ring.hpp — the shared-memory path from a client to its daemon on the same host
// (docs/protocol.md "Shared-memory sessions"): a single-producer single-consumer byte ring in a
// memory file the daemon creates and hands to the client over the Unix socket. The client writes
// exactly the bytes it would have written to the socket (framed requests); the daemon copies
// them out into its session buffer and parses them as if they had been read from the socket.
// The socket stays: the daemon's messages to the client, end of session, and the doorbell.
//
// The doorbell. A daemon that busy-polls reads the ring every polling round, so a client's
// request costs no system call on either side. A daemon that may sleep says so
// (consumer_polling = 0) and the client then writes one byte to the socket after publishing —
// at most one byte outstanding (`bell`), whatever the number of requests behind it:
//   producer: tail = t (release); fence; if !polling && bell.exchange(1) == 0: send a byte
//   consumer about to sleep: polling = 0; fence; if the ring is not empty: do not sleep
//   consumer hearing the byte: bell = 0; fence; read the ring
// With seq_cst fences on both sides, either the producer sees the consumer asleep or the
// consumer sees the producer's bytes: nothing waits in the ring behind a sleeping daemon.
//
// A full ring: the producer sets producer_waiting and sleeps on `space_event` (a futex word);
// the consumer, after freeing space, bumps it and the caller wakes the futex.
//
// Trust. The client can write anything into the mapping at any time. The consumer keeps its own
// head, reads the producer's tail once per read and checks it (never beyond capacity bytes of
// data, never backwards), and copies the bytes out before anything parses them. The daemon
// seals the memory file's size, so the client cannot shrink it under the daemon's mapping.
//
// Pure memory: no system calls here (the callers ring, sleep and wake; the memory file and
// passing it are shm/session_memory.hpp). The method name a client chooses is
// wire::client::shm_auth_method.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "util/result.hpp"

namespace chorus::wire::ring {

inline constexpr std::uint32_t magic = 0x52534843;  // "CHSR" read little-endian
inline constexpr std::uint32_t version = 1;
// Ring data bytes: a power of two. 256 KiB holds more than one largest request (144,048 bytes).
inline constexpr std::size_t default_capacity = 256 * 1024;

struct alignas(64) header {
  std::uint32_t magic_word;
  std::uint32_t version_word;
  std::uint64_t capacity;  // data bytes, a power of two; the data follows this header
  // Written by the producer (the client).
  alignas(64) std::atomic<std::uint64_t> tail;  // bytes ever published
  std::atomic<std::uint32_t> producer_waiting;  // the producer sleeps on space_event
  std::atomic<std::uint32_t> bell;              // a doorbell byte was sent and not yet heard
  // Written by the consumer (the daemon).
  alignas(64) std::atomic<std::uint64_t> head;  // bytes ever consumed
  std::atomic<std::uint32_t> consumer_polling;  // 1: reads the ring without a doorbell
  std::atomic<std::uint32_t> space_event;       // bumped when space was freed for a waiter
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(header) == 192);

// Bytes of a mapping holding a ring of `capacity` data bytes.
constexpr std::size_t mapping_bytes(std::size_t capacity) noexcept {
  return sizeof(header) + capacity;
}

// Lays out a fresh ring in `memory` (zeroed, mapping_bytes(capacity) long, 64-byte aligned).
void initialize(std::span<std::byte> memory, std::size_t capacity);

// The client's end. Not thread-safe: the caller serializes writes (one request at a time).
class producer {
 public:
  // Checks the header a daemon wrote: magic, version, a capacity that fits the mapping.
  static util::result<producer> attach(std::span<std::byte> memory);

  // Copies as much of `bytes` as there is room for; returns how much (0: full). Nothing is
  // visible to the consumer before publish().
  std::size_t write(std::span<const std::byte> bytes) noexcept;
  // Makes the written bytes visible. Returns true when the caller must ring the doorbell
  // (send one byte on the socket): the consumer may be asleep and no byte is outstanding.
  bool publish() noexcept;
  // Room for more bytes; false when the consumer's head is not believable (corrupt).
  std::size_t room() const noexcept;
  bool consistent() const noexcept;
  // Before sleeping for room: announces the wait and returns the futex value to sleep on
  // (sleep only while it is unchanged and room() is still 0).
  std::uint32_t prepare_wait() noexcept;
  std::atomic<std::uint32_t>& space_event() noexcept { return h_->space_event; }
  header& shared() noexcept { return *h_; }

 private:
  explicit producer(header* h) : h_(h), data_(reinterpret_cast<std::byte*>(h + 1)) {}
  header* h_;
  std::byte* data_;
  std::uint64_t tail_ = 0;  // ours, written: published or not
};

// The daemon's end. Not thread-safe (the daemon's event loop owns it).
class consumer {
 public:
  // `memory` is a fresh mapping this side initialized (initialize()).
  explicit consumer(std::span<std::byte> memory);

  // Bytes waiting, or an error if the producer's tail is not believable (then the session must
  // end: the client scribbled over the ring).
  util::result<std::size_t> available() const;
  // Copies up to out.size() waiting bytes out and frees their room. `wake` is set when a
  // producer sleeps waiting for room (the caller wakes the futex at space_event()).
  util::result<std::size_t> read(std::span<std::byte> out, bool& wake);
  // Announces whether this side polls the ring (then the producer rings no doorbell). Turning
  // it off returns after a full fence, so a caller about to sleep can then check available().
  void set_polling(bool on) noexcept;
  bool polling() const noexcept { return polling_; }
  // The doorbell byte was read: later publishes may ring again. Then read the ring.
  void bell_heard() noexcept;
  std::atomic<std::uint32_t>& space_event() noexcept { return h_->space_event; }

 private:
  header* h_;
  const std::byte* data_;
  std::uint64_t capacity_;
  std::uint64_t head_ = 0;  // ours: never read back from the shared memory
  bool polling_ = false;
};

}  // namespace chorus::wire::ring
