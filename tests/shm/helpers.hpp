// helpers.hpp — what the chorus::shm tests share: unique region names removed at the end of a
// test, and anonymous shared memory for a test's own bookkeeping across fork().
#pragma once

#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "chorus/shm.hpp"

namespace shm_test {

namespace shm = chorus::shm;

// Shared memory for the tests' own bookkeeping. (AddressSanitizer keeps stale shadow for reused
// addresses; a fresh mapping is unpoisoned explicitly.)
inline void* shared_anonymous(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASAN_UNPOISON_MEMORY_REGION(p, bytes);
  return p;
}

inline std::string unique_name(const char* what) {
  return std::string("test-") + what + "-" + std::to_string(::getpid());
}

// Removes the region at the end of a test, whatever happened.
struct scoped_name {
  std::string name;
  explicit scoped_name(const char* what) : name(unique_name(what)) {
    (void)shm::region::remove(name);
  }
  ~scoped_name() { (void)shm::region::remove(name); }
};

}  // namespace shm_test
