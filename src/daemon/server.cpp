// server.cpp — see server.hpp.
#include "daemon/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "daemon/affinity.hpp"
#include "wire/client_proto.hpp"
#include "wire/group_msg.hpp"

namespace chorus::daemon {
namespace {

namespace cl = wire::client;
using namespace std::chrono_literals;

const char* kind_name(core::configuration::kind k) {
  return k == core::configuration::kind::regular ? "regular" : "transitional";
}

constexpr std::size_t packet_bytes_loopback = 16 * 1024;
// The control socket's status lists at most this many sessions and groups, and this many
// members of each group: one answer stays a few megabytes at most.
constexpr std::size_t status_sessions_max = 1000;
constexpr std::size_t status_groups_max = 1000;
constexpr std::size_t status_group_members_max = 100;
// Clients over the quota wait this long at most for their connect message to be read before
// the reject (upstream waits a second for a client's first bytes), this many at once.
constexpr std::chrono::milliseconds refusal_wait = 1000ms;
constexpr std::size_t refusals_max = 64;

// A restarted daemon is a new incarnation (core::config::incarnation): kept in the runtime
// directory; without one, derived from the clock.
std::uint32_t next_incarnation(const std::string& dir) {
  constexpr std::uint32_t limit = 1u << 23;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string path = dir + "/incarnation";
  std::uint64_t last = 0;
  if (std::ifstream in(path); in) in >> last;
  std::uint32_t next = static_cast<std::uint32_t>((last + 1) % limit);
  std::ofstream out(path + ".tmp", std::ios::trunc);
  if (out << next << '\n' && (out.close(), !out.fail()) &&
      std::rename((path + ".tmp").c_str(), path.c_str()) == 0) {
    return next;
  }
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  spdlog::warn("cannot keep the incarnation in {}: {}; deriving it from the clock", path,
               std::strerror(errno));
  return static_cast<std::uint32_t>(secs % limit);
}

core::config core_config(const file_config& conf, std::size_t self, std::uint32_t incarnation,
                         core::duration token_hold) {
  core::config c;
  auto all = conf.all_daemons();
  c.self = core::node_id{static_cast<std::uint32_t>(self)};
  for (std::size_t i = 0; i < all.size(); ++i) {
    c.daemons.push_back(core::node_id{static_cast<std::uint32_t>(i)});
  }
  c.incarnation = incarnation;
  c.hash = core::conf_hash{config_hash(conf)};
  if (conf.window) c.window_global = *conf.window;
  if (conf.personal_window) c.window_personal = *conf.personal_window;
  if (conf.accelerated_window) c.window_accelerated = *conf.accelerated_window;
  if (conf.accelerated_ring && !*conf.accelerated_ring) c.window_accelerated = 0;
  c.window_accelerated = std::min(c.window_accelerated, c.window_personal);
  auto ms = [](std::uint32_t v) { return core::duration(std::chrono::milliseconds(v)); };
  if (conf.token_timeout_ms) c.token_timeout = ms(*conf.token_timeout_ms);
  if (conf.join_timeout_ms) c.join_timeout = ms(*conf.join_timeout_ms);
  if (conf.gather_timeout_ms) c.consensus_timeout = ms(*conf.gather_timeout_ms);
  c.token_hold = token_hold;
  c.park_after_idle_visits = 16;
  c.token_linger = std::chrono::microseconds(conf.token_linger_us);
  // Loopback has no MTU to respect: big datagrams carry many client messages per system call.
  bool loopback = std::all_of(all.begin(), all.end(),
                              [](const daemon_entry* d) { return d->address.starts_with("127."); });
  if (loopback) c.packet_bytes_max = packet_bytes_loopback;
  return c;
}

}  // namespace

util::result<std::unique_ptr<server>> server::create(asio::io_context& io, server_options opt) {
  const file_config& conf = opt.conf;
  auto all = conf.all_daemons();
  std::size_t self = all.size();
  std::vector<udp_transport::peer> peers;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i]->name == opt.daemon_name) self = i;
    asio::error_code ec;
    auto addr = asio::ip::make_address_v4(all[i]->address, ec);
    if (ec) {
      return util::status(util::errc::invalid_argument,
                          "daemon " + all[i]->name + ": bad address " + all[i]->address);
    }
    peers.push_back({core::node_id{static_cast<std::uint32_t>(i)},
                     asio::ip::udp::endpoint(addr, conf.port_of(*all[i]))});
  }
  if (self == all.size()) {
    return util::status(util::errc::invalid_argument, "no daemon named '" + opt.daemon_name + "'");
  }
  std::optional<asio::ip::udp::endpoint> multicast;
  if (conf.segments.size() == 1 && conf.segments[0].multicast()) {
    multicast = asio::ip::udp::endpoint(asio::ip::make_address_v4(conf.segments[0].address),
                                        conf.segments[0].port);
  }
  std::string runtime = conf.runtime_dir_of(opt.daemon_name);
  auto cfg = core_config(conf, self, next_incarnation(runtime), opt.token_hold);
  if (auto st = core::validate(cfg); !st.ok()) return st;
  auto transport = udp_transport::open(io, cfg.self, peers, multicast);
  if (!transport) return transport.error();
  if (multicast) {
    spdlog::info("reaching the other daemons by IP multicast to {}:{}",
                 multicast->address().to_string(), multicast->port());
  } else {
    spdlog::info("reaching the other daemons by unicast ({} peers)", peers.size() - 1);
  }
  std::unique_ptr<server> s(new server(io, std::move(opt), cfg, std::move(*transport)));
  // The control socket first: once clients can connect, operators can ask for the status.
  s->open_control(runtime + "/control");
  if (auto st = s->listen(); !st.ok()) return st;
  return s;
}

