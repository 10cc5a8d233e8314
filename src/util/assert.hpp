// assert.hpp — always-on assertions for bugs (never for bad input).
//
// CHORUS_ASSERT stays on in release builds: a broken invariant in a protocol engine must stop the
// process with its location rather than corrupt ordering silently. Input from peers and clients
// is never asserted on; decoders return results instead (STYLE.md, Errors).
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace chorus::util {

[[noreturn]] inline void assert_fail(const char* expr, const char* file, int line,
                                     const char* what) noexcept {
  std::fprintf(stderr, "CHORUS_ASSERT(%s) failed at %s:%d%s%s\n", expr, file, line,
               what[0] != '\0' ? ": " : "", what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace chorus::util

#define CHORUS_ASSERT(cond, ...)                                                          \
  do {                                                                                    \
    if (!(cond)) [[unlikely]]                                                             \
      ::chorus::util::assert_fail(#cond, __FILE__, __LINE__, "" __VA_ARGS__);             \
  } while (0)
