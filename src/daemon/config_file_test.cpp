// config_file_test.cpp — unit tests for the spread.conf parser (daemon/config_file.hpp): the
// minimal file, a Spread sample-style file using every option, the per-daemon port extension,
// every refusal with the line number and reason a user will read, identify(), config_hash() and
// load_config(). A daemon refuses to start on a bad file, so each message is what the operator
// sees; the tests pin both the line and the reason.
// Thread-safety: single-threaded tests.
#include "daemon/config_file.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace chorus::daemon {
namespace {

using util::errc;

file_config parse_ok(std::string_view text) {
  auto r = parse_config(text, "spread.conf");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::move(r).value() : file_config{};
}

std::string parse_error(std::string_view text) {
  auto r = parse_config(text, "spread.conf");
  EXPECT_FALSE(r.ok()) << "accepted:\n" << text;
  return r.ok() ? std::string() : r.error().message();
}

TEST(ConfigFile, MinimalFile) {
  const file_config c = parse_ok("Spread_Segment 127.0.0.255 { localhost 127.0.0.1 }");
  ASSERT_EQ(c.segments.size(), 1u);
  const segment& s = c.segments[0];
  EXPECT_EQ(s.address, "127.0.0.255");
  EXPECT_EQ(s.port, 4803);
  EXPECT_FALSE(s.multicast());
  ASSERT_EQ(s.daemons.size(), 1u);
  EXPECT_EQ(s.daemons[0].name, "localhost");
  EXPECT_EQ(s.daemons[0].address, "127.0.0.1");
  EXPECT_EQ(s.daemons[0].port, 0);
  EXPECT_EQ(s.daemons[0].line, 1);
  EXPECT_EQ(c.port_of(s.daemons[0]), 4803);
  EXPECT_EQ(c.source, "spread.conf");
  // Every option keeps its default.
  EXPECT_EQ(c.max_session_messages, 1000u);
  EXPECT_EQ(c.token_linger_us, 0u);
  EXPECT_EQ(c.busy_poll_us, 0u);
  EXPECT_EQ(c.shared_memory_ring_kib, 256u);
  EXPECT_TRUE(c.cpu_affinity.empty());
  EXPECT_FALSE(c.window.has_value());
  EXPECT_FALSE(c.token_timeout_ms.has_value());
  EXPECT_EQ(c.event_priority, "INFO");
  EXPECT_EQ(c.debug_flags, (std::vector<std::string>{"PRINT", "EXIT"}));
  EXPECT_EQ(c.allowed_auth_methods, std::vector<std::string>{"NULL"});
  EXPECT_TRUE(c.required_auth_methods.empty());
  EXPECT_EQ(c.unix_socket_dir, "/tmp");
  EXPECT_EQ(c.socket_port_reuse, "AUTO");
}

constexpr std::string_view sample = R"(# Spread sample-style configuration: every option once.
spread_segment  225.0.1.1:4903 {
	localhost	127.0.0.1
	host2		192.168.1.2 VirtualID = 7 {
		D 192.168.1.2
		C 127.0.0.1
		m 0.0.0.0
	}
}
SPREAD_SEGMENT 10.0.0.255 {
	10.0.0.1;  far 10.0.0.2:4913 ; "quoted" 10.0.0.3
}
DebugFlags = { PRINT EXIT !DATA_LINK ! Network membership }
EventPriority = pdebug
EventLogFile = /var/log/spread/%h.log
EventTimeStamp = "[%a %d %b %Y %H:%M:%S]"
EventPreciseTimeStamp
DangerousMonitor = true
SocketPortReuse = on
MaxSessionMessages = 5000
TokenLinger = 100
BusyPoll = 250
SharedMemoryRing = 1024
CpuAffinity = 3,0-1,1
RuntimeDir = /var/run/chorus-%n
UnixSocketDir = /run/chorus
DaemonUser = spread
DaemonGroup = spread
AllowedAuthMethods = "null"
RequiredAuthMethods = "NULL"
AccessControlPolicy = "PERMIT"
ActiveIPVersion = ipv4
WideAreaNetwork = yes
AcceleratedRing = off
Window = 160
PersonalWindow = 20
AcceleratedWindow = 15
TokenTimeout = 1250
HurryTimeout = 500
AliveTimeout = 250
JoinTimeout = 250
RepTimeout = 625
SegTimeout = 500
GatherTimeout = 1250
FormTimeout = 1260
LookupTimeout = 30000
ExcludeSegAddrsFromHash = false
IgnoreMulticastJoinErrors = TRUE
)";

