// session.hpp — one client connection (TCP or Unix socket) speaking the Spread client protocol
// (specs/spread-client-protocol.md): the handshake, then framed requests in and messages out.
// The bytes are parsed by the pure codec in wire/client_proto.hpp; this class only moves them
// and enforces the limits:
//   - the handshake must complete within `handshake_timeout`; it never blocks other clients
//     (everything is asynchronous);
//   - a malformed request closes this session with a logged reason (spec §2.4, §5.5);
//   - at most `queue_messages_max` messages (or `queue_bytes_max` bytes) wait to be written;
//     a client that lets more pile up is disconnected (Spread's MaxSessionMessages);
//   - reading pauses while the daemon cannot take more input (back-pressure, spec §2.5).
// Outgoing messages are shared_bytes views of the ring's buffers: nothing is copied per session.
//
// Shared memory (Unix-socket sessions that choose the SHM method, wire/session_ring.hpp): the
// client's requests arrive in a ring in a memory file this session creates and passes with the
// accept; the socket then carries only doorbell bytes from the client (and everything to it).
// The daemon's loop polls the ring (poll_shared_memory) while it busy-polls; before it sleeps it
// asks the client to ring (prepare_sleep). Ring bytes are copied into the same input buffer the
// socket fills and parsed by the same code, so both paths accept and refuse exactly the same.
//
// Lifetime: owned by a shared_ptr held by the server and by pending I/O handlers.
// Thread-safety: none; it lives on the daemon's event-loop thread.
#pragma once

#include <array>
#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "core/groups.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace chorus::daemon {

class session;

// What a session needs from the daemon that owns it.
class session_host {
 public:
  virtual ~session_host() = default;
  virtual const std::string& daemon_name() const = 0;
  // Whether `private_group` is free; if so it is reserved for `s` until opened or dropped.
  virtual bool claim_name(const std::string& private_group, session& s) = 0;
  virtual std::string generate_name() = 0;
  virtual void opened(session& s) = 0;
  // Orders a client request through the ring. false: the daemon is full; try again after
  // resume_reading().
  virtual bool submit(session& s, core::service svc, util::byte_vector payload) = 0;
  // The session is gone; `was_open` says whether it completed the handshake (then the daemon
  // orders its disconnect).
  virtual void closed(session& s, bool was_open, const std::string& reason) = 0;
  // A batch of input was processed: act on what it submitted now, not on the next loop turn.
  virtual void input_done() = 0;
};

struct session_limits {
  std::size_t queue_messages_max = 1000;
  std::size_t queue_bytes_max = 64u << 20;
  std::chrono::milliseconds handshake_timeout{5000};
  // Data bytes of a shared-memory session's ring (a power of two); 0: SHM is not offered.
  std::size_t shm_ring_bytes = 256 * 1024;
};

class session : public std::enable_shared_from_this<session> {
 public:
  // `local`: a Unix-socket client, which may ask for shared memory.
  session(session_host& host, core::session_id id, asio::generic::stream_protocol::socket socket,
          std::string peer, session_limits limits, bool local);
  ~session();

  void start();
  // Instead of start(): reads the client's connect message (within the handshake timeout),
  // then answers `code` (REJECT_QUOTA) and closes. Upstream writes the reject as soon as it
  // accepts, but a client then writing its connect message to a closed socket fails (EPIPE)
  // before it reads the byte, and over TCP that unread message turns the close into a reset
  // that can discard the byte; read first, nothing unread is left and nothing is written to a
  // closed socket.
  void refuse(std::int8_t code);
  // Queues a message for the client; disconnects it when its queue is over the limits.
  void deliver(util::shared_bytes bytes);
  // Continues reading after the daemon refused a submit.
  void resume_reading();
  // Closes without a reply (daemon shutdown).
  void shutdown();

  core::session_id id() const noexcept { return id_; }
  const std::string& private_group() const noexcept { return private_group_; }
  const std::string& peer() const noexcept { return peer_; }
  bool membership() const noexcept { return membership_; }
  bool is_open() const noexcept { return state_ == state::open; }
  std::size_t queued() const noexcept { return out_.size(); }  // messages waiting to be written
  std::size_t queued_bytes() const noexcept { return out_bytes_; }
  // "handshake", "open", "closing" (a reject is being written) or "closed".
  const char* state_name() const noexcept;

  // --- shared-memory sessions ---
  bool shared_memory() const noexcept { return shm_ != nullptr; }
  // Takes what the client published in its ring (while open and not paused). Returns whether
  // there was anything.
  bool poll_shared_memory();
  // The loop busy-polls: the client need not ring.
  void polling();
  // The loop is about to sleep: the client must ring from now on. Returns whether requests
  // are already waiting (then do not sleep).
  bool prepare_sleep();

 private:
  enum class state { connect, auth, open, closing, closed };

  void read_more();
  void on_read(const asio::error_code& ec, std::size_t n);
  void process();
  bool process_connect();
  bool process_auth();
  // One framed request; false when more bytes are needed or the session closed.
  bool process_frame();
  bool handle_request(wire::client::request_kind kind, const wire::client::header& h,
                      std::span<const std::byte> names, std::span<const std::byte> data);
  void reject(std::int8_t code, const std::string& reason);
  void fail(const std::string& reason);
  void write_more();
  void finish();
  // In make_room() the input buffer gets room for more bytes at in_end_.
  void make_room();
  // After an SHM choice: the memory file and the ring; the accept goes with its descriptor.
  util::status setup_shared_memory();
  bool send_accept_with_descriptor();
  void on_doorbell(const asio::error_code& ec);
  bool offer_shm() const noexcept { return local_ && limits_.shm_ring_bytes != 0; }
  void closed_by_client();

  session_host& host_;
  core::session_id id_;
  asio::generic::stream_protocol::socket socket_;
  std::string peer_;
  session_limits limits_;
  asio::steady_timer handshake_timer_;

  state state_ = state::connect;
  std::string name_;           // the session name the client asked for (or we made)
  std::string private_group_;  // "#name#daemon"
  bool membership_ = false;
  bool name_claimed_ = false;
  std::int8_t refusal_ = 0;  // nonzero: refuse() answers this code after the connect message

  std::vector<std::byte> in_;  // received, not yet consumed: [in_begin_, in_end_)
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  bool reading_ = false;
  bool paused_ = false;

  bool local_ = false;
  struct shm_input;
  std::unique_ptr<shm_input> shm_;         // the client's ring, after an SHM handshake
  int pending_fd_ = -1;                    // the memory file, until the accept carrying it is sent
  const std::byte* fd_carrier_ = nullptr;  // that accept message (an entry of out_)
  bool eof_ = false;                   // the client closed the socket; its ring is still drained
  // A write found the client gone (EPIPE, reset): nothing more is written, and the read side
  // ends the session at its EOF, after the requests the client sent or published before.
  bool unwritable_ = false;
  std::array<std::byte, 64> bells_{};  // doorbell bytes land here

  std::deque<util::shared_bytes> out_;
  std::size_t out_bytes_ = 0;
  std::size_t writing_ = 0;  // messages of out_ in the write in flight
};

}  // namespace chorus::daemon
