// events.cpp — Spread's event library (include/sp_events.h): descriptor callbacks by type and
// priority, timers, and the loop that runs them.
//
// State is per process, as in Spread, and belongs to the thread that runs the loop; only the
// exit request crosses threads and signal handlers: an atomic flag and a write to an eventfd
// that the loop also polls, so a request from elsewhere wakes a loop that is waiting.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <vector>

#include "sp_events.h"

namespace {

using timer_fn = void (*)(int code, void* data);
using fd_fn = void (*)(int fd, int code, void* data);

struct timer {
  sp_time at;  // on the monotonic clock
  timer_fn func;
  int code;
  void* data;
};

struct watch {
  std::uint64_t id;  // stays valid across other attaches and detaches (the loop's snapshot)
  int fd;
  int type;
  fd_fn func;
  int code;
  void* data;
  bool active;
};

struct loop_state {
  std::vector<timer> timers;  // by deadline; equal deadlines in the order queued
  std::vector<watch> watches[NUM_PRIORITY];
  int threshold = LOW_PRIORITY;
  std::size_t next_low = 0;  // LOW_PRIORITY descriptors take turns from this position
  std::uint64_t next_id = 1;
};

loop_state& state() {
  static loop_state s;
  return s;
}

std::atomic<int> exit_requested{0};
std::atomic<int> wake_fd{-1};  // an eventfd (make_wake_fd)
static_assert(std::atomic<int>::is_always_lock_free, "E_exit_events must be async-signal-safe");

// The eventfd that wakes a waiting loop; made once, by E_init or the first loop.
void make_wake_fd() {
  if (wake_fd.load() < 0) wake_fd.store(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
}

bool valid_priority(int p) { return p >= 0 && p < NUM_PRIORITY; }
bool valid_type(int t) { return t >= 0 && t < NUM_FDTYPES; }

sp_time normalise(long long sec, long long usec) {
  sec += usec / 1000000;
  usec %= 1000000;
  if (sec > 0 && usec < 0) {
    --sec;
    usec += 1000000;
  } else if (sec < 0 && usec > 0) {
    ++sec;
    usec -= 1000000;
  }
  return {static_cast<long>(sec), static_cast<long>(usec)};
}

long long micros(sp_time t) { return static_cast<long long>(t.sec) * 1000000 + t.usec; }

bool same_timer(const timer& t, timer_fn func, int code, void* data) {
  return t.func == func && t.code == code && t.data == data;
}

// The poll events that make a watch of this type ready (select's view: a descriptor at EOF or
// in error is readable and writable).
short ready_events(int type) {
  switch (type) {
    case READ_FD:
      return POLLIN | POLLHUP | POLLERR;
    case WRITE_FD:
      return POLLOUT | POLLHUP | POLLERR;
    default:
      return POLLPRI;
  }
}

short wanted_events(int type) {
  return type == READ_FD ? POLLIN : type == WRITE_FD ? POLLOUT : POLLPRI;
}

watch* find_watch(int priority, std::uint64_t id) {
  auto& w = state().watches[priority];
  auto it = std::find_if(w.begin(), w.end(), [&](const watch& x) { return x.id == id; });
  return it == w.end() ? nullptr : &*it;
}

bool exiting() { return exit_requested.load(std::memory_order_acquire) != 0; }

// Runs the timers due when the pass began, earliest first; false when asked to exit.
bool run_due_timers() {
  auto& timers = state().timers;
  const long long now = micros(E_get_time_monotonic());
  while (!timers.empty() && micros(timers.front().at) <= now) {
    const timer t = timers.front();
    timers.erase(timers.begin());
    t.func(t.code, t.data);
    if (exiting()) return false;
  }
  return true;
}

// Waits until a watched descriptor is ready, the next timer is due or an exit is requested;
// fills `ready` with the ids of the ready watches per priority.
void wait_for_events(std::vector<std::uint64_t> (&ready)[NUM_PRIORITY]) {
  loop_state& s = state();
  std::vector<pollfd> fds;
  std::vector<std::pair<int, std::uint64_t>> owners;  // priority and watch id, per entry
  for (int p = s.threshold; p < NUM_PRIORITY; ++p) {
    for (const watch& w : s.watches[p]) {
      if (!w.active) continue;
      fds.push_back({w.fd, wanted_events(w.type), 0});
      owners.emplace_back(p, w.id);
    }
  }
  fds.push_back({wake_fd.load(), POLLIN, 0});
  timespec timeout{};
  const timespec* wait = nullptr;  // no timer: until something happens
  if (!s.timers.empty()) {
    const long long left =
        std::max(0LL, micros(s.timers.front().at) - micros(E_get_time_monotonic()));
    timeout = {static_cast<time_t>(left / 1000000), static_cast<long>(left % 1000000) * 1000};
    wait = &timeout;
  }
  if (exiting()) return;
  if (ppoll(fds.data(), fds.size(), wait, nullptr) <= 0) return;  // timeout, EINTR
  if (fds.back().revents & POLLIN) {
    std::uint64_t n;
    [[maybe_unused]] ssize_t r = read(fds.back().fd, &n, sizeof n);
  }
  for (std::size_t i = 0; i + 1 < fds.size(); ++i) {
    const auto [p, id] = owners[i];
    if (fds[i].revents & POLLNVAL) {
      // Closed while attached: select would fail every pass; stop watching it instead.
      if (watch* w = find_watch(p, id)) w->active = false;
      continue;
    }
    const watch* w = find_watch(p, id);
    if (w && (fds[i].revents & ready_events(w->type))) ready[p].push_back(id);
  }
}

// Calls the watch if a callback before it did not detach or deactivate it; false when asked to
// exit.
bool call(int priority, std::uint64_t id) {
  const watch* w = find_watch(priority, id);
  if (w == nullptr || !w->active || priority < state().threshold) return true;
  const watch copy = *w;
  copy.func(copy.fd, copy.code, copy.data);
  return !exiting();
}

// The first watch of (fd, fd_type) at each priority.
int set_active(int fd, int fd_type, bool active) {
  if (!valid_type(fd_type)) return -1;
  bool found = false;
  for (auto& w : state().watches) {
    auto it = std::find_if(w.begin(), w.end(),
                           [&](const watch& x) { return x.fd == fd && x.type == fd_type; });
    if (it == w.end()) continue;
    it->active = active;
    found = true;
  }
  return found ? 0 : -1;
}

}  // namespace

extern "C" {

int E_init(void) {
  make_wake_fd();
  loop_state& s = state();
  s.timers.clear();
  for (auto& w : s.watches) w.clear();
  s.threshold = LOW_PRIORITY;
  s.next_low = 0;
  return 0;
}

sp_time E_get_time(void) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  return {static_cast<long>(tv.tv_sec), static_cast<long>(tv.tv_usec)};
}

sp_time E_get_time_monotonic(void) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return {static_cast<long>(ts.tv_sec), static_cast<long>(ts.tv_nsec / 1000)};
}

