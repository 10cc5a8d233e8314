// connection.cpp — chorus::connection (include/chorus/client.hpp) over client::stream.
#include <algorithm>
#include <array>
#include <cstring>

#include "chorus/client.hpp"
#include "client/stream.hpp"

namespace chorus {
namespace {

namespace cl = wire::client;

// chorus::service carries Spread's bits as they are on the wire.
static_assert(static_cast<std::uint32_t>(service::unreliable) == cl::unreliable_mess &&
              static_cast<std::uint32_t>(service::reliable) == cl::reliable_mess &&
              static_cast<std::uint32_t>(service::fifo) == cl::fifo_mess &&
              static_cast<std::uint32_t>(service::causal) == cl::causal_mess &&
              static_cast<std::uint32_t>(service::agreed) == cl::agreed_mess &&
              static_cast<std::uint32_t>(service::safe) == cl::safe_mess);

error not_connected() {  // moved from
  return error{client::illegal_session, "not connected (disconnected, killed or moved from)"};
}

}  // namespace

// --- message ---------------------------------------------------------------------------------

bool message::is_data() const noexcept {
  return (type_ & cl::regular_mess) != 0 && (type_ & cl::reject_mess) == 0;
}
bool message::is_membership() const noexcept {
  return (type_ & cl::membership_mess) != 0 && (type_ & cl::reject_mess) == 0;
}
bool message::is_regular_membership() const noexcept {
  return is_membership() && (type_ & cl::reg_memb_mess) != 0;
}
bool message::is_transition() const noexcept {
  return is_membership() && (type_ & cl::transition_mess) != 0;
}
bool message::is_self_leave() const noexcept {
  return (type_ & cl::caused_by_leave) != 0 &&
         (type_ & (cl::reg_memb_mess | cl::transition_mess)) == 0;
}
bool message::is_reject() const noexcept { return (type_ & cl::reject_mess) != 0; }

chorus::service message::service() const noexcept {
  for (std::uint32_t bit = cl::safe_mess; bit != 0; bit >>= 1) {
    if ((type_ & bit) != 0) return static_cast<chorus::service>(bit);
  }
  return chorus::service::agreed;
}

cause message::cause() const noexcept {
  if (!is_regular_membership()) return chorus::cause::none;
  if ((type_ & cl::caused_by_join) != 0) return chorus::cause::join;
  if ((type_ & cl::caused_by_leave) != 0) return chorus::cause::leave;
  if ((type_ & cl::caused_by_disconnect) != 0) return chorus::cause::disconnect;
  if ((type_ & cl::caused_by_network) != 0) return chorus::cause::network;
  return chorus::cause::none;
}

std::string_view message::changed_member() const noexcept {
  auto c = cause();
  if (c != chorus::cause::join && c != chorus::cause::leave && c != chorus::cause::disconnect) {
    return {};
  }
  if (vs_sets_.empty() || vs_sets_.front().empty()) return {};
  return vs_sets_.front().front();
}

// --- connection ------------------------------------------------------------------------------

connection::connection(std::shared_ptr<client::stream> s) : s_(std::move(s)) {}
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&& o) noexcept {
  if (this != &o) {
    (void)disconnect();
    s_ = std::move(o.s_);
  }
  return *this;
}
connection::~connection() { (void)disconnect(); }

result<connection> connection::connect(const connect_options& o) {
  client::connect_request r;
  r.spread_name = o.endpoint;
  r.private_name = o.name;
  r.membership = o.membership;
  r.priority = o.priority ? 1 : 0;
  r.deadline = client::clock::now() + o.timeout;
  if (o.busy_poll < o.busy_poll.zero() || o.busy_poll > client::busy_poll_max) {
    return error{client::illegal_time,
                 "busy_poll must be 0 to 1 s, not " + std::to_string(o.busy_poll.count()) + " µs"};
  }
  r.busy_poll = o.busy_poll;
  r.shared_memory = o.shared_memory;
  auto s = client::stream::connect(r);
  if (!s.ok()) return s.error();
  return connection(std::move(*s));
}

const std::string& connection::private_group() const {
  static const std::string none;
  return s_ ? s_->private_group() : none;
}

int connection::native_handle() const noexcept { return s_ ? s_->fd() : -1; }

bool connection::connected() const noexcept { return s_ && !s_->failed(); }

result<void> connection::control(std::uint32_t type, std::string_view group) {
  if (!s_) return not_connected();
  return s_->control(type, group);
}

result<void> connection::join(std::string_view group) { return control(cl::join_mess, group); }
result<void> connection::leave(std::string_view group) { return control(cl::leave_mess, group); }