TEST(ConfigFile, SampleWithEveryOption) {
  const file_config c = parse_ok(sample);
  ASSERT_EQ(c.segments.size(), 2u);
  const segment& a = c.segments[0];
  EXPECT_EQ(a.address, "225.0.1.1");
  EXPECT_EQ(a.port, 4903);
  EXPECT_TRUE(a.multicast());
  EXPECT_EQ(a.line, 2);
  ASSERT_EQ(a.daemons.size(), 2u);
  EXPECT_EQ(a.daemons[0].name, "localhost");
  EXPECT_TRUE(a.daemons[0].interfaces.empty());
  const daemon_entry& host2 = a.daemons[1];
  EXPECT_EQ(host2.name, "host2");
  EXPECT_EQ(host2.line, 4);
  EXPECT_EQ(host2.virtual_id, 7u);
  ASSERT_EQ(host2.interfaces.size(), 3u);
  EXPECT_EQ(host2.interfaces[0].kind, 'D');
  EXPECT_EQ(host2.interfaces[0].address, "192.168.1.2");
  EXPECT_EQ(host2.interfaces[1].kind, 'C');
  EXPECT_EQ(host2.interfaces[2].kind, 'M');
  EXPECT_EQ(host2.interfaces[2].address, "0.0.0.0");

  const segment& b = c.segments[1];
  EXPECT_FALSE(b.multicast());
  EXPECT_EQ(b.port, 4803);
  ASSERT_EQ(b.daemons.size(), 3u);
  EXPECT_EQ(b.daemons[0].name, "10.0.0.1");  // an address alone names the daemon
  EXPECT_EQ(b.daemons[1].name, "far");
  EXPECT_EQ(c.port_of(b.daemons[1]), 4913);
  EXPECT_EQ(c.port_of(b.daemons[0]), 4803);
  EXPECT_EQ(b.daemons[2].name, "quoted");

  EXPECT_EQ(c.debug_flags,
            (std::vector<std::string>{"PRINT", "EXIT", "!DATA_LINK", "!NETWORK", "MEMBERSHIP"}));
  EXPECT_EQ(c.event_priority, "pDEBUG");
  EXPECT_EQ(c.event_log_file, "/var/log/spread/%h.log");
  EXPECT_TRUE(c.event_timestamp);
  EXPECT_EQ(c.event_timestamp_format, "[%a %d %b %Y %H:%M:%S]");
  EXPECT_TRUE(c.event_precise_timestamp);
  EXPECT_TRUE(c.dangerous_monitor);
  EXPECT_EQ(c.socket_port_reuse, "ON");
  EXPECT_EQ(c.max_session_messages, 5000u);
  EXPECT_EQ(c.token_linger_us, 100u);
  EXPECT_EQ(c.busy_poll_us, 250u);
  EXPECT_EQ(c.shared_memory_ring_kib, 1024u);
  EXPECT_EQ(c.cpu_affinity, (std::vector<std::uint32_t>{0, 1, 3}));
  EXPECT_EQ(c.runtime_dir, "/var/run/chorus-%n");
  EXPECT_EQ(c.unix_socket_dir, "/run/chorus");
  EXPECT_EQ(c.daemon_user, "spread");
  EXPECT_EQ(c.daemon_group, "spread");
  EXPECT_EQ(c.allowed_auth_methods, std::vector<std::string>{"NULL"});
  EXPECT_EQ(c.required_auth_methods, std::vector<std::string>{"NULL"});
  EXPECT_EQ(c.access_control_policy, "PERMIT");
  EXPECT_EQ(c.active_ip_version, "IPv4");
  EXPECT_EQ(c.wide_area_network, true);
  EXPECT_EQ(c.accelerated_ring, false);
  EXPECT_EQ(c.window, 160u);
  EXPECT_EQ(c.personal_window, 20u);
  EXPECT_EQ(c.accelerated_window, 15u);
  EXPECT_EQ(c.token_timeout_ms, 1250u);
  EXPECT_EQ(c.hurry_timeout_ms, 500u);
  EXPECT_EQ(c.alive_timeout_ms, 250u);
  EXPECT_EQ(c.join_timeout_ms, 250u);
  EXPECT_EQ(c.rep_timeout_ms, 625u);
  EXPECT_EQ(c.seg_timeout_ms, 500u);
  EXPECT_EQ(c.gather_timeout_ms, 1250u);
  EXPECT_EQ(c.form_timeout_ms, 1260u);
  EXPECT_EQ(c.lookup_timeout_ms, 30000u);
  EXPECT_FALSE(c.exclude_seg_addrs_from_hash);
  EXPECT_TRUE(c.ignore_multicast_join_errors);

  const auto all = c.all_daemons();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[1], &host2);
  EXPECT_EQ(all[3]->name, "far");
  EXPECT_EQ(c.find("far"), all[3]);
  EXPECT_EQ(c.find("FAR"), nullptr);  // names are case-sensitive
}

