// shm.cpp — chorus::shm (include/chorus/shm.hpp): regions, the process table and recovery, and
// the pipes' crash-safe bounded MPMC queue.
//
// Layout of a region (every reference is an offset from the region's start):
//   [boot]  magic, version, layout, size, the ready word, offsets of the tables below
//   [directory]  pipes_max entries: state, creator, name, offset of the pipe
//   [process table]  processes_max entries: state, pid, start time (liveness)
//   [heap]  pipes, bump-allocated
//
// The pipe is Vyukov's bounded MPMC queue with one change that makes it safe when a process
// dies: a slot is claimed by CAS on the slot's own sequence word, replacing it with a marker
// that names the claimer (its process slot) and the sequence it replaced. Whoever finds a claim
// by a dead process can then finish it unambiguously: a claimed enqueue becomes a tombstone that
// consumers skip, a claimed dequeue frees its slot and puts the value back at the pipe's end.
// The queue's two positions only ever move forward, by whoever sees them lag (helping), so a
// death between claiming a slot and moving a position blocks nobody.
#include "chorus/shm.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

namespace chorus::shm {
namespace detail {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::uint64_t magic = 0x3147524d48534843ull;  // "CHSHMRG1"
constexpr std::uint32_t version = 1;
constexpr std::size_t name_max = 63;
constexpr std::size_t region_name_max = 200;
constexpr std::size_t cache_line = 64;
// A waiting operation looks for dead processes this often.
constexpr auto recovery_interval = 50ms;

// --- sequence words: a position, or a claim marker ------------------------------------------
// A marker: bit 63, the claimer's process slot in bits 56–62, the replaced sequence below.
constexpr std::uint64_t marker_bit = std::uint64_t{1} << 63;
constexpr unsigned owner_shift = 56;
constexpr std::uint64_t seq_mask = (std::uint64_t{1} << owner_shift) - 1;
constexpr std::uint32_t processes_limit = 128;

constexpr bool is_marker(std::uint64_t s) { return (s & marker_bit) != 0; }
constexpr std::uint64_t base_of(std::uint64_t s) { return s & seq_mask; }
constexpr std::uint32_t owner_of(std::uint64_t s) {
  return static_cast<std::uint32_t>((s >> owner_shift) & 0x7f);
}
constexpr std::uint64_t marker(std::uint32_t owner, std::uint64_t replaced) {
  return marker_bit | (std::uint64_t{owner} << owner_shift) | (replaced & seq_mask);
}

// --- shared structures ------------------------------------------------------------------------
struct boot {
  std::atomic<std::uint32_t> ready;  // futex word: 0 while the creator initializes, then 1
  std::uint32_t version;
  std::uint64_t magic;
  std::uint64_t layout;  // sizes of the structures below: another build's layout is refused
  std::uint64_t size;
  std::uint32_t pipes_max, processes_max;
  std::uint64_t directory_off, processes_off, heap_off;
  std::atomic<std::uint64_t> heap_next;
  std::atomic<std::uint32_t> directory_events;  // futex word: a pipe became ready
  std::atomic<std::uint32_t> pipes;
};

enum : std::uint32_t { entry_free = 0, entry_creating = 1, entry_ready = 2 };
struct dir_entry {
  std::atomic<std::uint32_t> state;
  std::uint32_t creator;  // process slot, while creating
  char name[name_max + 1];
  std::uint64_t offset;
  std::uint64_t value_bytes, value_align, capacity;
};

enum : std::uint32_t { process_free = 0, process_live = 1, process_busy = 2 };
struct process_entry {
  std::atomic<std::uint32_t> state;
  std::int32_t pid;
  std::uint64_t start_time;  // /proc/<pid>/stat field 22: tells a reused pid apart
};

struct alignas(cache_line) pipe_header {
  std::uint64_t value_bytes, value_align, stride, capacity, mask;
  alignas(cache_line) std::atomic<std::uint64_t> enq_pos;
  alignas(cache_line) std::atomic<std::uint64_t> deq_pos;
  alignas(cache_line) std::atomic<std::uint32_t> enq_events;  // futex: a value was published
  std::atomic<std::uint32_t> consumers_waiting;
  alignas(cache_line) std::atomic<std::uint32_t> deq_events;  // futex: a slot was freed
  std::atomic<std::uint32_t> producers_waiting;
};

struct slot_header {
  std::atomic<std::uint64_t> seq;
  std::uint32_t valid;  // 0: a tombstone (an enqueue its process did not finish)
  std::uint32_t unused;
};
constexpr std::size_t slot_value_offset = sizeof(slot_header);

constexpr std::uint64_t layout_id = (sizeof(boot) << 48) ^ (sizeof(dir_entry) << 32) ^
                                    (sizeof(process_entry) << 16) ^ sizeof(pipe_header) ^
                                    (sizeof(slot_header) << 8);

std::atomic<int> crash_point_set{0};
std::atomic<std::uint64_t> crash_countdown{0};

// A test's crash point: dies here if this is the chosen point of the chosen operation.
inline void maybe_crash(crash_point at) {
  if (crash_point_set.load(std::memory_order_relaxed) != static_cast<int>(at)) return;
  if (crash_countdown.load(std::memory_order_relaxed) == 0) ::raise(SIGKILL);
}

// Counts an operation towards the crash point.
inline void count_operation() {
  if (crash_point_set.load(std::memory_order_relaxed) != 0) crash_countdown.fetch_sub(1);
}

long futex(std::atomic<std::uint32_t>* addr, int op, std::uint32_t val, const timespec* ts) {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), op, val, ts, nullptr, 0);
}

