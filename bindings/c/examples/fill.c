/* fill — a C worker of a shared output (spec §10.6): it opens the output a
 * token names (made by Builder.output / shmarray_builder_output in the
 * process that builds the segment) and writes rows [LO, HI) of a float64
 * array, value i at row i, in place. Plain C inside libshmarray.so: no Go
 * runs, so this works in a forked child too.
 *
 *   fill TOKEN LO HI
 *
 * Prints "filled LO HI". The segment is published by its builder once
 * every writer has closed its output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmarray.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s TOKEN LO HI\n", argv[0]);
    return 2;
  }
  char err[1024];
  shmarray_output *out = NULL;
  int rc = shmarray_output_open(argv[1], &out, err, sizeof err);
  if (rc) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  size_t len = 0;
  double *rows = shmarray_output_data(out, &len);
  long long lo = atoll(argv[2]), hi = atoll(argv[3]);
  if (lo < 0 || hi < lo || (unsigned long long)hi > len / sizeof(double)) {
    fprintf(stderr, "rows [%lld, %lld) are outside the array's %zu rows\n", lo, hi,
            len / sizeof(double));
    shmarray_output_close(out);
    return 2;
  }
  for (long long i = lo; i < hi; i++) rows[i] = (double)i;
  shmarray_output_close(out); /* unmaps and unlocks: publish may proceed */
  printf("filled %lld %lld\n", lo, hi);
  return 0;
}
