/* The assertion of the C tests: CHECK(cond, printf-style message) counts a
 * pass or a failure, and prints the failure with its file and line. Each
 * test program is one translation unit, so the counters are static; its
 * main prints "N passed, N failed" last and exits non-zero on any failure. */
#ifndef SHMARRAY_TESTS_CHECK_H
#define SHMARRAY_TESTS_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (cond) {                                            \
      passed++;                                            \
    } else {                                               \
      failed++;                                            \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
    }                                                      \
  } while (0)

#endif /* SHMARRAY_TESTS_CHECK_H */