// Sleeps while *addr == expected, at most until `until`.
void futex_wait(std::atomic<std::uint32_t>* addr, std::uint32_t expected, clock::time_point until) {
  auto left = until - clock::now();
  if (left <= clock::duration::zero()) return;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  futex(addr, FUTEX_WAIT, expected, &ts);
}

void futex_wake(std::atomic<std::uint32_t>* addr, int n) { futex(addr, FUTEX_WAKE, n, nullptr); }

std::uint64_t start_time_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  for (int i = 3; i <= 22 && fields >> f; ++i) {
    if (i == 22) return std::stoull(f);
  }
  return 0;
}

bool alive(pid_t pid, std::uint64_t start) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::uint64_t now = start_time_of(pid);
  return now != 0 && now == start;  // a zombie or a reused pid is not the process we knew
}

error fail(int code, std::string m) { return error{code, std::move(m)}; }

bool valid_name(const std::string& n, std::size_t max) {
  if (n.empty() || n.size() > max) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return n != "." && n != "..";
}

std::string shm_path(const std::string& name) { return "/chorus." + name; }

}  // namespace

// --- the region -------------------------------------------------------------------------------

struct region_state {
  std::string name;
  std::byte* base = nullptr;
  std::size_t size = 0;
  std::uint32_t self = UINT32_MAX;  // our slot in the process table

  ~region_state() {
    if (base != nullptr) {
      if (self != UINT32_MAX) procs()[self].state.store(process_free, std::memory_order_release);
      ::munmap(base, size);
    }
  }
  boot& b() const { return *reinterpret_cast<boot*>(base); }
  dir_entry* dir() const { return reinterpret_cast<dir_entry*>(base + b().directory_off); }
  process_entry* procs() const {
    return reinterpret_cast<process_entry*>(base + b().processes_off);
  }
  template <typename T>
  T* at(std::uint64_t off) const {
    return reinterpret_cast<T*>(base + off);
  }
  std::byte* slot(const pipe_header& p, std::uint64_t pos) const {
    return reinterpret_cast<std::byte*>(const_cast<pipe_header*>(&p)) + sizeof(pipe_header) +
           (pos & p.mask) * p.stride;
  }

