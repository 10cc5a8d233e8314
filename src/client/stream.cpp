// stream.cpp — see stream.hpp.
#include "client/stream.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

#include "shm/session_memory.hpp"
#include "wire/session_ring.hpp"

namespace chorus::client {
namespace {

namespace cl = wire::client;

error fail(int code, std::string message) { return error{code, std::move(message)}; }

int remaining_ms(std::optional<clock::time_point> deadline) {
  if (!deadline) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<long long>(left.count(), 1 << 30));
}

// Waits until fd is ready for `events` or the deadline passes (then false).
bool wait_for(int fd, short events, std::optional<clock::time_point> deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return true;  // let the read or write report the error
  }
}

struct endpoint {
  bool unix_socket = true;
  std::string path;  // Unix
  std::string host;  // TCP
  std::uint16_t port = 4803;
};

// Spec §1.2: "" → 4803; "<port>" → /tmp/<port>; "<port>@<host>" → TCP; Chorus adds a path.
result<endpoint> parse_spread_name(std::string_view name) {
  endpoint e;
  if (!name.empty() && name.front() == '/') {
    if (name.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return fail(illegal_spread, "socket path too long: " + std::string(name));
    }
    e.path = std::string(name);
    return e;
  }
  std::string_view port = name.empty() ? std::string_view("4803") : name;
  std::string_view host;
  if (auto at = port.find('@'); at != std::string_view::npos) {
    host = port.substr(at + 1);
    port = port.substr(0, at);
    e.unix_socket = false;
    if (host.empty() || host.size() > 255) {
      return fail(illegal_spread, "no host after '@' in '" + std::string(name) + "'");
    }
  }
  // Built by appending: GCC 12 at -O3 warns (-Wrestrict, a false positive) on "'" + string.
  auto not_a_name = [&] {
    std::string why = "'";
    why.append(name).append("' is not <port>, <port>@<host> or a socket path");
    return fail(illegal_spread, std::move(why));
  };
  unsigned long value = 0;
  if (port.empty() || port.size() > 5) return not_a_name();
  for (char c : port) {
    if (c < '0' || c > '9') return not_a_name();
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value == 0 || value > 65535) {
    return fail(illegal_spread, "port out of range in '" + std::string(name) + "'");
  }
  e.port = static_cast<std::uint16_t>(value);
  if (e.unix_socket) {
    e.path = "/tmp/" + std::string(port);
  } else {
    e.host = std::string(host);
  }
  return e;
}

// A connected socket, in blocking mode.
result<int> open_socket(const endpoint& e, std::optional<clock::time_point> deadline) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_UNIX;
  std::string where;
  if (e.unix_socket) {
    auto* un = reinterpret_cast<sockaddr_un*>(&addr);
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, e.path.c_str(), e.path.size() + 1);
    len = sizeof(sockaddr_un);
    where = e.path;
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(e.host.c_str(), std::to_string(e.port).c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
      return fail(rc == EAI_NONAME ? illegal_spread : could_not_connect,
                  "cannot resolve " + e.host + ": " + ::gai_strerror(rc));
    }
    // Like Spread 5's client, only the first usable result is tried.
    std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    family = res->ai_family;
    ::freeaddrinfo(res);
    where = e.host + ":" + std::to_string(e.port);
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(could_not_connect, std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    int err = errno;
    if (err == EINPROGRESS || err == EAGAIN) {
      if (!wait_for(fd, POLLOUT, deadline)) {
        ::close(fd);
        return fail(could_not_connect, "connecting to " + where + ": timed out");
      }
      socklen_t sl = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
    }
    if (err != 0 && err != EINPROGRESS && err != EAGAIN) {
      ::close(fd);
      return fail(could_not_connect, "connecting to " + where + ": " + std::strerror(err));
    }
  }
  if (!e.unix_socket) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  }
  // Blocking from here on, as Spread's mailbox is: a read or write that may wait as long as it
  // takes sleeps in the kernel, one system call; one with a deadline, or a busy-polling read,
  // passes MSG_DONTWAIT and waits in poll(2) instead.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

