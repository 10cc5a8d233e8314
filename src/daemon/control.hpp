// control.hpp — chorusd's local control endpoint: a Unix stream socket, <RuntimeDir>/control
// (mode 0600: only the daemon's user may ask), on which an operator tool asks a running daemon
// for its status (docs/daemon.md "Control socket").
//
// Protocol: the client writes one request line ("status\n"); the daemon answers one line of
// JSON followed by "\n" and closes. An unknown request gets {"error":"unknown request '…';
// known: status"}. Everything is bounded, and nothing a client sends can crash the daemon:
//   - a request line longer than control_request_bytes_max, or not finished within
//     `request_timeout`, gets an error line and the connection is closed;
//   - at most `connections_max` connections at once; one more gets an error line at once;
//   - the answer must be read within `reply_timeout`, and what a client sends after its
//     request is discarded up to control_linger_bytes_max (then the connection is closed).
// A pure request parser (parse_control_request) and answer function (control_answer) sit
// inside a thin asynchronous connection that only moves bytes (STYLE.md).
//
// Thread-safety: none; everything runs on the daemon's event-loop thread.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace chorus::daemon {

// A minimal streaming JSON writer: commas and nesting are tracked, strings are escaped, and
// bytes that are not UTF-8 become U+FFFD, so the output is valid JSON whatever the input.
// Misuse (a value where a key is due, unbalanced ends) is a bug and asserts.
class json_writer {
 public:
  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  // The next member's name, inside an object; a value (or begin_*) must follow.
  json_writer& key(std::string_view k);

  json_writer& value(std::string_view s);
  json_writer& value(const char* s) { return value(std::string_view(s)); }
  json_writer& value(bool b);
  template <std::integral T>
  requires(!std::same_as<T, bool>) json_writer& value(T n) { return raw(std::to_string(n)); }
  json_writer& null();

  // key(k) then value(v).
  template <typename T>
  json_writer& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  // The document; every object and array must be closed.
  std::string take();

 private:
  json_writer& raw(std::string_view text);
  json_writer& open_container(char c);
  json_writer& close_container(char opened, char c);
  void before_value();
  void string(std::string_view s);

  std::string out_;
  std::vector<char> open_;  // the containers open, innermost last: '{' or '['
  bool first_ = true;       // nothing written yet in the innermost container
  bool after_key_ = false;  // a key was written; its value comes next
};

// What the control endpoint needs from the daemon that owns it.
class control_host {
 public:
  virtual ~control_host() = default;
  // The daemon's status as one JSON object (docs/daemon.md "Control socket").
  virtual void write_status(json_writer& w) const = 0;
};

// Longest request line accepted, its "\n" not counted.
inline constexpr std::size_t control_request_bytes_max = 256;
// Bytes a client may send after its request before the daemon stops discarding and closes.
inline constexpr std::size_t control_linger_bytes_max = 64 * 1024;

struct control_request_parse {
  enum class state { need_more, line, too_long };
  state st = state::need_more;
  std::string_view line;  // st == line: the request, without "\n" (nor a "\r" before it)
};

// Looks for the request line in what a client sent so far (`buffered`, from the start of the
// connection). The returned view points into `buffered`.
control_request_parse parse_control_request(std::string_view buffered);

// The answer to one request line, "\n" included. `host` is only used during the call.
std::string control_answer(std::string_view request, const control_host& host);

// One JSON line {"error": message}, "\n" included.
std::string control_error(std::string_view message);

struct control_limits {
  std::size_t connections_max = 16;
  std::chrono::milliseconds request_timeout{2000};
  std::chrono::milliseconds reply_timeout{10000};
};

// accept() failed for want of descriptors or memory: the connection stays in the listen queue
// and accept() would fail again at once, so a listener waits accept_retry (sessions may close
// meanwhile) instead of spinning.
bool out_of_descriptors(const asio::error_code& ec);
inline constexpr auto accept_retry = std::chrono::milliseconds(100);

// The listening socket and its connections.
// Lifetime: pending handlers refer to the endpoint; destroy it after io_context::run() returned
// (close() first is fine while the loop still runs).
class control_endpoint {
 public:
  // Binds `path` (mode 0600; its directory is created if missing, a stale socket file is
  // replaced, any other file is an error) and listens, or says why it cannot. `host` must
  // outlive the endpoint.
  static util::result<std::unique_ptr<control_endpoint>> open(asio::io_context& io,
                                                              std::string path,
                                                              const control_host& host,
                                                              control_limits limits = {});
  ~control_endpoint();
  control_endpoint(const control_endpoint&) = delete;
  control_endpoint& operator=(const control_endpoint&) = delete;

  // Starts accepting connections.
  void start();
  // Closes the listener and every connection and removes the socket file. Idempotent.
  void close();

  const std::string& path() const noexcept { return path_; }
  std::size_t connections() const noexcept { return connections_.size(); }

 private:
  class connection;

  control_endpoint(asio::io_context& io, std::string path, const control_host& host,
                   control_limits limits);
  void accept();
  void on_accept(const asio::error_code& ec, asio::local::stream_protocol::socket s);
  void forget(const std::shared_ptr<connection>& c);

  std::string path_;  // the socket file; removed by close() once bound
  const control_host& host_;
  control_limits limits_;
  asio::local::stream_protocol::acceptor acceptor_;
  asio::steady_timer retry_;  // accept() ran out of descriptors: try again a little later
  bool exhausted_ = false;    // accept() is failing for want of descriptors or memory
  bool bound_ = false;        // path_ is our socket file
  bool closed_ = false;
  // The open connections (at most limits_.connections_max); each removes itself when done.
  std::set<std::shared_ptr<connection>> connections_;
};

}  // namespace chorus::daemon