constexpr std::string_view three_on_one_host = R"(
Spread_Segment 127.0.0.255:4803 {
    d1 127.0.0.1:4803
    d2 127.0.0.2:4813
    d3 127.0.0.3:4823
}
RuntimeDir = /tmp/chorus-%n
)";

TEST(ConfigFile, PerDaemonPorts) {
  const file_config c = parse_ok(three_on_one_host);
  const auto all = c.all_daemons();
  ASSERT_EQ(all.size(), 3u);
  const std::uint16_t ports[] = {4803, 4813, 4823};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(all[i]->name, "d" + std::to_string(i + 1));
    EXPECT_EQ(all[i]->address, "127.0.0." + std::to_string(i + 1));
    EXPECT_EQ(all[i]->port, ports[i]);
    EXPECT_EQ(c.port_of(*all[i]), ports[i]);
    EXPECT_EQ(all[i]->line, static_cast<int>(i) + 3);
  }
  EXPECT_EQ(c.runtime_dir, "/tmp/chorus-%n");
}

TEST(ConfigFile, SameAddressDifferentPortsIsAccepted) {
  const file_config c =
      parse_ok("Spread_Segment 127.0.0.255 { a 127.0.0.1 b 127.0.0.1:4813 c 127.0.0.1:4823 }");
  EXPECT_EQ(c.all_daemons().size(), 3u);
}

TEST(ConfigFile, KeywordsAreCaseInsensitiveAndLayoutIsFree) {
  const file_config c = parse_ok(
      "sPrEaD_sEgMeNt 127.0.0.255:4803{a 127.0.0.1;b 127.0.0.2}window=9 eventtimestamp "
      "tokentimeout=\"300\"");
  EXPECT_EQ(c.all_daemons().size(), 2u);
  EXPECT_EQ(c.window, 9u);
  EXPECT_EQ(c.token_timeout_ms, 300u);
  EXPECT_TRUE(c.event_timestamp);
  EXPECT_EQ(c.event_timestamp_format, "[%a %d %b %Y %H:%M:%S]");  // Spread's default format
}

TEST(ConfigFile, RequiredAuthAloneDropsImplicitNull) {
  const file_config c =
      parse_ok("Spread_Segment 127.0.0.255 { a 127.0.0.1 }\nRequiredAuthMethods = \"NULL\"");
  EXPECT_TRUE(c.allowed_auth_methods.empty());
  EXPECT_EQ(c.required_auth_methods, std::vector<std::string>{"NULL"});
}