server::server(asio::io_context& io, server_options opt, core::config cfg,
               std::unique_ptr<udp_transport> transport)
    : io_(io),
      opt_(std::move(opt)),
      cfg_(std::move(cfg)),
      transport_(std::move(transport)),
      tcp_(io),
      unix_(io),
      timer_(io),
      tcp_retry_(io),
      unix_retry_(io),
      signals_(io, SIGINT, SIGTERM),
      rng_(
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())) {
  for (const auto* d : opt_.conf.all_daemons()) names_.push_back(d->name);
}

server::~server() = default;

util::status server::listen() {
  const auto* self = opt_.conf.find(opt_.daemon_name);
  std::uint16_t port = opt_.conf.port_of(*self);
  // Spread binds clients to every address; several daemons sharing a port on one host (on
  // 127.0.0.1, 127.0.0.2, …) each bind their own address instead.
  bool shared_port = false;
  for (const auto* d : opt_.conf.all_daemons()) {
    if (d != self && opt_.conf.port_of(*d) == port) shared_port = true;
  }
  for (const auto& i : self->interfaces) {
    if (i.kind == 0 || i.kind == 'C') shared_port = i.address != "0.0.0.0";
  }
  auto addr = shared_port ? asio::ip::make_address_v4(self->address) : asio::ip::address_v4::any();
  asio::error_code ec;
  asio::ip::tcp::endpoint ep(addr, port);
  tcp_.open(ep.protocol(), ec);
  if (!ec) tcp_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) tcp_.bind(ep, ec);
  if (!ec) tcp_.listen(25, ec);
  if (ec) {
    return util::status(util::errc::invalid_argument,
                        "cannot listen on TCP " + ep.address().to_string() + ":" +
                            std::to_string(port) + ": " + ec.message());
  }
  unix_path_ = opt_.conf.unix_socket_dir_of(opt_.daemon_name) + "/" + std::to_string(port);
  if (std::error_code dir_ec; opt_.conf.unix_socket_dir.find("%n") != std::string::npos) {
    std::filesystem::create_directories(std::filesystem::path(unix_path_).parent_path(), dir_ec);
  }
  // Bound under a temporary name and renamed once listening: whoever sees the socket's path
  // (a client, a script waiting for the daemon) can connect to it. Bound under its own name,
  // the path exists between bind and listen, and a connect then is refused.
  const std::string bound = unix_path_ + ".new";
  if (bound.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return util::status(util::errc::invalid_argument,
                        "the Unix socket path " + unix_path_ + " is longer than " +
                            std::to_string(sizeof(sockaddr_un{}.sun_path) - 1 - 4) +
                            " bytes: shorten UnixSocketDir");
  }
  ::unlink(bound.c_str());
  unix_.open(asio::local::stream_protocol(), ec);
  if (!ec) unix_.bind(asio::local::stream_protocol::endpoint(bound), ec);
  if (!ec) unix_.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) ::chmod(bound.c_str(), 0666);
  if (!ec && ::rename(bound.c_str(), unix_path_.c_str()) != 0) {
    ec = asio::error_code(errno, asio::system_category());
  }
  if (ec) {
    ::unlink(bound.c_str());
    return util::status(util::errc::invalid_argument,
                        "cannot listen on the Unix socket " + unix_path_ + ": " + ec.message());
  }
  spdlog::info("listening for clients on TCP {}:{} and {}", ep.address().to_string(), port,
               unix_path_);
  return {};
}

