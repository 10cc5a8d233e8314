// config_file.cpp — the spread.conf lexer and parser (see config_file.hpp).
//
// Two passes over the text: lex() cuts it into words, quoted strings and the punctuation
// `{ } = ;` (comments and whitespace vanish, every token keeps its line), then `parser` walks the
// tokens with at most two tokens of lookahead. Neither recurses, so no input can exhaust the
// stack, and neither keeps anything but views into the caller's text until values are copied
// into the file_config.
//
// Keywords are case-insensitive, as in upstream Spread; names,
// paths and strings keep their case.
// Thread-safety: stateless functions; each parse owns its parser.
#include "daemon/config_file.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <span>

#include "util/hash.hpp"

namespace chorus::daemon {
namespace {

using util::errc;
using util::status;

constexpr std::size_t debug_flags_max = 64;
constexpr std::string_view default_timestamp_format = "[%a %d %b %Y %H:%M:%S]";

// ---- text helpers ---------------------------------------------------------------------------

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = upper(c);
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// `s` quoted for a message: bytes outside printable ASCII escaped, long text cut, so that a
// binary or huge token never garbles a log line.
std::string quote(std::string_view s) {
  constexpr std::size_t shown_max = 40;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < shown_max; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0x20 && b <= 0x7e) {
      out += static_cast<char>(b);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(b));
      out += hex;
    }
  }
  if (s.size() > shown_max) out += "...";
  return out + "'";
}

status error_at(std::string_view source, int line, const std::string& reason,
                errc code = errc::malformed) {
  return status(code, std::string(source) + ":" + std::to_string(line) + ": " + reason);
}

// The canonical spelling of `value` among `choices` (compared case-insensitively), or empty.
std::string_view pick(std::string_view value, std::span<const std::string_view> choices) {
  for (std::string_view c : choices) {
    if (iequals(value, c)) return c;
  }
  return {};
}

// ---- numbers and addresses ------------------------------------------------------------------

enum class number_error { none, not_a_number, out_of_range };

// Decimal digits only (no sign, no spaces), within [lo, hi].
number_error parse_u32(std::string_view s, std::uint32_t lo, std::uint32_t hi, std::uint32_t& out) {
  if (s.empty()) return number_error::not_a_number;
  std::uint64_t v = 0;
  bool too_big = false;
  for (char c : s) {
    if (!is_digit(c)) return number_error::not_a_number;
    if (!too_big) v = v * 10 + static_cast<std::uint64_t>(c - '0');
    too_big = too_big || v > hi;
  }
  if (too_big || v < lo) return number_error::out_of_range;
  out = static_cast<std::uint32_t>(v);
  return number_error::none;
}

}  // namespace

util::result<std::vector<std::uint32_t>> parse_cpu_list(std::string_view text) {
  auto bad = [&](std::string why) {
    return util::status(errc::invalid_argument, quote(text) + " is not a CPU list: " + why);
  };
  if (text.empty()) return bad("it is empty (write CPUs as in taskset -c: 0,2-3)");
  std::vector<bool> chosen(cpus_max);
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view part = text.substr(start, comma - start);
    const std::size_t dash = part.find('-');
    const std::string_view first = part.substr(0, dash);
    const std::string_view last = dash == std::string_view::npos ? first : part.substr(dash + 1);
    std::uint32_t lo = 0, hi = 0;
    const auto a = parse_u32(first, 0, cpus_max - 1, lo);
    const auto b = parse_u32(last, 0, cpus_max - 1, hi);
    if (a == number_error::not_a_number || b == number_error::not_a_number) {
      return bad(quote(part) + " is neither a CPU number nor a range a-b");
    }
    if (a != number_error::none || b != number_error::none) {
      return bad(quote(part) + " names a CPU beyond " + std::to_string(cpus_max - 1));
    }
    if (lo > hi) return bad("the range " + quote(part) + " runs backwards");
    for (std::uint32_t cpu = lo; cpu <= hi; ++cpu) chosen[cpu] = true;
    start = comma + 1;
  }
  std::vector<std::uint32_t> out;
  for (std::uint32_t cpu = 0; cpu < cpus_max; ++cpu) {
    if (chosen[cpu]) out.push_back(cpu);
  }
  return out;
}

std::string format_cpu_list(const std::vector<std::uint32_t>& cpus) {
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

namespace {

// Canonical dotted IPv4: four numbers 0..255 without leading zeros (inet_aton would read a
// leading zero as octal, so "010" is refused rather than guessed).
bool is_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t j = i;
    unsigned v = 0;
    while (j < s.size() && is_digit(s[j]) && j - i < 4)
      v = v * 10 + static_cast<unsigned>(s[j++] - '0');
    const std::size_t n = j - i;
    if (n == 0 || n > 3 || v > 255 || (n > 1 && s[i] == '0')) return false;
    ++parts;
    if (j == s.size()) return parts == 4;
    if (s[j] != '.' || parts == 4) return false;
    i = j + 1;
  }
}

