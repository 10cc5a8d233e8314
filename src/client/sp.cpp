// sp.cpp — Spread's C API (include/sp.h) over client::stream. Return values, error codes and the
// short-buffer rules follow Spread's libspread (spec shared/specs/spread-client-protocol.md §4.6,
// §5.1, §6).
#include "sp.h"

#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "client/stream.hpp"

// sp.h's constants are the wire's (spec §2): one table, two spellings.
static_assert(SPREAD_VERSION ==
              ((chorus::client::library_major << 24) | (chorus::client::library_minor << 16) |
               chorus::client::library_patch));
static_assert(UNRELIABLE_MESS == chorus::wire::client::unreliable_mess &&
              RELIABLE_MESS == chorus::wire::client::reliable_mess &&
              FIFO_MESS == chorus::wire::client::fifo_mess &&
              CAUSAL_MESS == chorus::wire::client::causal_mess &&
              AGREED_MESS == chorus::wire::client::agreed_mess &&
              SAFE_MESS == chorus::wire::client::safe_mess &&
              REGULAR_MESS == chorus::wire::client::regular_mess &&
              SELF_DISCARD == chorus::wire::client::self_discard);
static_assert(REG_MEMB_MESS == chorus::wire::client::reg_memb_mess &&
              TRANSITION_MESS == chorus::wire::client::transition_mess &&
              CAUSED_BY_JOIN == chorus::wire::client::caused_by_join &&
              CAUSED_BY_LEAVE == chorus::wire::client::caused_by_leave &&
              CAUSED_BY_DISCONNECT == chorus::wire::client::caused_by_disconnect &&
              CAUSED_BY_NETWORK == chorus::wire::client::caused_by_network &&
              MEMBERSHIP_MESS == chorus::wire::client::membership_mess &&
              REJECT_MESS == chorus::wire::client::reject_mess);

// Binary compatibility: a program built against Spread's sp.h passes these by pointer or value,
// so their layouts are Spread's (here for LP64, where Spread's libraries are usually built).
static_assert(sizeof(void*) != 8 ||
              (sizeof(group_id) == 12 && sizeof(vs_set_info) == 8 &&
               sizeof(membership_info) == 56 && offsetof(membership_info, num_vs_sets) == 44 &&
               sizeof(scat_element) == 16 && offsetof(scatter, elements) == 8 &&
               sizeof(scatter) == 8 + 16 * MAX_CLIENT_SCATTER_ELEMENTS && sizeof(sp_time) == 16));

namespace {

using chorus::client::stream;
namespace cl = chorus::wire::client;
namespace code = chorus::client;

// Mailboxes are the sockets' descriptors, as in Spread.
std::mutex table_mutex;
std::unordered_map<int, std::shared_ptr<stream>>& table() {
  static auto* t = new std::unordered_map<int, std::shared_ptr<stream>>();
  return *t;
}

// What SP_set_auth_method(s) registered, offered by every later SP_connect (default: NULL).
std::mutex auth_mutex;
std::vector<chorus::client::auth_method>& registered_auth() {
  static auto* methods = new std::vector<chorus::client::auth_method>{{"NULL", nullptr, nullptr}};
  return *methods;
}

// A fork while another thread holds one of the library's locks would leave the child's copy
// locked.
void install_fork_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    pthread_atfork(
        [] {
          auth_mutex.lock();
          table_mutex.lock();
        },
        [] {
          table_mutex.unlock();
          auth_mutex.unlock();
        },
        [] {
          table_mutex.unlock();
          auth_mutex.unlock();
        });
  });
}

// CHORUS_BUSY_POLL_US (0–1000000): how long a receive polls before it sleeps, for programs
// written to Spread's API, which has no place for it (docs/configuration.md, "Latency").
// Unset: 0. Anything else is refused with a line on stderr, since SP_error cannot say why.
std::optional<std::chrono::microseconds> busy_poll_from_environment() {
  const char* v = std::getenv("CHORUS_BUSY_POLL_US");
  if (v == nullptr || *v == '\0') return std::chrono::microseconds{0};
  std::int64_t us = -1;
  const char* end = v + std::strlen(v);
  auto [p, ec] = std::from_chars(v, end, us);
  if (ec != std::errc{} || p != end || us < 0 || us > chorus::client::busy_poll_max.count()) {
    std::fprintf(stderr,
                 "chorus: CHORUS_BUSY_POLL_US=%s is not a number of microseconds from 0 to "
                 "1000000; SP_connect refused\n",
                 v);
    return std::nullopt;
  }
  return std::chrono::microseconds{us};
}