// Drops the first `n` bytes of `iov` (whole entries first); returns what is left.
std::span<iovec> consume(std::span<iovec> iov, std::size_t n) {
  while (!iov.empty() && n >= iov.front().iov_len) {
    n -= iov.front().iov_len;
    iov = iov.subspan(1);
  }
  if (!iov.empty()) {
    iov.front().iov_base = static_cast<char*>(iov.front().iov_base) + n;
    iov.front().iov_len -= n;
  }
  return iov;
}

std::size_t io_batch(std::span<iovec> iov) {
  return std::min<std::size_t>(iov.size(), IOV_MAX);
}

// Writes every byte of `iov` (which it consumes) with as few system calls as the socket allows.
result<void> write_all(int fd, std::span<iovec> iov, std::optional<clock::time_point> deadline) {
  iov = consume(iov, 0);
  while (!iov.empty()) {
    const int flags = MSG_NOSIGNAL | (deadline ? MSG_DONTWAIT : 0);
    ssize_t w;
    if (iov.size() == 1) {
      w = ::send(fd, iov[0].iov_base, iov[0].iov_len, flags);
    } else {
      msghdr m{};
      m.msg_iov = iov.data();
      m.msg_iovlen = io_batch(iov);
      w = ::sendmsg(fd, &m, flags);
    }
    if (w > 0) {
      iov = consume(iov, static_cast<std::size_t>(w));
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_for(fd, POLLOUT, deadline)) return fail(connection_closed, "write timed out");
      continue;
    }
    return fail(connection_closed, std::string("write: ") + std::strerror(errno));
  }
  return {};
}

result<void> write_all(int fd, const std::byte* p, std::size_t n,
                       std::optional<clock::time_point> deadline) {
  iovec one{const_cast<std::byte*>(p), n};
  return write_all(fd, std::span(&one, 1), deadline);
}

// Reads at least `required` bytes into `iov` (which it consumes), and whatever more of `iov` the
// same system calls bring; returns how many bytes came. The deadline holds until the first byte
// arrives; once a message has started, the rest of it is read whatever the time (the stream
// would be out of step otherwise). Without a deadline or busy polling the read blocks, one
// system call; with one, a read is tried before waiting, so a busy stream costs one system
// call per read. With `busy_poll`, a read that finds nothing tries again (yielding the
// CPU in between) for that long, or until the deadline, before it sleeps in poll(2): waking a
// sleeping thread costs tens of microseconds on some hosts, and a poller pays a CPU for not
// paying them.
result<std::size_t> read_some(int fd, std::span<iovec> iov, std::size_t required,
                              std::optional<clock::time_point> deadline,
                              std::chrono::microseconds busy_poll = {}) {
  std::optional<clock::time_point> poll_until;
  std::size_t got = 0;
  iov = consume(iov, 0);
  while (got < required) {
    const int flags = deadline || busy_poll > busy_poll.zero() ? MSG_DONTWAIT : 0;
    ssize_t r;
    if (iov.size() == 1) {  // recv(2): the kernel's shorter path for one buffer
      r = ::recv(fd, iov[0].iov_base, iov[0].iov_len, flags);
    } else {
      msghdr m{};
      m.msg_iov = iov.data();
      m.msg_iovlen = io_batch(iov);
      r = ::recvmsg(fd, &m, flags);
    }
    if (r > 0) {
      got += static_cast<std::size_t>(r);
      iov = consume(iov, static_cast<std::size_t>(r));
      deadline.reset();
      continue;
    }
    if (r == 0) return fail(connection_closed, "the daemon closed the connection");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (busy_poll > busy_poll.zero()) {
        auto now = clock::now();
        if (!poll_until)
          poll_until = deadline ? std::min(*deadline, now + busy_poll) : now + busy_poll;
        if (now < *poll_until) {
          ::sched_yield();
          continue;
        }
      }
      if (!wait_for(fd, POLLIN, deadline)) return fail(timed_out, "read timed out");
      continue;
    }
    return fail(connection_closed, std::string("read: ") + std::strerror(errno));
  }
  return got;
}

result<void> read_all(int fd, std::span<iovec> iov, std::optional<clock::time_point> deadline,
                      std::chrono::microseconds busy_poll = {}) {
  std::size_t n = 0;
  for (const iovec& v : iov) n += v.iov_len;
  auto r = read_some(fd, iov, n, deadline, busy_poll);
  if (!r) return r.error();
  return {};
}