sp_time E_add_time(sp_time t, sp_time delta_t) {
  return normalise(static_cast<long long>(t.sec) + delta_t.sec,
                   static_cast<long long>(t.usec) + delta_t.usec);
}

sp_time E_neg_time(sp_time t) { return normalise(-static_cast<long long>(t.sec), -t.usec); }

sp_time E_sub_time(sp_time t, sp_time delta_t) { return E_add_time(t, E_neg_time(delta_t)); }

int E_compare_time(sp_time t1, sp_time t2) {
  const long long a = micros(normalise(t1.sec, t1.usec));
  const long long b = micros(normalise(t2.sec, t2.usec));
  return a > b ? 1 : a < b ? -1 : 0;
}

int E_queue(void (*func)(int code, void* data), int code, void* data, sp_time delta_time) {
  auto& timers = state().timers;
  std::erase_if(timers, [&](const timer& t) { return same_timer(t, func, code, data); });
  const timer t{E_add_time(E_get_time_monotonic(), delta_time), func, code, data};
  auto it = std::upper_bound(timers.begin(), timers.end(), t, [](const timer& a, const timer& b) {
    return micros(a.at) < micros(b.at);
  });
  timers.insert(it, t);
  return 0;
}

int E_dequeue(void (*func)(int code, void* data), int code, void* data) {
  return std::erase_if(state().timers,
                       [&](const timer& t) { return same_timer(t, func, code, data); }) > 0
             ? 0
             : -1;
}

