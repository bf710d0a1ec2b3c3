/* The demo's C worker: attach the demo segment by name, compute what every
 * demo worker computes (sum of price, sum of qty, count of symbol == "ACME"),
 * print one JSON line, then stay attached until stdin closes so that the demo
 * can measure every worker's memory while all are alive.
 *
 *   demo-worker-c NAME [DIR] */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmarray.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int column(shmarray_segment *seg, const char *name, uint32_t type, shmarray_view *v,
                  int64_t *rows) {
  size_t i;
  shmarray_array_info info;
  if (shmarray_find_array(seg, name, &i) || shmarray_describe(seg, i, &info) || info.type != type ||
      shmarray_array_view(seg, i, v)) {
    fprintf(stderr, "demo segment has no %s column of the expected type\n", name);
    return 1;
  }
  *rows = info.length;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s NAME [DIR]\n", argv[0]);
    return 2;
  }
  char err[512];
  shmarray_segment *seg = NULL;
  double t0 = now_us();
  if (shmarray_attach(argv[1], argc > 2 ? argv[2] : NULL, &seg, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  double attach_us = now_us() - t0;
  shmarray_view price, qty, symbol;
  int64_t rows, qty_rows, sym_rows;
  if (column(seg, "price", SHMARRAY_TYPE_FLOAT64, &price, &rows) ||
      column(seg, "qty", SHMARRAY_TYPE_INT64, &qty, &qty_rows) ||
      column(seg, "symbol", SHMARRAY_TYPE_UTF8, &symbol, &sym_rows)) {
    shmarray_close(seg);
    return 1;
  }
  double price_sum = 0;
  int64_t qty_sum = 0, acme = 0;
  for (int64_t i = 0; i < rows; i++) price_sum += ((const double *)price.data)[i];
  for (int64_t i = 0; i < qty_rows; i++) qty_sum += ((const int64_t *)qty.data)[i];
  const int32_t *off = symbol.offsets;
  const char *text = symbol.data;
  for (int64_t i = 0; i < sym_rows; i++)
    if (off[i + 1] - off[i] == 4 && memcmp(text + off[i], "ACME", 4) == 0) acme++;
  printf("{\"worker\": \"c\", \"pid\": %d, \"attach_us\": %.1f, \"rows\": %lld, \"price_sum\": %.2f, "
         "\"qty_sum\": %lld, \"acme_count\": %lld}\n",
         (int)getpid(), attach_us, (long long)rows, price_sum, (long long)qty_sum, (long long)acme);
  fflush(stdout);
  char buf[64];
  while (fread(buf, 1, sizeof buf, stdin) > 0) {
  } /* hold the mapping until the demo closes our stdin */
  shmarray_close(seg);
  return 0;
}
