// config_file.hpp — the spread.conf parser: upstream Spread's configuration syntax
// (daemon/config_gram.l + config_parse.y; spec §8.1) read into plain data, plus the few queries a
// daemon needs on it (which entry am I, what port does an entry use, the configuration hash).
//
// Why pure: a configuration file is untrusted input like a packet. Parsing it without sockets,
// DNS or clocks keeps it unit-testable and fuzzable; the daemon shell resolves what is left
// (%n / %h in paths, local addresses, defaults that depend on the segment count).
//
// Chorus extensions, all refused by upstream Spread: `name address:port` (per-daemon port, so
// that several daemons share one host), `RuntimeDir` holding %n, `UnixSocketDir = path`, and the
// local options `TokenLinger`, `BusyPoll`, `CpuAffinity` and `SharedMemoryRing`.
// Not supported, with a clear error: IPv6 addresses, a daemon given by host name (no DNS).
//
// Nothing in a file can make these functions crash, assert or throw (other than std::bad_alloc);
// every problem is a status "<source>:<line>: <reason>". docs/configuration.md is the user's view.
// Thread-safety: stateless functions over value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace chorus::daemon {

inline constexpr std::uint16_t default_port = 4803;
inline constexpr std::size_t daemon_name_bytes_max = 19;  // Spread MAX_PROC_NAME (20) minus NUL
inline constexpr std::size_t daemons_max = 128;           // in all segments together
inline constexpr std::size_t segments_max = 16;
inline constexpr std::size_t interfaces_max = 16;               // entries of one daemon's stanza
inline constexpr std::size_t config_file_bytes_max = 1u << 20;  // load_config refuses larger
// TokenLinger stays below the token's 5 ms retransmission time (core::config::token_linger).
inline constexpr std::uint32_t token_linger_us_max = 4000;
inline constexpr std::uint32_t busy_poll_us_max = 1000000;
// `SharedMemoryRing`, KiB: a shared-memory session's request ring (0: not offered).
inline constexpr std::uint32_t shared_memory_ring_kib_max = 65536;
// `CpuAffinity` names CPUs 0..cpus_max-1 (glibc's CPU_SETSIZE).
inline constexpr std::uint32_t cpus_max = 1024;

// One line of a daemon's interface stanza `{ [D|C|M] addr ... }`.
struct interface_entry {
  char kind = 0;        // 'D' daemon traffic, 'C' client connections, 'M' monitor, 0 = all
  std::string address;  // IPv4 dotted text; 0.0.0.0 = every local address
};

// One daemon of a segment.
struct daemon_entry {
  std::string name;        // 1..19 bytes, each 0x24..0x7E; the `#user#<name>` private group suffix
  std::string address;     // canonical IPv4 dotted text (no leading zeros)
  std::uint16_t port = 0;  // Chorus `name addr:port`; 0 = the segment's port (see port_of)
  std::optional<std::uint32_t> virtual_id;  // `VirtualID = n`; unique in the file when given
  std::vector<interface_entry> interfaces;  // empty = bind `address` for everything
  int line = 0;                             // line of the file it was declared on (0: built in)
};

// `Spread_Segment address[:port] { daemons }`.
struct segment {
  std::string address;  // the segment's multicast or broadcast IPv4 address
  std::uint16_t port = default_port;
  std::vector<daemon_entry> daemons;  // file order = ring order; never empty once parsed
  int line = 0;                       // line of the Spread_Segment keyword

  // The address is in 224.0.0.0/4: daemons of this segment use IP multicast.
  bool multicast() const;
};

// A parsed file. Options keep the spread.conf spelling of their values; std::optional = not given,
// so the daemon applies its own default (Chorus defaults differ from Spread's, see the docs).
struct file_config {
  std::string source;  // the file name used in messages ("<embedded default>" for the default)
  std::vector<segment> segments;  // 1..segments_max, holding 1..daemons_max daemons in all

