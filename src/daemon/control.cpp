// control.cpp — see control.hpp.
#include "daemon/control.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "util/assert.hpp"

namespace chorus::daemon {
namespace {

constexpr std::string_view known_requests = "status";

// The length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
  }
  return n;
}

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string duration_text(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + " s"
                               : std::to_string(d.count()) + " ms";
}

}  // namespace

// --- json_writer ----------------------------------------------------------------------------

json_writer& json_writer::open_container(char c) {
  before_value();
  out_ += c;
  open_.push_back(c);
  first_ = true;
  return *this;
}

json_writer& json_writer::close_container(char opened, char c) {
  CHORUS_ASSERT(!open_.empty() && open_.back() == opened && !after_key_,
                "unbalanced JSON object or array");
  out_ += c;
  open_.pop_back();
  first_ = false;
  return *this;
}

json_writer& json_writer::begin_object() { return open_container('{'); }
json_writer& json_writer::end_object() { return close_container('{', '}'); }
json_writer& json_writer::begin_array() { return open_container('['); }
json_writer& json_writer::end_array() { return close_container('[', ']'); }

json_writer& json_writer::key(std::string_view k) {
  CHORUS_ASSERT(!open_.empty() && open_.back() == '{' && !after_key_,
                "a JSON key outside an object");
  if (!first_) out_ += ',';
  first_ = false;
  string(k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

json_writer& json_writer::value(std::string_view s) {
  before_value();
  string(s);
  return *this;
}

json_writer& json_writer::value(bool b) { return raw(b ? "true" : "false"); }

json_writer& json_writer::null() { return raw("null"); }

json_writer& json_writer::raw(std::string_view text) {
  before_value();
  out_ += text;
  return *this;
}

std::string json_writer::take() {
  CHORUS_ASSERT(open_.empty() && !after_key_ && !out_.empty(), "an unfinished JSON document");
  first_ = true;
  return std::exchange(out_, {});
}

void json_writer::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  // A value is either the whole document or an element of an array.
  CHORUS_ASSERT(open_.empty() ? out_.empty() : open_.back() == '[', "a JSON value needs a key");
  if (!first_) out_ += ',';
  first_ = false;
}

void json_writer::string(std::string_view s) {
  out_ += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_length(s, i);
      if (n == 0) {
        out_ += "\\ufffd";  // not UTF-8: the replacement character, one per byte
        ++i;
      } else {
        out_.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\r':
        out_ += "\\r";
        break;
      case '\t':
        out_ += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out_ += buf;
        } else {
          out_ += static_cast<char>(c);
        }
    }
    ++i;
  }
  out_ += '"';
}

// --- the protocol (pure) --------------------------------------------------------------------

control_request_parse parse_control_request(std::string_view buffered) {
  using st = control_request_parse::state;
  auto nl = buffered.find('\n');
  if (nl == std::string_view::npos) {
    // Room for the longest line and a "\r" before its "\n".
    return {buffered.size() > control_request_bytes_max + 1 ? st::too_long : st::need_more, {}};
  }
  auto line = buffered.substr(0, nl);
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (line.size() > control_request_bytes_max) return {st::too_long, {}};
  return {st::line, line};
}

std::string control_answer(std::string_view request, const control_host& host) {
  request = trim(request);
  if (request == "status") {
    json_writer w;
    host.write_status(w);
    std::string out = w.take();
    out += '\n';
    return out;
  }
  return control_error("unknown request '" + std::string(request) +
                       "'; known: " + std::string(known_requests));
}

std::string control_error(std::string_view message) {
  json_writer w;
  w.begin_object().field("error", message).end_object();
  std::string out = w.take();
  out += '\n';
  return out;
}

// --- one connection -------------------------------------------------------------------------

// Reads one request line, writes the answer, then waits (discarding input) for the client to
// close, so that closing never throws away an answer the client has not read yet.
// Lifetime: owned by the endpoint's set and by pending handlers. `owner_` is used only while
// !closed_: the endpoint closes every connection before it goes.
class control_endpoint::connection : public std::enable_shared_from_this<connection> {
 public:
  connection(control_endpoint& owner, asio::local::stream_protocol::socket socket)
      : owner_(owner), socket_(std::move(socket)), timer_(socket_.get_executor()) {}

  void start() {
    arm(owner_.limits_.request_timeout);
    read_more();
  }

  // Immediately, without an answer (daemon shutdown).
  void close() {
    closed_ = true;
    timer_.cancel();
    asio::error_code ec;
    socket_.close(ec);
  }

