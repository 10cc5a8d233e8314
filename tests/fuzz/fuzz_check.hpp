// fuzz_check.hpp — the one assertion the fuzz targets use: FUZZ_CHECK(cond) prints the failed
// condition with its location and traps, which libFuzzer reports as a crash and saves the input
// that caused it. Independent of CHORUS_ASSERT so that a harness check is never confused with a
// failed assertion inside the code under test.
// Thread-safety: stateless.
#pragma once

#include <cstdio>

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) [[unlikely]] {                                                            \
      std::fprintf(stderr, "FUZZ_CHECK(%s) failed at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::fflush(stderr);                                                                 \
      __builtin_trap();                                                                    \
    }                                                                                      \
  } while (0)
