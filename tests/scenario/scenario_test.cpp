// scenario_test.cpp — scripted scenarios against the core with golden traces (DESIGN §6; after
// etcd-io/raft's interaction tests).
//
// Each file in testdata/ is a script of commands. After each command comes `----` and the
// output it produced: the simulator's trace lines (every transmission with its decoded packet,
// every timer, delivery and drop) and any command output. The test replays the script and
// compares. After an intended change, regenerate and review the diff:
//
//   build/tests/scenario/scenario_test --rewrite
//
// Commands (key=value arguments; `*` for any node):
//   nodes N [packet_bytes= window_global= window_personal= window_accelerated=
//            outstanding_max= token_retransmit_us= token_hold_us= token_linger_us=
//            delay_us= membership=1
//            token_timeout_us= join_timeout_us= consensus_timeout_us= merge_detect_us=]
//                          builds the ring 1..N (first command of every script); membership=1
//                          runs the membership protocol and the EVS checker
//   crash node=            destroys the node; its links go down both ways (in flight: lost)
//   restart node=          builds it again as the next incarnation; links up
//   partition sides=1,2,3/4,5 [oneway=1]
//                          cuts the links between sides (oneway: only from a side to the
//                          sides after it); nodes in no side form one more side
//   heal                   ends the partition (crashed nodes stay down)
//   submit node= service= bytes= [count=]
//   drop from= to= type=data|token|join|commit|any [count=]
//                          loses the next matching transmissions
//   clog from= to= for=<duration>                    holds a link's transmissions for a while
//   run for=<duration> | run until=delivered [max=<duration>]
//   state                  one line per node: aru, delivered_upto, safe_upto, queue, counters
//   check                  the simulator's invariant checks (and completion) on the run so far
// Durations: 250us, 3ms, 1s.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "sim/checker.hpp"
#include "sim/cluster.hpp"
#include "sim/network.hpp"
#include "sim/payload.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"

namespace chorus::sim {
namespace {

bool rewrite = false;
constexpr std::uint64_t payload_seed = 0x5ce7a210;

struct block {
  std::vector<std::string> comments;  // lines before the command (comments and blank lines)
  std::string command;
  std::string expected;
};

std::vector<block> parse(const std::string& text) {
  std::vector<block> blocks;
  std::istringstream in(text);
  std::string line;
  block b;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      b.comments.push_back(line);
      continue;
    }
    b.command = line;
    if (!std::getline(in, line) || line != "----")
      throw std::runtime_error("expected ---- after: " + b.command);
    while (std::getline(in, line) && !line.empty()) b.expected += line + "\n";
    blocks.push_back(std::move(b));
    b = block{};
  }
  if (!b.comments.empty()) blocks.push_back(std::move(b));  // trailing comments
  return blocks;
}