unsigned first_octet(std::string_view ipv4) {
  unsigned v = 0;
  for (std::size_t i = 0; i < ipv4.size() && is_digit(ipv4[i]); ++i) v = v * 10 + (ipv4[i] - '0');
  return v;
}

bool looks_ipv6(std::string_view s) {
  return (!s.empty() && s.front() == '[') || std::count(s.begin(), s.end(), ':') >= 2;
}

// Digits, dots and a port colon, with at least one dot: meant as an IPv4 address, so it is
// checked as one instead of being taken for a daemon name.
bool looks_ipv4(std::string_view s) {
  return !s.empty() && is_digit(s.front()) && s.find('.') != std::string_view::npos &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return is_digit(c) || c == '.' || c == ':'; });
}

// ---- lexer ----------------------------------------------------------------------------------

enum class tok : std::uint8_t { word, quoted, open, close, equals, semicolon, end };

struct token {
  tok kind = tok::end;
  std::string_view text;  // a view into the parsed text; a quoted string without its quotes
  int line = 0;           // 1-based
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}
bool ends_word(char c) {
  return is_space(c) || c == '#' || c == '{' || c == '}' || c == '=' || c == ';' || c == '"';
}

std::string describe(const token& t) {
  switch (t.kind) {
    case tok::word:
      return quote(t.text);
    case tok::quoted:
      return "the string " + quote(t.text);
    case tok::open:
      return "'{'";
    case tok::close:
      return "'}'";
    case tok::equals:
      return "'='";
    case tok::semicolon:
      return "';'";
    case tok::end:
      return "the end of the file";
  }
  return "?";
}

// Tokens of `text`, always ending with one tok::end (on the last line holding text).
util::result<std::vector<token>> lex(std::string_view text, std::string_view source) {
  std::vector<token> out;
  int line = 1;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (is_space(c)) {
      ++i;
    } else if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '"') {
      const std::size_t close = text.find_first_of("\"\n", i + 1);
      if (close == std::string_view::npos || text[close] == '\n') {
        return error_at(source, line,
                        "unterminated quoted string: '\"' expected before the end of the line");
      }
      out.push_back({tok::quoted, text.substr(i + 1, close - i - 1), line});
      i = close + 1;
    } else if (c == '{' || c == '}' || c == '=' || c == ';') {
      const tok k = c == '{'   ? tok::open
                    : c == '}' ? tok::close
                    : c == '=' ? tok::equals
                               : tok::semicolon;
      out.push_back({k, text.substr(i, 1), line});
      ++i;
    } else {
      std::size_t j = i;
      while (j < text.size() && !ends_word(text[j])) ++j;
      out.push_back({tok::word, text.substr(i, j - i), line});
      i = j;
    }
  }
  const int last = !text.empty() && text.back() == '\n' && line > 1 ? line - 1 : line;
  out.push_back({tok::end, {}, last});
  return out;
}

// ---- option tables --------------------------------------------------------------------------
// Keys are the lower-case option names. Ranges: windows 1..65535 packets (AcceleratedWindow may be
// 0), timeouts 1..600000 ms; docs/configuration.md lists them for users.

constexpr std::uint32_t window_max = 65535;
constexpr std::uint32_t timeout_ms_max = 600000;

// A number in lo..hi; Field is std::optional<std::uint32_t> (hashed ring options) or
// std::uint32_t (local options with a default).
template <typename Field>
struct number_option_of {
  std::string_view key;
  Field file_config::*field;
  std::uint32_t lo, hi;
};
using number_option = number_option_of<std::optional<std::uint32_t>>;
constexpr std::array<number_option, 12> number_options{{
    {"window", &file_config::window, 1, window_max},
    {"personalwindow", &file_config::personal_window, 1, window_max},
    {"acceleratedwindow", &file_config::accelerated_window, 0, window_max},  // 0: no overlap
    {"tokentimeout", &file_config::token_timeout_ms, 1, timeout_ms_max},
    {"hurrytimeout", &file_config::hurry_timeout_ms, 1, timeout_ms_max},
    {"alivetimeout", &file_config::alive_timeout_ms, 1, timeout_ms_max},
    {"jointimeout", &file_config::join_timeout_ms, 1, timeout_ms_max},
    {"reptimeout", &file_config::rep_timeout_ms, 1, timeout_ms_max},
    {"segtimeout", &file_config::seg_timeout_ms, 1, timeout_ms_max},
    {"gathertimeout", &file_config::gather_timeout_ms, 1, timeout_ms_max},
    {"formtimeout", &file_config::form_timeout_ms, 1, timeout_ms_max},
    {"lookuptimeout", &file_config::lookup_timeout_ms, 1, timeout_ms_max},
}};

struct tristate_option {
  std::string_view key;
  std::optional<bool> file_config::*field;
};
constexpr std::array<tristate_option, 2> tristate_options{{
    {"acceleratedring", &file_config::accelerated_ring},
    {"wideareanetwork", &file_config::wide_area_network},
}};

