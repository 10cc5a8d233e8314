// stream.hpp — the client side of one connection to a daemon (Spread client protocol, spec
// shared/specs/spread-client-protocol.md §1–§2, §6): where to connect, the handshake, sending a
// framed message atomically, and reading the daemon's stream a header at a time so a receiver can
// keep a header whose body did not fit (the short-buffer rules). Both public APIs sit on it:
// chorus::connection (include/chorus/client.hpp) and Spread's C API (include/sp.h).
//
// Errors are Spread's codes (sp.h values, all negative) with a sentence for humans.
//
// Thread-safety: send() may be called from any number of threads (each message goes out whole,
// under a mutex); the receive side (read_header, read, discard, saved header) belongs to whoever
// holds receive_mutex(). shutdown() may be called from any thread and wakes a blocked receiver.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sys/uio.h>

#include "chorus/result.hpp"
#include "wire/client_proto.hpp"

namespace chorus::client {

// sp.h error codes (spec §5.1).
enum code : int {
  accept_session = 1,
  illegal_spread = -1,
  could_not_connect = -2,
  reject_quota = -3,
  reject_no_name = -4,
  reject_illegal_name = -5,
  reject_not_unique = -6,
  reject_version = -7,
  connection_closed = -8,
  reject_auth = -9,
  illegal_session = -11,
  illegal_service = -12,
  illegal_message = -13,
  illegal_group = -14,
  buffer_too_short = -15,
  groups_too_short = -16,
  message_too_long = -17,
  net_error_on_session = -18,
  sp_bug = -19,
  illegal_time = -20,
  // Not Spread's: a receive with a deadline that passed (the C++ API only).
  timed_out = chorus::error::timed_out,
};

// What this library announces (spec §1.3 step 1, SP_version): the Spread 5.0.1 C library's
// version.
inline constexpr std::uint8_t library_major = 5, library_minor = 0, library_patch = 1;

// Spread 5.0.1's text for a code ("Connection rejected, name not unique."), or
// "Unrecognized error.".
const char* describe(int code) noexcept;

using clock = std::chrono::steady_clock;

// One way of proving who we are to the daemon (SP_set_auth_method): its name, offered in the
// handshake, and what runs on the socket once the daemon took the offer (non-zero: it worked).
struct auth_method {
  std::string name;                            // below 30 bytes
  int (*authenticate)(int fd, void* data) = nullptr;  // nullptr: nothing to do (NULL)
  void* data = nullptr;
};
inline constexpr std::size_t auth_methods_max = 3, auth_name_max = 29;

struct connect_request {
  std::string spread_name;   // "", "4803", "4803@host", or an absolute socket path (Chorus)
  std::string private_name;  // 0–10 bytes; longer names are cut to 10 like Spread's client
  bool membership = true;
  int priority = 0;
  std::optional<clock::time_point> deadline;  // none: wait as long as connect() does
  // A receive that finds nothing polls the socket this long (yielding the CPU between tries)
  // before it sleeps; 0: it sleeps at once. At most busy_poll_max (the callers check).
  std::chrono::microseconds busy_poll{0};
  // Over the Unix socket, to a daemon that offers it: requests go through a ring in shared
  // memory instead of the socket (wire/session_ring.hpp), which saves a system call per send
  // and, with a busy-polling daemon, its read and wake-up.
  bool shared_memory = true;
  // The methods offered, in order (Spread's default: NULL alone). Each must be one the daemon
  // lists, or the connect fails with reject_auth before anything is sent; their callbacks then
  // run in order, all of them, and any failure is reject_auth.
  std::vector<auth_method> auth{{"NULL", nullptr, nullptr}};
};
inline constexpr std::chrono::microseconds busy_poll_max{1000000};

class stream {
 public:
  static result<std::shared_ptr<stream>> connect(const connect_request& r);
  ~stream();
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  int fd() const noexcept { return fd_; }
  const std::string& private_group() const noexcept { return private_group_; }
  std::array<std::uint8_t, 3> daemon_version() const noexcept { return daemon_version_; }
  // Requests go through shared memory (the daemon offered it and we asked).
  bool shared_memory() const noexcept { return shm_ != nullptr; }

