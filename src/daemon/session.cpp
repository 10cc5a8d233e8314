// session.cpp — see session.hpp.
#include "daemon/session.hpp"

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>

#include "shm/session_memory.hpp"
#include "wire/client_proto.hpp"
#include "wire/group_msg.hpp"
#include "wire/session_ring.hpp"

namespace chorus::daemon {
namespace {

namespace cl = wire::client;

constexpr std::size_t read_chunk_bytes = 64 * 1024;
constexpr std::size_t write_batch_max = 64;
// The largest frame a client may send: header plus groups and data (spec §5.4).
constexpr std::size_t frame_bytes_max = cl::header_bytes + cl::body_bytes_max;

// A write error that means the client closed its end (or stopped reading).
bool client_gone(const asio::error_code& ec) {
  return ec == asio::error::broken_pipe || ec == asio::error::connection_reset;
}

util::shared_bytes one_byte(std::int8_t b) {
  return util::shared_bytes(util::byte_vector{static_cast<std::byte>(b)});
}

}  // namespace

// The client's ring: the daemon's own mapping of the memory file it created.
struct session::shm_input {
  shm::session_memory memory;
  wire::ring::consumer ring;
};

session::session(session_host& host, core::session_id id,
                 asio::generic::stream_protocol::socket socket, std::string peer,
                 session_limits limits, bool local)
    : host_(host),
      id_(id),
      socket_(std::move(socket)),
      peer_(std::move(peer)),
      limits_(limits),
      handshake_timer_(socket_.get_executor()),
      local_(local) {
  in_.resize(read_chunk_bytes);
}

session::~session() {
  if (pending_fd_ >= 0) ::close(pending_fd_);
}

const char* session::state_name() const noexcept {
  switch (state_) {
    case state::connect:
    case state::auth:
      return "handshake";
    case state::open:
      return "open";
    case state::closing:
      return "closing";
    case state::closed:
      break;
  }
  return "closed";
}

void session::start() {
  handshake_timer_.expires_after(limits_.handshake_timeout);
  handshake_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec || (self->state_ != state::connect && self->state_ != state::auth)) return;
    if (self->refusal_ != 0) {
      // Nothing unread is left behind (what arrived is in in_): the reply is not reset away.
      self->reject(self->refusal_, "over the session quota (no connect message in time)");
      return;
    }
    self->host_.closed(*self, false, "handshake not completed in time");
    self->finish();
  });
  read_more();
}

void session::refuse(std::int8_t code) {
  refusal_ = code;
  start();
}

void session::shutdown() {
  state_ = state::closed;
  handshake_timer_.cancel();
  asio::error_code ec;
  socket_.close(ec);
}

void session::finish() {
  state_ = state::closed;
  handshake_timer_.cancel();
  out_.clear();
  out_bytes_ = 0;
  asio::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
}

// --- reading --------------------------------------------------------------------------------

void session::make_room() {
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  if (in_end_ == in_.size()) {
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
    if (in_end_ == in_.size()) in_.resize(std::max(in_.size() * 2, frame_bytes_max));
  }
}

void session::read_more() {
  if (reading_ || state_ == state::closing || state_ == state::closed) return;
  if (shm_ != nullptr) {
    // Only doorbells come this way, read even while paused (the ring is what pauses).
    reading_ = true;
    socket_.async_read_some(asio::buffer(bells_),
                            [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                              self->on_doorbell(ec);
                            });
    return;
  }
  if (paused_) return;
  make_room();
  reading_ = true;
  socket_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
                          [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                            self->on_read(ec, n);
                          });
}

void session::on_read(const asio::error_code& ec, std::size_t n) {
  reading_ = false;
  if (state_ == state::closing || state_ == state::closed) return;
  if (ec) {
    bool was_open = state_ == state::open;
    bool eof = ec == asio::error::eof || ec == asio::error::connection_reset;
    host_.closed(*this, was_open,
                 eof ? "connection closed by the client" : "read error: " + ec.message());
    finish();
    return;
  }
  in_end_ += n;
  process();
  host_.input_done();
  read_more();
}

