#include "core/reassembly.hpp"

#include <algorithm>

namespace chorus::core {

reassembly::outcome reassembly::add(node_id origin, const wire::item& it,
                                    const util::shared_bytes& packet) {
  outcome r;
  auto found = partial_.find(origin);
  if (it.offset == 0) {
    if (found != partial_.end()) {  // the previous message never completed
      partial_.erase(found);
      r.error = true;
    }
    if (it.total_bytes > bytes_max_) {  // only a faulty peer sends one: never allocate it
      r.error = true;
      return r;
    }
    if (it.whole()) {
      r.message = packet.slice(it.data);
      return r;
    }
    partial p{it.id, util::byte_vector(it.total_bytes), 0};
    std::copy(it.data.begin(), it.data.end(), p.bytes.begin());
    p.filled = it.data.size();
    partial_.emplace(origin, std::move(p));
    return r;
  }
  if (found == partial_.end() || found->second.id != it.id || found->second.filled != it.offset ||
      found->second.bytes.size() != it.total_bytes) {
    if (found != partial_.end()) partial_.erase(found);
    r.error = true;
    return r;
  }
  partial& p = found->second;
  std::copy(it.data.begin(), it.data.end(), p.bytes.begin() + static_cast<std::ptrdiff_t>(p.filled));
  p.filled += it.data.size();
  if (p.filled == p.bytes.size()) {
    r.message = util::shared_bytes(std::move(p.bytes));
    partial_.erase(found);
  }
  return r;
}

}  // namespace chorus::core
