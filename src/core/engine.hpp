// engine.hpp — one daemon's whole protocol: the ring engine (core::node), the groups layer
// (core::groups) and the bounded backlog between them, behind one polled output (DESIGN §3,
// "One engine, two drivers"). chorusd and the simulator drive this same object: nothing that
// decides group state or what enters the ring when lives in either shell.
//
//   engine e(cfg, now);
//   e.receive(batch, now);                     // the datagrams the network had (datagrams.hpp)
//   e.tick(now);                               // when the output's deadline has passed
//   e.open_session(id, "#alice#d1", true);     // a client finished its handshake
//   e.submit(svc, payload, now);               // a client's request (join, leave, data)
//   e.close_session(id, now);                  // the client is gone: its disconnect is ordered
//   engine_output o = e.take_output(now);      // act on it (see engine_output)
//
// Between calls the engine settles: the node's events go to the groups layer in order, and what
// the groups layer must put through the ring (its state announcements, a closed session's
// disconnect) is submitted, or waits in the backlog while the node's send queue is full; a
// timer already due is served at once. While the backlog holds anything, clients' requests are
// refused with would_block (their session pauses), so a daemon's own requests keep their order
// with its clients'. The backlog holds at most one state announcement (a newer configuration
// makes an older one useless) and one disconnect per closed session: it is bounded by the
// sessions a daemon may have.
// The packet-order policy (datagrams.hpp) is the engine's too: its output is datagrams, bundles
// and their order decided, and a received batch is opened and ordered here.
// With `groups` off (fixed-ring benchmarks and the simulator's ring-only runs) the engine is the
// node alone: no groups layer, nothing internal is submitted.
// Thread-safety: none; one thread owns an engine.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/datagrams.hpp"
#include "core/groups.hpp"
#include "core/node.hpp"

namespace chorus::core {

struct engine_config {
  config node;
  // Run the groups layer (groups_config: node.self, this daemon order).
  bool groups = true;
  std::vector<node_id> daemon_order;  // spread.conf order (empty: node.daemons)
  // The segment is reached by multicast (one datagram per ring packet), else by unicast
  // fan-out (one per other member).
  bool multicast = false;
};

// A message the engine itself put through the ring (groups state, a disconnect).
struct internal_submit {
  std::size_t after_events = 0;  // how many of the output's events came before it
  msg_id id;
  service svc = service::agreed;
  util::shared_bytes payload;
};

// What the shell does, in this order:
struct engine_output {
  // 1. Send these datagrams, in order (the node's packets, bundled and ordered by
  //    plan_datagrams), and write `messages` to the sessions; when `deliver_first`, the
  //    messages go before the datagrams (a message this daemon ordered reaches its sender
  //    sooner), else after (the token is not held up by client writes). The guarantees do not
  //    depend on the order, only who waits.
  std::vector<outgoing_datagram> datagrams;
  std::vector<session_message> messages;
  bool deliver_first = false;
  // 2. These sessions' disconnects were ordered: forget them, their names are free.
  std::vector<session_id> released;
  // For logs, status and checkers: the node's events in order (configurations and deliveries,
  //    already given to the groups layer), and what the engine submitted itself.
  std::vector<event> events;
  std::vector<internal_submit> submitted;
  // 3. Call tick() at this time or soon after (nullopt: no timer is armed).
  std::optional<time_point> deadline;
};

class engine {
 public:
  engine(engine_config cfg, time_point now);

  // The datagrams read together from the network (one batch), in the order they were read.
  void receive(std::span<const incoming_datagram> batch, time_point now);
  // A batch of one.
  void step(node_id from, util::shared_bytes datagram, time_point now);
  void tick(time_point now);
  // A client's request; would_block while the backlog waits or the send queue is full (retry
  // after the next output), too_large above the node's limit.
  util::result<msg_id> submit(service svc, util::shared_bytes payload, time_point now);

  void open_session(session_id id, std::string private_group, bool membership);
  // The client is gone: nothing more is written to it, and its disconnect is put through the
  // ring so every daemon removes it at the same point.
  void close_session(session_id id, time_point now);
  bool name_in_use(std::string_view private_group) const;

  // Everything to do since the last call (settling first at `now`).
  engine_output take_output(time_point now);

  // Requests of this daemon's own still waiting for the send queue.
  std::size_t backlog() const noexcept { return backlog_.size(); }
  const class node& node() const noexcept { return *node_; }
  // The groups layer; only with cfg.groups.
  const class groups& groups() const noexcept { return *groups_; }
  bool has_groups() const noexcept { return groups_ != nullptr; }
  const datagram_stats& datagrams() const noexcept { return datagram_stats_; }

 private:
  struct waiting {
    util::shared_bytes payload;
    bool state = false;  // a state announcement (only the newest one is worth sending)
  };
  // Drains the node into the groups layer and the groups layer into the ring until neither has
  // more to say; serves a deadline already due.
  void settle(time_point now);
  void submit_internal(util::shared_bytes payload, bool state, time_point now);
  void flush_backlog(time_point now);

  std::unique_ptr<class node> node_;
  std::unique_ptr<class groups> groups_;  // null without cfg.groups
  std::deque<waiting> backlog_;
  engine_output out_;
  std::vector<outgoing_packet> packets_;  // the node's, since the last take_output
  datagram_policy policy_;
  datagram_stats datagram_stats_;
  std::optional<time_point> deadline_;  // the node's, as of its last output
};

}  // namespace chorus::core
