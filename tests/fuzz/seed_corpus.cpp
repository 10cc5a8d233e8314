// seed_corpus.cpp — writes the fuzzers' seed corpora: a handful of small valid packets (data
// packets of every item shape, tokens with and without retransmission requests, joins and commit
// tokens, a bare membership header, bundles) so that libFuzzer starts past the magic and the header
// instead of rediscovering them, plus a few pseudo-random operation scripts for fuzz_node_step.
// Deterministic: the same files every run. Usage: seed_corpus <dir>; writes
// <dir>/<target>/seed-<n> for every target.
// Thread-safety: a single-threaded program.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "util/prng.hpp"
#include "wire/packet.hpp"

namespace {

using namespace chorus;
using util::byte_vector;

byte_vector bytes_of(std::size_t n, std::uint8_t salt) {
  byte_vector v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(i * 13 + salt);
  return v;
}

wire::header hdr(wire::node_id sender) {
  return wire::header{wire::protocol_version, wire::packet_type::data, sender,
                      wire::conf_hash{0x5eedc0ffeeULL}};
}

std::vector<byte_vector> data_packets() {
  const wire::ring_id ring{wire::node_id{1}, 7};
  const byte_vector small = bytes_of(12, 1), frag = bytes_of(64, 2), tail = bytes_of(9, 3);
  std::vector<byte_vector> out;
  auto add = [&](std::uint64_t seq, std::vector<wire::item> items) {
    wire::data_packet p;
    p.hdr = hdr(wire::node_id{1});
    p.ring = ring;
    p.seq = wire::seq_t{seq};
    p.items = std::move(items);
    wire::encode(p, out.emplace_back());
  };
  add(1, {});
  add(1, {{wire::service::agreed, wire::msg_id{1}, 12, 0, small}});
  add(2, {{wire::service::safe, wire::msg_id{2}, 12, 0, small},
          {wire::service::fifo, wire::msg_id{3}, 0, 0, {}},
          {wire::service::reliable, wire::msg_id{4}, 200, 0, frag}});
  add(3, {{wire::service::reliable, wire::msg_id{4}, 200, 64, frag},
          {wire::service::unreliable, wire::msg_id{5}, 73, 64, tail}});
  return out;
}

std::vector<byte_vector> tokens() {
  std::vector<byte_vector> out;
  wire::token t;
  t.hdr = hdr(wire::node_id{1});
  t.ring = wire::ring_id{wire::node_id{1}, 7};
  t.rotation = 1;
  wire::encode(t, out.emplace_back());
  t.rotation = 5;
  t.seq = wire::seq_t{20};
  t.aru = wire::seq_t{17};
  t.aru_id = wire::node_id{3};
  t.fcc = 4;
  t.backlog = 2;
  t.rtr = {wire::seq_t{18}, wire::seq_t{20}};
  wire::encode(t, out.emplace_back());
  return out;
}

std::vector<byte_vector> joins() {
  std::vector<byte_vector> out;
  wire::join j;
  j.hdr = hdr(wire::node_id{3});
  j.incarnation = 1;
  j.proc = {wire::node_id{3}};  // a fresh daemon: no ring yet, heard only from itself
  wire::encode(j, out.emplace_back());
  j.incarnation = 2;
  j.ring = wire::ring_id{wire::node_id{1}, 7};
  j.ring_counter_max = 9;
  j.proc = {wire::node_id{1}, wire::node_id{2}, wire::node_id{3}, wire::node_id{4}};
  j.fail = {wire::node_id{2}, wire::node_id{4}};
  j.heard = {wire::node_id{1}};
  wire::encode(j, out.emplace_back());
  j.fail.clear();  // a probe of ring {1,2,3,4}: who daemon 3 hears
  j.probe = true;
  j.heard = {wire::node_id{1}, wire::node_id{2}, wire::node_id{4}};
  wire::encode(j, out.emplace_back());
  return out;
}

std::vector<byte_vector> commits() {
  std::vector<byte_vector> out;
  wire::commit_token c;
  c.hdr = hdr(wire::node_id{1});
  c.ring = wire::ring_id{wire::node_id{1}, 10};
  c.rotation = 1;
  c.members.push_back(wire::commit_entry{wire::node_id{1}, 2, wire::ring_id{wire::node_id{1}, 7},
                                         wire::seq_t{17}, wire::seq_t{20}, wire::seq_t{15}, true});
  wire::encode(c, out.emplace_back());  // a ring of one
  c.holder = 1;
  c.rotation = 2;
  c.members.push_back(wire::commit_entry{wire::node_id{3}, 1, wire::ring_id{}, wire::seq_t{0},
                                         wire::seq_t{0}, wire::seq_t{0}, false});
  c.members.push_back(wire::commit_entry{wire::node_id{5}, 4, wire::ring_id{wire::node_id{5}, 8},
                                         wire::seq_t{3}, wire::seq_t{3}, wire::seq_t{3}, true});
  wire::encode(c, out.emplace_back());
  return out;
}

byte_vector membership_header() {
  byte_vector out;
  util::byte_writer w(out);
  wire::header h = hdr(wire::node_id{3});
  h.type = wire::packet_type::join;
  wire::encode_header(h, w);
  return out;
}

std::vector<byte_vector> node_scripts() {
  std::vector<byte_vector> out;
  util::prng r(0xc0ffee);
  for (int i = 0; i < 8; ++i) {
    byte_vector& v = out.emplace_back(r.uniform(32, 512));
    for (auto& b : v) b = static_cast<std::byte>(r.next());
  }
  return out;
}

bool write_all(const std::filesystem::path& dir, const std::vector<byte_vector>& seeds) {
  std::filesystem::create_directories(dir);
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream f(dir / ("seed-" + std::to_string(i)), std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(seeds[i].data()),
            static_cast<std::streamsize>(seeds[i].size()));
    if (!f) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  const auto data = data_packets();
  const auto toks = tokens();
  const auto js = joins();
  const auto cs = commits();
  std::vector<byte_vector> all = data;
  for (const auto* more : {&toks, &js, &cs}) all.insert(all.end(), more->begin(), more->end());
  all.push_back(membership_header());
  std::vector<byte_vector> headers = {membership_header(), data.front(), toks.front(), js.front(),
                                      cs.front()};

  // Bundles: a token with the data behind it (what a daemon sends its successor), and more.
  std::vector<byte_vector> bundles;
  for (std::size_t n : {2u, 3u, 5u}) {
    std::vector<util::shared_bytes> parts{util::shared_bytes(toks.front())};
    for (std::size_t i = 1; i < n; ++i) parts.emplace_back(data[i % data.size()]);
    bundles.emplace_back();
    wire::encode_bundle(parts, bundles.back());
  }
  all.insert(all.end(), bundles.begin(), bundles.end());
  headers.push_back(bundles.front());

  const bool ok =
      write_all(root / "fuzz_decode_header", headers) &&
      write_all(root / "fuzz_decode_bundle", bundles) &&
      write_all(root / "fuzz_decode_data", data) && write_all(root / "fuzz_decode_token", toks) &&
      write_all(root / "fuzz_decode_join", js) && write_all(root / "fuzz_decode_commit", cs) &&
      write_all(root / "fuzz_decode", all) && write_all(root / "fuzz_node_step", node_scripts()) &&
      write_all(root / "fuzz_node_membership", node_scripts());
  if (!ok) {
    std::fprintf(stderr, "seed_corpus: cannot write under %s\n", root.c_str());
    return 1;
  }
  return 0;
}
