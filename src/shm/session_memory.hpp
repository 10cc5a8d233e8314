// session_memory.hpp — the operating-system side of a shared-memory session
// (wire/session_ring.hpp holds the ring's layout and rules, in pure memory): the memory file
// the daemon creates and seals, its mapping on either side, and passing its descriptor over the
// Unix socket. Used by chorusd's sessions, the client library and bench/daemon_bench.
//
// Thread-safety: a session_memory is a value owned by one side of one session.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "util/result.hpp"
#include "wire/session_ring.hpp"

namespace chorus::shm {

// A shared mapping of a whole memory file, unmapped on destruction. Move-only.
class session_memory {
 public:
  struct created;
  // The daemon's side: a memory file of `bytes` bytes (memfd), sealed at that size so the
  // other side cannot shrink it under this mapping (SIGBUS), and mapped. The caller passes the
  // descriptor on and closes it.
  static util::result<created> create(std::size_t bytes);
  // The client's side: maps all of the memory file `fd` (which the caller still closes).
  static util::result<session_memory> map(int fd);

  session_memory() = default;
  session_memory(session_memory&& o) noexcept { swap(o); }
  session_memory& operator=(session_memory&& o) noexcept {
    session_memory(std::move(o)).swap(*this);
    return *this;
  }
  ~session_memory();

  std::span<std::byte> bytes() const noexcept { return {base_, size_}; }

 private:
  session_memory(std::byte* base, std::size_t size) : base_(base), size_(size) {}
  void swap(session_memory& o) noexcept {
    std::swap(base_, o.base_);
    std::swap(size_, o.size_);
  }
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
};

struct session_memory::created {
  session_memory memory;
  int fd = -1;
};

// The client's end of a session's request ring: its mapping of the daemon's memory file and the
// producer over it.
struct request_ring {
  session_memory memory;
  wire::ring::producer ring;
  // Maps the memory file `fd` the daemon passed and checks the ring in it; closes `fd`.
  static util::result<request_ring> attach(int fd);
};

// The ring's futex word (space_event): wakes every thread sleeping on it.
void wake_all(std::atomic<std::uint32_t>& word);
// Sleeps while `word` still holds `seen`, at most `at_most` (a wake-up may also come early).
void wait_while(std::atomic<std::uint32_t>& word, std::uint32_t seen,
                std::chrono::nanoseconds at_most);

// One sendmsg(2) of `bytes` with descriptor `fd` attached (SCM_RIGHTS), non-blocking. Returns
// what sendmsg returns (errno set on -1).
ssize_t send_with_descriptor(int sock, std::span<const std::byte> bytes, int fd);
// One recvmsg(2) of one byte into `b`, and the descriptor that came with it into `fd` (-1: none;
// any others are closed). Returns what recvmsg returns: 1, 0 at the end, -1 with errno set.
ssize_t receive_byte_with_descriptor(int sock, std::byte& b, int& fd);

}  // namespace chorus::shm