struct flag_option {
  std::string_view key;
  bool file_config::*field;
};
constexpr std::array<flag_option, 3> flag_options{{
    {"dangerousmonitor", &file_config::dangerous_monitor},
    {"excludesegaddrsfromhash", &file_config::exclude_seg_addrs_from_hash},
    {"ignoremulticastjoinerrors", &file_config::ignore_multicast_join_errors},
}};

struct string_option {
  std::string_view key;
  std::string file_config::*field;
};
constexpr std::array<string_option, 6> string_options{{
    {"eventlogfile", &file_config::event_log_file},
    {"runtimedir", &file_config::runtime_dir},
    {"unixsocketdir", &file_config::unix_socket_dir},
    {"daemonuser", &file_config::daemon_user},
    {"daemongroup", &file_config::daemon_group},
    {"accesscontrolpolicy", &file_config::access_control_policy},
}};

// Numbers that only change this daemon's behaviour (not part of the configuration hash).
constexpr std::array<number_option_of<std::uint32_t>, 4> local_number_options{{
    {"maxsessionmessages", &file_config::max_session_messages, 1, 1000000},
    {"tokenlinger", &file_config::token_linger_us, 0, token_linger_us_max},
    {"busypoll", &file_config::busy_poll_us, 0, busy_poll_us_max},
    {"sharedmemoryring", &file_config::shared_memory_ring_kib, 0, shared_memory_ring_kib_max},
}};

// Options with a parser of their own (parser::set_special, parse_debug_flags, parse_switch).
constexpr std::array<std::string_view, 9> special_options{
    "eventpriority",      "socketportreuse",       "activeipversion",
    "allowedauthmethods", "requiredauthmethods",   "debugflags",
    "eventtimestamp",     "eventprecisetimestamp", "cpuaffinity"};

constexpr std::array<std::string_view, 6> priorities{"pDEBUG", "INFO",     "WARNING",
                                                     "ERROR",  "CRITICAL", "FATAL"};
constexpr std::array<std::string_view, 3> tristates{"AUTO", "ON", "OFF"};
constexpr std::array<std::string_view, 2> ip_versions{"IPv4", "IPv6"};
constexpr std::array<std::string_view, 3> auth_methods{"NULL", "IP", "PWORD"};
constexpr std::array<std::string_view, 19> debug_flag_names{
    "EXIT",          "PRINT",      "DEBUG",        "DATA_LINK", "NETWORK", "PROTOCOL", "SESSION",
    "CONFIGURATION", "MEMBERSHIP", "FLOW_CONTROL", "STATUS",    "EVENTS",  "GROUPS",   "MEMORY",
    "SKIPLIST",      "ACM",        "SECURITY",     "ALL",       "NONE"};

template <typename T, std::size_t N>
const T* find_key(const std::array<T, N>& table, std::string_view key) {
  for (const T& o : table) {
    if (o.key == key) return &o;
  }
  return nullptr;
}

bool known_option(std::string_view key) {
  return find_key(number_options, key) || find_key(local_number_options, key) ||
         find_key(tristate_options, key) || find_key(flag_options, key) ||
         find_key(string_options, key) ||
         std::find(special_options.begin(), special_options.end(), key) != special_options.end();
}

// ---- parser ---------------------------------------------------------------------------------

struct endpoint {
  std::string address;     // canonical IPv4 text
  std::uint16_t port = 0;  // 0 = none given
};

// Walks the tokens of one file. Invariants: 1. toks_ ends with one tok::end and pos_ never
// passes it, so peek()/take() are always valid; 2. every daemon in cfg_ and in the segment
// being parsed passed check_new_daemon, so names, (address, port) pairs and VirtualIDs are
// unique and daemon_count_ <= daemons_max.
class parser {
 public:
  parser(std::vector<token> tokens, std::string_view source)
      : toks_(std::move(tokens)), source_(source) {
    cfg_.source = std::string(source);
  }

  util::result<file_config> run();

 private:
  const token& peek(std::size_t ahead = 0) const {
    return toks_[std::min(pos_ + ahead, toks_.size() - 1)];
  }
  const token& take() {
    const token& t = toks_[pos_];
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }
  status fail(int line, const std::string& reason, errc code = errc::malformed) const {
    return error_at(source_, line, reason, code);
  }

  status parse_segment();
  status parse_segment_body(segment& seg, const token& open);
  status parse_daemon(segment& seg);
  status parse_daemon_address(const token& first, daemon_entry& d);
  status parse_daemon_extras(daemon_entry& d);
  status parse_interfaces(daemon_entry& d);
  status check_name(std::string_view name, int line) const;
  status check_new_daemon(const segment& seg, const daemon_entry& d) const;
  util::result<endpoint> parse_endpoint(const token& t, bool port_allowed) const;

  status parse_option();
  status parse_debug_flags(const token& name);
  status parse_switch(std::string_view key, const token& name);
  status set_option(std::string_view key, const token& name, const token& value);
  status set_special(std::string_view key, const token& name, const token& value);
  status set_choice(std::string& field, const token& name, const token& value,
                    std::span<const std::string_view> choices) const;
  status check_text(const token& name, const token& value) const;
  util::result<std::uint32_t> number(const token& name, const token& value, std::uint32_t lo,
                                     std::uint32_t hi) const;
  util::result<bool> boolean(const token& name, const token& value) const;
  util::result<std::vector<std::string>> auth_list(const token& name, const token& value) const;