  result<void> attach();
  std::size_t recover();
  void recover_process(std::uint32_t dead);
  void recover_pipe(pipe_header& p, std::uint32_t dead);
  void wait_recovering(clock::time_point& next_check) {
    if (clock::now() >= next_check) {
      recover();
      next_check = clock::now() + recovery_interval;
    }
  }
};

result<void> region_state::attach() {
  const auto n = b().processes_max;
  const pid_t pid = ::getpid();
  const std::uint64_t start = start_time_of(pid);
  for (int round = 0; round < 2; ++round) {
    for (std::uint32_t i = 0; i < n; ++i) {
      std::uint32_t expected = process_free;
      if (procs()[i].state.compare_exchange_strong(expected, process_busy)) {
        procs()[i].pid = pid;
        procs()[i].start_time = start;
        procs()[i].state.store(process_live, std::memory_order_release);
        self = i;
        return {};
      }
    }
    recover();  // dead processes free their slots
  }
  return fail(errc::full, "region " + name + ": " + std::to_string(n) +
                              " processes attached already (processes_max)");
}

std::size_t region_state::recover() {
  std::size_t found = 0;
  for (std::uint32_t i = 0; i < b().processes_max; ++i) {
    auto& p = procs()[i];
    if (i == self || p.state.load(std::memory_order_acquire) != process_live) continue;
    if (alive(p.pid, p.start_time)) continue;
    std::uint32_t expected = process_live;
    if (!p.state.compare_exchange_strong(expected, process_busy)) continue;  // another recovers
    recover_process(i);
    p.state.store(process_free, std::memory_order_release);
    ++found;
  }
  return found;
}

void region_state::recover_process(std::uint32_t dead) {
  for (std::uint32_t i = 0; i < b().pipes_max; ++i) {
    auto& e = dir()[i];
    auto state = e.state.load(std::memory_order_acquire);
    if (state == entry_creating && e.creator == dead) {
      e.state.store(entry_free, std::memory_order_release);  // a creation it never finished
    } else if (state == entry_ready) {
      recover_pipe(*at<pipe_header>(e.offset), dead);
    }
  }
}

namespace {
// The pipe operations, on one pipe of one region.
struct queue {
  region_state& r;
  pipe_header& p;

  slot_header& at(std::uint64_t pos) const {
    return *reinterpret_cast<slot_header*>(r.slot(p, pos));
  }
  std::byte* value(std::uint64_t pos) const { return r.slot(p, pos) + slot_value_offset; }

  void published() {
    p.enq_events.fetch_add(1, std::memory_order_seq_cst);
    if (p.consumers_waiting.load(std::memory_order_seq_cst) > 0) futex_wake(&p.enq_events, 1);
  }
  void freed() {
    p.deq_events.fetch_add(1, std::memory_order_seq_cst);
    if (p.producers_waiting.load(std::memory_order_seq_cst) > 0) futex_wake(&p.deq_events, 1);
  }

  // Moves a position from `pos` to pos + 1 unless someone did already. (A failed CAS writes the
  // current value into its first argument: never let it be the caller's `pos`.)
  static void advance(std::atomic<std::uint64_t>& position, std::uint64_t pos) {
    position.compare_exchange_strong(pos, pos + 1, std::memory_order_acq_rel);
  }

  // base - want in the 56-bit sequence space, as a signed number.
  static std::int64_t diff(std::uint64_t base, std::uint64_t want) {
    std::uint64_t d = (base - want) & seq_mask;
    return d >= (seq_mask >> 1)
               ? static_cast<std::int64_t>(d) - static_cast<std::int64_t>(seq_mask) - 1
               : static_cast<std::int64_t>(d);
  }