void session::resume_reading() {
  if (!paused_) return;
  paused_ = false;
  process();
  if (shm_ != nullptr) {
    poll_shared_memory();
    return;
  }
  read_more();
}

// --- shared memory --------------------------------------------------------------------------

void session::on_doorbell(const asio::error_code& ec) {
  reading_ = false;
  if (state_ != state::open) return;
  if (ec) {
    // Whatever the client published before it closed the socket is still taken.
    eof_ = true;
    if (ec != asio::error::eof && ec != asio::error::connection_reset) {
      host_.closed(*this, true, "read error: " + ec.message());
      finish();
      return;
    }
    poll_shared_memory();
    return;
  }
  shm_->ring.bell_heard();
  poll_shared_memory();
  read_more();
}

bool session::poll_shared_memory() {
  bool any = false;
  while (state_ == state::open && !paused_) {
    make_room();
    bool wake = false;
    auto n = shm_->ring.read({in_.data() + in_end_, in_.size() - in_end_}, wake);
    if (!n) {
      fail(n.error().message());
      return true;
    }
    if (wake) shm::wake_all(shm_->ring.space_event());
    if (*n == 0) break;
    any = true;
    in_end_ += *n;
    process();
  }
  if (any) host_.input_done();
  if (eof_ && state_ == state::open && !paused_) closed_by_client();
  return any;
}

void session::polling() {
  if (state_ == state::open && shm_ != nullptr) shm_->ring.set_polling(true);
}

bool session::prepare_sleep() {
  if (state_ != state::open || shm_ == nullptr) return false;
  shm_->ring.set_polling(false);
  if (paused_) return false;  // resume_reading() comes first
  auto n = shm_->ring.available();
  return !n || *n > 0;  // a corrupt ring too: poll_shared_memory() ends the session
}

void session::closed_by_client() {
  host_.closed(*this, true, "connection closed by the client");
  finish();
}

util::status session::setup_shared_memory() {
  const std::size_t capacity = limits_.shm_ring_bytes;
  if (!std::has_single_bit(capacity)) {
    return {util::errc::invalid_argument, "ring size is not a power of two"};
  }
  auto made = shm::session_memory::create(wire::ring::mapping_bytes(capacity));
  if (!made) return made.error();
  wire::ring::initialize(made->memory.bytes(), capacity);
  wire::ring::consumer ring(made->memory.bytes());
  shm_ = std::make_unique<shm_input>(shm_input{std::move(made->memory), ring});
  pending_fd_ = made->fd;
  return {};
}

// The accept with the memory file's descriptor attached (SCM_RIGHTS), written now: nothing else
// is in flight (write_more() only calls this for the first entry with no write pending), and
// the socket's buffer is empty this early, so a non-blocking sendmsg writes it whole.
bool session::send_accept_with_descriptor() {
  const util::shared_bytes& accept = out_.front();
  ssize_t n = shm::send_with_descriptor(socket_.native_handle(), {accept.data(), accept.size()},
                                        pending_fd_);
  ::close(pending_fd_);
  pending_fd_ = -1;
  fd_carrier_ = nullptr;
  if (n != static_cast<ssize_t>(accept.size())) {
    host_.closed(*this, state_ == state::open,
                 std::string("sending the shared-memory accept: ") +
                     (n < 0 ? std::strerror(errno) : "short write"));
    finish();
    return false;
  }
  out_bytes_ -= std::min(out_bytes_, accept.size());
  out_.pop_front();
  return true;
}

void session::process() {
  while (!paused_) {
    bool progressed = false;
    switch (state_) {
      case state::connect:
        progressed = process_connect();
        break;
      case state::auth:
        progressed = process_auth();
        break;
      case state::open:
        progressed = process_frame();
        break;
      default:
        return;
    }
    if (!progressed) return;
  }
}

