// session_memory.cpp — see session_memory.hpp.
#include "shm/session_memory.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

namespace chorus::shm {
namespace {

util::status system_error(const char* what) {
  return {util::errc::system, std::string(what) + ": " + std::strerror(errno)};
}

util::result<std::byte*> map_shared(int fd, std::size_t bytes) {
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return system_error("mmap");
  return static_cast<std::byte*>(base);
}

}  // namespace

session_memory::~session_memory() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

util::result<session_memory::created> session_memory::create(std::size_t bytes) {
  int fd = ::memfd_create("chorus-session", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return system_error("memfd_create");
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    auto e = system_error("sizing the memory file");
    ::close(fd);
    return e;
  }
  auto base = map_shared(fd, bytes);
  if (!base) {
    ::close(fd);
    return base.error();
  }
  return created{session_memory(*base, bytes), fd};
}

util::result<session_memory> session_memory::map(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return system_error("fstat");
  if (st.st_size <= 0) return util::status{util::errc::malformed, "the memory file is empty"};
  const auto bytes = static_cast<std::size_t>(st.st_size);
  auto base = map_shared(fd, bytes);
  if (!base) return base.error();
  return session_memory(*base, bytes);
}

util::result<request_ring> request_ring::attach(int fd) {
  auto memory = session_memory::map(fd);
  ::close(fd);
  if (!memory) {
    return util::status{memory.error().code(),
                        "mapping the daemon's shared memory: " + memory.error().message()};
  }
  auto ring = wire::ring::producer::attach(memory->bytes());
  if (!ring) return ring.error();
  return request_ring{std::move(*memory), *ring};
}

void wake_all(std::atomic<std::uint32_t>& word) {
  ::syscall(SYS_futex, &word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void wait_while(std::atomic<std::uint32_t>& word, std::uint32_t seen,
                std::chrono::nanoseconds at_most) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(at_most);
  timespec slice{static_cast<time_t>(s.count()), static_cast<long>((at_most - s).count())};
  ::syscall(SYS_futex, &word, FUTEX_WAIT, seen, &slice, nullptr, 0);
}

ssize_t send_with_descriptor(int sock, std::span<const std::byte> bytes, int fd) {
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return ::sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

ssize_t receive_byte_with_descriptor(int sock, std::byte& b, int& fd) {
  fd = -1;
  iovec iov{&b, 1};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 4)> control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t r = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (r <= 0) return r;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int got = -1;
      std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (fd < 0) {
        fd = got;
      } else {
        ::close(got);  // one descriptor is expected; others are not kept open
      }
    }
  }
  return r;
}

}  // namespace chorus::shm