TEST(ConfigFile, CombinedInterfaceLettersAndNoLetter) {
  const file_config c =
      parse_ok("Spread_Segment 127.0.0.255 { a 127.0.0.1 { DC 10.0.0.1 10.0.0.2 } }");
  const auto& ifs = c.segments[0].daemons[0].interfaces;
  ASSERT_EQ(ifs.size(), 3u);
  EXPECT_EQ(ifs[0].kind, 'D');
  EXPECT_EQ(ifs[1].kind, 'C');
  EXPECT_EQ(ifs[2].kind, 0);
  EXPECT_EQ(ifs[2].address, "10.0.0.2");
}

TEST(ConfigFile, ExactMessageFormat) {
  auto r = parse_config("Spread_Segment 127.0.0.255 {\n a 127.0.0.1\n}\n\n\n\nWindw = 5\n",
                        "spread.conf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "spread.conf:7: unknown option 'Windw'");
  EXPECT_EQ(r.error().code(), errc::malformed);
}

struct error_case {
  const char* text;
  int line;
  const char* reason;
};

// `S` opens a valid one-daemon segment on line 1 so that options can follow.
#define S "Spread_Segment 127.0.0.255 { a 127.0.0.1 }\n"

const error_case error_cases[] = {
    // options
    {S "Windw = 5", 2, "unknown option 'Windw'"},
    {S "\nWindow = 0", 3, "Window = '0' is out of range 1..65535"},
    {S "Window = 65536", 2, "out of range 1..65535"},
    {S "PersonalWindow = 12x", 2, "bad number '12x' for PersonalWindow"},
    {S "Window = -1", 2, "bad number '-1'"},
    {S "Window = 99999999999999999999999", 2, "out of range"},
    {S "TokenTimeout = 600001", 2, "out of range 1..600000"},
    {S "GatherTimeout = 0", 2, "out of range 1..600000"},
    {S "MaxSessionMessages = 0", 2, "out of range 1..1000000"},
    {S "MaxSessionMessages = 1000001", 2, "out of range 1..1000000"},
    {S "TokenLinger = 4001", 2, "TokenLinger = '4001' is out of range 0..4000"},
    {S "BusyPoll = 1000001", 2, "BusyPoll = '1000001' is out of range 0..1000000"},
    {S "BusyPoll = -5", 2, "bad number '-5' for BusyPoll"},
    {S "SharedMemoryRing = 65537", 2, "SharedMemoryRing = '65537' is out of range 0..65536"},
    {S "CpuAffinity = 3-1", 2,
     "CpuAffinity: '3-1' is not a CPU list: the range '3-1' runs backwards"},
    {S "\nCpuAffinity = \"\"", 3, "CpuAffinity: '' is not a CPU list: it is empty"},
    {S "CpuAffinity = 1024", 2, "'1024' names a CPU beyond 1023"},
    {S "CpuAffinity = {", 2, "a value is expected after 'CpuAffinity =', found '{'"},
    {S "Window 5", 2, "'=' expected after Window"},
    {S "Window =", 2, "a value is expected after 'Window ='"},
    {S "Window = }", 2, "a value is expected"},
    {S "DangerousMonitor = maybe", 2, "'maybe' is not a boolean for DangerousMonitor"},
    {S "EventPriority = LOUD", 2, "'LOUD' is not a valid EventPriority"},
    {S "SocketPortReuse = sometimes", 2, "not a valid SocketPortReuse"},
    {S "ActiveIPVersion = IPv6", 2, "IPv6 is not supported yet"},
    {S "DebugFlags = { PRINT BOGUS }", 2, "unknown debug flag 'BOGUS'"},
    {S "DebugFlags = PRINT", 2, "'{' expected after 'DebugFlags ='"},
    {S "DebugFlags = { PRINT\nEXIT\n", 2, "'}' expected"},
    {S "AllowedAuthMethods = \"NULL KERBEROS\"", 2, "unknown authentication method 'KERBEROS'"},
    {S "RequiredAuthMethods = \"\"", 2, "lists no method"},
    // Access control is not built yet: a file that restricts clients is refused, not weakened.
    {S "AllowedAuthMethods = \"NULL IP\"", 2, "AllowedAuthMethods names IP, which chorusd does"},
    {S "RequiredAuthMethods = \"ip\"", 2, "RequiredAuthMethods names IP, which chorusd does"},
    {S "AllowedAuthMethods = \"PWORD\"", 2, "names PWORD"},
    {S "EventLogFile = \"\"", 2, "EventLogFile is empty"},
    {S "EventTimeStamp = \"%H\n\"", 2, "unterminated quoted string"},
    {S "\n\nDaemonUser = \"spread", 4, "unterminated quoted string"},
    // garbage
    {S "= 5", 2, "an option or Spread_Segment expected, found '='"},
    {S "}", 2, "found '}'"},
    {S "\"text\"", 2, "found the string 'text'"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.1 = }", 1, "'}' expected, found '='"},
    {"Spread_Segment 127.0.0.255 a 127.0.0.1", 1, "'{' expected after the segment address"},
    {"Spread_Segment {", 1, "a segment address is expected"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.1 { } }", 1, "empty interface list"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.1 { D 127.0.0.1:4803 } }", 1, "takes no port"},
    {"Spread_Segment 127.0.0.255 {\n a 127.0.0.1 {\n D 127.0.0.1\n", 2, "'}' expected"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.1 { eth0 } }", 1, "'eth0' is not an IPv4 address"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.1 VirtualID = x }", 1, "bad number 'x' for VirtualID"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.1 VirtualID = 1 VirtualID = 2 }", 1, "twice"},
    {"Spread_Segment 127.0.0.255 {\na 127.0.0.1 VirtualID = 3\nb 127.0.0.2 VirtualID = 3 }", 3,
     "same VirtualID as 'a'"},
    // segments and daemons
    {"Spread_Segment 127.0.0.255 {\n}", 1, "segment 127.0.0.255 has no daemons"},
    {"Spread_Segment 127.0.0.255 {\n a 127.0.0.1\n b 127.0.0.2\n\n", 1,
     "'}' expected: the '{' on line 1 is never closed"},
    {"Spread_Segment 127.0.0.255 {\n a 127.0.0.1\nSpread_Segment 10.0.0.255 { b 10.0.0.1 }", 3,
     "'}' expected"},
    {"Spread_Segment 127.0.0.255 {\n a 127.0.0.1\nWindow = 5\n", 3, "'}' expected"},
    {"Spread_Segment 127.0.0.255 {\n a 127.0.0.1\n a 127.0.0.2 }", 3,
     "duplicate daemon name 'a' (first on line 2)"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.1 }\nSpread_Segment 10.0.0.255 {\n\n a 10.0.0.1 }", 4,
     "duplicate daemon name 'a'"},
    {"Spread_Segment 127.0.0.255 {\n a 127.0.0.1\n b 127.0.0.1:4803 }", 3,
     "same address and port 127.0.0.1:4803 as 'a'"},
    {"Spread_Segment 127.0.0.255 {\n 127.0.0.1:4803\n 127.0.0.1:4813 }", 3,
     "duplicate daemon name '127.0.0.1'"},
    {"Spread_Segment 127.0.0.255 {\n\n abcdefghijklmnopqrst 127.0.0.1 }", 3,
     "daemon name 'abcdefghijklmnopqrst' is longer than 19 characters"},
    {"Spread_Segment 127.0.0.255 {\n \"x y\" 127.0.0.1 }", 2, "daemon name 'x y' has a character"},
    {"Spread_Segment 127.0.0.255 { a\"b\" 127.0.0.1 }", 1, "name lookup is not supported"},
    {"Spread_Segment 127.0.0.255 {\n a\n}", 2, "name lookup is not supported; give the address"},
    {"Spread_Segment 127.0.0.255 {\n a host.example.com }", 2, "name lookup is not supported"},
    {"Spread_Segment 127.0.0.255 {\n a ::1 }", 2, "IPv6 is not supported yet"},
    {"Spread_Segment [ff02::1]:4803 { a 127.0.0.1 }", 1, "IPv6 is not supported yet"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.256 }", 1, "'127.0.0.256' is not an IPv4 address"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.01 }", 1, "is not an IPv4 address"},
    {"Spread_Segment 127.0.0.255 { a 127.0.1 }", 1, "is not an IPv4 address"},
    {"Spread_Segment 127.0.0.255 { 127.0.0.1.5 }", 1, "is not an IPv4 address"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.1:0 }", 1, "bad port in '127.0.0.1:0'"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.1:65536 }", 1, "bad port"},
    {"Spread_Segment 127.0.0.255:x { a 127.0.0.1 }", 1, "bad port"},
    {"Spread_Segment 127.0.0.255 { a 225.1.1.1 }", 1, "not a unicast address"},
    {"Spread_Segment 127.0.0.255 { a 0.0.0.0 }", 1, "not a unicast address"},
    {"Spread_Segment 127.0.0.255 { a 127.0.0.1 }\nSpread_Segment 127.0.0.255:4803 { b 127.0.0.2 }",
     2, "segment 127.0.0.255:4803 is declared twice (first on line 1)"},
    // nothing at all
    {"", 1, "no Spread_Segment"},
    {"# only a comment\nWindow = 5\n", 2, "no Spread_Segment"},
};
#undef S