  // One attempt: true if enqueued, false if full.
  bool try_enqueue(const void* v, std::uint32_t me) {
    for (;;) {
      std::uint64_t pos = p.enq_pos.load(std::memory_order_acquire);
      slot_header& s = at(pos);
      std::uint64_t seq = s.seq.load(std::memory_order_acquire);
      const std::int64_t d = diff(base_of(seq), pos);
      if (d == 0 && !is_marker(seq)) {
        if (!s.seq.compare_exchange_weak(seq, marker(me, seq), std::memory_order_acq_rel)) {
          continue;
        }
        advance(p.enq_pos, pos);
        maybe_crash(crash_point::enqueue_claimed);
        std::memcpy(value(pos), v, p.value_bytes);
        s.valid = 1;
        maybe_crash(crash_point::enqueue_copied);
        s.seq.store((pos + 1) & seq_mask, std::memory_order_release);
        published();
        return true;
      }
      if (d >= 0) {
        // Claimed by another producer, or further along: the position lags; help it on.
        advance(p.enq_pos, pos);
        continue;
      }
      if (p.enq_pos.load(std::memory_order_acquire) != pos) continue;  // moved meanwhile
      return false;  // the slot still holds a value of the previous lap: full
    }
  }

  // A value, skipping tombstones: false if the pipe is empty.
  bool try_take(void* v, std::uint32_t me) {
    int got;
    while ((got = try_dequeue(v, me)) < 0) {
    }
    return got > 0;
  }

  // One attempt: 1 if a value was taken, 0 if empty, -1 if a tombstone was skipped.
  int try_dequeue(void* v, std::uint32_t me) {
    for (;;) {
      std::uint64_t pos = p.deq_pos.load(std::memory_order_acquire);
      slot_header& s = at(pos);
      std::uint64_t seq = s.seq.load(std::memory_order_acquire);
      const std::int64_t d = diff(base_of(seq), pos + 1);
      if (d == 0 && !is_marker(seq)) {
        if (!s.seq.compare_exchange_weak(seq, marker(me, seq), std::memory_order_acq_rel)) {
          continue;
        }
        advance(p.deq_pos, pos);
        maybe_crash(crash_point::dequeue_claimed);
        const bool ok = s.valid != 0;
        if (ok) std::memcpy(v, value(pos), p.value_bytes);
        maybe_crash(crash_point::dequeue_copied);
        s.seq.store((pos + p.capacity) & seq_mask, std::memory_order_release);
        freed();
        return ok ? 1 : -1;
      }
      if (d >= 0) {
        // Being consumed by another, or consumed already: the position lags; help it on.
        advance(p.deq_pos, pos);
        continue;
      }
      if (p.deq_pos.load(std::memory_order_acquire) != pos) continue;
      return 0;  // not published yet (free, or claimed by a producer): empty for now
    }
  }
};
}  // namespace

void region_state::recover_pipe(pipe_header& p, std::uint32_t dead) {
  queue q{*this, p};
  std::vector<std::vector<std::byte>> taken;
  for (std::uint64_t i = 0; i < p.capacity; ++i) {
    auto& s = *reinterpret_cast<slot_header*>(slot(p, i));
    std::uint64_t seq = s.seq.load(std::memory_order_acquire);
    if (!is_marker(seq) || owner_of(seq) != dead) continue;
    const std::uint64_t replaced = base_of(seq);
    if ((replaced & p.mask) == i) {
      // An enqueue it had claimed: a tombstone, published, which consumers skip.
      s.valid = 0;
      if (s.seq.compare_exchange_strong(seq, (replaced + 1) & seq_mask)) q.published();
    } else {
      // A dequeue it had begun: the value was never handed out; free the slot and put the
      // value back at the end.
      std::vector<std::byte> v(p.value_bytes);
      const bool had = s.valid != 0;
      if (had)
        std::memcpy(v.data(), reinterpret_cast<std::byte*>(&s) + slot_value_offset, v.size());
      // replaced = pos + 1 for the claimed dequeue of pos; the slot's next lap is pos + capacity.
      if (s.seq.compare_exchange_strong(seq, (replaced - 1 + p.capacity) & seq_mask)) {
        q.freed();
        if (had) taken.push_back(std::move(v));
      }
    }
  }
  for (auto& v : taken) {
    auto until = clock::now() + 1s;
    while (!q.try_enqueue(v.data(), self) && clock::now() < until) std::this_thread::yield();
  }
}