  std::vector<token> toks_;       // from lex(); views into the caller's text
  std::size_t pos_ = 0;           // index of the next token; < toks_.size()
  std::string_view source_;       // file name for messages; outlives the parser
  file_config cfg_;               // what has been parsed so far
  std::size_t daemon_count_ = 0;  // daemons in cfg_.segments and the segment being parsed
  bool allowed_auth_given_ = false, required_auth_given_ = false;
};

util::result<file_config> parser::run() {
  while (peek().kind != tok::end) {
    const token& t = peek();
    if (t.kind == tok::semicolon) {
      take();
      continue;
    }
    if (t.kind != tok::word) {
      return fail(t.line, "an option or Spread_Segment expected, found " + describe(t));
    }
    const status s = iequals(t.text, "spread_segment") ? parse_segment() : parse_option();
    if (!s.ok()) return s;
  }
  if (cfg_.segments.empty()) {
    return fail(peek().line, "no Spread_Segment: the file declares no daemons");
  }
  // Spec §8.1: setting either list disables the implicit NULL method.
  if (required_auth_given_ && !allowed_auth_given_) cfg_.allowed_auth_methods.clear();
  return std::move(cfg_);
}

status parser::parse_segment() {
  const token& keyword = take();
  if (cfg_.segments.size() == segments_max) {
    return fail(keyword.line, "more than " + std::to_string(segments_max) + " segments",
                errc::too_large);
  }
  segment seg;
  seg.line = keyword.line;
  const token& at = take();
  if (at.kind != tok::word) {
    return fail(keyword.line, "a segment address is expected after " + std::string(keyword.text) +
                                  ", found " + describe(at));
  }
  auto ep = parse_endpoint(at, true);
  if (!ep) return ep.error();
  seg.address = std::move(ep->address);
  if (ep->port != 0) seg.port = ep->port;
  for (const segment& other : cfg_.segments) {
    if (other.address == seg.address && other.port == seg.port) {
      return fail(keyword.line, "segment " + seg.address + ":" + std::to_string(seg.port) +
                                    " is declared twice (first on line " +
                                    std::to_string(other.line) + ")");
    }
  }
  const token& open = take();
  if (open.kind != tok::open) {
    return fail(open.line, "'{' expected after the segment address, found " + describe(open));
  }
  if (auto s = parse_segment_body(seg, open); !s.ok()) return s;
  if (seg.daemons.empty()) {
    return fail(keyword.line, "segment " + seg.address + " has no daemons");
  }
  cfg_.segments.push_back(std::move(seg));
  return {};
}

status parser::parse_segment_body(segment& seg, const token& open) {
  const std::string unclosed =
      "'}' expected: the '{' on line " + std::to_string(open.line) + " is never closed";
  while (true) {
    const token& t = peek();
    if (t.kind == tok::close) {
      take();
      return {};
    }
    if (t.kind == tok::semicolon) {
      take();
      continue;
    }
    if (t.kind == tok::end) return fail(open.line, unclosed);
    // A keyword here means the author forgot the '}': say so rather than read it as a name.
    const bool keyword =
        t.kind == tok::word && (iequals(t.text, "spread_segment") ||
                                (peek(1).kind == tok::equals && known_option(to_lower(t.text))));
    if (keyword) return fail(t.line, unclosed);
    if (t.kind != tok::word && t.kind != tok::quoted) {
      return fail(t.line, "'}' expected, found " + describe(t));
    }
    if (auto s = parse_daemon(seg); !s.ok()) return s;
  }
}

status parser::parse_daemon(segment& seg) {
  const token& first = take();
  daemon_entry d;
  d.line = first.line;
  if (auto s = parse_daemon_address(first, d); !s.ok()) return s;
  if (auto s = parse_daemon_extras(d); !s.ok()) return s;
  if (auto s = check_new_daemon(seg, d); !s.ok()) return s;
  seg.daemons.push_back(std::move(d));
  ++daemon_count_;
  return {};
}

// `name address[:port]`, or `address[:port]` alone (the name is then the address text).
status parser::parse_daemon_address(const token& first, daemon_entry& d) {
  const token* at = &first;
  if (first.kind == tok::quoted || !(looks_ipv4(first.text) || looks_ipv6(first.text))) {
    d.name = std::string(first.text);
    if (auto s = check_name(d.name, first.line); !s.ok()) return s;
    // After a name, anything starting with a digit is meant as an address and checked as one.
    const token& next = peek();
    const bool address = next.kind == tok::word && !next.text.empty() &&
                         (is_digit(next.text.front()) || looks_ipv6(next.text));
    if (!address) {
      return fail(first.line,
                  "daemon " + quote(d.name) + " has no IPv4 address (found " + describe(next) +
                      "): name lookup is not supported; give the address",
                  errc::unsupported);
    }
    at = &take();
  }
  auto ep = parse_endpoint(*at, true);
  if (!ep) return ep.error();
  if (ep->address == "0.0.0.0" || first_octet(ep->address) >= 224) {
    return fail(at->line, "daemon address " + quote(ep->address) + " is not a unicast address");
  }
  d.address = std::move(ep->address);
  d.port = ep->port;
  if (d.name.empty()) d.name = d.address;
  return {};
}