std::map<std::string, std::string> args_of(std::istringstream& in) {
  std::map<std::string, std::string> a;
  std::string word;
  while (in >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) throw std::runtime_error("expected key=value, got " + word);
    a[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return a;
}

duration parse_duration(const std::string& s) {
  std::size_t used = 0;
  const double v = std::stod(s, &used);
  const std::string unit = s.substr(used);
  if (unit == "us")
    return std::chrono::duration_cast<duration>(std::chrono::duration<double, std::micro>(v));
  if (unit == "ms")
    return std::chrono::duration_cast<duration>(std::chrono::duration<double, std::milli>(v));
  if (unit == "s") return std::chrono::duration_cast<duration>(std::chrono::duration<double>(v));
  throw std::runtime_error("bad duration " + s);
}

service parse_service(const std::string& s) {
  for (int i = 0; i <= wire::service_max; ++i)
    if (s == wire::to_string(static_cast<service>(i))) return static_cast<service>(i);
  throw std::runtime_error("unknown service " + s);
}

// One scenario's world: a cluster on a clean, fixed-delay network, traced into memory.
class world {
 public:
  world() {
    buf_ = nullptr;
    len_ = 0;
    out_ = open_memstream(&buf_, &len_);
  }
  ~world() {
    cluster_.reset();
    net_.reset();
    checker_.reset();
    trace_.reset();
    std::fclose(out_);
    std::free(buf_);
  }

  std::string execute(const std::string& command) {
    std::istringstream in(command);
    std::string verb;
    in >> verb;
    auto a = args_of(in);
    std::string said;
    if (verb == "nodes") {
      said = build(a);
    } else if (cluster_ == nullptr) {
      throw std::runtime_error("the first command must be `nodes`");
    } else if (verb == "submit") {
      said = submit(a);
    } else if (verb == "drop") {
      drop(a);
    } else if (verb == "clog") {
      for (node_id f : nodes_of(a.at("from")))
        for (node_id t : nodes_of(a.at("to")))
          if (f != t) net_->clog(f, t, sched_.now() + parse_duration(a.at("for")));
    } else if (verb == "crash" || verb == "restart") {
      const node_id n = node_of(a.at("node"));
      if (cluster_->up(n) != (verb == "crash"))
        throw std::runtime_error(verb + ": node " + a["node"] + " is already " +
                                 (verb == "crash" ? "down" : "up"));
      if (verb == "crash") {
        cluster_->crash(n);
      } else {
        cluster_->restart(n);
        // A new incarnation numbers its messages from incarnation · 2^40 + 1 (config.hpp).
        next_id_[n.value] = (std::uint64_t{cluster_->find(n)->cfg().incarnation} << 40) + 1;
      }
    } else if (verb == "partition") {
      net_->partition(sides_of(a.at("sides")), a.count("oneway") && a["oneway"] == "1");
    } else if (verb == "heal") {
      net_->heal_partition();
    } else if (verb == "run") {
      said = run(a);
    } else if (verb == "state") {
      for (node_id n : cluster_->members()) said += cluster_->describe(n) + "\n";
    } else if (verb == "check") {
      if (checker_->ok()) checker_->finish(sched_.now());
      said = checker_->ok() ? "ok\n" : "violation: " + checker_->violation() + "\n";
    } else {
      throw std::runtime_error("unknown command " + verb);
    }
    return take_trace() + said;
  }

 private:
  std::string build(std::map<std::string, std::string>& a) {
    const auto n = static_cast<std::uint32_t>(std::stoul(a.at("N")));
    cluster_options co;
    co.nodes = n;
    co.check_node_invariants = true;
    core::config& c = co.base;
    auto num = [&](const char* k, auto& field) {
      if (a.count(k))
        field = static_cast<std::remove_reference_t<decltype(field)>>(std::stoull(a[k]));
    };
    num("packet_bytes", c.packet_bytes_max);
    num("window_global", c.window_global);
    num("window_personal", c.window_personal);
    num("window_accelerated", c.window_accelerated);
    num("outstanding_max", c.outstanding_max);
    if (a.count("token_retransmit_us"))
      c.token_retransmit = std::chrono::microseconds(std::stoul(a["token_retransmit_us"]));
    if (a.count("token_hold_us"))
      c.token_hold = std::chrono::microseconds(std::stoul(a["token_hold_us"]));
    auto us = [&](const char* k, duration& field) {
      if (a.count(k)) field = std::chrono::microseconds(std::stoul(a[k]));
    };
    us("token_linger_us", c.token_linger);
    us("token_timeout_us", c.token_timeout);
    us("join_timeout_us", c.join_timeout);
    us("consensus_timeout_us", c.consensus_timeout);
    us("merge_detect_us", c.merge_detect);
    co.membership = a.count("membership") && a["membership"] == "1";
    link_params lp;
    lp.delay = std::chrono::microseconds(a.count("delay_us") ? std::stoul(a["delay_us"]) : 100);
    lp.jitter = duration::zero();
    std::vector<node_id> members;
    for (std::uint32_t i = 1; i <= n; ++i) members.push_back(node_id{i});
    c.hash = core::conf_hash{0x5ce7a210};
    c.ring = ring_id{node_id{1}, 1};
    trace_ = std::make_unique<trace>(out_);
    checker_ = std::make_unique<checker>(members, ring_id{node_id{1}, 1}, payload_seed);
    if (co.membership) checker_->enable_membership();
    net_ = std::make_unique<network>(n, lp, util::prng(1), sched_, *trace_);
    cluster_ = std::make_unique<cluster>(co, sched_, *net_, *trace_, *checker_);
    next_id_.assign(n + 1, 1);
    cluster_->start();
    return "";
  }

  node_id node_of(const std::string& s) const {
    const auto v = static_cast<std::uint32_t>(std::stoul(s));
    if (v < 1 || v > cluster_->members().size()) throw std::runtime_error("no node " + s);
    return node_id{v};
  }

  // "1,2,3/4,5" → {{1,2,3},{4,5}}
  std::vector<std::vector<node_id>> sides_of(const std::string& s) const {
    std::vector<std::vector<node_id>> sides(1);
    std::string num;
    for (char ch : s + "/") {
      if (ch == ',' || ch == '/') {
        if (num.empty()) throw std::runtime_error("bad sides " + s);
        sides.back().push_back(node_of(num));
        num.clear();
        if (ch == '/') sides.emplace_back();
      } else {
        num += ch;
      }
    }
    sides.pop_back();
    return sides;
  }

  std::vector<node_id> nodes_of(const std::string& s) const {
    if (s == "*") return cluster_->members();
    return {node_id{static_cast<std::uint32_t>(std::stoul(s))}};
  }

  std::string submit(std::map<std::string, std::string>& a) {
    const node_id n{static_cast<std::uint32_t>(std::stoul(a.at("node")))};
    const service svc = parse_service(a.at("service"));
    const std::size_t bytes = std::stoul(a.at("bytes"));
    const int count = a.count("count") ? std::stoi(a["count"]) : 1;
    std::string said;
    for (int i = 0; i < count; ++i) {
      const core::msg_id id{next_id_[n.value]};
      auto r =
          cluster_->submit(n, svc, util::shared_bytes(make_payload(payload_seed, n, id, bytes)));
      if (r.ok())
        ++next_id_[n.value];
      else
        said += "refused: " + r.error().to_string() + "\n";
    }
    return said;
  }

  void drop(std::map<std::string, std::string>& a) {
    rule r;
    if (a.at("from") != "*") r.from = nodes_of(a["from"]).front();
    if (a.at("to") != "*") r.to = nodes_of(a["to"]).front();
    const std::string type = a.count("type") ? a["type"] : "any";
    if (type == "data")
      r.type = wire::packet_type::data;
    else if (type == "token")
      r.type = wire::packet_type::token;
    else if (type == "join")
      r.type = wire::packet_type::join;
    else if (type == "commit")
      r.type = wire::packet_type::commit;
    else if (type != "any")
      throw std::runtime_error("unknown type " + type);
    r.count = a.count("count") ? std::stoull(a["count"]) : 1;
    r.action = verdict::drop;
    net_->add_rule(r);
  }

  std::string run(std::map<std::string, std::string>& a) {
    cluster::stop_reason reason;
    std::string limit_text;
    if (a.count("for")) {
      const time_point limit = sched_.now() + parse_duration(a["for"]);
      reason = cluster_->run(limit, {});
      if (reason != cluster::stop_reason::failed) sched_.advance_to(limit);
    } else if (a.count("until") && a["until"] == "delivered") {
      limit_text = a.count("max") ? a["max"] : "1s";
      reason = cluster_->run(sched_.now() + parse_duration(limit_text),
                             [&] { return checker_->complete(); });
    } else {
      throw std::runtime_error("run needs for= or until=delivered");
    }
    if (reason == cluster::stop_reason::failed) return "violation: " + checker_->violation() + "\n";
    if (!limit_text.empty() && reason != cluster::stop_reason::done)
      return "not delivered within " + limit_text + "\n";
    return "";
  }

  std::string take_trace() {
    std::fflush(out_);
    std::string s(buf_ + taken_, len_ - taken_);
    taken_ = len_;
    return s;
  }

  std::FILE* out_;
  char* buf_;
  std::size_t len_;
  std::size_t taken_ = 0;
  scheduler sched_;
  std::unique_ptr<trace> trace_;
  std::unique_ptr<checker> checker_;
  std::unique_ptr<network> net_;
  std::unique_ptr<cluster> cluster_;
  std::vector<std::uint64_t> next_id_;
};

std::string render(const std::vector<block>& blocks, const std::vector<std::string>& outputs) {
  std::string s;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    for (const auto& c : blocks[i].comments) s += c + "\n";
    if (blocks[i].command.empty()) continue;
    s += blocks[i].command + "\n----\n" + outputs[i];
    if (i + 1 < blocks.size()) s += "\n";
  }
  return s;
}