  std::uint32_t max_session_messages = 1000;  // 1..1000000
  // Chorus, local to this daemon (docs/configuration.md "Latency"), microseconds:
  std::uint32_t token_linger_us = 0;  // `TokenLinger`, 0..token_linger_us_max (core::config)
  std::uint32_t busy_poll_us = 0;     // `BusyPoll`, 0..busy_poll_us_max: spin this long when idle
  // `SharedMemoryRing`, KiB, 0..shared_memory_ring_kib_max (rounded up to a power of two by
  // the daemon); 0: Unix-socket clients are not offered shared memory.
  std::uint32_t shared_memory_ring_kib = 256;
  std::vector<std::uint32_t> cpu_affinity;  // `CpuAffinity`: the CPUs to run on; empty = any
  std::optional<std::uint32_t> window, personal_window, accelerated_window;  // packets, 1..65535
  std::optional<bool> accelerated_ring, wide_area_network;
  // Milliseconds, 1..600000. Any subset may be given (Spread wants all or none).
  std::optional<std::uint32_t> token_timeout_ms, hurry_timeout_ms, alive_timeout_ms,
      join_timeout_ms, rep_timeout_ms, seg_timeout_ms, gather_timeout_ms, form_timeout_ms,
      lookup_timeout_ms;
  std::string event_priority = "INFO";  // pDEBUG INFO WARNING ERROR CRITICAL FATAL
  std::string event_log_file;           // empty = stderr; %h/%H kept verbatim for the caller
  std::vector<std::string> debug_flags{"PRINT", "EXIT"};  // upper case, "!NAME" = negated
  bool event_timestamp = false;
  std::string event_timestamp_format;  // strftime format; set (to Spread's default) when enabled
  bool event_precise_timestamp = false;
  bool dangerous_monitor = false;
  std::string socket_port_reuse = "AUTO";  // AUTO ON OFF
  std::string runtime_dir;  // Chorus: per-daemon state directory; "%n" = daemon name (caller)
  std::string unix_socket_dir = "/tmp";  // Chorus `UnixSocketDir`: socket <dir>/<port>; "%n" too
  std::string daemon_user, daemon_group;
  // Upper case. Setting either list drops the implicit NULL (spec §8.1).
  std::vector<std::string> allowed_auth_methods{"NULL"}, required_auth_methods;
  std::string access_control_policy = "PERMIT";
  std::string active_ip_version = "IPv4";  // IPv6 is refused for now
  bool exclude_seg_addrs_from_hash = false, ignore_multicast_join_errors = false;

  // All daemons of all segments in file order (index = position). The pointers live as long as
  // this object and its segments are not modified.
  std::vector<const daemon_entry*> all_daemons() const;
  // The daemon called `name` (bytewise), or nullptr. Same lifetime as all_daemons().
  const daemon_entry* find(std::string_view name) const;
  // The entry's own port, else the port of the segment holding it. `d` must be an entry of this
  // object; for a foreign entry without a port, default_port.
  std::uint16_t port_of(const daemon_entry& d) const;
  // Daemon `name`'s state directory: RuntimeDir (default /tmp/chorus-%n) with %n replaced.
  std::string runtime_dir_of(std::string_view name) const;
  // The directory of daemon `name`'s Unix socket: UnixSocketDir with %n replaced.
  std::string unix_socket_dir_of(std::string_view name) const;
};

// A CPU list as taskset(1) and /proc write it: comma-separated CPU numbers and ranges "a-b"
// (a <= b), each below cpus_max, e.g. "0", "0,2", "0-3,8". Gives the CPUs ascending, without
// repeats; an empty, malformed or out-of-range list is an error saying which part is wrong.
util::result<std::vector<std::uint32_t>> parse_cpu_list(std::string_view text);

// The list back in its shortest form ("0-3,8"); "" for no CPUs.
std::string format_cpu_list(const std::vector<std::uint32_t>& cpus);

// Parses spread.conf text. `source` names the file in messages: "<source>:<line>: <reason>".
util::result<file_config> parse_config(std::string_view text, std::string_view source);

// Reads and parses the file at `path`; an unreadable or oversized file is an error naming it.
util::result<file_config> load_config(const std::string& path);

// The configuration used when no file exists: segment 127.0.0.255:4803 holding one daemon,
// `localhost 127.0.0.1`.
file_config default_config();

// Which entry this daemon is: the one called `name` if it is not empty, else the only entry whose
// address is one of `local_addresses` (IPv4 dotted text). The pointer lives as long as `cfg`.
util::result<const daemon_entry*> identify(const file_config& cfg, std::string_view name,
                                           const std::vector<std::string>& local_addresses);

// A stable 64-bit hash of what daemons must agree on: segments (addresses unless
// ExcludeSegAddrsFromHash), daemons in order (name, address, port, VirtualID), windows,
// AcceleratedRing, WideAreaNetwork and timeouts. Comments, layout, spelling of keywords and the
// local-only options (logging, paths, users, auth, interface stanzas) do not change it.
std::uint64_t config_hash(const file_config& cfg);

}  // namespace chorus::daemon