// What may follow an entry, in any order, once each: `VirtualID = n` and `{ interfaces }`.
status parser::parse_daemon_extras(daemon_entry& d) {
  bool stanza = false;
  while (true) {
    const token& t = peek();
    if (t.kind == tok::word && iequals(t.text, "virtualid") && peek(1).kind == tok::equals) {
      take();
      take();
      const token& value = take();
      if (d.virtual_id) {
        return fail(t.line, "VirtualID given twice for daemon " + quote(d.name));
      }
      auto n = number(t, value, 0, std::numeric_limits<std::uint32_t>::max());
      if (!n) return n.error();
      d.virtual_id = *n;
    } else if (t.kind == tok::open) {
      if (stanza) return fail(t.line, "a second interface list for daemon " + quote(d.name));
      stanza = true;
      if (auto s = parse_interfaces(d); !s.ok()) return s;
    } else {
      return {};
    }
  }
}

bool is_interface_kind(std::string_view s) {
  return !s.empty() && s.size() <= 3 && std::all_of(s.begin(), s.end(), [](char c) {
    return c == 'D' || c == 'C' || c == 'M' || c == 'd' || c == 'c' || c == 'm';
  });
}

// `{ [D|C|M] addr ... }`; letters may be combined ("DC addr").
status parser::parse_interfaces(daemon_entry& d) {
  const token& open = take();
  while (true) {
    const token& t = take();
    if (t.kind == tok::close) break;
    if (t.kind == tok::semicolon) continue;
    if (t.kind == tok::end) {
      return fail(open.line, "'}' expected: the interface list '{' on line " +
                                 std::to_string(open.line) + " is never closed");
    }
    if (t.kind != tok::word) {
      return fail(t.line, "an interface address or '}' expected, found " + describe(t));
    }
    std::string kinds(1, '\0');
    const token* at = &t;
    if (is_interface_kind(t.text) && peek().kind == tok::word) {
      kinds = to_upper(t.text);
      at = &take();
    }
    auto ep = parse_endpoint(*at, false);
    if (!ep) return ep.error();
    for (char k : kinds) {
      const interface_entry e{k, ep->address};
      const bool seen = std::any_of(d.interfaces.begin(), d.interfaces.end(), [&](const auto& o) {
        return o.kind == e.kind && o.address == e.address;
      });
      if (seen) continue;
      if (d.interfaces.size() == interfaces_max) {
        return fail(at->line,
                    "more than " + std::to_string(interfaces_max) + " interfaces for daemon " +
                        quote(d.name),
                    errc::too_large);
      }
      d.interfaces.push_back(e);
    }
  }
  if (d.interfaces.empty())
    return fail(open.line, "empty interface list for daemon " + quote(d.name));
  return {};
}

// Spread MAX_PROC_NAME: the name ends private group names `#user#name`, so it obeys their rules.
status parser::check_name(std::string_view name, int line) const {
  if (name.empty()) return fail(line, "daemon name '' is empty");
  if (name.size() > daemon_name_bytes_max) {
    return fail(line, "daemon name " + quote(name) + " is longer than " +
                          std::to_string(daemon_name_bytes_max) + " characters");
  }
  const bool legal = std::all_of(name.begin(), name.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b >= 0x24 && b <= 0x7e;
  });
  if (!legal) {
    return fail(line,
                "daemon name " + quote(name) + " has a character outside '$'..'~' (0x24..0x7E)");
  }
  return {};
}

status parser::check_new_daemon(const segment& seg, const daemon_entry& d) const {
  if (daemon_count_ == daemons_max) {
    return fail(d.line, "more than " + std::to_string(daemons_max) + " daemons", errc::too_large);
  }
  const std::uint16_t port = d.port != 0 ? d.port : seg.port;
  auto clash = [&](const daemon_entry& o, std::uint16_t o_port) -> status {
    const std::string first = " (first on line " + std::to_string(o.line) + ")";
    if (o.name == d.name) return fail(d.line, "duplicate daemon name " + quote(d.name) + first);
    if (o.address == d.address && o_port == port) {
      return fail(d.line, "daemon " + quote(d.name) + " has the same address and port " +
                              d.address + ":" + std::to_string(port) + " as " + quote(o.name) +
                              first);
    }
    if (d.virtual_id && o.virtual_id == d.virtual_id) {
      return fail(d.line, "daemon " + quote(d.name) + " has the same VirtualID as " +
                              quote(o.name) + first);
    }
    return {};
  };
  for (const segment& s : cfg_.segments) {
    for (const daemon_entry& o : s.daemons) {
      if (auto st = clash(o, o.port != 0 ? o.port : s.port); !st.ok()) return st;
    }
  }
  for (const daemon_entry& o : seg.daemons) {
    if (auto st = clash(o, o.port != 0 ? o.port : seg.port); !st.ok()) return st;
  }
  return {};
}