// The daemon serves its clients without it: a control socket that cannot be opened (a path
// too long, a directory not writable) is logged, not fatal.
void server::open_control(const std::string& path) {
  auto c = control_endpoint::open(io_, path, *this);
  if (!c) {
    spdlog::error("{}; no status for operator tools", c.error().message());
    return;
  }
  control_ = std::move(*c);
  spdlog::info("control socket {}", control_->path());
}

void server::start() {
  started_ = std::chrono::steady_clock::now();
  core::engine_config ec;
  ec.node = cfg_;
  ec.multicast = transport_->multicast().has_value();
  engine_ = std::make_unique<core::engine>(std::move(ec), now());
  spdlog::info("daemon {} (node {}, incarnation {}) of {} configured daemons, config {:016x}",
               opt_.daemon_name, cfg_.self.value, cfg_.incarnation, cfg_.daemons.size(),
               cfg_.hash.value);
  transport_->start([this](std::span<const core::incoming_datagram> batch) {
    engine_->receive(batch, now());
    pump();
  });
  signals_.async_wait([this](const asio::error_code& ec, int sig) {
    if (!ec) stop(sig == SIGINT ? "SIGINT" : "SIGTERM");
  });
  accept_tcp();
  accept_unix();
  if (control_) control_->start();
  pump();
}

void server::stop(const std::string& why) {
  if (stopped_) return;
  stopped_ = true;
  spdlog::info("shutting down ({}); {} sessions", why, sessions_.size());
  asio::error_code ec;
  tcp_.close(ec);
  unix_.close(ec);
  ::unlink(unix_path_.c_str());
  if (control_) control_->close();  // removes the socket file
  for (auto& [id, s] : sessions_) s->shutdown();
  for (auto& [id, s] : refusals_) s->shutdown();
  sessions_.clear();
  refusals_.clear();
  transport_->close();
  timer_.cancel();
  tcp_retry_.cancel();
  unix_retry_.cancel();
  signals_.cancel();
  io_.stop();
}

core::time_point server::now() {
  return core::time_point(std::chrono::steady_clock::now().time_since_epoch());
}

// --- clients --------------------------------------------------------------------------------

void server::accept_tcp() {
  tcp_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket s) {
    if (stopped_) return;
    if (!ec) {
      asio::error_code ignored;
      s.set_option(asio::ip::tcp::no_delay(true), ignored);
      s.set_option(asio::socket_base::keep_alive(true), ignored);
      auto remote = s.remote_endpoint(ignored);
      add_session(asio::generic::stream_protocol::socket(std::move(s)),
                  remote.address().to_string() + ":" + std::to_string(remote.port()));
      accept_tcp();
    } else {
      accept_failed("TCP", ec, tcp_retry_, [this] { accept_tcp(); });
    }
  });
}

void server::accept_unix() {
  unix_.async_accept([this](const asio::error_code& ec, asio::local::stream_protocol::socket s) {
    if (stopped_) return;
    if (!ec) {
      add_session(asio::generic::stream_protocol::socket(std::move(s)), unix_path_, true);
      accept_unix();
    } else {
      accept_failed("Unix socket", ec, unix_retry_, [this] { accept_unix(); });
    }
  });
}

