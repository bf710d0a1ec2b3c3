/* writer — create a segment from C: two numeric columns and a string column.
 *
 *   writer NAME [ROWS] [DIR]
 *
 * The segment appears under NAME only when publish succeeds, complete. It
 * persists until removed (shmarray_unlink, or `rm` on the file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmarray.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s NAME [ROWS] [DIR]\n", argv[0]);
    return 2;
  }
  const char *name = argv[1];
  int64_t rows = argc > 2 ? atoll(argv[2]) : 1000;
  const char *dir = argc > 3 ? argv[3] : NULL;
  char err[512];
  int rc = 1;

  /* Column data in ordinary memory; the library copies it once. */
  int64_t *id = malloc(sizeof *id * (size_t)rows);
  double *x = malloc(sizeof *x * (size_t)rows);
  int32_t *offsets = malloc(sizeof *offsets * (size_t)(rows + 1));
  char *text = malloc((size_t)rows * 12 + 1);
  uint8_t *valid = calloc((size_t)(rows + 7) / 8, 1);
  if (!id || !x || !offsets || !text || !valid) {
    fprintf(stderr, "out of memory\n");
    goto out;
  }
  int32_t pos = 0;
  for (int64_t i = 0; i < rows; i++) {
    id[i] = i;
    x[i] = (double)i * 0.5;
    offsets[i] = pos;
    pos += sprintf(text + pos, "row%lld", (long long)i);
    if (i % 10 != 0) valid[i / 8] |= (uint8_t)(1u << (i % 8)); /* every 10th label is null */
  }
  offsets[rows] = pos;

  shmarray_builder *b = NULL;
  if (shmarray_create(name, dir, NULL, &b, err, sizeof err) != SHMARRAY_OK) {
    fprintf(stderr, "%s\n", err);
    goto out;
  }
  shmarray_array_spec ids = {.type = SHMARRAY_TYPE_INT64, .length = rows, .data = id};
  shmarray_array_spec xs = {.type = SHMARRAY_TYPE_FLOAT64, .length = rows, .data = x};
  shmarray_array_spec labels = {.type = SHMARRAY_TYPE_UTF8, .length = rows, .validity = valid,
                                .offsets = offsets, .data = text};
  if (shmarray_builder_add(b, "id", &ids, err, sizeof err) != SHMARRAY_OK ||
      shmarray_builder_add(b, "x", &xs, err, sizeof err) != SHMARRAY_OK ||
      shmarray_builder_add(b, "label", &labels, err, sizeof err) != SHMARRAY_OK) {
    fprintf(stderr, "%s\n", err);
    shmarray_builder_discard(b); /* nothing is left behind */
    goto out;
  }
  if (shmarray_builder_publish(b, err, sizeof err) != SHMARRAY_OK) { /* frees b */
    fprintf(stderr, "%s\n", err);
    goto out;
  }
  printf("published %s: %lld rows of id int64, x float64, label utf8\n", name, (long long)rows);
  rc = 0;
out:
  free(id);
  free(x);
  free(offsets);
  free(text);
  free(valid);
  return rc;
}