util::result<endpoint> parser::parse_endpoint(const token& t, bool port_allowed) const {
  const std::string_view s = t.text;
  if (looks_ipv6(s))
    return fail(t.line, "IPv6 is not supported yet: " + quote(s), errc::unsupported);
  const std::size_t colon = s.find(':');
  const std::string_view host = s.substr(0, colon);
  endpoint ep;
  if (colon != std::string_view::npos) {
    if (!port_allowed) return fail(t.line, "an interface address takes no port: " + quote(s));
    std::uint32_t port = 0;
    if (parse_u32(s.substr(colon + 1), 1, 65535, port) != number_error::none) {
      return fail(t.line, "bad port in " + quote(s) + ": a number 1..65535 is expected");
    }
    ep.port = static_cast<std::uint16_t>(port);
  }
  if (t.kind != tok::word || !is_ipv4(host)) {
    return fail(t.line, quote(host) +
                            " is not an IPv4 address (four numbers 0..255 without leading zeros)");
  }
  ep.address = std::string(host);
  return ep;
}

status parser::parse_option() {
  const token& name = take();
  const std::string key = to_lower(name.text);
  if (!known_option(key)) return fail(name.line, "unknown option " + quote(name.text));
  if (key == "eventtimestamp" || key == "eventprecisetimestamp") return parse_switch(key, name);
  if (peek().kind != tok::equals) {
    return fail(name.line,
                "'=' expected after " + std::string(name.text) + ", found " + describe(peek()));
  }
  take();
  if (key == "debugflags") return parse_debug_flags(name);
  const token& value = take();
  if (value.kind != tok::word && value.kind != tok::quoted) {
    return fail(name.line, "a value is expected after '" + std::string(name.text) + " =', found " +
                               describe(value));
  }
  return set_option(key, name, value);
}

// `DebugFlags = { NAME !NAME ... }` (after the '=').
status parser::parse_debug_flags(const token& name) {
  const token& open = take();
  if (open.kind != tok::open) {
    return fail(name.line, "'{' expected after 'DebugFlags =', found " + describe(open));
  }
  std::vector<std::string> flags;
  while (true) {
    const token& t = take();
    if (t.kind == tok::close) break;
    if (t.kind == tok::end) {
      return fail(open.line, "'}' expected: the DebugFlags '{' on line " +
                                 std::to_string(open.line) + " is never closed");
    }
    if (t.kind != tok::word)
      return fail(t.line, "a debug flag or '}' expected, found " + describe(t));
    std::string_view flag = t.text;
    const bool negated = flag.front() == '!';
    if (flag == "!") {
      const token& n = take();
      if (n.kind != tok::word)
        return fail(n.line, "a debug flag expected after '!', found " + describe(n));
      flag = n.text;
    } else if (negated) {
      flag.remove_prefix(1);
    }
    const std::string_view canonical = pick(flag, debug_flag_names);
    if (canonical.empty()) return fail(t.line, "unknown debug flag " + quote(flag));
    if (flags.size() == debug_flags_max) {
      return fail(t.line, "more than " + std::to_string(debug_flags_max) + " debug flags",
                  errc::too_large);
    }
    flags.push_back((negated ? "!" : "") + std::string(canonical));
  }
  cfg_.debug_flags = std::move(flags);
  return {};
}

// `EventTimeStamp` bare or `= "format"`; `EventPreciseTimeStamp` bare (or `= bool`).
status parser::parse_switch(std::string_view key, const token& name) {
  const bool precise = key == "eventprecisetimestamp";
  if (peek().kind != tok::equals) {
    if (precise) {
      cfg_.event_precise_timestamp = true;
    } else {
      cfg_.event_timestamp = true;
      cfg_.event_timestamp_format = std::string(default_timestamp_format);
    }
    return {};
  }
  take();
  const token& value = take();
  if (value.kind != tok::word && value.kind != tok::quoted) {
    return fail(name.line, "a value is expected after '" + std::string(name.text) + " =', found " +
                               describe(value));
  }
  if (precise) {
    auto b = boolean(name, value);
    if (!b) return b.error();
    cfg_.event_precise_timestamp = *b;
    return {};
  }
  if (auto s = check_text(name, value); !s.ok()) return s;
  cfg_.event_timestamp = true;
  cfg_.event_timestamp_format = std::string(value.text);
  return {};
}

status parser::set_option(std::string_view key, const token& name, const token& value) {
  auto set_number = [&](const auto& o) -> status {
    auto n = number(name, value, o.lo, o.hi);
    if (!n) return n.error();
    cfg_.*(o.field) = *n;
    return {};
  };
  if (const auto* o = find_key(number_options, key)) return set_number(*o);
  if (const auto* o = find_key(local_number_options, key)) return set_number(*o);
  if (const auto* o = find_key(tristate_options, key)) {
    auto b = boolean(name, value);
    if (!b) return b.error();
    cfg_.*(o->field) = *b;
    return {};
  }
  if (const auto* o = find_key(flag_options, key)) {
    auto b = boolean(name, value);
    if (!b) return b.error();
    cfg_.*(o->field) = *b;
    return {};
  }
  if (const auto* o = find_key(string_options, key)) {
    if (auto s = check_text(name, value); !s.ok()) return s;
    cfg_.*(o->field) = std::string(value.text);
    return {};
  }
  return set_special(key, name, value);
}