bool session::process_connect() {
  auto got = std::span<const std::byte>(in_.data() + in_begin_, in_end_ - in_begin_);
  auto p = cl::parse_connect(got);
  if (p.st == cl::connect_parse::state::need_more) return false;
  if (refusal_ != 0) {
    in_begin_ = in_end_;  // whatever it is, read: the close after the reply is no reset
    reject(refusal_, "over the session quota");
    return false;
  }
  if (p.st == cl::connect_parse::state::reject) {
    reject(p.reject, "refused connect message");
    return false;
  }
  in_begin_ += p.consumed;
  name_ = p.request.name.empty() ? host_.generate_name() : p.request.name;
  membership_ = p.request.membership;
  private_group_ = cl::private_group_name(name_, host_.daemon_name());
  if (!host_.claim_name(private_group_, *this)) {
    reject(cl::reject_not_unique, "name '" + name_ + "' is in use");
    return false;
  }
  name_claimed_ = true;
  state_ = state::auth;
  out_.push_back(util::shared_bytes(cl::encode_auth_methods(offer_shm())));
  write_more();
  return true;
}

bool session::process_auth() {
  if (in_end_ - in_begin_ < cl::auth_choice_bytes) return false;
  auto choice = std::span<const std::byte, cl::auth_choice_bytes>(in_.data() + in_begin_,
                                                                  cl::auth_choice_bytes);
  in_begin_ += cl::auth_choice_bytes;
  auto chosen = cl::check_auth_choice(choice, offer_shm());
  if (!chosen) {
    reject(cl::reject_auth, "authentication: " + chosen.error().message());
    return false;
  }
  if (*chosen) {
    if (in_begin_ != in_end_) {
      reject(cl::reject_auth, "requests on the socket of a shared-memory session");
      return false;
    }
    if (auto st = setup_shared_memory(); !st.ok()) {
      reject(cl::reject_auth, "shared memory: " + st.message());
      return false;
    }
  }
  handshake_timer_.cancel();
  state_ = state::open;
  host_.opened(*this);
  out_.push_back(util::shared_bytes(cl::encode_accept(private_group_)));
  if (pending_fd_ >= 0) fd_carrier_ = out_.back().data();
  write_more();
  return true;
}

bool session::process_frame() {
  std::size_t avail = in_end_ - in_begin_;
  if (avail < cl::header_bytes) return false;
  auto h = cl::decode_header(
      std::span<const std::byte, cl::header_bytes>(in_.data() + in_begin_, cl::header_bytes));
  auto kind = cl::validate_request(h, private_group_);
  if (!kind) {
    fail("malformed message: " + kind.error().message());
    return false;
  }
  std::size_t names_bytes = std::size_t(h.num_groups) * cl::name_bytes;
  std::size_t total = cl::header_bytes + names_bytes + std::size_t(h.data_len);
  if (avail < total) {
    if (in_.size() - in_begin_ < total) {  // make room for the whole frame
      std::memmove(in_.data(), in_.data() + in_begin_, avail);
      in_begin_ = 0;
      in_end_ = avail;
      if (in_.size() < total) in_.resize(frame_bytes_max);
    }
    return false;
  }
  const std::byte* base = in_.data() + in_begin_;
  if (!handle_request(*kind, h, {base + cl::header_bytes, names_bytes},
                      {base + cl::header_bytes + names_bytes, std::size_t(h.data_len)})) {
    return false;
  }
  in_begin_ += total;
  return state_ == state::open;
}