TEST(ConfigFile, ErrorsNameLineAndReason) {
  for (const error_case& e : error_cases) {
    SCOPED_TRACE(e.text);
    const std::string msg = parse_error(e.text);
    const std::string where = "spread.conf:" + std::to_string(e.line) + ": ";
    EXPECT_EQ(msg.rfind(where, 0), 0u) << msg;
    EXPECT_NE(msg.find(e.reason), std::string::npos) << msg;
  }
}

std::string many_daemons(int n) {
  std::string text = "Spread_Segment 10.0.0.255 {\n";
  for (int i = 0; i < n; ++i) {
    text += " d" + std::to_string(i) + " 10.0." + std::to_string(i / 200) + "." +
            std::to_string(i % 200 + 1) + "\n";
  }
  return text + "}\n";
}

std::string many_segments(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    const std::string net = "10." + std::to_string(i) + ".0.";
    text += "Spread_Segment " + net + "255 { d" + std::to_string(i) + " " + net + "1 }\n";
  }
  return text;
}

TEST(ConfigFile, CpuLists) {
  struct ok_case {
    std::string_view text;
    std::vector<std::uint32_t> cpus;
    std::string_view canonical;
  };
  for (const ok_case& c : std::initializer_list<ok_case>{
           {"0", {0}, "0"},
           {"1023", {1023}, "1023"},
           {"0-3", {0, 1, 2, 3}, "0-3"},
           {"2-2", {2}, "2"},
           {"8,0-3", {0, 1, 2, 3, 8}, "0-3,8"},
           {"3,1,2,1", {1, 2, 3}, "1-3"},
           {"0,2,4", {0, 2, 4}, "0,2,4"},
       }) {
    SCOPED_TRACE(c.text);
    auto r = parse_cpu_list(c.text);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(*r, c.cpus);
    EXPECT_EQ(format_cpu_list(*r), c.canonical);
  }
  EXPECT_EQ(format_cpu_list({}), "");
  struct bad_case {
    std::string_view text, reason;
  };
  for (const bad_case& c : std::initializer_list<bad_case>{
           {"", "it is empty"},
           {",", "'' is neither a CPU number nor a range a-b"},
           {"0,", "'' is neither"},
           {"-1", "'-1' is neither"},
           {"1-", "'1-' is neither"},
           {"1-2-3", "'1-2-3' is neither"},
           {"0x1", "'0x1' is neither"},
           {" 1", "' 1' is neither"},
           {"4-2", "the range '4-2' runs backwards"},
           {"0-1024", "'0-1024' names a CPU beyond 1023"},
           {"99999999999", "names a CPU beyond 1023"},
       }) {
    SCOPED_TRACE(c.text);
    auto r = parse_cpu_list(c.text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message().rfind("'" + std::string(c.text) + "' is not a CPU list: ", 0), 0u)
        << r.error().message();
    EXPECT_NE(r.error().message().find(c.reason), std::string::npos) << r.error().message();
  }
}