void server::accept_failed(const char* what, const asio::error_code& ec, asio::steady_timer& retry,
                           std::function<void()> again) {
  if (!out_of_descriptors(ec)) {
    spdlog::warn("{} accept: {}", what, ec.message());
    again();
    return;
  }
  if (!accept_exhausted_) {
    spdlog::warn("{} accept: {} ({} sessions); new clients wait until some close", what,
                 ec.message(), sessions_.size());
    accept_exhausted_ = true;
  }
  // One timer per listener, owned by the server (a timer owned by its own handler was
  // destroyed inside its completion: UBSan).
  retry.expires_after(accept_retry);
  retry.async_wait([this, again = std::move(again)](const asio::error_code& e) {
    if (!e && !stopped_) again();
  });
}

void server::add_session(asio::generic::stream_protocol::socket socket, std::string peer,
                         bool local) {
  if (accept_exhausted_) {
    spdlog::info("accepting clients again ({} sessions)", sessions_.size());
    accept_exhausted_ = false;
  }
  if (sessions_.size() >= opt_.sessions_max) {
    spdlog::warn("refusing a client from {}: {} sessions already", peer, sessions_.size());
    if (refusals_.size() >= refusals_max) {
      // A flood of refused clients holds no more descriptors than this: the rest get the
      // byte at once, as upstream sends it (a client that writes first may miss it).
      std::byte b{static_cast<std::uint8_t>(cl::reject_quota)};
      asio::error_code ec;
      socket.write_some(asio::buffer(&b, 1), ec);
      return;
    }
    // Answered after its connect message, within a second (session::refuse()).
    session_limits limits = opt_.limits;
    limits.handshake_timeout = std::min(limits.handshake_timeout, refusal_wait);
    core::session_id id{next_session_++};
    auto s = std::make_shared<session>(*this, id, std::move(socket), std::move(peer), limits,
                                       local);
    refusals_.emplace(id.value, s);
    s->refuse(cl::reject_quota);
    return;
  }
  core::session_id id{next_session_++};
  auto s =
      std::make_shared<session>(*this, id, std::move(socket), std::move(peer), opt_.limits, local);
  sessions_.emplace(id.value, s);
  s->start();
}

bool server::claim_name(const std::string& private_group, session& s) {
  if (engine_->name_in_use(private_group) || claimed_.contains(private_group)) return false;
  claimed_.emplace(private_group, s.id());
  return true;
}

std::string server::generate_name() {
  for (;;) {
    std::string name =
        "r" + std::to_string(rng_.uniform(0, 9998)) + "-" + std::to_string(next_session_);
    name.resize(std::min<std::size_t>(name.size(), 9));
    auto pg = cl::private_group_name(name, opt_.daemon_name);
    if (!engine_->name_in_use(pg) && !claimed_.contains(pg)) return name;
  }
}

void server::opened(session& s) {
  claimed_.erase(s.private_group());
  if (s.shared_memory()) shm_sessions_.push_back(&s);
  engine_->open_session(s.id(), s.private_group(), s.membership());
  spdlog::debug("session {} opened from {}{}", s.private_group(), s.peer(),
                s.membership() ? "" : " (no membership messages)");
}

bool server::submit(session& s, core::service svc, util::byte_vector payload) {
  auto r = engine_->submit(svc, util::shared_bytes(std::move(payload)), now());
  if (!r) {
    if (r.error().code() == util::errc::would_block) {
      paused_.push_back(s.weak_from_this());
      return false;
    }
    // Cannot happen for client messages (144,000 bytes at most), but never crash on it.
    spdlog::error("session {}: message refused: {}", s.private_group(), r.error().message());
    return true;
  }
  // input_done() pumps once for the whole batch of requests.
  return true;
}