  // One message, whole or not at all: `type` is the service (with SELF_DISCARD) or JOIN/LEAVE/
  // KILL, `groups` its destinations, `parts` the payload gathered. Checks what Spread's client
  // checks (service bits, group names for join/leave, 100 groups, 144,000 bytes). Returns the
  // payload bytes sent.
  result<std::size_t> send(std::uint32_t type, std::span<const std::string_view> groups,
                           std::int16_t mess_type,
                           std::span<const std::span<const std::byte>> parts);

  // JOIN_MESS or LEAVE_MESS for `group`, a legal name (spec §5.3), else illegal_group.
  result<void> control(std::uint32_t type, std::string_view group);
  // Says goodbye (KILL_MESS to our private group), then shutdown().
  result<void> disconnect();

  // --- the receive side: hold receive_mutex() around these ---
  std::mutex& receive_mutex() noexcept { return receive_mutex_; }
  // The next header: the saved one if a short buffer left one, else read from the socket.
  // Fails (connection_closed / illegal_message) if the stream ends or is out of sync.
  result<wire::client::header> next_header(std::optional<clock::time_point> deadline = {});
  // Keeps `h` so the next next_header() returns it again (short buffer without DROP_RECV).
  void save_header(wire::client::header h) { saved_ = std::move(h); }
  // Reads exactly out.size() body bytes / fills every part in turn (one system call when the
  // bytes are there) / skips n bytes of the current message.
  result<void> read(std::span<std::byte> out);
  result<void> read(std::span<iovec> parts);
  result<void> discard(std::size_t n);
  // A failed stream stays failed: every later call says net_error_on_session.
  bool failed() const noexcept { return failed_; }

  // Bytes readable without blocking (SP_poll): on the socket, and those of the next header
  // already read.
  result<std::size_t> readable() const;
  // Wakes a blocked receiver and fails later calls (illegal_session); the descriptor closes with
  // the last owner.
  void shutdown() noexcept;
  // Closes the descriptor now, telling nobody (SP_kill): only when no other thread uses it.
  void close_now() noexcept;
  bool closed() const noexcept { return closed_; }

 private:
  struct shm_output;
  stream(int fd, std::string private_group, std::array<std::uint8_t, 3> version,
         std::chrono::microseconds busy_poll, std::unique_ptr<shm_output> shm);
  result<void> read_exact(std::byte* p, std::size_t n, std::optional<clock::time_point> deadline);
  result<void> read_exact(std::span<iovec> parts, std::optional<clock::time_point> deadline);
  // Shared memory: copies `bytes` into the ring, waiting for room as needed (send_mutex_ held).
  result<void> put(std::span<const std::byte> bytes);
  result<void> publish();
  result<void> wait_for_room();

  int fd_;
  std::string private_group_;
  std::array<std::uint8_t, 3> daemon_version_;
  std::chrono::microseconds busy_poll_;
  std::mutex send_mutex_;
  std::mutex receive_mutex_;
  std::optional<wire::client::header> saved_;
  // Bytes of the current message (after its header) not read yet.
  std::size_t remaining_ = 0;
  // The start of the next header, read with the end of the last message: at most 47 bytes, so
  // the socket still holds part of every message this library has begun.
  std::array<std::byte, wire::client::header_bytes - 1> ahead_{};
  std::atomic<std::size_t> ahead_len_ = 0;  // atomic: readable() needs no receive lock
  // The current header's last byte is still on the socket (next_header() did not wait for it).
  bool tail_pending_ = false;
  std::atomic<bool> failed_ = false;
  std::atomic<bool> closed_ = false;  // shutdown() or close_now() was called
  std::unique_ptr<shm_output> shm_;   // the request ring, in a shared-memory session
};

// A 32-bit word in the other byte order.
constexpr std::uint32_t swap32(std::uint32_t v) noexcept {
  return ((v & 0xffu) << 24) | ((v & 0xff00u) << 8) | ((v >> 8) & 0xff00u) | (v >> 24);
}

// What a received message's `hint` says (spec §2.5): the sender's 16-bit message type in our
// byte order, and whether the sender's byte order differs from ours.
struct hint_info {
  std::int16_t mess_type = 0;
  bool endian_mismatch = false;
};
hint_info read_hint(const wire::client::header& h) noexcept;

// The refused request's type a REJECT_MESS carries after its header (spec §2.6), written in the
// header's byte order: marker cleared, REJECT_MESS added.
std::uint32_t reject_type(std::span<const std::byte, 4> old_type, bool little_endian) noexcept;

}  // namespace chorus::client