status parser::set_special(std::string_view key, const token& name, const token& value) {
  if (key == "eventpriority") return set_choice(cfg_.event_priority, name, value, priorities);
  if (key == "socketportreuse") return set_choice(cfg_.socket_port_reuse, name, value, tristates);
  if (key == "cpuaffinity") {
    auto cpus = parse_cpu_list(value.text);
    if (!cpus) return fail(value.line, std::string(name.text) + ": " + cpus.error().message());
    cfg_.cpu_affinity = std::move(*cpus);
    return {};
  }
  if (key == "activeipversion") {
    if (auto s = set_choice(cfg_.active_ip_version, name, value, ip_versions); !s.ok()) return s;
    if (cfg_.active_ip_version == "IPv6") {
      return fail(value.line, "IPv6 is not supported yet (ActiveIPVersion = IPv6)",
                  errc::unsupported);
    }
    return {};
  }
  // allowedauthmethods or requiredauthmethods (known_option() admitted nothing else).
  auto list = auth_list(name, value);
  if (!list) return list.error();
  const bool allowed = key == "allowedauthmethods";
  (allowed ? cfg_.allowed_auth_methods : cfg_.required_auth_methods) = std::move(*list);
  (allowed ? allowed_auth_given_ : required_auth_given_) = true;
  return {};
}

status parser::set_choice(std::string& field, const token& name, const token& value,
                          std::span<const std::string_view> choices) const {
  const std::string_view canonical = pick(value.text, choices);
  if (canonical.empty()) {
    std::string list;
    for (std::string_view c : choices) list += (list.empty() ? "" : " ") + std::string(c);
    return fail(value.line, quote(value.text) + " is not a valid " + std::string(name.text) +
                                " (one of: " + list + ")");
  }
  field = std::string(canonical);
  return {};
}

// A string value (path, user, format): not empty, no control characters (they would be cut or
// misread by the C calls the caller hands them to).
status parser::check_text(const token& name, const token& value) const {
  if (value.text.empty()) return fail(value.line, std::string(name.text) + " is empty");
  const bool control = std::any_of(value.text.begin(), value.text.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7f;
  });
  if (control) {
    return fail(value.line,
                std::string(name.text) + " = " + quote(value.text) + " holds a control character");
  }
  return {};
}

util::result<std::uint32_t> parser::number(const token& name, const token& value, std::uint32_t lo,
                                           std::uint32_t hi) const {
  if (value.kind != tok::word && value.kind != tok::quoted) {
    return fail(name.line, "a number is expected after '" + std::string(name.text) + " =', found " +
                               describe(value));
  }
  std::uint32_t out = 0;
  switch (parse_u32(value.text, lo, hi, out)) {
    case number_error::none:
      return out;
    case number_error::not_a_number:
      return fail(value.line, "bad number " + quote(value.text) + " for " + std::string(name.text));
    case number_error::out_of_range:
      break;
  }
  return fail(value.line, std::string(name.text) + " = " + quote(value.text) + " is out of range " +
                              std::to_string(lo) + ".." + std::to_string(hi));
}

util::result<bool> parser::boolean(const token& name, const token& value) const {
  for (std::string_view t : {"true", "yes", "on"}) {
    if (iequals(value.text, t)) return true;
  }
  for (std::string_view f : {"false", "no", "off"}) {
    if (iequals(value.text, f)) return false;
  }
  return fail(value.line, quote(value.text) + " is not a boolean for " + std::string(name.text) +
                              " (true/false, yes/no, on/off)");
}

// `"NULL IP"`: space-separated method names, upper-cased, without repeats.
util::result<std::vector<std::string>> parser::auth_list(const token& name,
                                                         const token& value) const {
  std::vector<std::string> out;
  std::size_t i = 0;
  const std::string_view s = value.text;
  while (i < s.size()) {
    if (s[i] == ' ' || s[i] == '\t') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    const std::string_view method = pick(s.substr(i, j - i), auth_methods);
    if (method.empty()) {
      return fail(value.line, "unknown authentication method " + quote(s.substr(i, j - i)) +
                                  " in " + std::string(name.text) + " (NULL, IP or PWORD)");
    }
    if (method != "NULL") {
      // Client access control is not built yet: a daemon that let such clients in would
      // silently weaken what the file asks for.
      return fail(value.line,
                  std::string(name.text) + " names " + std::string(method) +
                      ", which chorusd does not support yet (only NULL): it cannot restrict "
                      "clients as this file asks",
                  errc::unsupported);
    }
    if (std::find(out.begin(), out.end(), method) == out.end()) out.emplace_back(method);
    i = j;
  }
  if (out.empty()) return fail(value.line, std::string(name.text) + " lists no method");
  return out;
}

