// bytes.hpp — little-endian byte writer and bounds-checked reader, plus `shared_bytes`, an
// immutable reference-counted byte buffer with cheap slices (zero-copy hand-off of received
// packets to deliveries).
//
// The reader never reads past its span: every get reports failure through `ok()` and returns 0
// once the input is exhausted, so a decoder checks once at the end of a fixed-size section.
// Thread-safety: writer/reader are single-owner; shared_bytes may be shared across threads for
// reading (its refcount is atomic, its contents immutable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "util/assert.hpp"

namespace chorus::util {

using byte_vector = std::vector<std::byte>;

class byte_writer {
 public:
  explicit byte_writer(byte_vector& out) : out_(out) {}

  void u8(std::uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
  void u16(std::uint16_t v) { put_le(v, 2); }
  void u32(std::uint32_t v) { put_le(v, 4); }
  void u64(std::uint64_t v) { put_le(v, 8); }
  void bytes(std::span<const std::byte> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  std::size_t size() const noexcept { return out_.size(); }
  // Overwrite a value written earlier at `at` (for counts known only after the body).
  void patch_u16(std::size_t at, std::uint16_t v) { patch_le(at, v, 2); }
  void patch_u32(std::size_t at, std::uint32_t v) { patch_le(at, v, 4); }

 private:
  void patch_le(std::size_t at, std::uint64_t v, std::size_t n) {
    CHORUS_ASSERT(at + n <= out_.size());
    for (std::size_t i = 0; i < n; ++i) out_[at + i] = static_cast<std::byte>(v >> (8 * i));
  }
  void put_le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::byte>(v >> (8 * i)));
  }
  byte_vector& out_;
};

class byte_reader {
 public:
  explicit byte_reader(std::span<const std::byte> in) : in_(in) {}

  std::uint8_t u8() noexcept { return static_cast<std::uint8_t>(get_le(1)); }
  std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(get_le(2)); }
  std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(get_le(4)); }
  std::uint64_t u64() noexcept { return get_le(8); }
  // The next `n` bytes as a view into the input, or an empty span (and !ok()) if short.
  std::span<const std::byte> bytes(std::size_t n) noexcept {
    if (!ok_ || remaining() < n) {
      ok_ = false;
      return {};
    }
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

  bool ok() const noexcept { return ok_; }
  std::size_t position() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }

 private:
  std::uint64_t get_le(std::size_t n) noexcept {
    if (!ok_ || remaining() < n) {
      ok_ = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// An immutable view into a shared, reference-counted byte buffer.
class shared_bytes {
 public:
  shared_bytes() = default;
  explicit shared_bytes(byte_vector v)
      : owner_(std::make_shared<const byte_vector>(std::move(v))),
        data_(owner_->data()),
        size_(owner_->size()) {}

  // A sub-view sharing ownership; `s` must lie inside this view.
  shared_bytes slice(std::span<const std::byte> s) const {
    CHORUS_ASSERT(s.empty() || (s.data() >= data_ && s.data() + s.size() <= data_ + size_));
    shared_bytes r;
    r.owner_ = owner_;
    r.data_ = s.data();
    r.size_ = s.size();
    return r;
  }

  std::span<const std::byte> span() const noexcept { return {data_, size_}; }
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  std::shared_ptr<const byte_vector> owner_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace chorus::util