result<std::size_t> connection::multicast(service s, std::string_view group, std::string_view text,
                                          send_options o) {
  return multicast(s, group, std::as_bytes(std::span(text.data(), text.size())), o);
}

result<std::size_t> connection::multicast(service s, std::string_view group,
                                          std::span<const std::byte> data, send_options o) {
  if (!s_) return not_connected();
  std::string_view groups[] = {group};
  std::span<const std::byte> parts[] = {data};
  std::uint32_t type = static_cast<std::uint32_t>(s) | (o.self_discard ? cl::self_discard : 0);
  auto r = s_->send(type, groups, o.message_type, parts);
  if (!r.ok()) return r.error();
  return *r;
}

result<std::size_t> connection::multicast(service s, std::span<const std::string> groups,
                                          std::span<const std::span<const std::byte>> parts,
                                          send_options o) {
  if (!s_) return not_connected();
  if (parts.size() > 100) {
    return error{client::message_too_long, "more than 100 scatter parts"};
  }
  std::vector<std::string_view> names(groups.begin(), groups.end());
  std::uint32_t type = static_cast<std::uint32_t>(s) | (o.self_discard ? cl::self_discard : 0);
  auto r = s_->send(type, names, o.message_type, parts);
  if (!r.ok()) return r.error();
  return *r;
}

result<message> connection::receive(std::optional<std::chrono::milliseconds> timeout) {
  if (!s_) return not_connected();
  std::optional<client::clock::time_point> deadline;
  if (timeout) deadline = client::clock::now() + *timeout;
  std::lock_guard lock(s_->receive_mutex());
  auto h = s_->next_header(deadline);
  if (!h.ok()) {
    if (h.error().code == client::timed_out) {
      return error{error::timed_out,
                   "no message within " + std::to_string(timeout->count()) + " ms"};
    }
    return h.error();
  }
  cl::header& hdr = *h;
  message m;
  m.type_ = hdr.type;
  m.sender_ = std::move(hdr.sender);
  if (m.is_reject()) {
    // The refused request's type follows the header (spec §2.6): report it with the reject bit.
    std::array<std::byte, cl::reject_old_type_bytes> old{};
    if (auto f = s_->read(old); !f) return f.error();
    m.type_ = client::reject_type(old, hdr.little_endian);
  }
  // The group names, then the payload straight into the message, in one read.
  std::vector<std::byte> names(static_cast<std::size_t>(hdr.num_groups) * cl::name_bytes);
  m.data_.resize(static_cast<std::size_t>(hdr.data_len));
  iovec parts[] = {{names.data(), names.size()}, {m.data_.data(), m.data_.size()}};
  if (auto f = s_->read(parts); !f) return f.error();
  for (std::size_t at = 0; at < names.size(); at += cl::name_bytes) {
    const char* p = reinterpret_cast<const char*>(names.data() + at);
    m.groups_.emplace_back(p, strnlen(p, cl::name_bytes));
  }
  if (m.is_data() || m.is_reject()) {
    const auto hint = client::read_hint(hdr);
    m.message_type_ = hint.mess_type;
    m.endian_mismatch_ = hint.endian_mismatch;
  } else {
    m.message_type_ = -1;
  }
  if (m.is_regular_membership() || m.is_transition()) {
    auto body_parsed = cl::decode_membership_body(m.data_, hdr.little_endian, m.is_transition());
    if (!body_parsed) {
      return error{client::illegal_message,
                   "malformed membership message: " + body_parsed.error().message()};
    }
    m.gid_ = {body_parsed->gid.a, body_parsed->gid.b, body_parsed->gid.c};
    m.vs_sets_ = std::move(body_parsed->vs_sets);
    m.my_vs_set_ = body_parsed->local_set;
    if (m.is_regular_membership()) {
      auto self = std::find(m.groups_.begin(), m.groups_.end(), s_->private_group());
      m.message_type_ = self == m.groups_.end()
                            ? std::int16_t{-1}
                            : static_cast<std::int16_t>(self - m.groups_.begin());
    }
  }
  return m;
}

result<std::size_t> connection::poll() const {
  if (!s_) return not_connected();
  auto r = s_->readable();
  if (!r.ok()) return r.error();
  return *r;
}

result<void> connection::disconnect() {
  if (!s_ || s_->closed()) return {};
  return s_->disconnect();
}

void connection::kill() {
  // Closes our descriptor only, no shutdown(): after a fork the other process's copy keeps
  // the session open.
  if (s_) s_->close_now();
}

}  // namespace chorus