 private:
  void arm(std::chrono::milliseconds d) {
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec || self->closed_) return;
      if (self->replied_) {
        self->finish();  // the answer was not read, or the client did not close, in time
      } else {
        self->reply(control_error("request not completed within " +
                                  duration_text(self->owner_.limits_.request_timeout)));
      }
    });
  }

  void read_more() {
    if (reading_ || closed_) return;
    reading_ = true;
    // After the answer, input is only discarded: read it anywhere into in_.
    std::size_t at = replied_ ? 0 : in_len_;
    socket_.async_read_some(asio::buffer(in_.data() + at, in_.size() - at),
                            [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                              self->on_read(ec, n);
                            });
  }

  void on_read(const asio::error_code& ec, std::size_t n) {
    reading_ = false;
    if (closed_) return;
    if (replied_) {
      discarded_ += n;
      if (ec) {
        peer_done_ = true;
        if (!writing_) finish();
      } else if (discarded_ > control_linger_bytes_max) {
        finish();
      } else {
        read_more();
      }
      return;
    }
    if (ec) {
      // A client may end its request with EOF instead of "\n".
      if (ec == asio::error::eof && in_len_ > 0) {
        on_request(parse_control_request(std::string(in_.data(), in_len_) + "\n"));
      } else {
        finish();
      }
      return;
    }
    in_len_ += n;
    on_request(parse_control_request(std::string_view(in_.data(), in_len_)));
  }

  void on_request(const control_request_parse& p) {
    switch (p.st) {
      case control_request_parse::state::need_more:
        read_more();
        break;
      case control_request_parse::state::line:
        reply(control_answer(p.line, owner_.host_));
        break;
      case control_request_parse::state::too_long:
        spdlog::debug("control socket: a request longer than {} bytes", control_request_bytes_max);
        reply(control_error("request longer than " + std::to_string(control_request_bytes_max) +
                            " bytes"));
        break;
    }
  }

  void reply(std::string line) {
    replied_ = true;
    out_ = std::move(line);
    arm(owner_.limits_.reply_timeout);
    writing_ = true;
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                        self->on_written(ec);
                      });
    read_more();  // discards what else the client sends and sees it close
  }

  void on_written(const asio::error_code& ec) {
    writing_ = false;
    if (closed_) return;
    if (ec || peer_done_) {
      finish();
      return;
    }
    asio::error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_send, ignored);  // the client sees EOF
  }

  void finish() {
    if (closed_) return;
    close();
    owner_.forget(shared_from_this());
  }

  control_endpoint& owner_;
  asio::local::stream_protocol::socket socket_;
  asio::steady_timer timer_;  // the request, then the answer, must be done by then
  std::array<char, control_request_bytes_max + 2> in_{};  // the request, "\r\n" included
  std::size_t in_len_ = 0;                                // bytes of the request in in_
  std::size_t discarded_ = 0;                             // bytes read after the request
  std::string out_;                                       // the answer
  bool reading_ = false;                                  // a read is in flight
  bool writing_ = false;                                  // the answer is being written
  bool replied_ = false;                                  // the answer is decided
  bool peer_done_ = false;                                // the client closed its side
  bool closed_ = false;
};

// --- the endpoint ---------------------------------------------------------------------------

util::result<std::unique_ptr<control_endpoint>> control_endpoint::open(asio::io_context& io,
                                                                       std::string path,
                                                                       const control_host& host,
                                                                       control_limits limits) {
  auto fail = [&](const std::string& why) {
    return util::status(util::errc::invalid_argument,
                        "cannot listen on the control socket " + path + ": " + why);
  };
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return fail("the path is longer than " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                " bytes");
  }
  std::error_code fs_ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, fs_ec);
  if (fs_ec) return fail("cannot create " + dir.string() + ": " + fs_ec.message());
  if (struct stat st{}; ::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail("the file exists and is not a socket");
    ::unlink(path.c_str());  // left by a daemon that did not stop cleanly
  }
  std::unique_ptr<control_endpoint> e(new control_endpoint(io, path, host, limits));
  asio::error_code ec;
  e->acceptor_.open(asio::local::stream_protocol(), ec);
  if (!ec) {
    // Created with mode 0600 rather than chmod-ed afterwards: nobody else may connect in
    // between. The process is still single-threaded here, so the umask switch is safe.
    mode_t old = ::umask(0177);
    e->acceptor_.bind(asio::local::stream_protocol::endpoint(path), ec);
    ::umask(old);
  }
  if (ec) return fail(ec.message());
  e->bound_ = true;
  if (::chmod(path.c_str(), 0600) != 0) return fail(std::strerror(errno));
  e->acceptor_.listen(static_cast<int>(limits.connections_max), ec);
  if (ec) return fail(ec.message());
  return e;
}

control_endpoint::control_endpoint(asio::io_context& io, std::string path, const control_host& host,
                                   control_limits limits)
    : path_(std::move(path)), host_(host), limits_(limits), acceptor_(io), retry_(io) {}

control_endpoint::~control_endpoint() { close(); }

void control_endpoint::start() { accept(); }

void control_endpoint::close() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ec;
  acceptor_.close(ec);
  retry_.cancel();
  for (const auto& c : connections_) c->close();
  connections_.clear();
  if (bound_) ::unlink(path_.c_str());
}

void control_endpoint::accept() {
  acceptor_.async_accept(
      [this](const asio::error_code& ec, asio::local::stream_protocol::socket s) {
        on_accept(ec, std::move(s));
      });
}

bool out_of_descriptors(const asio::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory || ec.value() == ENFILE;
}

void control_endpoint::on_accept(const asio::error_code& ec,
                                 asio::local::stream_protocol::socket s) {
  if (closed_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    if (!out_of_descriptors(ec)) {
      spdlog::warn("control socket accept: {}", ec.message());
      accept();
      return;
    }
    if (!exhausted_) spdlog::warn("control socket accept: {}; retrying", ec.message());
    exhausted_ = true;
    retry_.expires_after(accept_retry);
    retry_.async_wait([this](const asio::error_code& e) {
      if (!e && !closed_) accept();
    });
    return;
  }
  exhausted_ = false;
  if (connections_.size() >= limits_.connections_max) {
    spdlog::debug("control socket: refusing a connection, {} open", connections_.size());
    std::string line = control_error("too many control connections (" +
                                     std::to_string(limits_.connections_max) + " at once)");
    asio::error_code ignored;
    s.non_blocking(true, ignored);
    s.write_some(asio::buffer(line), ignored);
    s.close(ignored);
  } else {
    auto c = std::make_shared<connection>(*this, std::move(s));
    connections_.insert(c);
    c->start();
  }
  accept();
}

void control_endpoint::forget(const std::shared_ptr<connection>& c) { connections_.erase(c); }

}  // namespace chorus::daemon
