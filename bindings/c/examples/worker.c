/* worker — attach a segment by name and sum one numeric column, as each of
 * many reader processes would. Nothing is copied: the column is read in
 * place from the shared pages.
 *
 *   worker NAME COLUMN [DIR]
 *
 * Prints "sum=<value> rows=<n> nulls=<k> attach_us=<microseconds>". Null rows
 * are skipped; an N-D column sums every element of its valid rows. Reading
 * is plain C inside libshmarray.so, so this also works in a child made by
 * fork(). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shmarray.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* IEEE half precision to double. */
static double half(uint16_t h) {
  int exp = (h >> 10) & 0x1F, frac = h & 0x3FF;
  double v = exp == 0 ? frac / 16777216.0                  /* subnormal: frac * 2^-24 */
             : exp == 31 ? (frac ? NAN : INFINITY)
                         : (1024 + frac) * (double)(1u << exp) / 33554432.0; /* 2^(exp-25) */
  return (h & 0x8000) ? -v : v;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s NAME COLUMN [DIR]\n", argv[0]);
    return 2;
  }
  char err[512];
  shmarray_segment *seg = NULL;
  double t0 = now_us();
  if (shmarray_attach(argv[1], argc > 3 ? argv[3] : NULL, &seg, err, sizeof err) != SHMARRAY_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  double attach_us = now_us() - t0;

  size_t index;
  shmarray_array_info info;
  shmarray_view view;
  if (shmarray_find_array(seg, argv[2], &index) != SHMARRAY_OK) {
    fprintf(stderr, "segment %s has no array called %s\n", argv[1], argv[2]);
    shmarray_close(seg);
    return 1;
  }
  shmarray_describe(seg, index, &info);
  shmarray_array_view(seg, index, &view);
  if (info.type < SHMARRAY_TYPE_INT8 || info.type > SHMARRAY_TYPE_FLOAT64) {
    fprintf(stderr, "array %s is not an integer or float column\n", argv[2]);
    shmarray_close(seg);
    return 1;
  }

  int64_t per_row = 1; /* elements per row: 1, or prod(shape[1:]) for N-D */
  for (uint32_t k = 1; k < info.ndim; k++) per_row *= info.shape[k];
  static const int width[] = {[SHMARRAY_TYPE_INT8] = 1, [SHMARRAY_TYPE_UINT8] = 1,
                              [SHMARRAY_TYPE_INT16] = 2, [SHMARRAY_TYPE_UINT16] = 2,
                              [SHMARRAY_TYPE_INT32] = 4, [SHMARRAY_TYPE_UINT32] = 4,
                              [SHMARRAY_TYPE_INT64] = 8, [SHMARRAY_TYPE_UINT64] = 8,
                              [SHMARRAY_TYPE_FLOAT16] = 2, [SHMARRAY_TYPE_FLOAT32] = 4,
                              [SHMARRAY_TYPE_FLOAT64] = 8};
  const uint8_t *data = view.data;
  uint64_t isum = 0; /* integers: exact, modulo 2^64 */
  double fsum = 0;
  int64_t nulls = 0;
  for (int64_t row = 0; row < info.length; row++) {
    if (view.validity && !((view.validity[row / 8] >> (row % 8)) & 1)) {
      nulls++;
      continue;
    }
    for (int64_t e = row * per_row; e < (row + 1) * per_row; e++) {
      const uint8_t *p = data + e * width[info.type];
      union { int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; uint32_t u32;
              int64_t i64; uint64_t u64; float f32; double f64; } v;
      memcpy(&v, p, (size_t)width[info.type]); /* little-endian, like the host */
      switch (info.type) {
      case SHMARRAY_TYPE_INT8: isum += (uint64_t)v.i8; break;
      case SHMARRAY_TYPE_UINT8: isum += v.u8; break;
      case SHMARRAY_TYPE_INT16: isum += (uint64_t)v.i16; break;
      case SHMARRAY_TYPE_UINT16: isum += v.u16; break;
      case SHMARRAY_TYPE_INT32: isum += (uint64_t)v.i32; break;
      case SHMARRAY_TYPE_UINT32: isum += v.u32; break;
      case SHMARRAY_TYPE_INT64: isum += (uint64_t)v.i64; break;
      case SHMARRAY_TYPE_UINT64: isum += v.u64; break;
      case SHMARRAY_TYPE_FLOAT16: fsum += half(v.u16); break;
      case SHMARRAY_TYPE_FLOAT32: fsum += v.f32; break;
      case SHMARRAY_TYPE_FLOAT64: fsum += v.f64; break;
      }
    }
  }

  if (info.type >= SHMARRAY_TYPE_FLOAT16)
    printf("sum=%.17g", fsum);
  else if (info.type == SHMARRAY_TYPE_UINT64)
    printf("sum=%llu", (unsigned long long)isum);
  else
    printf("sum=%lld", (long long)isum);
  printf(" rows=%lld nulls=%lld attach_us=%.1f\n", (long long)info.length, (long long)nulls,
         attach_us);
  shmarray_close(seg);
  return 0;
}
