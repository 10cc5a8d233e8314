// chorus/client.hpp — the Chorus C++ client API: connect to a chorusd (or Spread 4.x/5.x) daemon,
// join and leave groups, multicast with any service level, receive data and membership messages.
//
//   auto c = chorus::connection::connect({.endpoint = "4803", .name = "alice"});
//   if (!c) { std::cerr << c.error().message << "\n"; return 1; }
//   c->join("chat");
//   c->multicast(chorus::service::agreed, "chat", "hello");
//   auto m = c->receive();                     // blocks; receive(100ms) waits at most that long
//   if (m && m->is_data()) std::cout << m->sender() << ": " << m->text() << "\n";
//
// Endpoints: "4803" (the Unix socket /tmp/4803), "4803@host" (TCP), or an absolute path to a
// daemon's Unix socket; "" means "4803".
//
// Errors are values: every call returns a chorus::result that holds either the value or a
// chorus::error (Spread's error code, see sp.h, and a sentence saying what happened). Nothing
// throws except std::bad_alloc.
//
// Thread-safety: a connection may be used from several threads at once. Each multicast, join and
// leave goes out whole and never interleaves with another thread's; receives are serialized (two
// threads receiving take turns, each gets whole messages). disconnect() and the destructor may
// run while another thread is blocked in receive(): that receive returns an error.
// A connection is movable, not copyable; destroying it disconnects.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chorus/result.hpp"

namespace chorus {

namespace client {
class stream;
}

// The service levels (Spread's values), weakest to strongest.
enum class service : std::uint32_t {
  unreliable = 0x01,
  reliable = 0x02,
  fifo = 0x04,
  causal = 0x08,
  agreed = 0x10,
  safe = 0x20,
};

// Why a regular membership changed.
enum class cause { none, join, leave, disconnect, network };

// Identifies one view of one group; equal at every member for the same view, never reused.
struct group_id {
  std::uint32_t a = 0, b = 0, c = 0;
  friend bool operator==(const group_id&, const group_id&) = default;
};

class message {
 public:
  // Raw Spread type bits (sp.h: AGREED_MESS, REG_MEMB_MESS | CAUSED_BY_JOIN, …).
  std::uint32_t type() const noexcept { return type_; }
  bool is_data() const noexcept;        // a regular message (one of the six services)
  bool is_membership() const noexcept;  // regular membership, transitional or self-leave
  bool is_regular_membership() const noexcept;
  bool is_transition() const noexcept;
  bool is_self_leave() const noexcept;  // we left this group (sender() is the group)
  bool is_reject() const noexcept;

  // Data: the service it was sent with. Membership: service::agreed (not meaningful).
  chorus::service service() const noexcept;
  // Data: the sender's private group. Membership: the group whose view this is.
  const std::string& sender() const noexcept { return sender_; }
  // Data: the groups the message was sent to. Regular membership: the members, in view order.
  const std::vector<std::string>& groups() const noexcept { return groups_; }
  // Data: the 16-bit type the sender chose. Regular membership: our index in members().
  std::int16_t message_type() const noexcept { return message_type_; }
  // The sender's byte order differs from ours (its message type was swapped to ours).
  bool endian_mismatch() const noexcept { return endian_mismatch_; }
  // Data: the payload.
  std::span<const std::byte> data() const noexcept { return data_; }
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data_.data()), data_.size()};
  }

  // Membership (regular or transitional): the view's id.
  chorus::group_id group_id() const noexcept { return gid_; }
  chorus::cause cause() const noexcept;
  const std::vector<std::string>& members() const noexcept { return groups_; }
  // Regular membership: members grouped by where they came from (vs-sets), and which set holds
  // the members of our own daemon. A join/leave/disconnect has one set: the member that changed.
  const std::vector<std::vector<std::string>>& vs_sets() const noexcept { return vs_sets_; }
  std::size_t my_vs_set() const noexcept { return my_vs_set_; }
  // Join/leave/disconnect: the member that changed (empty otherwise).
  std::string_view changed_member() const noexcept;

 private:
  friend class connection;
  std::uint32_t type_ = 0;
  std::string sender_;
  std::vector<std::string> groups_;
  std::int16_t message_type_ = 0;
  bool endian_mismatch_ = false;
  std::vector<std::byte> data_;
  chorus::group_id gid_;
  std::vector<std::vector<std::string>> vs_sets_;
  std::size_t my_vs_set_ = 0;
};

struct connect_options {
  std::string endpoint;    // "4803", "4803@host", "/path/to/socket"; "" = "4803"
  std::string name;        // private name, 1–10 bytes of '$'…'~'; "" = the daemon picks one
  bool membership = true;  // receive membership messages
  bool priority = false;   // Spread's priority flag (the daemon ignores it)
  std::chrono::milliseconds timeout{5000};  // connect and handshake together
  // A receive that finds nothing waiting polls the socket this long (yielding the CPU between
  // tries) before it sleeps, 0–1 s. Where waking a sleeping thread is slow (virtual machines
  // whose idle CPUs halt), this takes tens of microseconds off every message that arrives
  // within the window, for a CPU kept busy meanwhile. 0 (the default): sleep at once.
  // docs/configuration.md, "Latency".
  std::chrono::microseconds busy_poll{0};
  // Over the Unix socket to a Chorus daemon: requests travel through a ring in shared memory
  // the daemon provides, not the socket: a send is a copy, without a system call while the
  // daemon polls. Spread daemons and TCP connections use the socket whatever this says.
  // docs/client.md, "Shared memory".
  bool shared_memory = true;
};

struct send_options {
  std::int16_t message_type = 0;
  bool self_discard = false;  // do not deliver the message back to us
};

class connection {
 public:
  static result<connection> connect(const connect_options& options);

  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  ~connection();  // disconnect()

  // "#name#daemon": our private group, the sender of everything we send.
  const std::string& private_group() const;

  result<void> join(std::string_view group);
  result<void> leave(std::string_view group);

  // Returns the payload bytes sent.
  result<std::size_t> multicast(service s, std::string_view group, std::string_view text,
                                send_options o = {});
  result<std::size_t> multicast(service s, std::string_view group, std::span<const std::byte> data,
                                send_options o = {});
  // Several groups (at most 100) and a payload gathered from several parts (at most 100).
  result<std::size_t> multicast(service s, std::span<const std::string> groups,
                                std::span<const std::span<const std::byte>> parts,
                                send_options o = {});

  // The next message; blocks, or waits at most `timeout` (then error::timed_out).
  result<message> receive(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Bytes waiting to be read (0: receive() would block).
  result<std::size_t> poll() const;

  // Tells the daemon we leave every group (others see CAUSED_BY_DISCONNECT), then closes.
  result<void> disconnect();
  // Closes without telling the daemon (for a forked child that must not end the parent's
  // session while the parent still uses the same socket). Unlike the other calls, kill() must
  // not run while another thread uses this connection.
  void kill();
  // False after disconnect(), kill(), a move, or a broken connection.
  bool connected() const noexcept;
  // The socket, for select/poll/epoll loops (readable: a message is arriving).
  int native_handle() const noexcept;

 private:
  explicit connection(std::shared_ptr<client::stream> s);
  result<void> control(std::uint32_t type, std::string_view group);
  std::shared_ptr<client::stream> s_;
};

}  // namespace chorus
