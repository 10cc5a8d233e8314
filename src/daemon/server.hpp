// server.hpp — chorusd's I/O shell (DESIGN §4): one event-loop thread (standalone Asio) that
// drives the same core::node the simulator drives, the groups layer above it, the UDP transport
// to the other daemons and the client sessions (TCP and the Unix socket).
//
// Every input (a batch of datagrams, a client's requests, a timer) ends in pump(), which acts on
// the core::engine's output — the same engine the simulator drives (node, groups layer and the
// backlog between them): packets to the network and messages to the local sessions in the order
// the engine says, the timer armed. Nothing here decides group state or ring order.
//
// A control socket (<RuntimeDir>/control, daemon/control.hpp) answers an operator tool's status
// requests from the same loop.
//
// Thread-safety: none; everything runs on the io_context's single thread.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/engine.hpp"
#include "daemon/config_file.hpp"
#include "daemon/control.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/session.hpp"
#include "daemon/transport.hpp"
#include "util/prng.hpp"
#include "util/result.hpp"

namespace chorus::daemon {

// chorusd's version, as `--version` and the control socket report it.
inline constexpr std::string_view version = "0.1.0";

struct server_options {
  file_config conf;
  std::string source;       // where the configuration came from, for logs
  std::string daemon_name;  // which entry of conf is this daemon
  // Spread's quota. It also keeps every group under Spread's 3,122 local members
  // (MAX_LOCAL_GROUP_MEMBERS), so the REJECT for a join beyond that never arises.
  std::size_t sessions_max = 997;
  session_limits limits;
  core::duration token_hold = std::chrono::microseconds(500);
};

class server : public session_host, public control_host {
 public:
  // Binds everything (UDP, TCP, the Unix socket) or says why it cannot. The control socket
  // is bound too, but a failure there is only logged: the daemon serves its clients without it.
  static util::result<std::unique_ptr<server>> create(asio::io_context& io, server_options opt);
  ~server() override;

  // Starts the protocol and the listeners; the caller then runs the io_context.
  void start();
  // Closes listeners, sessions and sockets; io_context::run() then returns.
  void stop(const std::string& why);

  // For a busy-polling event loop (event_loop.hpp): the server then checks the node's deadline
  // on every polling round and arms its timer only when the loop goes to sleep.
  poll_hooks polling_hooks();

  const core::node& node() const noexcept { return engine_->node(); }
  const core::groups& groups() const noexcept { return engine_->groups(); }

 private:
  server(asio::io_context& io, server_options opt, core::config cfg,
         std::unique_ptr<udp_transport> transport);

  // session_host
  const std::string& daemon_name() const override { return opt_.daemon_name; }
  bool claim_name(const std::string& private_group, session& s) override;
  std::string generate_name() override;
  void opened(session& s) override;
  bool submit(session& s, core::service svc, util::byte_vector payload) override;
  void closed(session& s, bool was_open, const std::string& reason) override;
  void input_done() override { pump(); }

  // control_host: the status document (docs/daemon.md "Control socket"), one helper per member.
  void write_status(json_writer& w) const override;
  void status_daemon(json_writer& w) const;
  void status_configuration(json_writer& w) const;
  void status_daemons(json_writer& w) const;
  void status_transport(json_writer& w) const;
  void status_ring(json_writer& w) const;
  void status_sessions(json_writer& w) const;
  void status_groups(json_writer& w) const;
  std::string name_of(core::node_id n) const;

  util::status listen();
  void open_control(const std::string& path);
  void accept_tcp();
  void accept_unix();
  void accept_failed(const char* what, const asio::error_code& ec, asio::steady_timer& retry,
                     std::function<void()> again);
  void add_session(asio::generic::stream_protocol::socket socket, std::string peer,
                   bool local = false);
  void request_pump();
  // Acts on the engine's output: logs configurations, sends the packets, writes the sessions'
  // messages, arms the timer, resumes paused sessions once the engine takes requests again.
  void pump();
  void log_configuration(const core::configuration& c) const;
  void arm_timer(std::optional<core::time_point> deadline);
  void arm_kernel_timer(core::time_point deadline);
  void fire_deadline();  // the node's deadline came: tick and act on what it did
  static core::time_point now();

  asio::io_context& io_;
  server_options opt_;
  core::config cfg_;
  std::vector<std::string> names_;  // daemon names by node id
  std::unique_ptr<core::engine> engine_;  // from start()
  std::unique_ptr<udp_transport> transport_;
  std::unique_ptr<control_endpoint> control_;  // null if the control socket cannot be opened
  asio::ip::tcp::acceptor tcp_;
  asio::local::stream_protocol::acceptor unix_;
  std::string unix_path_;
  asio::steady_timer timer_;
  asio::steady_timer tcp_retry_, unix_retry_;  // accept() again after running out of descriptors
  bool accept_exhausted_ = false;              // accept() failed for want of descriptors or memory
  std::optional<core::time_point> armed_;      // when timer_ fires, if it is waiting
  bool polled_ = false;                        // polling_hooks() given out: the loop polls
  std::optional<core::time_point> due_;        // the node's deadline, when polled_
  asio::signal_set signals_;
  std::chrono::steady_clock::time_point started_;     // start()
  std::optional<core::configuration> configuration_;  // the last one installed

  std::unordered_map<std::uint32_t, std::shared_ptr<session>> sessions_;
  // Clients over the quota, read until their REJECT_QUOTA is written (not sessions: no quota,
  // no status entry); at most refusals_max.
  std::unordered_map<std::uint32_t, std::shared_ptr<session>> refusals_;
  std::map<std::string, core::session_id, std::less<>> claimed_;  // names in handshakes
  std::uint32_t next_session_ = 1;
  std::vector<std::weak_ptr<session>> paused_;
  std::vector<session*> shm_sessions_;  // open shared-memory sessions (polled)
  bool pump_posted_ = false;
  bool pumping_ = false;
  bool stopped_ = false;
  util::prng rng_;
};

}  // namespace chorus::daemon
