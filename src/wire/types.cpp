#include "wire/types.hpp"

namespace chorus::wire {

const char* to_string(service s) noexcept {
  switch (s) {
    case service::unreliable: return "unreliable";
    case service::reliable: return "reliable";
    case service::fifo: return "fifo";
    case service::causal: return "causal";
    case service::agreed: return "agreed";
    case service::safe: return "safe";
    case service::recovery: return "recovery";
  }
  return "?";
}

std::string to_string(ring_id r) {
  return std::to_string(r.rep.value) + "." + std::to_string(r.counter);
}

}  // namespace chorus::wire