void hash_text(util::hasher& h, std::string_view s) { h.u64(s.size()).str(s); }

void hash_optional(util::hasher& h, const std::optional<std::uint32_t>& v) {
  h.u64(v ? 1 : 0).u64(v.value_or(0));
}

}  // namespace

// ---- public functions -----------------------------------------------------------------------

bool segment::multicast() const {
  const unsigned octet = first_octet(address);
  return is_ipv4(address) && octet >= 224 && octet <= 239;
}

std::vector<const daemon_entry*> file_config::all_daemons() const {
  std::vector<const daemon_entry*> out;
  for (const segment& s : segments) {
    for (const daemon_entry& d : s.daemons) out.push_back(&d);
  }
  return out;
}

const daemon_entry* file_config::find(std::string_view name) const {
  for (const segment& s : segments) {
    for (const daemon_entry& d : s.daemons) {
      if (d.name == name) return &d;
    }
  }
  return nullptr;
}

namespace {
std::string with_name(std::string s, std::string_view name) {
  for (auto at = s.find("%n"); at != std::string::npos; at = s.find("%n", at + name.size())) {
    s.replace(at, 2, name);
  }
  return s;
}
}  // namespace

std::string file_config::runtime_dir_of(std::string_view name) const {
  return with_name(runtime_dir.empty() ? "/tmp/chorus-%n" : runtime_dir, name);
}

std::string file_config::unix_socket_dir_of(std::string_view name) const {
  return with_name(unix_socket_dir, name);
}

std::uint16_t file_config::port_of(const daemon_entry& d) const {
  if (d.port != 0) return d.port;
  for (const segment& s : segments) {
    for (const daemon_entry& e : s.daemons) {
      if (&e == &d) return s.port;
    }
  }
  return default_port;
}

util::result<file_config> parse_config(std::string_view text, std::string_view source) {
  auto tokens = lex(text, source);
  if (!tokens) return tokens.error();
  return parser(std::move(tokens).value(), source).run();
}

util::result<file_config> load_config(const std::string& path) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"),
                                                          &std::fclose);
  if (!f) {
    return status(errc::invalid_argument, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    text.append(buf, n);
    if (text.size() > config_file_bytes_max) {
      return status(errc::too_large,
                    path + ": larger than " + std::to_string(config_file_bytes_max) + " bytes");
    }
  }
  if (std::ferror(f.get())) {
    return status(errc::invalid_argument, "cannot read " + path + ": " + std::strerror(errno));
  }
  return parse_config(text, path);
}

file_config default_config() {
  file_config cfg;
  cfg.source = "<embedded default>";
  segment seg;
  seg.address = "127.0.0.255";
  seg.port = default_port;
  daemon_entry d;
  d.name = "localhost";
  d.address = "127.0.0.1";
  seg.daemons.push_back(std::move(d));
  cfg.segments.push_back(std::move(seg));
  return cfg;
}

util::result<const daemon_entry*> identify(const file_config& cfg, std::string_view name,
                                           const std::vector<std::string>& local_addresses) {
  if (!name.empty()) {
    if (const daemon_entry* d = cfg.find(name)) return d;
    return status(errc::invalid_argument, "no daemon named " + quote(name) + " in " + cfg.source);
  }
  std::vector<const daemon_entry*> mine;
  for (const daemon_entry* d : cfg.all_daemons()) {
    if (std::find(local_addresses.begin(), local_addresses.end(), d->address) !=
        local_addresses.end()) {
      mine.push_back(d);
    }
  }
  if (mine.size() == 1) return mine.front();
  if (mine.empty()) {
    return status(errc::invalid_argument, "no daemon of " + cfg.source +
                                              " has an address of this host; choose one with -n");
  }
  std::string names;
  for (const daemon_entry* d : mine) names += (names.empty() ? "" : ", ") + d->name;
  return status(errc::invalid_argument, "several daemons of " + cfg.source +
                                            " have an address of this host (" + names +
                                            "); choose one with -n");
}

std::uint64_t config_hash(const file_config& cfg) {
  util::hasher h;
  hash_text(h, "chorus spread.conf 1");
  h.u64(cfg.segments.size());
  for (const segment& s : cfg.segments) {
    hash_text(h, cfg.exclude_seg_addrs_from_hash ? std::string_view{} : s.address);
    h.u64(s.port).u64(s.daemons.size());
    for (const daemon_entry& d : s.daemons) {
      hash_text(h, d.name);
      hash_text(h, d.address);
      h.u64(d.port != 0 ? d.port : s.port);
      hash_optional(h, d.virtual_id);
    }
  }
  for (const auto& o : number_options) hash_optional(h, cfg.*(o.field));
  for (const auto& o : tristate_options) {
    const std::optional<bool>& v = cfg.*(o.field);
    h.u64(v ? (*v ? 2 : 1) : 0);
  }
  return h.digest();
}

}  // namespace chorus::daemon
