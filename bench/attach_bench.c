/*
 * attach_bench — attach latency of existing segments from C, for `make bench`.
 *
 *   attach_bench DIR ROUNDS BATCH_MS NAME...
 *
 * Times shmarray_attach + shmarray_close of each named segment in DIR. Each
 * segment first gets a batch size calibrated so that one batch takes about
 * BATCH_MS milliseconds; then, ROUNDS times, one batch of every segment in
 * turn (interleaved, so machine noise hits every segment alike). Prints one
 * JSON object per segment on stdout:
 *
 *   {"name": "...", "ns_per_op": [round 1, round 2, ...]}
 *
 * bench/attach.py takes the median. Exit status 1 with a message on stderr
 * if an attach fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shmarray.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Attach and close `name` n times; returns ns per op, or -1 on error. */
static double batch(const char *dir, const char *name, long n) {
  char err[512];
  double t0 = now_ns();
  for (long i = 0; i < n; i++) {
    shmarray_segment *seg;
    if (shmarray_attach(name, dir, &seg, err, sizeof err) != SHMARRAY_OK) {
      fprintf(stderr, "attach_bench: %s\n", err);
      return -1;
    }
    shmarray_close(seg);
  }
  return (now_ns() - t0) / (double)n;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: attach_bench DIR ROUNDS BATCH_MS NAME...\n");
    return 2;
  }
  const char *dir = argv[1];
  int rounds = atoi(argv[2]);
  double batch_ns = atof(argv[3]) * 1e6;
  int count = argc - 4;
  char **names = argv + 4;
  if (rounds < 1 || batch_ns <= 0) {
    fprintf(stderr, "attach_bench: ROUNDS and BATCH_MS must be positive\n");
    return 2;
  }
  long *ops = calloc((size_t)count, sizeof *ops);
  double *ns = calloc((size_t)count * (size_t)rounds, sizeof *ns);
  if (ops == NULL || ns == NULL) {
    fprintf(stderr, "attach_bench: out of memory\n");
    return 1;
  }
  for (int s = 0; s < count; s++) { /* warm up, then size the batch */
    double per = batch(dir, names[s], 10);
    if (per < 0) {
      return 1;
    }
    ops[s] = (long)(batch_ns / (per > 1 ? per : 1)) + 1;
  }
  for (int r = 0; r < rounds; r++) {
    for (int s = 0; s < count; s++) {
      double per = batch(dir, names[s], ops[s]);
      if (per < 0) {
        return 1;
      }
      ns[(size_t)s * (size_t)rounds + (size_t)r] = per;
    }
  }
  for (int s = 0; s < count; s++) {
    printf("{\"name\": \"%s\", \"ops_per_batch\": %ld, \"ns_per_op\": [", names[s], ops[s]);
    for (int r = 0; r < rounds; r++) {
      printf("%s%.1f", r ? ", " : "", ns[(size_t)s * (size_t)rounds + (size_t)r]);
    }
    printf("]}\n");
  }
  free(ops);
  free(ns);
  return 0;
}