int E_in_queue(void (*func)(int code, void* data), int code, void* data) {
  const auto& timers = state().timers;
  return std::any_of(timers.begin(), timers.end(),
                     [&](const timer& t) { return same_timer(t, func, code, data); })
             ? 1
             : 0;
}

void E_delay(sp_time t) {
  const long long us = micros(normalise(t.sec, t.usec));
  if (us <= 0) return;
  timespec left{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

int E_attach_fd(int fd, int fd_type, void (*func)(int fd, int code, void* data), int code,
                void* data, int priority) {
  if (fd < 0 || !valid_type(fd_type) || !valid_priority(priority) || func == nullptr) return -1;
  loop_state& s = state();
  auto& w = s.watches[priority];
  for (watch& x : w) {
    if (x.fd == fd && x.type == fd_type) {
      x.func = func;
      x.code = code;
      x.data = data;
      x.active = true;
      return 1;
    }
  }
  if (w.size() >= MAX_FD_EVENTS) return -1;
  w.push_back({s.next_id++, fd, fd_type, func, code, data, true});
  return 0;
}

int E_detach_fd_priority(int fd, int fd_type, int priority) {
  if (!valid_type(fd_type) || !valid_priority(priority)) return -1;
  return std::erase_if(state().watches[priority],
                       [&](const watch& x) { return x.fd == fd && x.type == fd_type; }) > 0
             ? 0
             : -1;
}

int E_detach_fd(int fd, int fd_type) {
  if (!valid_type(fd_type)) return -1;
  bool found = false;
  for (int p = 0; p < NUM_PRIORITY; ++p) found |= E_detach_fd_priority(fd, fd_type, p) == 0;
  return found ? 0 : -1;
}

int E_activate_fd(int fd, int fd_type) { return set_active(fd, fd_type, true); }

int E_deactivate_fd(int fd, int fd_type) { return set_active(fd, fd_type, false); }

int E_set_active_threshold(int priority) {
  if (!valid_priority(priority)) return -1;
  state().threshold = priority;
  return priority;
}

int E_num_active(int priority) {
  if (!valid_priority(priority)) return -1;
  const auto& w = state().watches[priority];
  return static_cast<int>(
      std::count_if(w.begin(), w.end(), [](const watch& x) { return x.active; }));
}

void E_handle_events(void) {
  make_wake_fd();
  exit_requested.store(0);  // Spread forgets a request made before the loop runs
  loop_state& s = state();
  for (;;) {
    if (!run_due_timers() || exiting()) return;
    std::vector<std::uint64_t> ready[NUM_PRIORITY];
    wait_for_events(ready);
    if (exiting()) return;
    // Every ready descriptor of the highest busy priority above LOW.
    for (int p = HIGH_PRIORITY; p > LOW_PRIORITY; --p) {
      if (ready[p].empty()) continue;
      for (std::uint64_t id : ready[p])
        if (!call(p, id)) return;
      break;
    }
    // One LOW_PRIORITY descriptor, in turn.
    if (s.threshold != LOW_PRIORITY || ready[LOW_PRIORITY].empty()) continue;
    const auto& low = s.watches[LOW_PRIORITY];
    std::uint64_t chosen = 0;
    std::size_t at = 0;
    for (std::size_t k = 0; k < low.size() && chosen == 0; ++k) {
      const std::size_t i = (s.next_low + k) % low.size();
      if (std::find(ready[LOW_PRIORITY].begin(), ready[LOW_PRIORITY].end(), low[i].id) !=
          ready[LOW_PRIORITY].end()) {
        chosen = low[i].id;
        at = i;
      }
    }
    if (chosen == 0) continue;
    s.next_low = at + 1;
    if (!call(LOW_PRIORITY, chosen)) return;
  }
}

void E_exit_events_async_safe(void) {
  exit_requested.store(1, std::memory_order_release);
  const int fd = wake_fd.load();
  if (fd >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = write(fd, &one, sizeof one);
  }
}

void E_exit_events(void) { E_exit_events_async_safe(); }

}  // extern "C"