pipe_core::pipe_core(std::shared_ptr<region_state> r, std::uint64_t offset, pipe_options o)
    : r_(std::move(r)), offset_(offset), o_(o) {}

std::size_t pipe_core::capacity() const noexcept {
  return r_ ? r_->at<pipe_header>(offset_)->capacity : 0;
}

std::size_t pipe_core::size() const noexcept {
  if (!r_) return 0;
  auto& p = *r_->at<pipe_header>(offset_);
  auto e = p.enq_pos.load(), d = p.deq_pos.load();
  return e > d ? static_cast<std::size_t>(std::min<std::uint64_t>(e - d, p.capacity)) : 0;
}

void crash_at(crash_point point, std::uint64_t nth) {
  crash_countdown.store(nth);
  crash_point_set.store(static_cast<int>(point));
}

result<void> pipe_core::enqueue(const void* v, std::optional<clock::time_point> deadline) {
  if (!r_) return fail(errc::invalid_argument, "not a pipe (moved from)");
  count_operation();
  auto& p = *r_->at<pipe_header>(offset_);
  queue q{*r_, p};
  for (std::uint32_t i = 0; i <= o_.spin; ++i) {
    if (q.try_enqueue(v, r_->self)) return {};
  }
  auto next_check = clock::now() + recovery_interval;
  for (;;) {
    p.producers_waiting.fetch_add(1, std::memory_order_seq_cst);
    std::uint32_t seen = p.deq_events.load(std::memory_order_acquire);
    if (q.try_enqueue(v, r_->self)) {
      p.producers_waiting.fetch_sub(1);
      return {};
    }
    auto now = clock::now();
    if (deadline && now >= *deadline) {
      p.producers_waiting.fetch_sub(1);
      return fail(error::timed_out, "pipe full");
    }
    auto until = std::min(next_check, deadline.value_or(clock::time_point::max()));
    futex_wait(&p.deq_events, seen, until);
    p.producers_waiting.fetch_sub(1);
    r_->wait_recovering(next_check);
  }
}

result<void> pipe_core::dequeue(void* v, std::optional<clock::time_point> deadline) {
  if (!r_) return fail(errc::invalid_argument, "not a pipe (moved from)");
  count_operation();
  auto& p = *r_->at<pipe_header>(offset_);
  queue q{*r_, p};
  for (std::uint32_t i = 0; i <= o_.spin; ++i) {
    if (q.try_take(v, r_->self)) return {};
  }
  auto next_check = clock::now() + recovery_interval;
  for (;;) {
    p.consumers_waiting.fetch_add(1, std::memory_order_seq_cst);
    std::uint32_t seen = p.enq_events.load(std::memory_order_acquire);
    if (q.try_take(v, r_->self)) {
      p.consumers_waiting.fetch_sub(1);
      return {};
    }
    auto now = clock::now();
    if (deadline && now >= *deadline) {
      p.consumers_waiting.fetch_sub(1);
      return fail(error::timed_out, "pipe empty");
    }
    auto until = std::min(next_check, deadline.value_or(clock::time_point::max()));
    futex_wait(&p.enq_events, seen, until);
    p.consumers_waiting.fetch_sub(1);
    r_->wait_recovering(next_check);
  }
}

}  // namespace detail

// --- region -----------------------------------------------------------------------------------

using detail::boot;
using detail::dir_entry;
using detail::pipe_header;
using detail::process_entry;
using detail::region_state;
using detail::slot_header;

namespace {

using detail::clock;
using detail::fail;
using namespace std::chrono_literals;

std::size_t round_up(std::size_t v, std::size_t to) { return (v + to - 1) / to * to; }

result<std::shared_ptr<region_state>> map(const std::string& name, int fd, std::size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    return fail(errc::system, "mmap of region " + name + ": " + std::strerror(errno));
  }
  // AddressSanitizer (clang 14) keeps the shadow of whatever used these addresses before, its
  // own freed internals included, and reports the new mapping as poisoned: clear it.
  ASAN_UNPOISON_MEMORY_REGION(p, size);
  auto s = std::make_shared<region_state>();
  s->name = name;
  s->base = static_cast<std::byte*>(p);
  s->size = size;
  return s;
}