// CHORUS_SHARED_MEMORY: "0" sends requests over the socket even where the daemon offers shared
// memory (docs/client.md, "Shared memory"); "1" or unset: shared memory when offered.
std::optional<bool> shared_memory_from_environment() {
  const char* v = std::getenv("CHORUS_SHARED_MEMORY");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "1") == 0) return true;
  if (std::strcmp(v, "0") == 0) return false;
  std::fprintf(stderr, "chorus: CHORUS_SHARED_MEMORY=%s is neither 0 nor 1; SP_connect refused\n",
               v);
  return std::nullopt;
}

std::shared_ptr<stream> find(mailbox m) {
  std::lock_guard lock(table_mutex);
  auto it = table().find(m);
  return it == table().end() ? nullptr : it->second;
}

std::shared_ptr<stream> take(mailbox m) {
  std::lock_guard lock(table_mutex);
  auto it = table().find(m);
  if (it == table().end()) return nullptr;
  auto s = std::move(it->second);
  table().erase(it);
  return s;
}

std::vector<chorus::client::auth_method> auth_methods() {
  std::lock_guard lock(auth_mutex);
  return registered_auth();
}

std::string_view bounded(const char* s, std::size_t max) {
  return s == nullptr ? std::string_view() : std::string_view(s, strnlen(s, max));
}

std::uint32_t get_u32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void put_u32(char* p, std::uint32_t v) { std::memcpy(p, &v, 4); }

constexpr bool host_little = std::endian::native == std::endian::little;

int send_message(mailbox mbox, service service_type, int num_groups,
                 const char groups[][MAX_GROUP_NAME], int16 mess_type,
                 std::span<const std::span<const std::byte>> parts) {
  auto s = find(mbox);
  if (!s) return ILLEGAL_SESSION;
  if (num_groups < 0) return ILLEGAL_MESSAGE;
  auto type = static_cast<std::uint32_t>(service_type);
  if ((type & REGULAR_MESS) == 0 || (type & REJECT_MESS) != 0) return ILLEGAL_SERVICE;
  // The caller's word goes on the wire as Spread's library sends it (a DROP_RECV or DONT_BLOCK
  // left in it is the daemon's to ignore), without the endian bits, which are the header's.
  type &= ~static_cast<std::uint32_t>(ENDIAN_RESERVED);
  std::vector<std::string_view> names;
  names.reserve(static_cast<std::size_t>(num_groups));
  for (int i = 0; i < num_groups; ++i) names.push_back(bounded(groups[i], MAX_GROUP_NAME - 1));
  auto r = s->send(type, names, mess_type, parts);
  return r.ok() ? static_cast<int>(*r) : r.error().code;
}

int control(mailbox mbox, std::uint32_t type, const char* group) {
  auto s = find(mbox);
  if (!s) return ILLEGAL_SESSION;
  if (group == nullptr) return ILLEGAL_GROUP;
  auto r = s->control(type, bounded(group, MAX_GROUP_NAME));
  return r.ok() ? 0 : r.error().code;
}

// The elements a scatter uses: at most MAX_CLIENT_SCATTER_ELEMENTS of them.
std::span<const scat_element> elements_of(const scatter* sc) {
  if (sc == nullptr) return {};
  return {sc->elements,
          std::min<std::size_t>(sc->num_elements, MAX_CLIENT_SCATTER_ELEMENTS)};
}

std::vector<std::span<const std::byte>> parts_of(const scatter* sc) {
  std::vector<std::span<const std::byte>> out;
  for (const scat_element& e : elements_of(sc)) {
    if (e.len > 0) out.emplace_back(reinterpret_cast<const std::byte*>(e.buf), e.len);
  }
  return out;
}

// Copies `bytes` into the scatter's buffers in order; returns how many fit.
std::size_t scatter_copy(const scatter* sc, std::span<const std::byte> bytes) {
  std::size_t at = 0;
  for (const scat_element& e : elements_of(sc)) {
    if (at == bytes.size()) break;
    std::size_t k = std::min(e.len, bytes.size() - at);
    std::memcpy(e.buf, bytes.data() + at, k);
    at += k;
  }
  return at;
}

std::size_t scatter_capacity(const scatter* sc) {
  std::size_t total = 0;
  for (const scat_element& e : elements_of(sc)) total += e.len;
  return total;
}