bool session::handle_request(cl::request_kind kind, const cl::header& h,
                             std::span<const std::byte> names, std::span<const std::byte> data) {
  auto groups = cl::decode_group_names(names, h.num_groups);
  if (!groups) {
    fail("malformed group name: " + groups.error().message());
    return false;
  }
  util::byte_vector payload;
  core::service svc = core::service::agreed;
  switch (kind) {
    case cl::request_kind::multicast: {
      payload.reserve(1 + cl::header_bytes + names.size() + data.size());
      payload.push_back(static_cast<std::byte>(wire::group_msg_kind::data));
      util::byte_writer w(payload);
      cl::encode_header(w, cl::carried_type(h.type), h.sender, h.num_groups, h.hint, h.data_len);
      cl::encode_group_names(w, *groups);  // re-encoded: a name without its NUL gets one
      w.bytes(data);
      svc = cl::service_of(h.type);
      break;
    }
    case cl::request_kind::join:
    case cl::request_kind::leave: {
      if (auto st = cl::validate_join_leave_group((*groups)[0]); !st.ok()) {
        fail("illegal group name: " + st.message());
        return false;
      }
      auto k =
          kind == cl::request_kind::join ? wire::group_msg_kind::join : wire::group_msg_kind::leave;
      payload = wire::encode_group_op({k, private_group_, (*groups)[0]});
      break;
    }
    case cl::request_kind::kill:
      if ((*groups)[0] != private_group_) {
        fail("disconnect names another session: '" + (*groups)[0] + "'");
        return false;
      }
      host_.closed(*this, true, "disconnected");
      finish();
      return false;
  }
  if (!host_.submit(*this, svc, std::move(payload))) {
    paused_ = true;  // the daemon is full: resume_reading() retries this request
    return false;
  }
  return true;
}

void session::reject(std::int8_t code, const std::string& reason) {
  host_.closed(*this, false, reason);
  state_ = state::closing;  // the reply goes after what is queued (the auth list, at most)
  handshake_timer_.cancel();
  out_.push_back(one_byte(code));
  write_more();
}

void session::fail(const std::string& reason) {
  host_.closed(*this, true, reason);
  finish();
}

// --- writing --------------------------------------------------------------------------------

void session::deliver(util::shared_bytes bytes) {
  if (state_ != state::open || unwritable_) return;
  if (out_.size() >= limits_.queue_messages_max ||
      out_bytes_ + bytes.size() > limits_.queue_bytes_max) {
    fail("not reading: " + std::to_string(out_.size()) + " messages (" +
         std::to_string(out_bytes_) + " bytes) queued");
    return;
  }
  out_bytes_ += bytes.size();
  out_.push_back(std::move(bytes));
  write_more();
}

void session::write_more() {
  if (writing_ != 0 || out_.empty() || state_ == state::closed) return;
  if (fd_carrier_ != nullptr && out_.front().data() == fd_carrier_) {
    if (!send_accept_with_descriptor() || out_.empty()) return;
  }
  std::vector<asio::const_buffer> bufs;
  std::size_t n = std::min(out_.size(), write_batch_max);
  bufs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (out_[i].data() == fd_carrier_) break;  // it goes alone, with its descriptor
    bufs.emplace_back(out_[i].data(), out_[i].size());
  }
  n = bufs.size();
  writing_ = n;
  asio::async_write(
      socket_, bufs, [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
        if (self->state_ == state::closed) return;
        for (std::size_t i = 0; i < self->writing_ && !self->out_.empty(); ++i) {
          self->out_bytes_ -= std::min(self->out_bytes_, self->out_.front().size());
          self->out_.pop_front();
        }
        self->writing_ = 0;
        if (ec && self->state_ == state::open && client_gone(ec)) {
          // The client closed its socket, maybe right after its last requests, which may
          // still be in the socket or its ring: they are taken before the read side's EOF
          // ends the session. Ending it here dropped them.
          self->unwritable_ = true;
          self->out_.clear();
          self->out_bytes_ = 0;
          return;
        }
        if (ec) {
          // Unless closing (the host knows already: a reject), the host forgets
          // the session — one gone mid-handshake too, to free its name.
          if (self->state_ != state::closing) {
            self->host_.closed(*self, self->state_ == state::open, "write error: " + ec.message());
          }
          self->finish();
          return;
        }
        if (self->state_ == state::closing && self->out_.empty()) {
          self->finish();
          return;
        }
        self->write_more();
      });
}

}  // namespace chorus::daemon