result<region_state*> verify(region_state& s) {
  const boot& b = s.b();
  if (b.magic != detail::magic) {
    return fail(errc::version_mismatch, "region " + s.name + " is not a chorus::shm region");
  }
  if (b.version != detail::version) {
    return fail(errc::version_mismatch, "region " + s.name + " has layout version " +
                                            std::to_string(b.version) + ", this library " +
                                            std::to_string(detail::version));
  }
  if (b.layout != detail::layout_id || b.size != s.size) {
    return fail(errc::layout_mismatch,
                "region " + s.name + " was made by a build with another layout");
  }
  return &s;
}

}  // namespace

region::region(std::shared_ptr<region_state> s) : state_(std::move(s)) {}
region::region(region&&) noexcept = default;
region& region::operator=(region&&) noexcept = default;
region::~region() = default;

const std::string& region::name() const noexcept { return state_->name; }
std::size_t region::size() const noexcept { return state_->size; }
std::size_t region::recover() { return state_->recover(); }

result<region> region::create(const std::string& name, const region_options& o) {
  if (!detail::valid_name(name, detail::region_name_max)) {
    return fail(errc::invalid_argument,
                "region name '" + name + "': 1-200 letters, digits, '_', '-' or '.'");
  }
  if (o.processes_max == 0 || o.processes_max > detail::processes_limit || o.pipes_max == 0 ||
      o.pipes_max > 4096) {
    return fail(errc::invalid_argument, "processes_max must be 1-128 and pipes_max 1-4096");
  }
  const std::string path = detail::shm_path(name);
  if (o.keep) {
    auto existing = open(name, 0ms);
    if (existing) return existing;
    if (existing.error().code != errc::not_found) return existing.error();
  } else {
    ::shm_unlink(path.c_str());  // a stale region of an earlier run
  }
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t directory_off = round_up(sizeof(boot), detail::cache_line);
  const std::size_t processes_off =
      round_up(directory_off + o.pipes_max * sizeof(dir_entry), detail::cache_line);
  const std::size_t heap_off =
      round_up(processes_off + o.processes_max * sizeof(process_entry), detail::cache_line);
  const std::size_t size = round_up(std::max(o.size, heap_off + page), page);
  int fd = ::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return fail(errno == EEXIST ? errc::exists : errc::system,
                "cannot create region " + name + " (" + path + "): " + std::strerror(errno));
  }
  // Reserve the memory now: a full /dev/shm is an error here, not a SIGBUS later.
  int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (rc != 0) {
    ::close(fd);
    ::shm_unlink(path.c_str());
    if (rc == ENOSPC) {
      return fail(errc::no_memory, "not enough shared memory for region " + name + " (" +
                                       std::to_string(size) + " bytes): /dev/shm is full");
    }
    return fail(errc::size_refused, "the system refuses a region of " + std::to_string(size) +
                                        " bytes: " + std::strerror(rc));
  }
  auto mapped = map(name, fd, size);
  ::close(fd);
  if (!mapped) {
    ::shm_unlink(path.c_str());
    return mapped.error();
  }
  auto s = std::move(*mapped);
  boot& b = s->b();
  b.magic = detail::magic;
  b.version = detail::version;
  b.layout = detail::layout_id;
  b.size = size;
  b.pipes_max = o.pipes_max;
  b.processes_max = o.processes_max;
  b.directory_off = directory_off;
  b.processes_off = processes_off;
  b.heap_off = heap_off;
  b.heap_next.store(heap_off);
  // Everything else is zero (a fresh file): free directory entries and process slots.
  if (auto a = s->attach(); !a) return a.error();
  b.ready.store(1, std::memory_order_release);
  detail::futex_wake(&b.ready, INT_MAX);
  return region(std::move(s));
}

