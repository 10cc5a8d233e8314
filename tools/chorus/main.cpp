// chorus — the operator's and tester's tool for Chorus (and Spread) daemons:
//   chorus user              interactive client (join, leave, send, receive), like spuser
//   chorus flood             N messages of S bytes: messages/s, MB/s, latency; --json
//   chorus ping              round trips through the ring, with percentiles
//   chorus monitor status    a daemon's configuration, ring, sessions, groups and counters
//   chorus shm ls|rm         the chorus::shm regions of this host
// Every subcommand has --help; failures exit non-zero with a message on stderr.
#include <CLI/CLI.hpp>

#include "client/stream.hpp"  // busy_poll_max, which connect() checks too
#include "common.hpp"

int main(int argc, char** argv) {
  using namespace chorus::tool;
  CLI::App app{
      "chorus — talk to Chorus (or Spread 4.x/5.x) daemons: an interactive client, a flooder, "
      "ping, and a daemon's status.\n"
      "Endpoints (-s): 4803 (the Unix socket /tmp/4803), 4803@host (TCP), or a socket path."};
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", "chorus 0.1.0");

  user_options uo;
  auto* user = app.add_subcommand("user", "interactive client: join, leave, send, receive");
  user->add_option("-s,--spread", uo.endpoint, "daemon endpoint (default 4803)");
  user->add_option("-u,--user", uo.name, "private name, 1-10 chars of $…~ (default: generated)");

  flood_options fo;
  auto* flood = app.add_subcommand(
      "flood", "send N messages of S bytes and report messages/s, MB/s and latency percentiles");
  flood->add_option("-s,--spread", fo.endpoint, "daemon endpoint (default 4803)");
  flood->add_option("-g,--group", fo.group, "group to flood (default flood)");
  flood->add_option("-n,--count", fo.count, "messages (default 100000)");
  flood->add_option("-b,--size", fo.size, "bytes per message, 24-100000 (default 1000)");
  flood->add_option("--service", fo.service,
                    std::string("service level: ") + service_choices + " (default agreed)");
  flood->add_option("--mode", fo.mode,
                    "both: join, send, and receive our own messages, at most --window in "
                    "flight (default); receive: join and count --count messages (prints "
                    "'ready' once joined; pair it with a 'both' sender, whose pace a reader "
                    "keeps up with); send: send as fast as the daemon takes them, without "
                    "joining (readers that fall behind by MaxSessionMessages are cut off)");
  flood->add_option("--window", fo.window,
                    "both: most messages in flight (default 500, below MaxSessionMessages)");
  flood->add_option("--timeout", fo.timeout_s, "give up after this many idle seconds (default 60)");
  flood->add_flag("--json", fo.json, "print the result as one line of JSON");
  flood->add_flag("--progress", fo.progress, "live progress line on stderr even when not a tty");

  ping_options po;
  auto* ping = app.add_subcommand("ping", "round trips through the ring to ourselves");
  ping->add_option("-s,--spread", po.endpoint, "daemon endpoint (default 4803)");
  ping->add_option("-c,--count", po.count, "round trips (default 10)");
  ping->add_option("-b,--size", po.size, "bytes per message, 24-100000 (default 64)");
  ping->add_option("-i,--interval", po.interval_s, "seconds between round trips (default 0.2)");
  ping->add_option("--service", po.service,
                   std::string("service level: ") + service_choices + " (default agreed)");
  ping->add_option("--busy-poll", po.busy_poll_us,
                   "poll this many µs for the answer before sleeping, 0-1000000 (default 0; "
                   "see docs/configuration.md, Latency)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{chorus::client::busy_poll_max.count()}));
  ping->add_flag("-q,--quiet", po.quiet, "only the summary");

  monitor_options mo;
  auto* monitor = app.add_subcommand("monitor", "ask a daemon on this host about itself");
  monitor->require_subcommand(1);
  auto* status = monitor->add_subcommand(
      "status", "configuration, ring members, sessions, groups and counters of a daemon");
  status->add_option("--control", mo.control, "the daemon's control socket (<RuntimeDir>/control)");
  status->add_option("-c,--config", mo.config,
                     "spread.conf to find the daemon's RuntimeDir in (default: the embedded "
                     "one-daemon configuration)");
  status->add_option("-n,--name", mo.name, "which daemon of the configuration");
  status->add_flag("--json", mo.json, "print the daemon's JSON as it is");

  auto* shm = app.add_subcommand("shm", "the chorus::shm shared-memory regions of this host");
  shm->require_subcommand(1);
  bool shm_json = false;
  auto* shm_ls = shm->add_subcommand(
      "ls", "list regions: name, size, state, pipes, processes, buffers in use");
  shm_ls->add_flag("--json", shm_json, "print a JSON array");
  std::vector<std::string> shm_names;
  auto* shm_rm = shm->add_subcommand("rm",
                                     "remove regions (processes that have them open keep "
                                     "their mapping until they detach)");
  shm_rm->add_option("names", shm_names, "region names")->required();

  CLI11_PARSE(app, argc, argv);
  if (user->parsed()) return run_user(uo);
  if (flood->parsed()) return run_flood(fo);
  if (ping->parsed()) return run_ping(po);
  if (status->parsed()) return run_monitor_status(mo);
  if (shm_ls->parsed()) return run_shm_ls(shm_json);
  if (shm_rm->parsed()) return run_shm_rm(shm_names);
  return 2;
}
