#include "core/node.hpp"

#include <algorithm>
#include <limits>

#include "core/ring.hpp"
#include "util/assert.hpp"
#include "wire/packet.hpp"

namespace chorus::core {
namespace {

// The recovery queue holds views of packets the old ring's window already holds: it allocates
// nothing of its own, so it needs no bound of its own.
constexpr std::size_t recovery_queue_bytes_max = std::numeric_limits<std::size_t>::max() / 2;

bool contains(const std::vector<node_id>& v, node_id n) {
  return std::find(v.begin(), v.end(), n) != v.end();
}

// proc − fail of a join: the members its sender would form a ring with.
std::vector<node_id> agreed_members(const wire::join& j) {
  std::vector<node_id> r;
  for (node_id n : j.proc)
    if (!contains(j.fail, n)) r.push_back(n);
  return r;
}

std::vector<node_id> ids_of(const std::vector<wire::commit_entry>& entries) {
  std::vector<node_id> r;
  for (const auto& e : entries) r.push_back(e.id);
  return r;
}

}  // namespace

util::status validate(const config& cfg) {
  using util::errc;
  auto bad = [](std::string what) { return util::status(errc::invalid_argument, std::move(what)); };
  if (cfg.members.empty() && cfg.daemons.empty())
    return bad("neither a fixed ring (members) nor the daemons to gather with");
  if (!cfg.members.empty() &&
      std::find(cfg.members.begin(), cfg.members.end(), cfg.self) == cfg.members.end())
    return bad("this daemon is not among the ring's members");
  if (!cfg.daemons.empty() && !std::binary_search(cfg.daemons.begin(), cfg.daemons.end(), cfg.self))
    return bad("this daemon is not among the configured daemons");
  if (!cfg.daemons.empty() && !cfg.members.empty() && cfg.ring.counter == 0)
    return bad("a starting ring needs a ring counter of at least 1");
  if (!cfg.daemons.empty() && cfg.daemons.size() > wire::members_max)
    return bad("more daemons than a ring can hold");
  for (std::size_t i = 0; i < cfg.members.size(); ++i) {
    if (cfg.members[i] == wire::no_node) return bad("a member uses the reserved id 0xffffffff");
    for (std::size_t j = i + 1; j < cfg.members.size(); ++j)
      if (cfg.members[i] == cfg.members[j]) return bad("a member is listed twice");
  }
  if (cfg.packet_bytes_max < 256 || cfg.packet_bytes_max > wire::datagram_bytes_max)
    return bad("packet size must be within 256…65507 bytes");
  if (cfg.message_bytes_max > wire::message_bytes_max)
    return bad("message size limit above the wire's 64 MiB");
  if (cfg.send_queue_bytes_max < cfg.message_bytes_max)
    return bad("the send queue must hold at least one message of the largest size");
  if (cfg.window_personal == 0 || cfg.window_global < cfg.window_personal)
    return bad("windows: need 0 < window_personal ≤ window_global");
  if (cfg.outstanding_max < cfg.window_global)
    return bad("outstanding_max must be at least window_global");
  if (cfg.rtr_per_visit_max == 0) return bad("rtr_per_visit_max must be positive");
  if (cfg.incarnation >= (1u << 23)) return bad("incarnation above 2^23");
  if (!std::is_sorted(cfg.daemons.begin(), cfg.daemons.end()) ||
      std::adjacent_find(cfg.daemons.begin(), cfg.daemons.end()) != cfg.daemons.end())
    return bad("daemons must be ascending, without duplicates");
  for (node_id m : cfg.members)
    if (!cfg.daemons.empty() && !std::binary_search(cfg.daemons.begin(), cfg.daemons.end(), m))
      return bad("a member is not among the configured daemons");
  if (cfg.token_retransmit <= duration::zero()) return bad("token_retransmit must be positive");
  if (cfg.token_hold < duration::zero()) return bad("token_hold must not be negative");
  if (cfg.park_after_idle_visits == 0) return bad("park_after_idle_visits must be at least 1");
  if (cfg.token_timeout <= cfg.token_retransmit)
    return bad("token_timeout must be above token_retransmit");
  if (cfg.join_timeout <= duration::zero() || cfg.consensus_timeout <= cfg.join_timeout)
    return bad("need 0 < join_timeout < consensus_timeout");
  if (cfg.merge_detect <= duration::zero()) return bad("merge_detect must be positive");
  if (cfg.token_hold >= cfg.token_retransmit)
    return bad("token_hold must be below token_retransmit, or every parked token is resent");
  if (cfg.token_linger < duration::zero() || cfg.token_linger >= cfg.token_retransmit)
    return bad("token_linger must be at least 0 and below token_retransmit");
  return {};
}

node::node(config cfg, time_point now)
    : cfg_(std::move(cfg)),
      queue_(cfg_.send_queue_bytes_max, msg_id{(std::uint64_t{cfg_.incarnation} << 40) + 1}),
      recovery_queue_(recovery_queue_bytes_max),
      reach_(cfg_.self, 2 * cfg_.merge_detect + cfg_.join_timeout) {
  const util::status valid = validate(cfg_);
  CHORUS_ASSERT(valid.ok(), "invalid core::config (the shell must validate() first)");
  if (!cfg_.members.empty()) {
    ring_counter_max_ = ring_sequence(cfg_.ring.counter);
    out_.events.push_back(configuration{configuration::kind::regular, cfg_.ring, cfg_.members});
    start_ring(cfg_.ring, cfg_.members, &queue_, now);
  } else {
    become_gather(now);
  }
}

node::~node() = default;

void node::start_ring(ring_id id, std::vector<node_id> members, send_queue* source,
                      time_point now) {
  const bool alone = members.size() == 1;
  ring_ = std::make_unique<ring>(cfg_, id, std::move(members), source, stats_, out_, now);
  token_loss_at_.reset();
  if (membership() && !alone) token_loss_at_ = now + cfg_.token_timeout;
}

// --- input ---------------------------------------------------------------------------------

void node::step(node_id from, util::shared_bytes bytes, time_point now) {
  ++stats_.packets_received;
  auto h = wire::decode_header(bytes.span());
  if (!h) {
    ++(h.error().code() == util::errc::unsupported ? stats_.dropped_unsupported
                                                   : stats_.dropped_malformed);
    return;
  }
  // I-10: a packet sent under another configuration is never interpreted.
  if (h->hash != cfg_.hash) {
    ++stats_.dropped_conf_hash;
    return;
  }
  const auto known = all_daemons();
  if (!contains(known, from) || !contains(known, h->sender) || h->sender == cfg_.self) {
    ++stats_.dropped_not_member;
    return;
  }
  auto p = wire::decode(bytes.span());
  if (!p) {
    ++stats_.dropped_malformed;
    return;
  }
  if (membership() && reach_.heard_from(from, now)) probe_soon(now);
  if (auto* d = std::get_if<wire::data_packet>(&*p)) {
    on_data(*d, std::move(bytes), now);
  } else if (auto* t = std::get_if<wire::token>(&*p)) {
    on_token(std::move(*t), now);
  } else if (auto* j = std::get_if<wire::join>(&*p)) {
    if (membership())
      on_join(*j, now);
    else
      ++stats_.dropped_unsupported;
  } else if (auto* c = std::get_if<wire::commit_token>(&*p)) {
    if (membership())
      on_commit(std::move(*c), now);
    else
      ++stats_.dropped_unsupported;
  }
#ifdef CHORUS_CHECK_INVARIANTS
  check_invariants();
#endif
}

void node::on_data(const wire::data_packet& p, util::shared_bytes bytes, time_point now) {
  if (ring_ && p.ring == ring_->id() && contains(ring_->members(), p.hdr.sender)) {
    // A data packet of the ring being formed also shows the commit token went round.
    if (std::holds_alternative<recovery>(role_)) commit_retransmit_at_.reset();
    ring_->on_data(p, std::move(bytes));
    after_ring_call(now);
    return;
  }
  ++stats_.dropped_foreign_ring;
  on_foreign(p.hdr.sender, now);
}

void node::on_token(wire::token t, time_point now) {
  if (ring_ && t.ring == ring_->id() && contains(ring_->members(), t.hdr.sender)) {
    if (std::holds_alternative<recovery>(role_)) commit_retransmit_at_.reset();
    if (ring_->on_token(std::move(t), now) && token_loss_at_)
      token_loss_at_ = now + cfg_.token_timeout;
    after_ring_call(now);
    return;
  }
  ++stats_.dropped_foreign_ring;
  on_foreign(t.hdr.sender, now);
}

// A data packet or token of another ring (protocol.md "Leaving operational"): from a daemon
// outside our ring it means another ring is reachable, so the representative gathers to merge
// if the daemons hear each other both ways (protocol.md "Asymmetric links"). From a member it is
// an old ring's straggler.
void node::on_foreign(node_id sender, time_point now) {
  if (!membership() || !std::holds_alternative<operational>(role_)) return;
  if (contains(ring_->members(), sender)) return;
  if (should_merge(now)) become_gather(now, {sender}, nullptr, true);
}

bool node::representative() const { return ring_ && ring_->members().front() == cfg_.self; }

bool node::should_merge(time_point now) const {
  if (!representative()) return false;
  std::vector<node_id> ring = ring_->members();
  std::sort(ring.begin(), ring.end());
  return reach_.mergeable_outsider(ring, now);
}

// A probe only tells who hears whom: it never counts as agreement, and only an operational
// representative acts on one from outside its ring.
void node::on_probe(const wire::join& j, time_point now) {
  if (std::holds_alternative<operational>(role_) && !contains(ring_->members(), j.hdr.sender) &&
      should_merge(now))
    become_gather(now, {j.hdr.sender}, nullptr, true);
}

// The ring may have delivered recovery items (delivery pauses after them): act on them in the
// total order, then let it go on.
void node::after_ring_call(time_point now) {
  while (ring_) {
    std::vector<delivery> items = ring_->take_recovered();
    if (items.empty()) return;
    if (auto* rec = std::get_if<recovery>(&role_)) {
      for (delivery& d : items) {
        if (d.payload.empty()) {
          rec->done.insert(d.origin);
          continue;
        }
        auto inner = wire::decode_data(d.payload.span());
        if (inner && old_ && inner->ring == old_->id())
          old_->store_recovered(inner->seq, d.payload, std::move(inner).value());
      }
      if (rec->done.size() == ring_->members().size()) install(now);
    }
    ring_->resume();  // recovery items outside recovery come only from a faulty peer
  }
}

void node::on_join(const wire::join& j, time_point now) {
  ring_counter_max_ = std::max(ring_counter_max_, j.ring_counter_max);
  reach_.row(j.hdr.sender, j.heard, j.probe ? j.proc : std::vector<node_id>{j.hdr.sender}, j.probe,
             now);
  if (j.probe) return on_probe(j, now);
  if (auto* g = std::get_if<gather>(&role_)) {
    if (g->sets.on_join(j.hdr.sender, j.proc, j.fail) == gather_sets::outcome::changed) {
      send_join(all_daemons(), now);
      g->consensus_at = now + cfg_.consensus_timeout;
    }
    check_consensus(now);
    return;
  }
  if (auto* c = std::get_if<commit>(&role_)) {
    // Totem §4.3: a join that tells us nothing new (its sets within ours) does not undo an
    // agreement; our joins keep going out while we wait, so its sender will catch up. A join
    // from outside the ring being formed waits for it to form (corosync, Spread): the ring's
    // representative will look for merges once it is operational.
    if (!contains(c->members, j.hdr.sender)) return;
    if (std::includes(c->sets.proc().begin(), c->sets.proc().end(), j.proc.begin(), j.proc.end()) &&
        std::includes(c->sets.fail().begin(), c->sets.fail().end(), j.fail.begin(), j.fail.end()))
      return;
  } else if (ring_ && contains(ring_->members(), j.hdr.sender)) {
    // A member's join sent before the ring we are in (or forming) existed is stale: its counter
    // predates that ring's (protocol.md "Leaving operational"). So is one that names exactly our
    // ring: a member's join from the gather or commit that formed it, arriving late. (A member
    // that lost our ring's token gives up on someone, or is given up on, and its sets change.)
    const std::vector<node_id> agreed = agreed_members(j);
    if (j.ring_counter_max < ring_sequence(ring_->id().counter) || agreed == ring_->members())
      return;
    // A member's join that keeps every member of our ring and adds daemons is a merge its
    // representative started: join it as a merge, keeping who hears whom. Forgetting it (as after
    // a failure) would leave our joins naming only our own ring, the outsiders would find the
    // merge does not hold, and the ring would form again without them first.
    const bool merge = std::holds_alternative<operational>(role_) &&
                       agreed.size() > ring_->members().size() &&
                       std::all_of(ring_->members().begin(), ring_->members().end(),
                                   [&](node_id m) { return contains(agreed, m); });
    if (merge) return become_gather(now, {j.hdr.sender}, &j, true);
  } else if (ring_) {
    // From outside our ring: in recovery it waits, like a join in commit; operational, only the
    // representative merges, and only with daemons that hear us both ways (protocol.md
    // "Asymmetric links").
    if (!std::holds_alternative<operational>(role_) || !should_merge(now)) return;
    return become_gather(now, {j.hdr.sender}, &j, true);
  }
  become_gather(now, {j.hdr.sender}, &j);
}

// --- gather and commit (Totem §4.3–4.4) ------------------------------------------------------

void node::become_gather(time_point now, std::vector<node_id> heard, const wire::join* j,
                         bool merge) {
  // After a failure, who hears whom is learnt afresh from this gather's joins: a link that
  // failed a moment ago must not count as working (protocol.md "Asymmetric links"). A merge
  // keeps what made it look worthwhile.
  if (!merge) reach_.reset(now);
  for (node_id n : heard) reach_.heard_from(n, now);
  if (j != nullptr) reach_.row(j->hdr.sender, j->heard, {j->hdr.sender}, j->probe, now);
  // Keep what we knew: whoever made us gather, our old ring, and the ring we were forming.
  std::vector<node_id> proc = std::move(heard);
  if (old_) proc.insert(proc.end(), old_->members().begin(), old_->members().end());
  if (ring_) proc.insert(proc.end(), ring_->members().begin(), ring_->members().end());
  if (auto* c = std::get_if<commit>(&role_))
    proc.insert(proc.end(), c->sets.proc().begin(), c->sets.proc().end());
  if (std::holds_alternative<operational>(role_) && ring_) {
    old_ = std::move(ring_);
    old_->freeze();
    queue_.rewind_partial();
  }
  ring_.reset();  // a ring being formed is abandoned; the old one stays for the next try
  recovery_queue_ = send_queue(recovery_queue_bytes_max);
  token_loss_at_.reset();
  probe_at_.reset();
  commit_retransmit_at_.reset();
  commit_rotation_ = 0;
  role_ = gather{gather_sets(cfg_.self, std::move(proc)), now + cfg_.join_timeout,
                 now + cfg_.consensus_timeout};
  // The join that made us gather counts before we announce our sets: one join, not two.
  if (j != nullptr) std::get<gather>(role_).sets.on_join(j->hdr.sender, j->proc, j->fail);
  send_join(all_daemons(), now);
  check_consensus(now);
}

wire::join node::join_of(time_point now) const {
  wire::join j;
  j.hdr = header_of(wire::packet_type::join);
  j.incarnation = cfg_.incarnation;
  j.ring = old_ ? old_->id() : (ring_ ? ring_->id() : ring_id{});
  j.ring_counter_max = ring_counter_max_;
  j.heard = reach_.heard(now);
  return j;
}

void node::send(const wire::join& j, const std::vector<node_id>& to) {
  util::byte_vector buf;
  wire::encode(j, buf);
  util::shared_bytes bytes(std::move(buf));
  for (node_id n : to)
    if (n != cfg_.self) out_.packets.push_back(outgoing_packet{n, bytes});
}

void node::send_join(const std::vector<node_id>& to, time_point now) {
  wire::join j = join_of(now);
  if (auto* g = std::get_if<gather>(&role_)) {
    j.proc = g->sets.proc();
    j.fail = g->sets.fail();
  } else if (auto* c = std::get_if<commit>(&role_)) {
    j.proc = c->sets.proc();
    j.fail = c->sets.fail();
  } else {
    j.proc = ring_->members();  // recovery: the ring being formed
  }
  send(j, to);
}

// Merge detection (protocol.md "Asymmetric links"): every operational daemon tells every other
// configured daemon its ring and whom it hears; the representatives decide.
void node::send_probe(time_point now) {
  wire::join j = join_of(now);
  j.proc = ring_->members();
  std::sort(j.proc.begin(), j.proc.end());
  j.probe = true;
  send(j, all_daemons());
  probed_at_ = now;
}

void node::probe_soon(time_point now) {
  if (!probe_at_) return;  // not operational: joins carry the news
  const time_point soonest = probed_at_ ? *probed_at_ + cfg_.join_timeout : now;
  probe_at_ = std::min(*probe_at_, std::max(now, soonest));
}

void node::check_consensus(time_point now) {
  auto* g = std::get_if<gather>(&role_);
  if (g == nullptr || !g->sets.consensus()) return;
  std::vector<node_id> members = g->sets.members();
  if (g->sets.representative() != cfg_.self) {
    role_ = commit{g->sets, std::move(members), ring_id{}, now + cfg_.token_timeout,
                   now + cfg_.join_timeout};
    commit_rotation_ = 0;
    return;
  }
  // Totem §4.4: the representative forms the commit token for a ring no one has seen.
  wire::commit_token c;
  c.hdr = header_of(wire::packet_type::commit);
  ++ring_counter_max_;
  c.ring = ring_id{cfg_.self,
                   (std::uint64_t{cfg_.incarnation} << ring_sequence_bits) | ring_counter_max_};
  for (node_id m : members) {
    wire::commit_entry e;
    e.id = m;
    c.members.push_back(e);
  }
  c.members.front() = my_entry();
  c.rotation = 0;
  role_ = commit{g->sets, members, c.ring, now + cfg_.token_timeout, now + cfg_.join_timeout};
  commit_rotation_ = 0;
  if (members.size() == 1) {
    become_recovery(std::move(c.members), c.ring, now);
    return;
  }
  pass_commit(std::move(c), now);
}

wire::commit_entry node::my_entry() const {
  wire::commit_entry e;
  e.id = cfg_.self;
  e.incarnation = cfg_.incarnation;
  if (old_) {
    e.old_ring = old_->id();
    e.old_aru = old_->aru();
    e.old_high_seq = old_->high();
    e.old_delivered = old_->delivered_upto();
  }
  e.filled = true;
  return e;
}

void node::pass_commit(wire::commit_token c, time_point now) {
  const std::size_t next = (std::size_t{c.holder} + 1) % c.members.size();
  c.holder = static_cast<std::uint16_t>(next);
  ++c.rotation;
  c.hdr = header_of(wire::packet_type::commit);
  util::byte_vector buf;
  wire::encode(c, buf);
  commit_sent_ = util::shared_bytes(std::move(buf));
  commit_to_ = c.members[next].id;
  out_.packets.push_back(outgoing_packet{commit_to_, commit_sent_});
  commit_retransmit_at_ = now + cfg_.token_retransmit;
}

void node::on_commit(wire::commit_token c, time_point now) {
  // A commit token for a ring no newer than one we have seen was formed before we moved on (a
  // retransmitted copy, say): its line for us may describe an old ring we no longer hold.
  const bool fresh = ring_sequence(c.ring.counter) > ring_counter_max_;
  ring_counter_max_ = std::max(ring_counter_max_, ring_sequence(c.ring.counter));
  const std::vector<node_id> members = ids_of(c.members);
  if (c.holder >= c.members.size() || c.members[c.holder].id != cfg_.self) return;
  const bool rep = members.front() == cfg_.self;
  if (auto* g = std::get_if<gather>(&role_)) {
    // Only the representative forms commit tokens; one of ours coming back now is stale.
    if (rep || !fresh || g->sets.members() != members) return;
    role_ = commit{g->sets, members, c.ring, now + cfg_.token_timeout, now + cfg_.join_timeout};
    commit_rotation_ = 0;
  }
  if (auto* cm = std::get_if<commit>(&role_)) {
    if (cm->members != members) return;
    if (c.ring != cm->ring) {  // a newer attempt of the representative supersedes an older one
      if (!fresh || ring_sequence(c.ring.counter) <= ring_sequence(cm->ring.counter)) return;
      cm->ring = c.ring;
      commit_rotation_ = 0;
    }
  } else if (!std::holds_alternative<recovery>(role_) || ring_->id() != c.ring) {
    return;
  }
  if (c.rotation <= commit_rotation_) return;  // a retransmitted copy
  commit_rotation_ = c.rotation;
  commit_retransmit_at_.reset();
  if (std::holds_alternative<recovery>(role_)) {
    // We entered recovery on the first rotation (we completed the entries); pass the second.
    if (!rep) pass_commit(std::move(c), now);
    return;
  }
  std::get<commit>(role_).give_up_at = now + cfg_.token_timeout;
  auto mine = std::find_if(c.members.begin(), c.members.end(),
                           [&](const wire::commit_entry& e) { return e.id == cfg_.self; });
  // A line an earlier incarnation of ours filled describes a process that no longer exists:
  // members may already have acted on it, so this ring must not form (its members regather).
  if (mine->filled && mine->incarnation != cfg_.incarnation) return;
  *mine = my_entry();  // ours to write, whatever a faulty peer put there
  const bool all_filled = std::all_of(c.members.begin(), c.members.end(),
                                      [](const wire::commit_entry& e) { return e.filled; });
  // Every member must see every entry: the representative enters recovery when the token has
  // gone round twice, the others as soon as it reaches them complete.
  if (all_filled && (!rep || c.rotation >= 2 * members.size())) {
    std::vector<wire::commit_entry> entries = c.members;
    const ring_id id = c.ring;
    if (!rep) pass_commit(std::move(c), now);
    become_recovery(std::move(entries), id, now);
    return;
  }
  pass_commit(std::move(c), now);
}

// --- recovery and installation (Totem §4.5, EVS §3) ------------------------------------------

void node::become_recovery(std::vector<wire::commit_entry> entries, ring_id id, time_point now) {
  ring_counter_max_ = std::max(ring_counter_max_, ring_sequence(id.counter));
  recovery_queue_ = send_queue(recovery_queue_bytes_max);
  queue_recovery(entries);
  std::vector<node_id> members = ids_of(entries);
  role_ = recovery{std::move(entries), {}};
  start_ring(id, std::move(members), &recovery_queue_, now);
  after_ring_call(now);
}

// Our share of the old ring's packets the other survivors of it may lack, then our done marker.
void node::queue_recovery(const std::vector<wire::commit_entry>& entries) {
  if (old_) {
    std::vector<const wire::commit_entry*> peers;  // survivors of our old ring, ascending
    for (const auto& e : entries)
      if (e.old_ring == old_->id()) peers.push_back(&e);
    if (peers.empty()) return queue_done();  // only a faulty commit token omits our own line
    seq_t low = peers.front()->old_aru, high{0};
    for (const auto* e : peers) {
      low = std::min(low, e->old_aru);
      high = std::max(high, e->old_high_seq);
    }
    for (std::uint64_t s = low.value + 1; s <= high.value; ++s) {
      if (!old_->window().holds(seq_t{s})) continue;
      // The first survivor whose aru covers s holds it and sends it; if none does, every
      // holder sends it (receivers drop the copies).
      auto covers = std::find_if(peers.begin(), peers.end(), [&](const wire::commit_entry* e) {
        return e->old_aru.value >= s;
      });
      if (covers != peers.end() && (*covers)->id != cfg_.self) continue;
      auto r = recovery_queue_.push(service::recovery, old_->window().at(seq_t{s}).bytes);
      CHORUS_ASSERT(r.ok());
    }
  }
  queue_done();
}

void node::queue_done() {
  auto r = recovery_queue_.push(service::recovery, util::shared_bytes());
  CHORUS_ASSERT(r.ok());
}

void node::install(time_point now) {
  auto& rec = std::get<recovery>(role_);
  if (old_) {
    std::vector<node_id> transitional;
    seq_t regular_upto{0};
    for (const auto& e : rec.entries) {
      if (e.old_ring != old_->id()) continue;
      transitional.push_back(e.id);
      regular_upto = std::max(regular_upto, e.old_delivered);
    }
    // EVS: what any survivor delivered in the old regular configuration, all do; the rest
    // follows the transitional configuration.
    old_->deliver_upto(regular_upto);
    out_.events.push_back(
        configuration{configuration::kind::transitional, ring_->id(), transitional});
    old_->deliver_rest(transitional);
    old_.reset();
  }
  out_.events.push_back(configuration{configuration::kind::regular, ring_->id(), ring_->members()});
  role_ = operational{};
  ring_->set_source(&queue_, now);
  // Everyone soon announces whom it hears in the new ring, then every merge_detect.
  if (membership()) probe_at_ = now + cfg_.join_timeout;
}

// --- timers and submit -----------------------------------------------------------------------

void node::tick(time_point now) {
  if (ring_ &&
      (std::holds_alternative<operational>(role_) || std::holds_alternative<recovery>(role_))) {
    ring_->tick(now);
    after_ring_call(now);
  }
  if (token_loss_at_ && *token_loss_at_ <= now) {
    become_gather(now);  // Totem §4.2: the token is lost
  } else if (auto* g = std::get_if<gather>(&role_)) {
    if (g->join_at <= now) {
      send_join(all_daemons(), now);
      g->join_at = now + cfg_.join_timeout;
    }
    if (g->consensus_at <= now) {
      // protocol.md "Asymmetric links": first give up on those outside our group of daemons that
      // hear each other both ways (alike at every daemon that knows the same), then, as Totem
      // does, on whoever has still not agreed.
      if (g->sets.fail_outside(reach_.clique(g->sets.members(), now)) || g->sets.fail_unagreed())
        send_join(all_daemons(), now);
      g->consensus_at = now + cfg_.consensus_timeout;
      check_consensus(now);
    }
  } else if (auto* c = std::get_if<commit>(&role_)) {
    if (c->give_up_at <= now) {
      become_gather(now);
    } else if (c->join_at <= now) {
      // A member still gathering may lack the join that made us agree: keep announcing it.
      send_join(c->members, now);
      c->join_at = now + cfg_.join_timeout;
    }
  }
  if (commit_retransmit_at_ && *commit_retransmit_at_ <= now) {
    out_.packets.push_back(outgoing_packet{commit_to_, commit_sent_});
    commit_retransmit_at_ = now + cfg_.token_retransmit;
  }
  if (probe_at_ && *probe_at_ <= now && std::holds_alternative<operational>(role_)) {
    send_probe(now);
    probe_at_ = now + cfg_.merge_detect;
  }
#ifdef CHORUS_CHECK_INVARIANTS
  check_invariants();
#endif
}

util::result<msg_id> node::submit(service svc, util::shared_bytes payload, time_point now) {
  if (payload.size() > cfg_.message_bytes_max) {
    ++stats_.messages_refused;
    return util::status(util::errc::too_large, "message of " + std::to_string(payload.size()) +
                                                   " bytes above the limit of " +
                                                   std::to_string(cfg_.message_bytes_max));
  }
  if (static_cast<std::uint8_t>(svc) > wire::service_max) {
    ++stats_.messages_refused;
    return util::status(util::errc::invalid_argument, "not a client service level");
  }
  auto id = queue_.push(svc, std::move(payload));
  ++(id.ok() ? stats_.messages_submitted : stats_.messages_refused);
  if (id.ok() && ring_ && std::holds_alternative<operational>(role_)) ring_->wake(now);
  return id;
}

output node::take_output() {
  output o = std::move(out_);
  out_ = output{};
  o.deadline = deadline();
  return o;
}

std::optional<time_point> node::deadline() const {
  std::optional<time_point> d;
  auto consider = [&](std::optional<time_point> t) {
    if (t && (!d || *t < *d)) d = t;
  };
  if (ring_) consider(ring_->deadline());
  consider(token_loss_at_);
  consider(probe_at_);
  consider(commit_retransmit_at_);
  if (auto* g = std::get_if<gather>(&role_)) {
    consider(g->join_at);
    consider(g->consensus_at);
  }
  if (auto* c = std::get_if<commit>(&role_)) {
    consider(c->give_up_at);
    consider(c->join_at);
  }
  return d;
}

// --- helpers and introspection -----------------------------------------------------------------

std::vector<node_id> node::all_daemons() const {
  return cfg_.daemons.empty() ? cfg_.members : cfg_.daemons;
}

wire::header node::header_of(wire::packet_type t) const {
  return wire::header{wire::protocol_version, t, cfg_.self, cfg_.hash};
}

ring_id node::current_ring() const noexcept { return ring_ ? ring_->id() : ring_id{}; }
seq_t node::aru() const noexcept { return ring_ ? ring_->aru() : seq_t{}; }
seq_t node::delivered_upto() const noexcept { return ring_ ? ring_->delivered_upto() : seq_t{}; }
seq_t node::safe_upto() const noexcept { return ring_ ? ring_->safe_upto() : seq_t{}; }

bool node::has_received(ring_id r, seq_t s) const noexcept {
  if (ring_ && ring_->id() == r) return ring_->has_received(s);
  if (old_ && old_->id() == r) return old_->has_received(s);
  return false;
}

void node::check_invariants() const {
  if (ring_) ring_->check_invariants();
  if (old_) old_->check_invariants();
  CHORUS_ASSERT(!std::holds_alternative<operational>(role_) || (ring_ && !old_),
                "N2: operational in exactly one ring");
  if (auto* g = std::get_if<gather>(&role_)) g->sets.check_invariants();
}

}  // namespace chorus::core