class scenario : public ::testing::TestWithParam<std::string> {};

TEST_P(scenario, matches_golden_trace) {
  const std::filesystem::path path =
      std::filesystem::path(CHORUS_SCENARIO_DIR) / (GetParam() + ".txt");
  std::ifstream f(path);
  ASSERT_TRUE(f) << "cannot read " << path;
  std::stringstream ss;
  ss << f.rdbuf();
  const auto blocks = parse(ss.str());
  world w;
  std::vector<std::string> outputs;
  for (const auto& b : blocks) {
    outputs.push_back(b.command.empty() ? "" : w.execute(b.command));
    if (!rewrite && !b.command.empty()) {
      EXPECT_EQ(b.expected, outputs.back()) << "in " << path << ", after: " << b.command;
    }
  }
  if (rewrite) std::ofstream(path) << render(blocks, outputs);
}

std::vector<std::string> scenario_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(CHORUS_SCENARIO_DIR))
    if (e.path().extension() == ".txt") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(golden, scenario, ::testing::ValuesIn(scenario_names()),
                         [](const auto& info) { return info.param; });

// The fault commands on their own (no golden file: with membership they would depend on the
// core's membership protocol). They work on a fixed ring too: there the network and the node
// slots do what the commands say, whatever the core makes of it.
TEST(scenario_commands, crash_takes_the_node_and_its_links_down) {
  world w;
  w.execute("nodes N=3 delay_us=100");
  const std::string crashed = w.execute("crash node=3");
  EXPECT_NE(crashed.find("node 3 crashed (incarnation 0)"), std::string::npos) << crashed;
  EXPECT_NE(w.execute("state").find("node 3: down"), std::string::npos);
  const std::string ran = w.execute("run for=2ms");
  EXPECT_NE(ran.find("2->3 (link down)"), std::string::npos) << ran;
  EXPECT_EQ(ran.find("->3 arrive"), std::string::npos) << ran;
  EXPECT_THROW(w.execute("crash node=3"), std::runtime_error);
}

