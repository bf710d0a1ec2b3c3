/* The C reader runner of the conformance suite (conformance/README.md).
 *
 *   runner DIR NAME...
 *
 * For each segment NAME of DIR: shmarray_attach, shmarray_validate, then the
 * canonical dump of every array read through shmarray_describe,
 * shmarray_array_view and shmarray_metadata, with values decoded here from
 * the raw buffers (spec §7). Prints "case NAME", the dump or
 * "error CODE STAGE message", then "end". Plain C99 against shmarray.h; uses
 * only the reading half of the ABI, which never enters Go. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmarray.h"

static const char *const type_names[] = {
    "type(0)", "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32",
    "int64", "uint64", "float16", "float32", "float64", "utf8", "large_utf8",
    "binary", "large_binary", "fixed_size_binary", "date32", "date64",
    "timestamp", "duration"};
static const char *const unit_names[] = {"s", "ms", "us", "ns"};

static void put_text(const char *s, size_t n) {
  fputs("s:", stdout);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x21 && c <= 0x7E && c != '%')
      putchar(c);
    else
      printf("%%%02X", c);
  }
}

static void put_bytes(const uint8_t *p, size_t n) {
  fputs("b:", stdout);
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

static uint64_t load(const uint8_t *p, unsigned width) {
  uint64_t v = 0;
  for (unsigned k = width; k-- > 0;) v = v << 8 | p[k]; /* little-endian */
  return v;
}

static int64_t load_signed(const uint8_t *p, unsigned width) {
  uint64_t v = load(p, width);
  if (width < 8 && (v >> (8 * width - 1)) & 1) v |= ~(uint64_t)0 << (8 * width);
  return (int64_t)v;
}

static unsigned elem_width(const shmarray_array_info *a) {
  switch (a->type) {
  case SHMARRAY_TYPE_INT8: case SHMARRAY_TYPE_UINT8: return 1;
  case SHMARRAY_TYPE_INT16: case SHMARRAY_TYPE_UINT16: case SHMARRAY_TYPE_FLOAT16: return 2;
  case SHMARRAY_TYPE_INT32: case SHMARRAY_TYPE_UINT32: case SHMARRAY_TYPE_FLOAT32:
  case SHMARRAY_TYPE_DATE32: return 4;
  case SHMARRAY_TYPE_FIXED_SIZE_BINARY: return a->byte_width;
  default: return 8;
  }
}

/* One element of a fixed-width array, element index e (C order). */
static void put_elem(const shmarray_array_info *a, const shmarray_view *v, uint64_t e) {
  unsigned w = elem_width(a);
  const uint8_t *p = (const uint8_t *)v->data + e * w;
  switch (a->type) {
  case SHMARRAY_TYPE_UINT8: case SHMARRAY_TYPE_UINT16: case SHMARRAY_TYPE_UINT32:
  case SHMARRAY_TYPE_UINT64:
    printf("%" PRIu64, load(p, w));
    break;
  case SHMARRAY_TYPE_FLOAT16: case SHMARRAY_TYPE_FLOAT32: case SHMARRAY_TYPE_FLOAT64:
    printf("0x%0*" PRIx64, (int)(2 * w), load(p, w));
    break;
  case SHMARRAY_TYPE_FIXED_SIZE_BINARY:
    put_bytes(p, w);
    break;
  default: /* signed integers and the temporal types */
    printf("%" PRId64, load_signed(p, w));
  }
}

static int bit(const uint8_t *bm, uint64_t i) { return (bm[i >> 3] >> (i & 7)) & 1; }