void server::closed(session& s, bool was_open, const std::string& reason) {
  std::erase(shm_sessions_, &s);
  auto claimed = claimed_.find(s.private_group());
  if (claimed != claimed_.end() && claimed->second == s.id()) claimed_.erase(claimed);
  if (was_open) {
    // Its disconnect is ordered like any request, so every daemon removes it at the same point.
    engine_->close_session(s.id(), now());
    request_pump();
    bool quiet = reason == "disconnected" || reason.starts_with("connection closed");
    if (quiet) {
      spdlog::debug("session {} closed: {}", s.private_group(), reason);
    } else {
      spdlog::warn("session {} from {} closed: {}", s.private_group(), s.peer(), reason);
    }
  } else {
    spdlog::info("client from {} refused: {}", s.peer(), reason);
  }
  // Dropped after the current handler: the session may still be on the call stack.
  asio::post(io_, [this, id = s.id()] {
    sessions_.erase(id.value);
    refusals_.erase(id.value);
  });
}

// --- the core -------------------------------------------------------------------------------

void server::request_pump() {
  if (pump_posted_ || pumping_) return;
  pump_posted_ = true;
  asio::post(io_, [this] {
    pump_posted_ = false;
    pump();
  });
}

void server::pump() {
  if (stopped_ || pumping_) return;
  pumping_ = true;
  core::engine_output out = engine_->take_output(now());
  for (const auto& e : out.events) {
    if (const auto* c = std::get_if<core::configuration>(&e)) {
      log_configuration(*c);
      configuration_ = *c;
    }
  }
  // Either order of sending and delivering gives the same guarantees (delivery never waits for
  // the network, except SAFE delivery, which the ring holds back itself); the order is about
  // who waits (core::engine_output::deliver_first). Each datagram costs a few microseconds on
  // loopback, and the token with what it carries is the ring's critical path.
  if (!out.deliver_first) transport_->send(out.datagrams);
  for (auto& m : out.messages) {
    auto it = sessions_.find(m.to.value);
    if (it != sessions_.end()) it->second->deliver(std::move(m.bytes));
  }
  if (out.deliver_first) transport_->send(out.datagrams);
  arm_timer(out.deadline);
  pumping_ = false;
  if (engine_->backlog() == 0 && !paused_.empty()) {
    auto paused = std::exchange(paused_, {});
    for (auto& w : paused) {
      if (auto s = w.lock()) s->resume_reading();
    }
  }
}

void server::log_configuration(const core::configuration& c) const {
  std::string members;
  for (auto m : c.members) {
    members += ' ';
    members += name_of(m);
  }
  // The ring as <representative>/<its incarnation>/<sequence>: names what the numbers mean.
  auto rep = name_of(c.ring.rep);
  spdlog::info("{} configuration, ring {}/{}/{}:{}", kind_name(c.type), rep,
               core::ring_incarnation(c.ring.counter), core::ring_sequence(c.ring.counter),
               members);
}

void server::arm_timer(std::optional<core::time_point> deadline) {
  if (polled_) {
    due_ = deadline;  // polling_hooks() checks it, and arms the timer before the loop sleeps
    return;
  }
  if (deadline) arm_kernel_timer(*deadline);
}

void server::arm_kernel_timer(core::time_point deadline) {
  // Re-arming costs system calls and a cancelled handler, and the token's retransmission
  // deadline moves on every visit: keep an earlier wake-up if one is set. Waking early is
  // harmless (tick() fires only what is due, and pump() arms the timer again).
  if (armed_ && *armed_ <= deadline) return;
  armed_ = deadline;
  timer_.expires_at(std::chrono::steady_clock::time_point(deadline.time_since_epoch()));
  timer_.async_wait([this, at = deadline](const asio::error_code& ec) {
    if (ec || stopped_ || armed_ != at) return;
    armed_.reset();
    fire_deadline();
  });
}

void server::fire_deadline() {
  engine_->tick(now());
  pump();
}

poll_hooks server::polling_hooks() {
  polled_ = true;
  // A deadline already set stays with the kernel timer armed for it; later ones come here.
  poll_hooks h;
  h.poll = [this] {
    if (stopped_) return false;
    bool worked = false;
    // Indexes, not iterators: a session that fails here leaves the list.
    for (std::size_t i = 0; i < shm_sessions_.size(); ++i) {
      session* s = shm_sessions_[i];
      s->polling();
      if (s->poll_shared_memory()) worked = true;
    }
    if (!due_ || *due_ > now()) return worked;
    due_.reset();
    fire_deadline();
    return true;
  };
  h.before_sleep = [this] {
    if (stopped_) return false;
    // Clients ring while we sleep; whatever they published before they could know is taken
    // first.
    bool waiting = false;
    for (session* s : shm_sessions_) waiting = s->prepare_sleep() || waiting;
    if (waiting) return true;
    if (due_) arm_kernel_timer(*due_);
    return false;
  };
  return h;
}

