#include "core/send_queue.hpp"

#include <algorithm>

namespace chorus::core {

util::result<msg_id> send_queue::push(service svc, util::shared_bytes payload) {
  if (payload.size() > bytes_max_ - bytes_)
    return util::status(util::errc::would_block, "send queue full");
  bytes_ += payload.size();
  const msg_id id = next_id_;
  ++next_id_.value;
  queue_.push_back(pending{svc, id, std::move(payload), 0});
  return id;
}

std::size_t send_queue::pack(wire::data_packet_builder& b, std::size_t packet_bytes_max) {
  // Room for data in an otherwise empty packet.
  const std::size_t fresh_room = packet_bytes_max - wire::data_prefix_bytes - wire::item_header_bytes;
  std::size_t added = 0;
  while (!queue_.empty()) {
    if (b.size() + wire::item_header_bytes >= packet_bytes_max) break;
    const std::size_t room = packet_bytes_max - b.size() - wire::item_header_bytes;
    pending& m = queue_.front();
    const std::size_t left = m.payload.size() - m.sent;
    // Keep a small message whole: it would fit in a fresh packet but not in what is left here.
    if (left > room && m.sent == 0 && left <= fresh_room && added > 0) break;
    const std::size_t take = std::min(left, room);
    if (take == 0 && left > 0) break;
    wire::item it;
    it.svc = m.svc;
    it.id = m.id;
    it.total_bytes = static_cast<std::uint32_t>(m.payload.size());
    it.offset = static_cast<std::uint32_t>(m.sent);
    it.data = m.payload.span().subspan(m.sent, take);
    b.add(it);
    ++added;
    m.sent += take;
    bytes_ -= take;
    if (m.sent < m.payload.size()) break;  // the packet is full; the rest goes in the next one
    queue_.pop_front();
  }
  return added;
}

}  // namespace chorus::core