// A membership body written in the daemon's order becomes host order (what libspread's
// Flip_mess does): the gid, num_vs_sets, the local offset and every set's count.
void to_host_order(std::vector<std::byte>& body, bool transition) {
  auto flip = [&](std::size_t at) {
    if (at + 4 <= body.size()) {
      auto* p = reinterpret_cast<char*>(body.data() + at);
      put_u32(p, chorus::client::swap32(get_u32(p)));
    }
  };
  for (std::size_t at = 0; at < 12; at += 4) flip(at);
  if (transition || body.size() < cl::membership_fixed_bytes) return;
  flip(12);
  flip(16);
  std::uint32_t sets = get_u32(reinterpret_cast<char*>(body.data() + 12));
  std::size_t at = cl::membership_fixed_bytes;
  for (std::uint32_t i = 0; i < sets && at + 4 <= body.size(); ++i) {
    flip(at);
    std::uint32_t count = get_u32(reinterpret_cast<char*>(body.data() + at));
    at += 4 + std::size_t{count} * cl::name_bytes;
  }
}

// The first `limit` bytes a scatter holds, as one buffer (all of them by default).
std::vector<std::byte> gather(const scatter* sc, std::size_t limit = SIZE_MAX) {
  std::vector<std::byte> out;
  for (const scat_element& e : elements_of(sc)) {
    const std::size_t k = std::min(e.len, limit - out.size());
    const auto* p = reinterpret_cast<const std::byte*>(e.buf);
    out.insert(out.end(), p, p + k);
  }
  return out;
}

}  // namespace