result<region> region::open(const std::string& name, std::chrono::milliseconds timeout) {
  if (!detail::valid_name(name, detail::region_name_max)) {
    return fail(errc::invalid_argument,
                "region name '" + name + "': 1-200 letters, digits, '_', '-' or '.'");
  }
  const auto deadline = clock::now() + timeout;
  const std::string path = detail::shm_path(name);
  for (;;) {
    int fd = ::shm_open(path.c_str(), O_RDWR, 0);
    struct stat st {};
    if (fd >= 0 && ::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) >= sizeof(boot)) {
      auto mapped = map(name, fd, static_cast<std::size_t>(st.st_size));
      ::close(fd);
      if (!mapped) return mapped.error();
      auto s = std::move(*mapped);
      // Wait until the creator has initialized it.
      while (s->b().ready.load(std::memory_order_acquire) == 0) {
        if (clock::now() >= deadline) {
          return fail(error::timed_out, "region " + name +
                                            " is not initialized (its creator "
                                            "may have died while creating it)");
        }
        detail::futex_wait(&s->b().ready, 0, std::min(deadline, clock::now() + 50ms));
      }
      if (auto v = verify(*s); !v) return v.error();
      s->recover();
      if (auto a = s->attach(); !a) return a.error();
      return region(std::move(s));
    }
    if (fd >= 0) ::close(fd);
    if (fd < 0 && errno != ENOENT) {
      return fail(errc::system, "cannot open region " + name + ": " + std::strerror(errno));
    }
    if (clock::now() >= deadline) {
      return fail(timeout.count() == 0 ? errc::not_found : error::timed_out,
                  "no region named " + name);
    }
    std::this_thread::sleep_for(std::min<clock::duration>(deadline - clock::now(), 10ms));
  }
}

result<void> region::remove(const std::string& name) {
  if (!detail::valid_name(name, detail::region_name_max)) {
    return fail(errc::invalid_argument, "region name '" + name + "' is not valid");
  }
  if (::shm_unlink(detail::shm_path(name).c_str()) != 0) {
    return fail(errno == ENOENT ? errc::not_found : errc::system,
                "cannot remove region " + name + ": " + std::strerror(errno));
  }
  return {};
}