std::string server::name_of(core::node_id n) const {
  return n.value < names_.size() ? names_[n.value] : std::to_string(n.value);
}

// --- status (the control socket) ------------------------------------------------------------

void server::write_status(json_writer& w) const {
  auto uptime = std::chrono::steady_clock::now() - started_;
  w.begin_object();
  status_daemon(w);
  w.field("uptime_s", std::chrono::duration_cast<std::chrono::seconds>(uptime).count());
  status_configuration(w);
  status_daemons(w);
  status_transport(w);
  status_ring(w);
  status_sessions(w);
  status_groups(w);
  w.end_object();
}

void server::status_daemon(json_writer& w) const {
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(cfg_.hash.value));
  w.key("daemon").begin_object();
  w.field("name", opt_.daemon_name).field("node_id", cfg_.self.value);
  w.field("incarnation", cfg_.incarnation).field("version", version);
  w.field("config_source", opt_.source).field("config_hash", std::string_view(hash));
  w.field("cpus", format_cpu_list(allowed_cpus()));
  w.end_object();
}

void server::status_configuration(json_writer& w) const {
  w.key("configuration");
  if (!configuration_) {
    w.null();  // none installed yet: the daemon is still gathering its first ring
    return;
  }
  const auto& c = *configuration_;
  w.begin_object();
  w.field("type", kind_name(c.type));
  w.key("ring").begin_object();
  w.field("representative", name_of(c.ring.rep));
  w.field("incarnation", core::ring_incarnation(c.ring.counter));
  w.field("sequence", core::ring_sequence(c.ring.counter));
  w.end_object();
  w.key("members").begin_array();
  for (auto m : c.members) w.value(name_of(m));
  w.end_array();
  w.end_object();
}

void server::status_daemons(json_writer& w) const {
  auto all = opt_.conf.all_daemons();
  w.key("daemons").begin_array();
  for (std::size_t i = 0; i < all.size(); ++i) {
    core::node_id id{static_cast<std::uint32_t>(i)};
    bool member = configuration_ &&
                  std::find(configuration_->members.begin(), configuration_->members.end(), id) !=
                      configuration_->members.end();
    w.begin_object();
    w.field("name", all[i]->name).field("address", all[i]->address);
    w.field("port", opt_.conf.port_of(*all[i])).field("self", id == cfg_.self);
    w.field("in_configuration", member);
    w.end_object();
  }
  w.end_array();
}

void server::status_transport(json_writer& w) const {
  const transport_stats& t = transport_->stats();
  static_assert(sizeof(transport_stats) == 8 * sizeof(std::uint64_t),
                "a transport_stats counter is missing from the status");
  w.key("transport").begin_object();
  const auto& multicast = transport_->multicast();
  w.field("mode", multicast ? "multicast" : "unicast");
  if (multicast) {
    w.field("multicast_group",
            multicast->address().to_string() + ":" + std::to_string(multicast->port()));
  }
  w.field("datagrams_sent", t.datagrams_sent).field("datagrams_received", t.datagrams_received);
  w.field("bytes_sent", t.bytes_sent).field("bytes_received", t.bytes_received);
  w.field("send_syscalls", t.send_syscalls).field("receive_syscalls", t.receive_syscalls);
  w.field("send_errors", t.send_errors).field("unknown_sender", t.unknown_sender);
  // Bundles are the engine's (core/datagrams.hpp); the status keeps them with the datagrams.
  static_assert(sizeof(core::datagram_stats) == 3 * sizeof(std::uint64_t),
                "a core::datagram_stats counter is missing from the status");
  if (engine_) {
    const core::datagram_stats& b = engine_->datagrams();
    w.field("bundles_sent", b.bundles_sent).field("bundles_received", b.bundles_received);
    w.field("bad_bundles", b.bad_bundles);
  }
  w.end_object();
}