result<void> read_all(int fd, std::byte* p, std::size_t n,
                      std::optional<clock::time_point> deadline,
                      std::chrono::microseconds busy_poll = {}) {
  iovec one{p, n};
  return read_all(fd, std::span(&one, 1), deadline, busy_poll);
}

// One byte, and the descriptor passed with it (SCM_RIGHTS) if any (else -1).
result<int> read_byte_with_descriptor(int fd, std::byte& b,
                                      std::optional<clock::time_point> deadline) {
  for (;;) {
    if (deadline && !wait_for(fd, POLLIN, deadline)) return fail(timed_out, "read timed out");
    int passed = -1;
    ssize_t r = shm::receive_byte_with_descriptor(fd, b, passed);
    if (r > 0) return passed;
    if (r == 0) return fail(connection_closed, "the daemon closed the connection");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(fd, POLLIN, deadline)) return fail(timed_out, "read timed out");
      continue;
    }
    return fail(connection_closed, std::string("read: ") + std::strerror(errno));
  }
}

}  // namespace

// The request ring: our mapping of the daemon's memory file.
struct stream::shm_output : shm::request_ring {};

const char* describe(int code) noexcept {
  // Spread 5.0.1's texts (SP_strerror), word for word.
  switch (code) {
    case illegal_spread:
      return "Illegal spread name provided.";
    case could_not_connect:
      return "Could not connect.";
    case reject_quota:
      return "Connection rejected, too many users.";
    case reject_no_name:
      return "Connection rejected, no name was supplied.";
    case reject_illegal_name:
      return "Connection rejected, illegal name.";
    case reject_not_unique:
      return "Connection rejected, name not unique.";
    case reject_version:
      return "Connection rejected, client library incompatible with daemon.";
    case connection_closed:
      return "Connection closed by Spread.";
    case reject_auth:
      return "Connection rejected, authentication failed.";
    case illegal_session:
      return "Illegal session was supplied.";
    case illegal_service:
      return "Illegal service request.";
    case illegal_message:
      return "Illegal message.";
    case illegal_group:
      return "Illegal group.";
    case buffer_too_short:
      return "Buffer too short.";
    case groups_too_short:
      return "Groups list too short.";
    case message_too_long:
      return "Message (body + group names) too large.";
    case net_error_on_session:
      return "Network socket error. SP_kill() the mailbox.";
    case sp_bug:
      return "Internal Spread bug detected.";
    case illegal_time:
      return "Illegal time.";
    default:
      return "Unrecognized error.";
  }
}

namespace {
std::uint32_t load_le(std::span<const std::byte, 4> b) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(b[i]) << (8 * i);
  return v;
}
}  // namespace

hint_info read_hint(const wire::client::header& h) noexcept {
  std::uint32_t hint = load_le(h.hint);
  const bool sender_little = (hint & cl::endian_marker) == cl::endian_marker;
  if (!sender_little) hint = swap32(hint);  // the bytes as a big-endian sender wrote them
  constexpr bool host_little = std::endian::native == std::endian::little;
  return {static_cast<std::int16_t>((hint >> 8) & 0xffff), sender_little != host_little};
}

std::uint32_t reject_type(std::span<const std::byte, 4> old_type, bool little_endian) noexcept {
  std::uint32_t v = load_le(old_type);
  if (!little_endian) v = swap32(v);
  return (v & ~cl::endian_marker) | cl::reject_mess;
}

stream::stream(int fd, std::string private_group, std::array<std::uint8_t, 3> version,
               std::chrono::microseconds busy_poll, std::unique_ptr<shm_output> shm)
    : fd_(fd),
      private_group_(std::move(private_group)),
      daemon_version_(version),
      busy_poll_(busy_poll),
      shm_(std::move(shm)) {}

stream::~stream() {
  if (fd_ >= 0) ::close(fd_);
}