static void dump_values(const shmarray_array_info *a, const shmarray_view *v) {
  uint64_t row = 1;
  for (uint32_t k = 1; k < a->ndim; k++) row *= (uint64_t)a->shape[k];
  for (int64_t i = 0; i < a->length; i++) {
    printf("v %" PRId64 " ", i);
    if (v->validity && !bit(v->validity, (uint64_t)i)) {
      puts("null");
      continue;
    }
    switch (a->type) {
    case SHMARRAY_TYPE_BOOL:
      fputs(bit(v->data, (uint64_t)i) ? "true" : "false", stdout);
      break;
    case SHMARRAY_TYPE_UTF8: case SHMARRAY_TYPE_LARGE_UTF8:
    case SHMARRAY_TYPE_BINARY: case SHMARRAY_TYPE_LARGE_BINARY: {
      /* The segment was fully validated: offsets are in range. */
      int large = a->type == SHMARRAY_TYPE_LARGE_UTF8 || a->type == SHMARRAY_TYPE_LARGE_BINARY;
      const uint8_t *offs = v->offsets;
      uint64_t start = large ? load(offs + 8 * i, 8) : load(offs + 4 * i, 4);
      uint64_t end = large ? load(offs + 8 * (i + 1), 8) : load(offs + 4 * (i + 1), 4);
      const uint8_t *d = (const uint8_t *)v->data + start;
      if (a->type == SHMARRAY_TYPE_UTF8 || a->type == SHMARRAY_TYPE_LARGE_UTF8)
        put_text((const char *)d, (size_t)(end - start));
      else
        put_bytes(d, (size_t)(end - start));
      break;
    }
    default:
      if (a->ndim > 1) {
        putchar('[');
        for (uint64_t k = 0; k < row; k++) {
          if (k) putchar(',');
          put_elem(a, v, (uint64_t)i * row + k);
        }
        putchar(']');
      } else {
        put_elem(a, v, (uint64_t)i);
      }
    }
    putchar('\n');
  }
}

static void put_metadata(shmarray_segment *seg, size_t owner) {
  size_t n = shmarray_metadata_count(seg, owner);
  for (size_t i = 0; i < n; i++) {
    const char *k, *val;
    if (shmarray_metadata(seg, owner, i, &k, &val) != SHMARRAY_OK) {
      puts("error INTERNAL dump shmarray_metadata failed");
      return;
    }
    fputs("metadata ", stdout);
    put_text(k, strlen(k));
    putchar(' ');
    put_text(val, strlen(val));
    putchar('\n');
  }
}

static void run(const char *dir, const char *name) {
  char err[512];
  shmarray_segment *seg;
  printf("case %s\n", name);
  int rc = shmarray_attach(name, dir, &seg, err, sizeof err);
  if (rc != SHMARRAY_OK) {
    printf("error %s attach %s\nend\n", shmarray_error_name(rc), err);
    return;
  }
  rc = shmarray_validate(seg, err, sizeof err);
  if (rc != SHMARRAY_OK) {
    printf("error %s validate %s\nend\n", shmarray_error_name(rc), err);
    shmarray_close(seg);
    return;
  }
  size_t count = shmarray_array_count(seg);
  printf("segment arrays=%zu metadata=%zu\n", count,
         shmarray_metadata_count(seg, SHMARRAY_SEGMENT_METADATA));
  uint8_t id[16];
  uint64_t version;
  if (shmarray_identity(seg, id, &version) != SHMARRAY_OK) {
    puts("error INTERNAL dump shmarray_identity failed\nend");
    shmarray_close(seg);
    return;
  }
  fputs("identity ", stdout);
  for (int k = 0; k < 16; k++) printf("%02x", id[k]);
  printf(" %" PRIu64 "\n", version);
  put_metadata(seg, SHMARRAY_SEGMENT_METADATA);
  for (size_t i = 0; i < count; i++) {
    shmarray_array_info a;
    shmarray_view v;
    if (shmarray_describe(seg, i, &a) != SHMARRAY_OK || shmarray_array_view(seg, i, &v) != SHMARRAY_OK ||
        a.type < 1 || a.type > 21) {
      puts("error INTERNAL dump describe or view failed");
      break;
    }
    printf("array %zu ", i);
    put_text(a.name, a.name_length);
    printf(" type=%s", type_names[a.type]);
    if (a.type == SHMARRAY_TYPE_TIMESTAMP || a.type == SHMARRAY_TYPE_DURATION)
      printf(" unit=%s", a.time_unit < 4 ? unit_names[a.time_unit] : "?");
    if (a.type == SHMARRAY_TYPE_TIMESTAMP) {
      fputs(" tz=", stdout);
      put_text(a.timezone, strlen(a.timezone));
    }
    if (a.type == SHMARRAY_TYPE_FIXED_SIZE_BINARY) printf(" width=%" PRIu32, a.byte_width);
    fputs(" shape=", stdout);
    for (uint32_t k = 0; k < a.ndim; k++) printf("%s%" PRId64, k ? "," : "", a.shape[k]);
    printf(" nulls=%" PRId64 " metadata=%zu\n", a.null_count, a.metadata_count);
    put_metadata(seg, i);
    dump_values(&a, &v);
  }
  puts("end");
  shmarray_close(seg);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: runner DIR NAME...\n", stderr);
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    run(argv[1], argv[i]);
    fflush(stdout);
  }
  return 0;
}