extern "C" {

int SP_connect(const char* spread_name, const char* private_name, int priority,
               int group_membership, mailbox* mbox, char* private_group) {
  sp_time none{0, 0};
  return SP_connect_timeout(spread_name, private_name, priority, group_membership, mbox,
                            private_group, none);
}

int SP_connect_timeout(const char* spread_name, const char* private_name, int priority,
                       int group_membership, mailbox* mbox, char* private_group, sp_time time_out) {
  install_fork_handlers();
  // Spread 5's rule: seconds and microseconds of one sign, microseconds below a second.
  if ((time_out.sec < 0 && time_out.usec > 0) || (time_out.sec > 0 && time_out.usec < 0) ||
      time_out.usec <= -1000000 || time_out.usec >= 1000000) {
    return ILLEGAL_TIME;
  }
  chorus::client::connect_request r;
  r.spread_name = std::string(bounded(spread_name, 4096));
  if (r.spread_name.size() >= 4096) return ILLEGAL_SPREAD;
  r.private_name = std::string(bounded(private_name, MAX_PRIVATE_NAME));
  r.membership = group_membership != 0;
  r.priority = priority;
  auto busy_poll = busy_poll_from_environment();
  if (!busy_poll) return ILLEGAL_TIME;
  r.busy_poll = *busy_poll;
  auto shared_memory = shared_memory_from_environment();
  if (!shared_memory) return ILLEGAL_SPREAD;
  r.shared_memory = *shared_memory;
  r.auth = auth_methods();
  if (time_out.sec != 0 || time_out.usec != 0) {
    r.deadline = chorus::client::clock::now() + std::chrono::seconds(time_out.sec) +
                 std::chrono::microseconds(time_out.usec);
  }
  auto s = stream::connect(r);
  if (!s.ok()) return s.error().code;
  auto& st = *s;
  if (mbox != nullptr) *mbox = st->fd();
  if (private_group != nullptr) {
    std::memset(private_group, 0, MAX_GROUP_NAME);
    std::memcpy(private_group, st->private_group().data(),
                std::min<std::size_t>(st->private_group().size(), MAX_GROUP_NAME - 1));
  }
  std::lock_guard lock(table_mutex);
  table()[st->fd()] = st;
  return ACCEPT_SESSION;
}

int SP_disconnect(mailbox mbox) {
  auto s = take(mbox);
  if (!s) return ILLEGAL_SESSION;
  auto r = s->disconnect();  // a receive blocked in another thread returns
  return r.ok() ? 0 : r.error().code;
}

void SP_kill(mailbox mbox) {
  // The descriptor closes, nothing is sent: a forked process's copy keeps the session.
  if (auto s = take(mbox)) s->close_now();
}

int SP_join(mailbox mbox, const char* group) { return control(mbox, cl::join_mess, group); }

int SP_leave(mailbox mbox, const char* group) { return control(mbox, cl::leave_mess, group); }

int SP_multicast(mailbox mbox, service service_type, const char* group, int16 mess_type,
                 int mess_len, const char* mess) {
  if (mess_len < 0) return ILLEGAL_MESSAGE;
  char groups[1][MAX_GROUP_NAME] = {};
  std::memcpy(groups[0], group, bounded(group, MAX_GROUP_NAME - 1).size());
  std::span<const std::byte> parts[] = {
      {reinterpret_cast<const std::byte*>(mess), static_cast<std::size_t>(mess_len)}};
  return send_message(mbox, service_type, 1, groups, mess_type, parts);
}

int SP_scat_multicast(mailbox mbox, service service_type, const char* group, int16 mess_type,
                      const scatter* scat_mess) {
  char groups[1][MAX_GROUP_NAME] = {};
  std::memcpy(groups[0], group, bounded(group, MAX_GROUP_NAME - 1).size());
  return send_message(mbox, service_type, 1, groups, mess_type, parts_of(scat_mess));
}

int SP_multigroup_multicast(mailbox mbox, service service_type, int num_groups,
                            const char groups[][MAX_GROUP_NAME], int16 mess_type, int mess_len,
                            const char* mess) {
  if (mess_len < 0) return ILLEGAL_MESSAGE;
  std::span<const std::byte> parts[] = {
      {reinterpret_cast<const std::byte*>(mess), static_cast<std::size_t>(mess_len)}};
  return send_message(mbox, service_type, num_groups, groups, mess_type, parts);
}

int SP_multigroup_scat_multicast(mailbox mbox, service service_type, int num_groups,
                                 const char groups[][MAX_GROUP_NAME], int16 mess_type,
                                 const scatter* scat_mess) {
  return send_message(mbox, service_type, num_groups, groups, mess_type, parts_of(scat_mess));
}

int SP_receive(mailbox mbox, service* service_type, char sender[MAX_GROUP_NAME], int max_groups,
               int* num_groups, char groups[][MAX_GROUP_NAME], int16* mess_type,
               int* endian_mismatch, int max_mess_len, char* mess) {
  scatter one;
  one.num_elements = 1;
  one.elements[0].buf = mess;
  one.elements[0].len = static_cast<std::size_t>(std::max(max_mess_len, 0));
  return SP_scat_receive(mbox, service_type, sender, max_groups, num_groups, groups, mess_type,
                         endian_mismatch, &one);
}

int SP_scat_receive(mailbox mbox, service* service_type, char sender[MAX_GROUP_NAME],
                    int max_groups, int* num_groups, char groups[][MAX_GROUP_NAME],
                    int16* mess_type, int* endian_mismatch, scatter* scat_mess) {
  auto s = find(mbox);
  if (!s) return ILLEGAL_SESSION;
  if (scat_mess == nullptr || service_type == nullptr || num_groups == nullptr ||
      mess_type == nullptr || endian_mismatch == nullptr || max_groups < 0 ||
      (max_groups > 0 && groups == nullptr)) {
    return ILLEGAL_MESSAGE;
  }
  const bool drop = (static_cast<std::uint32_t>(*service_type) & DROP_RECV) != 0;
  std::lock_guard lock(s->receive_mutex());
  auto got = s->next_header();
  if (!got.ok()) return got.error().code;
  cl::header h = std::move(*got);

  const bool reject = (h.type & cl::reject_mess) != 0;
  const bool regular = (h.type & cl::regular_mess) != 0 && !reject;
  const bool membership = (h.type & cl::membership_mess) != 0 && !reject;
  *service_type = static_cast<service>(h.type);
  if (sender != nullptr) {
    std::memset(sender, 0, MAX_GROUP_NAME);
    std::memcpy(sender, h.sender.data(),
                std::min<std::size_t>(h.sender.size(), MAX_GROUP_NAME - 1));
  }
  if (regular || reject) {
    const auto hint = chorus::client::read_hint(h);
    *mess_type = hint.mess_type;
    *endian_mismatch = hint.endian_mismatch ? 1 : 0;
  } else {
    *mess_type = -1;
    *endian_mismatch = 0;
  }

  const auto needed_groups = static_cast<std::size_t>(h.num_groups);
  const auto needed_bytes = static_cast<std::size_t>(h.data_len);
  const std::size_t capacity = scatter_capacity(scat_mess);
  const bool groups_short = needed_groups > static_cast<std::size_t>(max_groups);
  const bool buffer_short = needed_bytes > capacity;
  if ((groups_short || buffer_short) && !drop) {
    // Spread's short-buffer rule: report what is needed and keep the message for the next call.
    *num_groups = groups_short ? -h.num_groups : 0;
    if (buffer_short) *endian_mismatch = -h.data_len;
    s->save_header(std::move(h));
    return groups_short ? GROUPS_TOO_SHORT : BUFFER_TOO_SHORT;
  }

  if (reject) {
    std::array<std::byte, 4> old{};
    if (auto f = s->read(old); !f) return f.error().code;
    *service_type = static_cast<service>(chorus::client::reject_type(old, h.little_endian));
  }
  // The rest of the message in one read: the names that fit straight into the caller's array
  // (its rows are the wire's 32-byte fields), the body into the scatter, the rest dropped.
  thread_local std::vector<iovec> iov;
  thread_local std::array<std::byte, 16384> sink;
  iov.clear();
  auto keep = [](void* p, std::size_t n) {
    if (n > 0) iov.push_back({p, n});
  };
  auto skip = [](std::size_t n) {
    for (std::size_t k; n > 0; n -= k) {
      k = std::min(n, sink.size());
      iov.push_back({sink.data(), k});
    }
  };
  const std::size_t kept = std::min(needed_groups, static_cast<std::size_t>(max_groups));
  keep(groups, kept * cl::name_bytes);
  skip((needed_groups - kept) * cl::name_bytes);
  std::size_t left = needed_bytes;
  for (const scat_element& e : elements_of(scat_mess)) {
    const std::size_t k = std::min(e.len, left);
    keep(e.buf, k);
    left -= k;
  }
  skip(left);
  if (auto f = s->read(iov); !f) return f.error().code;
  for (std::size_t i = 0; i < kept; ++i) groups[i][MAX_GROUP_NAME - 1] = '\0';
  *num_groups = groups_short ? -h.num_groups : h.num_groups;
  const bool transition = (h.type & cl::transition_mess) != 0;
  if (membership && h.little_endian != host_little) {
    auto body = gather(scat_mess, needed_bytes);
    to_host_order(body, transition);
    scatter_copy(scat_mess, body);
  }
  if (membership && (h.type & cl::reg_memb_mess) != 0) {
    // mess_type of a regular membership: our own index among the members (libspread).
    for (std::size_t i = 0; i < kept; ++i) {
      if (bounded(groups[i], MAX_GROUP_NAME) == s->private_group()) {
        *mess_type = static_cast<int16>(i);
        break;
      }
    }
  }
  // Truncated under DROP_RECV: endian_mismatch keeps its usual meaning, as in Spread.
  if (buffer_short) return BUFFER_TOO_SHORT;
  return h.data_len;
}

int SP_poll(mailbox mbox) {
  auto s = find(mbox);
  if (!s) return ILLEGAL_SESSION;
  auto r = s->readable();
  return r.ok() ? static_cast<int>(std::min<std::size_t>(*r, INT32_MAX)) : r.error().code;
}

int SP_equal_group_ids(group_id g1, group_id g2) {
  return g1.id[0] == g2.id[0] && g1.id[1] == g2.id[1] && g1.id[2] == g2.id[2];
}

int SP_get_memb_info(const char* memb_mess, const service service_type,
                     membership_info* memb_info) {
  if (memb_info == nullptr || !Is_membership_mess(service_type)) return ILLEGAL_MESSAGE;
  std::memset(memb_info, 0, sizeof *memb_info);
  if (Is_self_leave(service_type)) return 1;  // no body
  if (memb_mess == nullptr) return ILLEGAL_MESSAGE;
  for (int i = 0; i < 3; ++i) memb_info->gid.id[i] = static_cast<int32>(get_u32(memb_mess + 4 * i));
  if (!Is_reg_memb_mess(service_type)) return 1;  // transitional: the gid only
  memb_info->num_vs_sets = get_u32(memb_mess + 12);
  const std::uint32_t local = get_u32(memb_mess + 16);
  if (Is_caused_join_mess(service_type) || Is_caused_leave_mess(service_type) ||
      Is_caused_disconnect_mess(service_type)) {
    std::memcpy(memb_info->changed_member, memb_mess + 24, MAX_GROUP_NAME);
    memb_info->changed_member[MAX_GROUP_NAME - 1] = '\0';
  }
  if (memb_info->num_vs_sets > 0) {
    memb_info->my_vs_set.num_members = get_u32(memb_mess + 20 + local);
    memb_info->my_vs_set.members_offset = 20 + local + 4;
  }
  return 1;
}

int SP_get_vs_sets_info(const char* memb_mess, vs_set_info* vs_sets, int num_vs_sets,
                        unsigned int* my_vs_set_index) {
  if (memb_mess == nullptr) return ILLEGAL_MESSAGE;
  const std::uint32_t sets = get_u32(memb_mess + 12);
  const std::uint32_t local = get_u32(memb_mess + 16);
  if (num_vs_sets < 0 || sets > static_cast<std::uint32_t>(num_vs_sets)) return BUFFER_TOO_SHORT;
  std::uint32_t at = 20;
  for (std::uint32_t i = 0; i < sets; ++i) {
    if (at == 20 + local && my_vs_set_index != nullptr) *my_vs_set_index = i;
    vs_sets[i].num_members = get_u32(memb_mess + at);
    vs_sets[i].members_offset = at + 4;
    at += 4 + vs_sets[i].num_members * MAX_GROUP_NAME;
  }
  return static_cast<int>(sets);
}

int SP_get_vs_set_members(const char* memb_mess, const vs_set_info* vs_set,
                          char member_names[][MAX_GROUP_NAME], int member_names_count) {
  if (memb_mess == nullptr || vs_set == nullptr) return ILLEGAL_MESSAGE;
  if (member_names_count < 0 || vs_set->num_members > static_cast<unsigned>(member_names_count)) {
    return BUFFER_TOO_SHORT;
  }
  for (unsigned i = 0; i < vs_set->num_members; ++i) {
    std::memcpy(member_names[i], memb_mess + vs_set->members_offset + i * MAX_GROUP_NAME,
                MAX_GROUP_NAME);
    member_names[i][MAX_GROUP_NAME - 1] = '\0';
  }
  return static_cast<int>(vs_set->num_members);
}

int SP_scat_get_memb_info(const scatter* memb_mess_scat, const service service_type,
                          membership_info* memb_info) {
  auto flat = gather(memb_mess_scat);
  return SP_get_memb_info(reinterpret_cast<const char*>(flat.data()), service_type, memb_info);
}

int SP_scat_get_vs_sets_info(const scatter* memb_mess_scat, vs_set_info* vs_sets, int num_vs_sets,
                             unsigned int* my_vs_set_index) {
  auto flat = gather(memb_mess_scat);
  return SP_get_vs_sets_info(reinterpret_cast<const char*>(flat.data()), vs_sets, num_vs_sets,
                             my_vs_set_index);
}

int SP_scat_get_vs_set_members(const scatter* memb_mess_scat, const vs_set_info* vs_set,
                               char member_names[][MAX_GROUP_NAME], int member_names_count) {
  auto flat = gather(memb_mess_scat);
  return SP_get_vs_set_members(reinterpret_cast<const char*>(flat.data()), vs_set, member_names,
                               member_names_count);
}

int SP_set_auth_method(const char* auth_name, int (*authenticate)(int, void*), void* auth_data) {
  const char* names[] = {auth_name};
  int (*functions[])(int, void*) = {authenticate};
  void* data[] = {auth_data};
  return SP_set_auth_methods(1, names, functions, data);
}

int SP_set_auth_methods(int num_methods, const char* auth_name[],
                        int (*authenticate[])(int, void*), void* auth_data[]) {
  if (num_methods < 0 || static_cast<std::size_t>(num_methods) > chorus::client::auth_methods_max)
    return 0;
  if (num_methods > 0 && (auth_name == nullptr || authenticate == nullptr)) return 0;
  std::vector<chorus::client::auth_method> methods;
  for (int i = 0; i < num_methods; ++i) {
    if (auth_name[i] == nullptr || authenticate[i] == nullptr ||
        std::strlen(auth_name[i]) > chorus::client::auth_name_max) {
      return 0;  // checked before anything changes, as in Spread
    }
    methods.push_back({auth_name[i], authenticate[i], auth_data == nullptr ? nullptr : auth_data[i]});
  }
  install_fork_handlers();
  std::lock_guard lock(auth_mutex);
  registered_auth() = std::move(methods);
  return 1;
}

const char* SP_strerror(int error) { return chorus::client::describe(error); }

void SP_error(int error) { std::printf("SP_error: (%d) %s\n", error, SP_strerror(error)); }

int SP_version(int* major_version, int* minor_version, int* patch_version) {
  if (major_version == nullptr || minor_version == nullptr || patch_version == nullptr) return 0;
  *major_version = chorus::client::library_major;
  *minor_version = chorus::client::library_minor;
  *patch_version = chorus::client::library_patch;
  return 1;
}

}  // extern "C"
