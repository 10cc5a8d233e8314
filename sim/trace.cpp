// trace.cpp — trace hashing and the readable trace format (see trace.hpp).
#include "sim/trace.hpp"

#include <cstdarg>
#include <cstring>
#include <variant>

#include "wire/packet.hpp"

namespace chorus::sim {

namespace {

// One word into an event's running mix: a bijection of the state for each word, so distinct
// histories stay distinct except by chance; word-wise because hashing every event byte by byte
// cost a tenth of a run.
constexpr std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
  h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 29);
}

}  // namespace

void trace::record(trace_kind k, core::time_point t, std::initializer_list<std::uint64_t> fields,
                   std::span<const std::byte> extra) noexcept {
  ++events_;
  std::uint64_t e = mix(mix(0x243f6a8885a308d3ULL, static_cast<std::uint64_t>(k)),
                        static_cast<std::uint64_t>(t.time_since_epoch().count()));
  for (std::uint64_t f : fields) e = mix(e, f);
  std::size_t i = 0;
  for (; i + 8 <= extra.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, extra.data() + i, 8);
    e = mix(e, w);
  }
  std::uint64_t tail = extra.size();
  for (; i < extra.size(); ++i) tail = (tail << 8) | static_cast<std::uint8_t>(extra[i]);
  h_.u64(mix(e, tail));
}

void trace::record(trace_kind k, core::time_point t, std::string_view text) noexcept {
  record(k, t, {}, std::as_bytes(std::span<const char>(text.data(), text.size())));
}

void trace::print(core::time_point t, std::string_view line) const {
  if (out_ == nullptr) return;
  std::fprintf(out_, "%s %.*s\n", format_time(t).c_str(), static_cast<int>(line.size()),
               line.data());
}

std::string strf(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string s(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(s.data(), s.size() + 1, fmt, args);
  va_end(args);
  return s;
}

std::string format_time(core::time_point t) {
  const auto ns = t.time_since_epoch().count();
  return strf("%lld.%09lld", static_cast<long long>(ns / 1'000'000'000),
              static_cast<long long>(ns % 1'000'000'000));
}

std::string format_duration(core::duration d) {
  const double ns = static_cast<double>(d.count());
  if (ns >= 1e9) return strf("%.3f s", ns / 1e9);
  if (ns >= 1e6) return strf("%.3f ms", ns / 1e6);
  return strf("%.3f us", ns / 1e3);
}

std::string format_hex(std::uint64_t v) {
  return strf("0x%llx", static_cast<unsigned long long>(v));
}

namespace {

std::string describe_token(const wire::token& t) {
  const std::string aru_id =
      t.aru_id == wire::no_node ? std::string("none") : std::to_string(t.aru_id.value);
  std::string s =
      strf("token ring=%s rot=%llu seq=%llu aru=%llu aru_id=%s fcc=%u backlog=%u",
           wire::to_string(t.ring).c_str(), static_cast<unsigned long long>(t.rotation),
           static_cast<unsigned long long>(t.seq.value),
           static_cast<unsigned long long>(t.aru.value), aru_id.c_str(), t.fcc, t.backlog);
  if (!t.rtr.empty()) {
    s += " rtr=[";
    for (std::size_t i = 0; i < t.rtr.size() && i < 8; ++i)
      s += strf("%s%llu", i ? "," : "", static_cast<unsigned long long>(t.rtr[i].value));
    if (t.rtr.size() > 8) s += strf(",…+%zu", t.rtr.size() - 8);
    s += "]";
  }
  return s;
}

std::string describe_data(const wire::data_packet& p) {
  std::string s =
      strf("data seq=%llu from=%u items=%zu", static_cast<unsigned long long>(p.seq.value),
           p.hdr.sender.value, p.items.size());
  for (std::size_t i = 0; i < p.items.size() && i < 4; ++i) {
    const wire::item& it = p.items[i];
    s += strf(" [%s #%llu %u@%u/%u]", wire::to_string(it.svc),
              static_cast<unsigned long long>(it.id.value), static_cast<unsigned>(it.data.size()),
              it.offset, it.total_bytes);
  }
  if (p.items.size() > 4) s += " …";
  return s;
}

std::string ids_text(const std::vector<wire::node_id>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) s += strf("%s%u", i ? "," : "", v[i].value);
  return s + "}";
}

std::string describe_join(const wire::join& j) {
  return strf("%s from=%u inc=%u ring=%s ring_max=%llu proc=%s fail=%s heard=%s",
              j.probe ? "probe" : "join", j.hdr.sender.value, j.incarnation,
              wire::to_string(j.ring).c_str(), static_cast<unsigned long long>(j.ring_counter_max),
              ids_text(j.proc).c_str(), ids_text(j.fail).c_str(), ids_text(j.heard).c_str());
}

std::string describe_commit(const wire::commit_token& c) {
  std::string s = strf("commit ring=%s rot=%llu holder=%u", wire::to_string(c.ring).c_str(),
                       static_cast<unsigned long long>(c.rotation), c.holder);
  for (const wire::commit_entry& e : c.members) {
    if (!e.filled) {
      s += strf(" [%u -]", e.id.value);
      continue;
    }
    s += strf(" [%u inc=%u old=%s aru=%llu high=%llu dlv=%llu]", e.id.value, e.incarnation,
              wire::to_string(e.old_ring).c_str(), static_cast<unsigned long long>(e.old_aru.value),
              static_cast<unsigned long long>(e.old_high_seq.value),
              static_cast<unsigned long long>(e.old_delivered.value));
  }
  return s;
}

}  // namespace

std::string describe_packet(std::span<const std::byte> bytes) {
  if (auto h = wire::decode_header(bytes); h && h->type == wire::packet_type::bundle) {
    auto parts = wire::decode_bundle(bytes);
    if (!parts)
      return strf("bad bundle (%zu B): %s", bytes.size(), parts.error().message().c_str());
    std::string s = strf("bundle of %zu (%zu B):", parts->size(), bytes.size());
    for (auto part : *parts) s += " [" + describe_packet(part) + "]";
    return s;
  }
  auto p = wire::decode(bytes);
  if (!p) {
    auto h = wire::decode_header(bytes);
    if (h) return strf("type=%u (%zu B)", static_cast<unsigned>(h->type), bytes.size());
    return strf("undecodable (%zu B): %s", bytes.size(), p.error().message().c_str());
  }
  std::string s = std::visit(
      [](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, wire::token>)
          return describe_token(v);
        else if constexpr (std::is_same_v<T, wire::join>)
          return describe_join(v);
        else if constexpr (std::is_same_v<T, wire::commit_token>)
          return describe_commit(v);
        else
          return describe_data(v);
      },
      *p);
  return s + strf(" (%zu B)", bytes.size());
}

}  // namespace chorus::sim