void server::status_ring(json_writer& w) const {
  static constexpr const char* roles[] = {"operational", "gather", "commit", "recovery"};
  static_assert(sizeof(core::stats) == 20 * sizeof(std::uint64_t),
                "a core::stats counter is missing from the status");
  w.key("ring");
  if (!engine_) {
    w.null();
    return;
  }
  const core::node& n = engine_->node();
  const core::stats& s = n.stats();
  w.begin_object();
  w.field("role", roles[static_cast<std::size_t>(n.role())]);
  w.field("aru", n.aru().value).field("delivered_upto", n.delivered_upto().value);
  w.field("safe_upto", n.safe_upto().value);
  w.field("queued_messages", n.queued_messages()).field("queued_bytes", n.queued_bytes());
  w.field("backlog_messages", engine_->backlog());
  w.field("packets_received", s.packets_received);
  w.field("dropped_malformed", s.dropped_malformed).field("dropped_conf_hash", s.dropped_conf_hash);
  w.field("dropped_foreign_ring", s.dropped_foreign_ring);
  w.field("dropped_not_member", s.dropped_not_member);
  w.field("dropped_duplicate", s.dropped_duplicate);
  w.field("dropped_beyond_window", s.dropped_beyond_window);
  w.field("dropped_stale_token", s.dropped_stale_token);
  w.field("dropped_unsupported", s.dropped_unsupported);
  w.field("tokens_received", s.tokens_received);
  w.field("tokens_retransmitted", s.tokens_retransmitted);
  w.field("token_lingers", s.token_lingers);
  w.field("packets_sent", s.packets_sent).field("packets_retransmitted", s.packets_retransmitted);
  w.field("retransmit_requests", s.retransmit_requests);
  w.field("messages_submitted", s.messages_submitted);
  w.field("messages_refused", s.messages_refused);
  w.field("messages_delivered", s.messages_delivered).field("bytes_delivered", s.bytes_delivered);
  w.field("reassembly_errors", s.reassembly_errors);
  w.end_object();
}

void server::status_sessions(json_writer& w) const {
  // By session id (connection order): never the hash map's order.
  std::vector<const session*> list;
  list.reserve(sessions_.size());
  for (const auto& [id, s] : sessions_) list.push_back(s.get());
  std::size_t shown = std::min(list.size(), status_sessions_max);
  std::partial_sort(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(shown), list.end(),
                    [](const session* a, const session* b) { return a->id() < b->id(); });
  w.key("sessions").begin_object();
  w.field("count", sessions_.size()).field("max", opt_.sessions_max);
  w.field("truncated", shown < list.size());
  w.key("list").begin_array();
  for (std::size_t i = 0; i < shown; ++i) {
    const session& s = *list[i];
    w.begin_object();
    w.field("private_group", s.private_group()).field("peer", s.peer());
    w.field("state", s.state_name()).field("shared_memory", s.shared_memory());
    w.field("queued_messages", s.queued()).field("queued_bytes", s.queued_bytes());
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

void server::status_groups(json_writer& w) const {
  static_assert(sizeof(core::groups_stats) == 5 * sizeof(std::uint64_t),
                "a groups_stats counter is missing from the status");
  w.key("groups");
  if (!engine_) {
    w.null();
    return;
  }
  const core::groups& groups = engine_->groups();
  auto list = groups.summarize(status_groups_max, status_group_members_max);
  const core::groups_stats& gs = groups.stats();
  w.begin_object();
  w.field("count", groups.group_count()).field("truncated", list.size() < groups.group_count());
  w.field("data_delivered", gs.data_delivered).field("malformed", gs.malformed);
  w.field("ignored_ops", gs.ignored_ops).field("exchanges", gs.exchanges);
  w.field("exchanges_aborted", gs.exchanges_aborted);
  w.key("list").begin_array();
  for (const auto& g : list) {
    w.begin_object();
    w.field("name", g.name).field("member_count", g.member_count);
    w.key("members").begin_array();
    for (const auto& m : g.members) w.value(m);
    w.end_array();
    w.field("truncated", g.members.size() < g.member_count);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace chorus::daemon