TEST(scenario_commands, restart_builds_the_next_incarnation) {
  world w;
  w.execute("nodes N=3 delay_us=100 membership=1");
  w.execute("run for=1ms");
  w.execute("crash node=2");
  const std::string restarted = w.execute("restart node=2");
  EXPECT_NE(restarted.find("node 2 restarted, incarnation 1"), std::string::npos) << restarted;
  EXPECT_EQ(w.execute("state").find("node 2: down"), std::string::npos);
  EXPECT_THROW(w.execute("restart node=2"), std::runtime_error);  // it is up
}

TEST(scenario_commands, partition_and_heal) {
  world w;
  w.execute("nodes N=4 delay_us=100");
  const std::string cut = w.execute("partition sides=1,2/3,4");
  EXPECT_NE(cut.find("partition 1,2 / 3,4"), std::string::npos) << cut;
  const std::string ran = w.execute("run for=1ms");
  EXPECT_NE(ran.find("2->3 (link down)"), std::string::npos) << ran;
  EXPECT_NE(w.execute("heal").find("partition healed"), std::string::npos);
  const std::string after = w.execute("run for=10ms");
  EXPECT_NE(after.find("recv #"), std::string::npos) << after;
  EXPECT_EQ(after.find("(link down)"), std::string::npos) << after;
}

TEST(scenario_commands, oneway_partition_cuts_one_direction) {
  world w;
  w.execute("nodes N=2 delay_us=100");
  w.execute("partition sides=2/1 oneway=1");  // 2 → 1 is cut, 1 → 2 is not
  const std::string ran = w.execute("run for=20ms");
  EXPECT_NE(ran.find("recv #1 1->2"), std::string::npos) << ran;
  EXPECT_NE(ran.find("2->1 (link down)"), std::string::npos) << ran;
  EXPECT_EQ(ran.find("1->2 (link down)"), std::string::npos) << ran;
  EXPECT_THROW(w.execute("partition sides=1,,2"), std::exception);
}

}  // namespace
}  // namespace chorus::sim

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--rewrite") chorus::sim::rewrite = true;
  return RUN_ALL_TESTS();
}