result<std::shared_ptr<stream>> stream::connect(const connect_request& r) {
  auto ep = parse_spread_name(r.spread_name);
  if (!ep.ok()) return ep.error();
  std::string name = r.private_name.substr(0, cl::private_name_max);
  auto opened = open_socket(*ep, r.deadline);
  if (!opened.ok()) return opened.error();
  int fd = *opened;
  auto give_up = [&](int code, std::string why) -> result<std::shared_ptr<stream>> {
    ::close(fd);
    return fail(code, std::move(why));
  };
  // Step 1: version, flags (membership bit 0, priority bits 4–7), name length, name.
  std::vector<std::byte> hello{std::byte{library_major}, std::byte{library_minor},
                               std::byte{library_patch},
                               std::byte(static_cast<std::uint8_t>((r.membership ? 0x01 : 0) |
                                                                   (r.priority >= 1 ? 0x10 : 0))),
                               std::byte(static_cast<std::uint8_t>(name.size()))};
  for (char c : name) hello.push_back(std::byte(static_cast<unsigned char>(c)));
  // A daemon at its quota writes REJECT_QUOTA and closes as soon as it accepts (spec §1.3):
  // if that came first, our write fails, and the code waits to be read all the same.
  auto sent = write_all(fd, hello.data(), hello.size(), r.deadline);
  // Step 2: the daemon's methods, or a reject byte in the length's place.
  std::byte b{};
  if (auto f = read_all(fd, &b, 1, r.deadline); !f) {
    return give_up(connection_closed, "handshake: " + (sent ? f : sent).error().message);
  }
  if (!sent && static_cast<std::int8_t>(b) >= 0) {
    return give_up(connection_closed, "handshake: " + sent.error().message);
  }
  auto length = static_cast<std::int8_t>(b);
  if (length < 0) return give_up(length, describe(length));
  if (length > 90) return give_up(connection_closed, "handshake: malformed method list");
  std::string methods(static_cast<std::size_t>(length), '\0');
  if (auto f =
          read_all(fd, reinterpret_cast<std::byte*>(methods.data()), methods.size(), r.deadline);
      !f) {
    return give_up(connection_closed, "handshake: " + f.error().message);
  }
  for (const auth_method& m : r.auth) {
    if (!cl::offers_auth_method(methods, m.name)) {
      return give_up(reject_auth, "the daemon does not offer " + m.name +
                                      " authentication (offers: '" + methods + "')");
    }
  }
  // Step 3: the methods in their slots, and SHM in a free one when the daemon offers it
  // (Chorus) and it can work (a Unix socket).
  std::vector<std::string_view> chosen;
  for (const auth_method& m : r.auth) chosen.push_back(m.name);
  const bool shm = r.shared_memory && ep->unix_socket && chosen.size() < auth_methods_max &&
                   cl::offers_auth_method(methods, cl::shm_auth_method);
  if (shm) chosen.push_back(cl::shm_auth_method);
  const auto choice = cl::encode_auth_choice(chosen);
  if (auto f = write_all(fd, choice.data(), choice.size(), r.deadline); !f) {
    return give_up(connection_closed, "handshake: " + f.error().message);
  }
  // Step 4: every method's own exchange, in order; all of them run, as in Spread's library.
  std::string failed;
  for (const auth_method& m : r.auth) {
    if (m.authenticate != nullptr && m.authenticate(fd, m.data) == 0) {
      failed += (failed.empty() ? "" : ", ") + m.name;
    }
  }
  if (!failed.empty()) return give_up(reject_auth, "authentication failed: " + failed);
  // Step 5: accept, version, private group; with SHM the memory file comes with the first byte.
  std::array<std::byte, 5> accept{};
  std::unique_ptr<shm_output> ring;
  if (shm) {
    auto passed = read_byte_with_descriptor(fd, accept[0], r.deadline);
    if (!passed) return give_up(connection_closed, "handshake: " + passed.error().message);
    if (*passed >= 0) {
      auto attached = shm::request_ring::attach(*passed);
      if (!attached) {
        return give_up(connection_closed, "handshake: " + attached.error().message());
      }
      ring = std::make_unique<shm_output>(shm_output{std::move(*attached)});
    }
  } else if (auto f = read_all(fd, accept.data(), 1, r.deadline); !f) {
    return give_up(connection_closed, "handshake: " + f.error().message);
  }
  auto verdict = static_cast<std::int8_t>(accept[0]);
  if (verdict != accept_session) {
    return give_up(verdict < 0 ? int{verdict} : int{connection_closed},
                   verdict < 0 ? describe(verdict) : "handshake: malformed accept");
  }
  if (auto f = read_all(fd, accept.data() + 1, 4, r.deadline); !f) {
    return give_up(connection_closed, "handshake: " + f.error().message);
  }
  std::array<std::uint8_t, 3> version{static_cast<std::uint8_t>(accept[1]),
                                      static_cast<std::uint8_t>(accept[2]),
                                      static_cast<std::uint8_t>(accept[3])};
  auto plen = static_cast<std::uint8_t>(accept[4]);
  if (version[0] >= 0x80 || version[1] >= 0x80 || version[2] >= 0x80 || plen >= cl::name_bytes) {
    return give_up(connection_closed, "handshake: malformed accept");
  }
  if (version[0] < 3) return give_up(reject_version, "the daemon is older than Spread 3");
  if (shm && ring == nullptr) {
    return give_up(connection_closed, "handshake: the daemon accepted SHM but sent no memory");
  }
  std::string private_group(plen, '\0');
  if (auto f = read_all(fd, reinterpret_cast<std::byte*>(private_group.data()), plen, r.deadline);
      !f) {
    return give_up(connection_closed, "handshake: " + f.error().message);
  }
  return std::shared_ptr<stream>(
      new stream(fd, std::move(private_group), version, r.busy_poll, std::move(ring)));
}