TEST(ConfigFile, Limits) {
  EXPECT_EQ(parse_ok(many_daemons(128)).all_daemons().size(), 128u);
  auto r = parse_config(many_daemons(129), "spread.conf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), errc::too_large);
  EXPECT_EQ(r.error().message(), "spread.conf:130: more than 128 daemons");

  EXPECT_EQ(parse_ok(many_segments(16)).segments.size(), 16u);
  r = parse_config(many_segments(17), "spread.conf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "spread.conf:17: more than 16 segments");
}

TEST(ConfigFile, ErrorsEscapeBinaryAndCutLongTokens) {
  const std::string msg = parse_error(std::string("W\x01\xff") + std::string(100, 'x') + " = 1");
  EXPECT_NE(msg.find("unknown option 'W\\x01\\xffxxx"), std::string::npos) << msg;
  EXPECT_NE(msg.find("...'"), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 100u);
}

// Every prefix of a valid file is either accepted or refused with a located message: truncation
// in the middle of any construct never crashes or yields an unlocated error.
TEST(ConfigFile, EveryPrefixOfSampleIsHandled) {
  for (std::size_t n = 0; n <= sample.size(); ++n) {
    auto r = parse_config(sample.substr(0, n), "spread.conf");
    if (!r.ok()) {
      ASSERT_EQ(r.error().message().rfind("spread.conf:", 0), 0u) << r.error().message();
    }
  }
}

TEST(ConfigFile, DefaultConfig) {
  const file_config d = default_config();
  ASSERT_EQ(d.all_daemons().size(), 1u);
  EXPECT_EQ(d.segments[0].address, "127.0.0.255");
  EXPECT_EQ(d.find("localhost")->address, "127.0.0.1");
  EXPECT_EQ(d.port_of(*d.find("localhost")), 4803);
  // The same as the equivalent file, so a daemon on the default talks to one given that file.
  EXPECT_EQ(config_hash(d),
            config_hash(parse_ok("Spread_Segment 127.0.0.255:4803 { localhost 127.0.0.1 }")));
}

TEST(ConfigFile, IdentifyByName) {
  const file_config c = parse_ok(three_on_one_host);
  auto r = identify(c, "d2", {"127.0.0.1"});  // the name wins over the addresses
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->name, "d2");
  r = identify(c, "d9", {"127.0.0.1"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "no daemon named 'd9' in spread.conf");
}

TEST(ConfigFile, IdentifyByAddress) {
  const file_config c = parse_ok(three_on_one_host);
  auto r = identify(c, "", {"10.9.9.9", "127.0.0.3"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->name, "d3");
  EXPECT_EQ(c.port_of(**r), 4823);

  r = identify(c, "", {"10.9.9.9"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("choose one with -n"), std::string::npos);

  r = identify(c, "", {"127.0.0.1", "127.0.0.2"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("(d1, d2); choose one with -n"), std::string::npos)
      << r.error().message();

  const file_config shared =
      parse_ok("Spread_Segment 127.0.0.255 { a 127.0.0.1 b 127.0.0.1:4813 }");
  r = identify(shared, "", {"127.0.0.1"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("(a, b)"), std::string::npos);
}

std::uint64_t hash_of(std::string_view text) { return config_hash(parse_ok(text)); }

TEST(ConfigFile, HashIgnoresLayoutCommentsAndLocalOptions) {
  const std::uint64_t h = hash_of(three_on_one_host);
  EXPECT_EQ(h, hash_of(three_on_one_host));
  EXPECT_EQ(h, hash_of("# the same ring, written differently\n"
                       "spread_segment 127.0.0.255 {d1 127.0.0.1 ; d2 127.0.0.2:4813\n"
                       "  d3 127.0.0.3:4823 # third\n}\n"
                       "EventLogFile = /var/log/x   DebugFlags = { ALL }  UnixSocketDir = /run\n"
                       "TokenLinger = 50 BusyPoll = 100 MaxSessionMessages = 7 CpuAffinity = 1\n"
                       "SharedMemoryRing = 0"));
}

TEST(ConfigFile, HashChangesWithWhatDaemonsMustAgreeOn) {
  const std::uint64_t h = hash_of(three_on_one_host);
  const char* changed[] = {
      "Spread_Segment 127.0.0.255:4803 { d1 127.0.0.1 d2 127.0.0.2:4813 d4 127.0.0.3:4823 }",
      "Spread_Segment 127.0.0.255:4803 { d1 127.0.0.1 d2 127.0.0.2:4813 d3 127.0.0.4:4823 }",
      "Spread_Segment 127.0.0.255:4803 { d1 127.0.0.1 d2 127.0.0.2:4813 d3 127.0.0.3:4824 }",
      "Spread_Segment 127.0.0.255:4803 { d1 127.0.0.1 d3 127.0.0.3:4823 d2 127.0.0.2:4813 }",
      "Spread_Segment 127.0.0.255:4803 { d1 127.0.0.1 d2 127.0.0.2:4813 }",
      "Spread_Segment 127.0.0.254:4803 { d1 127.0.0.1 d2 127.0.0.2:4813 d3 127.0.0.3:4823 }",
      "Spread_Segment 127.0.0.255:4803 { d1 127.0.0.1 d2 127.0.0.2:4813 d3 127.0.0.3:4823 }\n"
      "Window = 100",
      "Spread_Segment 127.0.0.255:4803 { d1 127.0.0.1 d2 127.0.0.2:4813 d3 127.0.0.3:4823 }\n"
      "TokenTimeout = 500",
      "Spread_Segment 127.0.0.255:4803 { d1 127.0.0.1 d2 127.0.0.2:4813 d3 127.0.0.3:4823 }\n"
      "AcceleratedRing = false",
      "Spread_Segment 127.0.0.255:4803 { d1 127.0.0.1 VirtualID = 1 d2 127.0.0.2:4813 "
      "d3 127.0.0.3:4823 }",
  };
  for (const char* text : changed) {
    SCOPED_TRACE(text);
    EXPECT_NE(hash_of(text), h);
  }
}

TEST(ConfigFile, ExcludeSegAddrsFromHash) {
  EXPECT_EQ(hash_of("ExcludeSegAddrsFromHash = yes Spread_Segment 10.0.0.255 { a 10.0.0.1 }"),
            hash_of("ExcludeSegAddrsFromHash = yes Spread_Segment 10.0.255.255 { a 10.0.0.1 }"));
}

TEST(ConfigFile, LoadConfig) {
  const std::string path = testing::TempDir() + "config_file_test.conf";
  {
    std::ofstream f(path, std::ios::trunc);
    f << "Spread_Segment 127.0.0.255 { a 127.0.0.1 }\nWindow = 0\n";
  }
  auto r = load_config(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().rfind(path + ":2: ", 0), 0u) << r.error().message();
  {
    std::ofstream f(path, std::ios::trunc);
    f << three_on_one_host;
  }
  r = load_config(path);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->all_daemons().size(), 3u);
  EXPECT_EQ(r->source, path);
  std::remove(path.c_str());

  r = load_config(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "cannot read " + path + ": No such file or directory");
}

}  // namespace
}  // namespace chorus::daemon
