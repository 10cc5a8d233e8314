// fuzz_config.cpp — libFuzzer target for daemon::parse_config (spread.conf). Any bytes: no crash,
// no undefined behaviour (ASan/UBSan), a refusal always starts "<source>:<line>: ", and an
// accepted file holds what the daemon relies on: 1..16 segments, 1..128 daemons with legal,
// unique names that find() returns, a port for each. The accepted configuration, written back as
// spread.conf text, parses again to the same config_hash (addresses are canonical and no value
// is lost or invented by the parser). A CpuAffinity list is ascending, in range, and its short
// form reads back to the same CPUs.
// Thread-safety: libFuzzer calls this from one thread.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/config_file.hpp"
#include "fuzz_check.hpp"

namespace {

using namespace chorus;

// The hashed part of `c` as spread.conf text; names are quoted so that any legal name survives.
std::string write_back(const daemon::file_config& c) {
  std::string out;
  if (c.exclude_seg_addrs_from_hash) out += "ExcludeSegAddrsFromHash = true\n";
  for (const daemon::segment& s : c.segments) {
    out += "Spread_Segment " + s.address + ":" + std::to_string(s.port) + " {\n";
    for (const daemon::daemon_entry& d : s.daemons) {
      out += "  \"" + d.name + "\" " + d.address;
      if (d.port != 0) out += ":" + std::to_string(d.port);
      if (d.virtual_id) out += " VirtualID = " + std::to_string(*d.virtual_id);
      out += "\n";
    }
    out += "}\n";
  }
  auto number = [&](const char* name, const std::optional<std::uint32_t>& v) {
    if (v) out += std::string(name) + " = " + std::to_string(*v) + "\n";
  };
  number("Window", c.window);
  number("PersonalWindow", c.personal_window);
  number("AcceleratedWindow", c.accelerated_window);
  number("TokenTimeout", c.token_timeout_ms);
  number("HurryTimeout", c.hurry_timeout_ms);
  number("AliveTimeout", c.alive_timeout_ms);
  number("JoinTimeout", c.join_timeout_ms);
  number("RepTimeout", c.rep_timeout_ms);
  number("SegTimeout", c.seg_timeout_ms);
  number("GatherTimeout", c.gather_timeout_ms);
  number("FormTimeout", c.form_timeout_ms);
  number("LookupTimeout", c.lookup_timeout_ms);
  if (c.accelerated_ring)
    out += std::string("AcceleratedRing = ") + (*c.accelerated_ring ? "on\n" : "off\n");
  if (c.wide_area_network)
    out += std::string("WideAreaNetwork = ") + (*c.wide_area_network ? "yes\n" : "no\n");
  return out;
}

void check_accepted(const daemon::file_config& c) {
  FUZZ_CHECK(!c.segments.empty() && c.segments.size() <= daemon::segments_max);
  const auto all = c.all_daemons();
  FUZZ_CHECK(!all.empty() && all.size() <= daemon::daemons_max);
  for (const daemon::segment& s : c.segments) FUZZ_CHECK(!s.daemons.empty() && s.port != 0);
  for (const daemon::daemon_entry* d : all) {
    FUZZ_CHECK(!d->name.empty() && d->name.size() <= daemon::daemon_name_bytes_max);
    for (char ch : d->name) FUZZ_CHECK(ch >= 0x24 && ch <= 0x7e);
    FUZZ_CHECK(c.find(d->name) == d);  // names are unique: find returns this very entry
    FUZZ_CHECK(c.port_of(*d) != 0);
    FUZZ_CHECK(d->interfaces.size() <= daemon::interfaces_max);
    auto me = daemon::identify(c, d->name, {});
    FUZZ_CHECK(me.ok() && *me == d);
  }
  // CpuAffinity: ascending CPUs below cpus_max, no repeats, and its short form reads back.
  for (std::size_t i = 0; i < c.cpu_affinity.size(); ++i) {
    FUZZ_CHECK(c.cpu_affinity[i] < daemon::cpus_max);
    FUZZ_CHECK(i == 0 || c.cpu_affinity[i - 1] < c.cpu_affinity[i]);
  }
  if (!c.cpu_affinity.empty()) {
    auto cpus = daemon::parse_cpu_list(daemon::format_cpu_list(c.cpu_affinity));
    FUZZ_CHECK(cpus.ok() && *cpus == c.cpu_affinity);
  }
  const std::uint64_t h = daemon::config_hash(c);
  auto again = daemon::parse_config(write_back(c), "again");
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(daemon::config_hash(*again) == h);
}

void check_one(std::string_view text) {
  auto r = daemon::parse_config(text, "fuzz.conf");
  if (!r) {
    FUZZ_CHECK(r.error().message().rfind("fuzz.conf:", 0) == 0);
    FUZZ_CHECK(r.error().code() != util::errc::ok);
    return;
  }
  check_accepted(*r);
}

}  // namespace

// Each input is parsed alone, after a valid segment (so that options and trailing text are
// reached without libFuzzer first discovering the Spread_Segment keyword) and as the body of a
// segment (daemon entries, VirtualID, interface stanzas).
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_one(text);
  check_one("Spread_Segment 127.0.0.255 { a 127.0.0.1 }\n" + std::string(text));
  check_one("Spread_Segment 225.1.2.3:4803 {\n" + std::string(text) + "\n}");
  return 0;
}
