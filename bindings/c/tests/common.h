/* Helpers shared by the C test programs that write segments: removing what
 * a test directory holds, and running the program's read-only part under
 * valgrind. Each test program is one translation unit: these are static inline (a program may use either). */
#ifndef SHMARRAY_TESTS_COMMON_H
#define SHMARRAY_TESTS_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "shmarray.h"

/* Unlinks every segment of dir, then removes dir (empty by then, unless a
 * test left something that is not a segment). */
static inline void remove_test_dir(const char *dir) {
  shmarray_list_entry *entries = NULL;
  size_t count = 0;
  if (shmarray_list(dir, &entries, &count, NULL, 0) == SHMARRAY_OK) {
    for (size_t i = 0; i < count; i++) shmarray_unlink(entries[i].name, dir, NULL, 0);
    shmarray_list_free(entries);
  }
  rmdir(dir);
}

/* Runs `self --read-only dir` under valgrind (leaks and invalid reads are
 * errors): its status, or -1 if valgrind is not installed. Loading the
 * library starts its Go runtime, whose own stack copying valgrind flags now
 * and then: errors whose top frame is in the Go runtime are not ours and
 * are suppressed (a file written into dir, removed after). The writing
 * half cannot run under valgrind, so the read-only part writes nothing. */
static inline int run_read_only_under_valgrind(const char *self, const char *dir) {
  if (system("command -v valgrind >/dev/null 2>&1") != 0) {
    fprintf(stderr, "note: valgrind not installed; reading tests not run under it\n");
    return -1;
  }
  char supp[300], cmd[1200];
  snprintf(supp, sizeof supp, "%s/go.supp", dir);
  FILE *f = fopen(supp, "w");
  if (f) {
    fputs("{\n go-runtime-cond\n Memcheck:Cond\n fun:runtime.*\n}\n"
          "{\n go-runtime-value8\n Memcheck:Value8\n fun:runtime.*\n}\n", f);
    fclose(f);
  }
  snprintf(cmd, sizeof cmd,
           "valgrind --quiet --error-exitcode=9 --leak-check=full --show-possibly-lost=no "
           "--errors-for-leak-kinds=definite,indirect --suppressions='%s' '%s' --read-only '%s'",
           supp, self, dir);
  int rc = system(cmd);
  unlink(supp);
  return rc;
}

#endif /* SHMARRAY_TESTS_COMMON_H */