result<std::size_t> stream::send(std::uint32_t type, std::span<const std::string_view> groups,
                                 std::int16_t mess_type,
                                 std::span<const std::span<const std::byte>> parts) {
  const bool control = (type & (cl::join_mess | cl::leave_mess | cl::kill_mess)) != 0;
  if (!control && ((type & cl::regular_mess) == 0 || (type & cl::reject_mess) != 0)) {
    return fail(illegal_service, "a message needs one of the six service levels");
  }
  if (groups.size() > cl::groups_per_message_max) {
    return fail(message_too_long, "more than 100 destination groups");
  }
  std::size_t data = 0;
  for (auto p : parts) data += p.size();
  if (data + cl::name_bytes * groups.size() > cl::body_bytes_max) {
    return fail(message_too_long, "groups and data above 144,000 bytes (" +
                                      std::to_string(data + cl::name_bytes * groups.size()) + ")");
  }
  // The header and the names; the data parts go out from the caller's buffers as they are
  // (gathered into one sendmsg, or copied straight into the shared-memory ring).
  thread_local util::byte_vector frame;
  frame.clear();
  util::byte_writer w(frame);
  // hint: the marker and the message type in bits 8–23, little-endian like the rest.
  auto mt = static_cast<std::uint32_t>(static_cast<std::uint16_t>(mess_type));
  std::uint32_t hint = (mt << 8) | cl::endian_marker;
  std::array<std::byte, 4> hint_bytes{};
  for (int i = 0; i < 4; ++i) hint_bytes[i] = std::byte((hint >> (8 * i)) & 0xff);
  cl::encode_header(w, type, private_group_, static_cast<std::int32_t>(groups.size()), hint_bytes,
                    static_cast<std::int32_t>(data));
  for (auto g : groups) {
    std::array<std::byte, cl::name_bytes> field{};
    std::memcpy(field.data(), g.data(), std::min(g.size(), cl::name_bytes - 1));
    w.bytes(field);
  }
  std::lock_guard lock(send_mutex_);
  if (closed_) return fail(illegal_session, "the connection was closed");
  if (failed_) return fail(net_error_on_session, describe(net_error_on_session));
  if (shm_) {
    auto f = put(frame);
    for (std::size_t i = 0; f && i < parts.size(); ++i) f = put(parts[i]);
    if (f) f = publish();
    if (!f) {
      failed_ = true;
      return f.error();
    }
    return data;
  }
  // A small message is copied behind the header and sent from one buffer (measured faster over
  // TCP: bench/sp_bench.py); a big one goes out from the caller's buffers, gathered.
  constexpr std::size_t copied_max = 16384;
  if (frame.size() + data <= copied_max) {
    for (auto p : parts) frame.insert(frame.end(), p.begin(), p.end());
    if (auto f = write_all(fd_, frame.data(), frame.size(), std::nullopt); !f) {
      failed_ = true;
      return fail(connection_closed, f.error().message);
    }
    return data;
  }
  constexpr std::size_t gathered_max = 100;  // parts in one sendmsg: a scatter's worth
  std::array<iovec, 1 + gathered_max> iov;
  std::size_t n = 0;
  iov[n++] = {frame.data(), frame.size()};
  for (auto p : parts.first(std::min(parts.size(), iov.size() - 1))) {
    iov[n++] = {const_cast<std::byte*>(p.data()), p.size()};
  }
  auto f = write_all(fd_, std::span(iov.data(), n), std::nullopt);
  // More parts than a scatter holds (the C++ API allows it): the rest, in order.
  for (auto p : parts.subspan(n - 1)) {
    if (f) f = write_all(fd_, p.data(), p.size(), std::nullopt);
  }
  if (!f) {
    failed_ = true;
    return fail(connection_closed, f.error().message);
  }
  return data;
}