std::vector<region_info> region::list() {
  std::vector<region_info> out;
  DIR* d = ::opendir("/dev/shm");
  if (d == nullptr) return out;
  while (auto* e = ::readdir(d)) {
    std::string file = e->d_name;
    if (file.rfind("chorus.", 0) != 0) continue;
    region_info info;
    info.name = file.substr(7);
    int fd = ::shm_open(("/" + file).c_str(), O_RDONLY, 0);
    struct stat st {};
    if (fd >= 0 && ::fstat(fd, &st) == 0) {
      info.size = static_cast<std::size_t>(st.st_size);
      if (info.size >= sizeof(boot)) {
        void* p = ::mmap(nullptr, info.size, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
          ASAN_UNPOISON_MEMORY_REGION(p, info.size);
          auto* b = static_cast<const boot*>(p);
          info.ready = b->ready.load() == 1 && b->magic == detail::magic;
          if (info.ready && b->version == detail::version) {
            info.pipes = b->pipes.load();
            auto* procs = reinterpret_cast<const process_entry*>(static_cast<const std::byte*>(p) +
                                                                 b->processes_off);
            for (std::uint32_t i = 0; i < b->processes_max; ++i) {
              if (procs[i].state.load() == detail::process_live &&
                  detail::alive(procs[i].pid, procs[i].start_time)) {
                ++info.processes;
              }
            }
          }
          ::munmap(p, info.size);
        }
      }
    }
    if (fd >= 0) ::close(fd);
    out.push_back(std::move(info));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

result<std::uint64_t> region::make_pipe(const std::string& name, std::size_t capacity,
                                        std::size_t value_bytes, std::size_t value_align) {
  auto& s = *state_;
  if (!detail::valid_name(name, detail::name_max)) {
    return fail(errc::invalid_argument,
                "pipe name '" + name + "': 1-63 letters, digits, '_', '-' or '.'");
  }
  if (capacity == 0 || capacity > (std::size_t{1} << 30) || value_align > detail::cache_line) {
    return fail(errc::invalid_argument, "pipe capacity must be 1-2^30 values");
  }
  std::size_t cap = 2;
  while (cap < capacity) cap <<= 1;
  // Existing already (a kept region, or another creator)?
  if (auto found = find_pipe(name, value_bytes, value_align, 0ms))
    return found;
  else if (found.error().code != errc::not_found)
    return found.error();

  const std::size_t stride = round_up(detail::slot_value_offset + value_bytes, detail::cache_line);
  const std::size_t bytes = sizeof(pipe_header) + cap * stride;
  auto& b = s.b();
  for (std::uint32_t i = 0; i < b.pipes_max; ++i) {
    auto& e = s.dir()[i];
    std::uint32_t expected = detail::entry_free;
    if (!e.state.compare_exchange_strong(expected, detail::entry_creating)) continue;
    e.creator = s.self;
    std::memset(e.name, 0, sizeof e.name);
    std::memcpy(e.name, name.data(), name.size());
    // Two creators of one name at once: the lower entry wins.
    for (std::uint32_t j = 0; j < i; ++j) {
      auto& other = s.dir()[j];
      if (other.state.load() != detail::entry_free && std::strcmp(other.name, e.name) == 0) {
        e.state.store(detail::entry_free);
        return find_pipe(name, value_bytes, value_align, 5000ms);
      }
    }
    std::uint64_t off = b.heap_next.fetch_add(round_up(bytes, detail::cache_line));
    if (off + bytes > s.size) {
      e.state.store(detail::entry_free);
      return fail(errc::no_memory, "region " + s.name + " has no room for pipe " + name + " (" +
                                       std::to_string(bytes) + " bytes)");
    }
    auto* p = new (s.base + off) pipe_header();
    p->value_bytes = value_bytes;
    p->value_align = value_align;
    p->stride = stride;
    p->capacity = cap;
    p->mask = cap - 1;
    for (std::uint64_t k = 0; k < cap; ++k) {
      auto* sl = new (s.slot(*p, k)) slot_header();
      sl->seq.store(k);
    }
    e.offset = off;
    e.value_bytes = value_bytes;
    e.value_align = value_align;
    e.capacity = cap;
    e.state.store(detail::entry_ready, std::memory_order_release);
    b.pipes.fetch_add(1);
    b.directory_events.fetch_add(1);
    detail::futex_wake(&b.directory_events, INT_MAX);
    return off;
  }
  return fail(errc::full, "region " + s.name + " has " + std::to_string(b.pipes_max) +
                              " pipes already (pipes_max)");
}

result<std::uint64_t> region::find_pipe(const std::string& name, std::size_t value_bytes,
                                        std::size_t value_align,
                                        std::chrono::milliseconds timeout) {
  auto& s = *state_;
  auto& b = s.b();
  const auto deadline = clock::now() + timeout;
  for (;;) {
    std::uint32_t seen = b.directory_events.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < b.pipes_max; ++i) {
      auto& e = s.dir()[i];
      if (e.state.load(std::memory_order_acquire) != detail::entry_ready) continue;
      if (std::strncmp(e.name, name.c_str(), detail::name_max) != 0) continue;
      if (e.value_bytes != value_bytes || e.value_align != value_align) {
        return fail(errc::layout_mismatch, "pipe " + name + " carries values of " +
                                               std::to_string(e.value_bytes) + " bytes, not " +
                                               std::to_string(value_bytes));
      }
      return e.offset;
    }
    if (clock::now() >= deadline) {
      return fail(timeout.count() == 0 ? errc::not_found : error::timed_out,
                  "no pipe named " + name + " in region " + s.name);
    }
    detail::futex_wait(&b.directory_events, seen, std::min(deadline, clock::now() + 50ms));
  }
}

}  // namespace chorus::shm