result<void> stream::put(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    bytes = bytes.subspan(shm_->ring.write(bytes));
    if (bytes.empty()) break;
    // Full: what fits is published, so the daemon can make room, then we wait for it.
    if (auto f = publish(); !f) return f;
    if (auto f = wait_for_room(); !f) return f;
  }
  return {};
}

result<void> stream::publish() {
  if (!shm_->ring.publish()) return {};
  // The daemon may sleep: one byte on the socket wakes it (only one is ever outstanding).
  const std::byte bell{0};
  for (;;) {
    if (::send(fd_, &bell, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) return {};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {  // cannot be full of bells; wait anyway
      wait_for(fd_, POLLOUT, std::nullopt);
      continue;
    }
    return fail(connection_closed, std::string("ringing the daemon: ") + std::strerror(errno));
  }
}

// Polls (yielding) for a while, then sleeps on the ring's futex in slices, checking between
// them that the daemon is still there: it closes the socket when it ends the session.
result<void> stream::wait_for_room() {
  auto& ring = shm_->ring;
  const auto spin_until = clock::now() + std::max(busy_poll_, std::chrono::microseconds{50});
  for (;;) {
    if (closed_) return fail(illegal_session, "the connection was closed");
    if (!ring.consistent()) {
      return fail(net_error_on_session, "the shared-memory ring is corrupt");
    }
    if (ring.room() > 0) return {};
    if (clock::now() < spin_until) {
      std::this_thread::yield();
      continue;
    }
    const std::uint32_t seen = ring.prepare_wait();
    if (ring.room() > 0) continue;
    shm::wait_while(ring.space_event(), seen, std::chrono::milliseconds(20));
    pollfd p{fd_, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      return fail(connection_closed, "the daemon closed the connection");
    }
  }
}

result<void> stream::control(std::uint32_t type, std::string_view group) {
  if (!cl::validate_join_leave_group(group).ok()) {
    return fail(illegal_group,
                "illegal group name '" + std::string(group) + "': 1–31 bytes of '$'…'~'");
  }
  std::string_view groups[] = {group};
  auto r = send(type, groups, 0, {});
  if (!r) return r.error();
  return {};
}

result<void> stream::disconnect() {
  std::string_view groups[] = {private_group_};
  auto r = send(cl::kill_mess, groups, 0, {});
  shutdown();  // wakes a receiver blocked in another thread
  if (!r) return r.error();
  return {};
}

result<void> stream::read_exact(std::span<iovec> parts,
                                std::optional<clock::time_point> deadline) {
  if (closed_) return fail(illegal_session, "the connection was closed");
  if (failed_) return fail(net_error_on_session, describe(net_error_on_session));
  auto f = read_all(fd_, parts, deadline, busy_poll_);
  if (!f && f.error().code != timed_out) failed_ = true;
  if (!f && closed_) return fail(illegal_session, "the connection was closed");
  return f;
}

result<void> stream::read_exact(std::byte* p, std::size_t n,
                                std::optional<clock::time_point> deadline) {
  iovec one{p, n};
  return read_exact(std::span(&one, 1), deadline);
}

namespace {
// A header's byte order, from the endian marker of its type field (spec §2.2): bytes 0 and 3
// carry 0x80 when the sender wrote it little-endian.
bool marked_little_endian(std::span<const std::byte> header) {
  return (static_cast<std::uint8_t>(header[0]) & 0x80) != 0 &&
         (static_cast<std::uint8_t>(header[3]) & 0x80) != 0;
}

// What follows a header on the stream: the names, the data, and a reject's old type.
std::size_t rest_of(const cl::header& h) {
  const bool reject = (h.type & cl::reject_mess) != 0;
  return static_cast<std::size_t>(h.num_groups) * cl::name_bytes +
         static_cast<std::size_t>(h.data_len) + (reject ? cl::reject_old_type_bytes : 0);
}
}  // namespace

result<wire::client::header> stream::next_header(std::optional<clock::time_point> deadline) {
  if (saved_) {
    auto h = std::move(*saved_);
    saved_.reset();
    return h;
  }
  if (remaining_ > 0) {  // the last message was not read to its end: drop the rest
    if (auto f = discard(remaining_); !f) return f.error();
  }
  std::array<std::byte, cl::header_bytes> raw{};
  const std::size_t held = ahead_len_.exchange(0);
  std::memcpy(raw.data(), ahead_.data(), held);
  if (held == ahead_.size() && marked_little_endian(raw)) {
    // All but the last byte came with the previous message. It is data_len's high byte, zero
    // for any message below 16 MiB; it is read with the rest of the message and checked then.
    tail_pending_ = true;
  } else if (auto f = read_exact(raw.data() + held, raw.size() - held,
                                 held > 0 ? std::nullopt : deadline);
             !f) {
    return f.error();
  }
  auto h = cl::decode_header(raw);
  if (h.num_groups < 0 || h.data_len < 0) {
    failed_ = true;
    return fail(illegal_message, "the daemon sent a header with a negative length");
  }
  remaining_ = rest_of(h);
  return h;
}

result<void> stream::read(std::span<std::byte> out) {
  iovec one{out.data(), out.size()};
  return read(std::span(&one, 1));
}

result<void> stream::read(std::span<iovec> parts) {
  if (closed_) return fail(illegal_session, "the connection was closed");
  if (failed_) return fail(net_error_on_session, describe(net_error_on_session));
  std::size_t wanted = 0;
  for (const iovec& v : parts) wanted += v.iov_len;
  if (wanted > remaining_) {
    failed_ = true;
    return fail(sp_bug, "a read past the end of the message");
  }
  // One system call when the bytes are there: the header byte still owed, the parts, and, when
  // this finishes the message, up to all but the last byte of the next header. Never a whole
  // header: what this library holds is never a message the socket no longer shows, so select()
  // and poll() on the mailbox stay exact.
  std::byte tail{};
  thread_local std::vector<iovec> iov;
  iov.clear();
  if (tail_pending_) iov.push_back({&tail, 1});
  iov.insert(iov.end(), parts.begin(), parts.end());
  const std::size_t required = wanted + (tail_pending_ ? 1 : 0);
  const bool finishes = wanted == remaining_;
  if (finishes) iov.push_back({ahead_.data(), ahead_.size()});
  auto got = read_some(fd_, iov, required, std::nullopt, busy_poll_);
  if (!got) {
    failed_ = true;
    if (closed_) return fail(illegal_session, "the connection was closed");
    return got.error();
  }
  if (tail_pending_) {
    tail_pending_ = false;
    if (tail != std::byte{0}) {
      failed_ = true;
      return fail(illegal_message, "a message of 16 MiB or more: this library reads less");
    }
  }
  remaining_ -= wanted;
  if (finishes) ahead_len_ = *got - required;
  return {};
}

result<void> stream::discard(std::size_t n) {
  std::array<std::byte, 4096> sink{};
  while (n > 0) {
    std::size_t k = std::min(n, sink.size());
    if (auto f = read(std::span(sink.data(), k)); !f) return f;
    n -= k;
  }
  return {};
}

result<std::size_t> stream::readable() const {
  if (closed_) return fail(illegal_session, "the connection was closed");
  if (failed_) return fail(net_error_on_session, describe(net_error_on_session));
  int n = 0;
  if (::ioctl(fd_, FIONREAD, &n) != 0) {
    return fail(net_error_on_session, std::string("FIONREAD: ") + std::strerror(errno));
  }
  return static_cast<std::size_t>(n) + ahead_len_;
}

void stream::shutdown() noexcept {
  closed_ = true;
  failed_ = true;
  ::shutdown(fd_, SHUT_RDWR);
}

void stream::close_now() noexcept {
  closed_ = true;
  failed_ = true;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace chorus::client
