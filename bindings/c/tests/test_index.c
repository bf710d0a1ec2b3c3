/* Tests of hash indexes in the C ABI (format 1.1, spec §7.8): building
 * (shmarray_builder_add_index), batch lookups of every key layout
 * (shmarray_lookup, shmarray_lookup_view), the structural and full checks
 * of an index against patched copies, and lookups in a child made by fork()
 * after this process used the Go writer. Prints "N passed, N failed" last;
 * exits non-zero on any failure. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmarray.h"
#include "check.h"
#include "common.h"

static char dir[256] = "/tmp/shmarray-index-XXXXXX";
static char err[512];

static size_t find(shmarray_segment *seg, const char *name) {
  size_t i = (size_t)-1;
  CHECK(shmarray_find_array(seg, name, &i) == SHMARRAY_OK, "find %s", name);
  return i;
}

/* ---- A segment with one index of each key kind --------------------------- */

static const char k_data[] = "abhéllo" "xyz";                 /* "a", "b", null, "héllo", "", "xyz" */
static const int32_t k_offsets[7] = {0, 1, 2, 2, 8, 8, 11};
static const uint8_t k_valid = 0x3B;                           /* slot 2 null */
static const int32_t n_values[5] = {-7, 42, 0, 2147483647, -2147483647 - 1};
static const char f_data[] = "abcde\0xyz";                     /* fixed width 3 */
static const int64_t lb_offsets[3] = {0, 2, 3};
static const uint8_t lb_data[3] = {0xff, 0x00, 0x01};
static const uint64_t u_values[3] = {UINT64_MAX, 5, 0};

static int add(shmarray_builder *b, const char *name, shmarray_array_spec spec) {
  int rc = shmarray_builder_add(b, name, &spec, err, sizeof err);
  if (!rc) rc = shmarray_builder_add_index(b, name, err, sizeof err);
  if (rc) fprintf(stderr, "%s: %s\n", name, err);
  return rc;
}

static int make_sample(const char *name) {
  shmarray_builder *b = NULL;
  int rc = shmarray_create(name, dir, NULL, &b, err, sizeof err);
  if (rc) return rc;
  if ((rc = add(b, "k", (shmarray_array_spec){.type = SHMARRAY_TYPE_UTF8, .length = 6,
                                              .validity = &k_valid, .offsets = k_offsets, .data = k_data})) ||
      (rc = add(b, "n", (shmarray_array_spec){.type = SHMARRAY_TYPE_INT32, .length = 5, .data = n_values})) ||
      (rc = add(b, "f", (shmarray_array_spec){.type = SHMARRAY_TYPE_FIXED_SIZE_BINARY, .byte_width = 3,
                                              .length = 3, .data = f_data})) ||
      (rc = add(b, "lb", (shmarray_array_spec){.type = SHMARRAY_TYPE_LARGE_BINARY, .length = 2,
                                               .offsets = lb_offsets, .data = lb_data})) ||
      (rc = add(b, "u", (shmarray_array_spec){.type = SHMARRAY_TYPE_UINT64, .length = 3, .data = u_values}))) {
    shmarray_builder_discard(b);
    return rc;
  }
  double x = 1.5;
  shmarray_array_spec xs = {.type = SHMARRAY_TYPE_FLOAT64, .length = 1, .data = &x};
  if ((rc = shmarray_builder_add(b, "x", &xs, err, sizeof err))) {
    shmarray_builder_discard(b);
    return rc;
  }
  return shmarray_builder_publish(b, err, sizeof err);
}

/* Runs a lookup and compares with want (n entries). */
static int lookup_is(shmarray_segment *seg, const char *array, shmarray_keys keys, const int64_t *want) {
  int64_t rows[16];
  int rc = shmarray_lookup(seg, find(seg, array), &keys, rows, err, sizeof err);
  if (rc) {
    fprintf(stderr, "lookup in %s: %s\n", array, err);
    return 0;
  }
  for (size_t i = 0; i < keys.count; i++)
    if (rows[i] != want[i]) {
      fprintf(stderr, "%s key %zu: row %lld, want %lld\n", array, i, (long long)rows[i], (long long)want[i]);
      return 0;
    }
  return 1;
}

static void test_lookups(shmarray_segment *seg) {
  CHECK(shmarray_has_index(seg, find(seg, "k")) == 1, "k is indexed");
  CHECK(shmarray_has_index(seg, find(seg, "x")) == 0, "x is not");
  CHECK(shmarray_has_index(seg, 99) == 0, "no array 99");

  /* Arrow-style strings; offsets need not start at 0; a null key. */
  const char q[] = "__xyzabhéllo" "nope";
  int32_t q32[7] = {2, 5, 6, 7, 13, 13, 17}; /* "xyz" "a" "b" "héllo" "" "nope" */
  uint8_t qvalid = 0x3F;
  int64_t want[] = {5, 0, 1, 3, 4, -1};
  CHECK(lookup_is(seg, "k", (shmarray_keys){.kind = SHMARRAY_KEYS_STRINGS32, .count = 6, .offsets = q32, .data = q, .data_length = 17}, want),
        "strings32");
  int64_t q64[7] = {2, 5, 6, 7, 13, 13, 17};
  CHECK(lookup_is(seg, "k", (shmarray_keys){.kind = SHMARRAY_KEYS_STRINGS64, .count = 6, .offsets = q64, .data = q, .data_length = 17}, want),
        "strings64");
  /* Bit 1 of 0x3F << 1, i.e. key 0 at bit 1: key 5 ("nope") is null; key 1 too. */
  uint8_t nulls[1] = {(uint8_t)(0x3D << 1)};
  int64_t want_nulls[] = {5, -1, 1, 3, 4, -1};
  CHECK(lookup_is(seg, "k", (shmarray_keys){.kind = SHMARRAY_KEYS_STRINGS32, .count = 6, .offsets = q32, .data = q, .data_length = 17,
                                            .validity = nulls, .validity_offset = 1}, want_nulls),
        "null keys (validity offset 1)");
  (void)qvalid;
  /* UTF-32, trailing NULs dropped, as NumPy 'U5' stores them. */
  uint32_t u32[4][5] = {{'h', 0xe9, 'l', 'l', 'o'}, {'a'}, {0}, {0xD800}};
  int64_t want_u32[] = {3, 0, 4, -1};
  CHECK(lookup_is(seg, "k", (shmarray_keys){.kind = SHMARRAY_KEYS_UTF32, .width = 5, .count = 4, .data = u32}, want_u32),
        "utf32");
  /* Fixed width against the fixed_size_binary array, and strings of other widths. */
  int64_t want_f[] = {1, 0, 2};
  CHECK(lookup_is(seg, "f", (shmarray_keys){.kind = SHMARRAY_KEYS_FIXED, .width = 3, .count = 3, .data = "de\0abcxyz"}, want_f),
        "fixed");
  int32_t fo[3] = {0, 2, 5};
  int64_t want_f2[] = {-1, 0};
  CHECK(lookup_is(seg, "f", (shmarray_keys){.kind = SHMARRAY_KEYS_STRINGS32, .count = 2, .offsets = fo, .data = "deabc", .data_length = 5}, want_f2),
        "fixed_size_binary: another width is not found");
  int32_t lo[4] = {0, 2, 3, 3};
  int64_t want_lb[] = {0, 1, -1};
  CHECK(lookup_is(seg, "lb", (shmarray_keys){.kind = SHMARRAY_KEYS_STRINGS32, .count = 3, .offsets = lo, .data = "\xff\x00\x01", .data_length = 3}, want_lb),
        "large_binary");
  /* Integers: by value, whatever the key type. */
  int64_t ni[] = {42, -7, 2147483647, -2147483648LL, 2147483648LL, 1, 0};
  int64_t want_n[] = {1, 0, 3, 4, -1, -1, 2};
  CHECK(lookup_is(seg, "n", (shmarray_keys){.kind = SHMARRAY_KEYS_INT64, .count = 7, .data = ni}, want_n), "int32 by int64");
  uint64_t nu[] = {42, UINT64_MAX - 6};
  int64_t want_nu[] = {1, -1};
  CHECK(lookup_is(seg, "n", (shmarray_keys){.kind = SHMARRAY_KEYS_UINT64, .count = 2, .data = nu}, want_nu),
        "uint64 2^64-7 is not int32 -7");
  uint64_t uu[] = {UINT64_MAX, 0, 5};
  int64_t want_uu[] = {0, 2, 1};
  CHECK(lookup_is(seg, "u", (shmarray_keys){.kind = SHMARRAY_KEYS_UINT64, .count = 3, .data = uu}, want_uu), "uint64");
  int64_t ui[] = {-1, 5};
  int64_t want_ui[] = {-1, 1};
  CHECK(lookup_is(seg, "u", (shmarray_keys){.kind = SHMARRAY_KEYS_INT64, .count = 2, .data = ui}, want_ui),
        "int64 -1 is not uint64 2^64-1");

  /* Errors. */
  int64_t rows[4];
  shmarray_keys ints = {.kind = SHMARRAY_KEYS_INT64, .count = 1, .data = ni};
  CHECK(shmarray_lookup(seg, find(seg, "k"), &ints, rows, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT &&
            strstr(err, "indexed by strings") != NULL,
        "integers against a string index: %s", err);
  CHECK(shmarray_lookup(seg, find(seg, "x"), &ints, rows, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT &&
            strstr(err, "no hash index") != NULL,
        "no index: %s", err);
  shmarray_keys bad = {.kind = 99, .count = 1, .data = ni};
  CHECK(shmarray_lookup(seg, find(seg, "n"), &bad, rows, NULL, 0) == SHMARRAY_INVALID_ARGUMENT, "unknown kind");
  int32_t back[2] = {3, 1};
  shmarray_keys backwards = {.kind = SHMARRAY_KEYS_STRINGS32, .count = 1, .offsets = back, .data = "abc", .data_length = 3};
  CHECK(shmarray_lookup(seg, find(seg, "k"), &backwards, rows, NULL, 0) == SHMARRAY_INVALID_ARGUMENT, "decreasing offsets");
  int32_t past[2] = {0, 4};
  shmarray_keys overrun = {.kind = SHMARRAY_KEYS_STRINGS32, .count = 1, .offsets = past, .data = "abc", .data_length = 3};
  CHECK(shmarray_lookup(seg, find(seg, "k"), &overrun, rows, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT &&
            strstr(err, "outside the 3 bytes of key data"),
        "offsets past the key data: %s", err);
  shmarray_keys none = {.kind = SHMARRAY_KEYS_INT64, .count = 0};
  CHECK(shmarray_lookup(seg, find(seg, "n"), &none, NULL, NULL, 0) == SHMARRAY_OK, "zero keys");

  /* The same through a view. */
  shmarray_index_view v;
  CHECK(shmarray_index_view_of(seg, find(seg, "k"), &v) == SHMARRAY_OK && v.slot_width == 4 && v.log2 == 4 &&
            v.length == 6,
        "view of k");
  CHECK(shmarray_index_view_of(seg, find(seg, "x"), &v) == SHMARRAY_INVALID_ARGUMENT, "no view of x");
  shmarray_index_view_of(seg, find(seg, "k"), &v);
  shmarray_keys sk = {.kind = SHMARRAY_KEYS_STRINGS32, .count = 6, .offsets = q32, .data = q, .data_length = 17};
  int64_t out[6];
  CHECK(shmarray_lookup_view(&v, &sk, out, err, sizeof err) == SHMARRAY_OK && memcmp(out, want, sizeof out) == 0,
        "lookup_view: %s", err);
  v.slot_width = 3;
  CHECK(shmarray_lookup_view(&v, &sk, out, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT, "bad view");
}

/* ---- Patched copies --------------------------------------------------------- */

static unsigned char *slurp(const char *name, size_t *n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*n);
  if (b && fread(b, 1, *n, f) != *n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  return b;
}

static void spill(const char *name, const unsigned char *b, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  fwrite(b, 1, n, f);
  fclose(f);
}

static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t crc32(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
  }
  return ~crc;
}

static void reseal(unsigned char *b) {
  uint64_t mo = get64(b + 32), ml = get64(b + 40);
  /* The whole header: 192 bytes from format 1.2 on (header_size). */
  size_t hs = (size_t)(b[12] | b[13] << 8 | b[14] << 16 | (uint32_t)b[15] << 24);
  put32(b + 120, 0);
  put32(b + 120, crc32(crc32(0, b, hs), b + mo, (size_t)ml));
}

/* Record of array 0 ("k") and its table. */
static unsigned char *rec0(unsigned char *b) { return b + get64(b + 48); }
static unsigned char *table0(unsigned char *b) { return b + get64(rec0(b) + 168); }

static int attach_code(const char *name) {
  shmarray_segment *seg = NULL;
  int rc = shmarray_attach(name, dir, &seg, err, sizeof err);
  shmarray_close(seg);
  return rc;
}

static int validate_code(const char *name) {
  shmarray_segment *seg = NULL;
  int rc = shmarray_attach(name, dir, &seg, err, sizeof err);
  if (rc) return -rc;
  rc = shmarray_validate(seg, err, sizeof err);
  shmarray_close(seg);
  return rc;
}

static void test_patched(void) {
  size_t n;
  unsigned char *base = slurp("sample", &n);
  CHECK(base != NULL, "read sample");
  if (!base) return;
  CHECK(base[10] == 2 && base[11] == 0, "minor version 2 (indexes came in 1.1; every 1.2 writer writes 2)");
  unsigned char *b = malloc(n);

  /* Structural (§11.2 step 9.5a): record fields, resealed. */
  memcpy(b, base, n);
  rec0(b)[185] = 2;
  reseal(b);
  spill("width2", b, n);
  CHECK(attach_code("width2") == SHMARRAY_BAD_SIZE && strstr(err, "slot width") != NULL, "slot width 2: %s", err);
  memcpy(b, base, n);
  rec0(b)[168] += 8;
  reseal(b);
  spill("misaligned", b, n);
  CHECK(attach_code("misaligned") == SHMARRAY_MISALIGNED, "misaligned index: %s", err);
  memcpy(b, base, n);
  rec0(b)[186] = 2;
  reseal(b);
  spill("full", b, n);
  CHECK(attach_code("full") == SHMARRAY_BAD_SIZE, "more than half full: %s", err);
  memcpy(b, base, n);
  b[10] = 0; /* minor 0: the index fields are reserved bytes */
  rec0(b)[185] = 2;
  reseal(b);
  spill("minor0", b, n);
  CHECK(attach_code("minor0") == SHMARRAY_OK, "minor 0 ignores the index fields: %s", err);
  shmarray_segment *seg = NULL;
  if (shmarray_attach("minor0", dir, &seg, err, sizeof err) == SHMARRAY_OK) {
    CHECK(shmarray_has_index(seg, 0) == 0, "no index in a 1.0 file");
    CHECK(shmarray_validate(seg, err, sizeof err) == SHMARRAY_OK, "validates: %s", err);
    shmarray_close(seg);
  }
  memcpy(b, base, n);
  rec0(b)[184] = 7; /* a kind from the future */
  reseal(b);
  spill("kind7", b, n);
  CHECK(validate_code("kind7") == SHMARRAY_OK, "unknown kind ignored: %s", err);

  /* Full (§11.3 step 5): the table is in the data area, no reseal needed.
   * Table of k ("a" "b" null "héllo" "" "xyz"): find a used and a free slot. */
  int used = -1, free_slot = -1;
  for (int s = 0; s < 16; s++) {
    uint32_t v = table0(base)[4 * s];
    if (v && used < 0) used = s;
    if (!v && free_slot < 0) free_slot = s;
  }
  memcpy(b, base, n);
  put32(table0(b) + 4 * free_slot, 7);
  spill("row7", b, n);
  CHECK(validate_code("row7") == SHMARRAY_OUT_OF_BOUNDS, "slot past the length: %s", err);
  memcpy(b, base, n);
  put32(table0(b) + 4 * free_slot, 3); /* the null row */
  spill("nullrow", b, n);
  CHECK(validate_code("nullrow") == SHMARRAY_CHECKSUM_MISMATCH && strstr(err, "which is null"),
        "a slot naming the null row: %s", err);
  memcpy(b, base, n);
  uint32_t moved = table0(b)[4 * used];
  put32(table0(b) + 4 * used, 0);
  put32(table0(b) + 4 * free_slot, moved);
  spill("moved", b, n);
  int rc = validate_code("moved");
  CHECK(rc == SHMARRAY_CHECKSUM_MISMATCH, "a key moved: %s", err);
  memcpy(b, base, n);
  for (int s = 0; s < 16; s++) put32(table0(b) + 4 * s, 1);
  spill("allone", b, n);
  CHECK(validate_code("allone") == SHMARRAY_BAD_SIZE, "all slots one row: %s", err);
  /* ... and lookups in it still end: S probes at most. */
  if (shmarray_attach("allone", dir, &seg, err, sizeof err) == SHMARRAY_OK) {
    int32_t o[2] = {0, 4};
    shmarray_keys k = {.kind = SHMARRAY_KEYS_STRINGS32, .count = 1, .offsets = o, .data = "nope", .data_length = 4};
    int64_t row = 0;
    CHECK(shmarray_lookup(seg, 0, &k, &row, err, sizeof err) == SHMARRAY_OK && row == -1, "hostile table: %s", err);
    shmarray_close(seg);
  }
  /* A duplicate key: "b" becomes "a" (data CRC off, so nothing else fails). */
  memcpy(b, base, n);
  b[get64(rec0(b) + 72) + 1] = 'a';
  rec0(b)[11] = 0;
  reseal(b);
  spill("dupkey", b, n);
  CHECK(validate_code("dupkey") == SHMARRAY_DUPLICATE_NAME && strstr(err, "key \"a\" appears at rows 0 and 1"),
        "duplicate key: %s", err);
  free(b);
  free(base);
}

/* ---- Building errors, many keys, fork ------------------------------------- */

static void test_build_errors(void) {
  shmarray_builder *b = NULL;
  CHECK(shmarray_create("dups", dir, NULL, &b, err, sizeof err) == SHMARRAY_OK, "create");
  int32_t o[5] = {0, 1, 4, 5, 8};
  shmarray_array_spec s = {.type = SHMARRAY_TYPE_UTF8, .length = 4, .offsets = o, .data = "xabcyabc"};
  CHECK(shmarray_builder_add(b, "k", &s, err, sizeof err) == SHMARRAY_OK, "add");
  CHECK(shmarray_builder_add_index(b, "k", err, sizeof err) == SHMARRAY_INVALID_ARGUMENT &&
            strstr(err, "key \"abc\" appears at rows 1 and 3") != NULL,
        "duplicate: %s", err);
  CHECK(shmarray_builder_add_index(b, "nope", err, sizeof err) == SHMARRAY_NOT_FOUND, "missing: %s", err);
  double x = 1;
  shmarray_array_spec xs = {.type = SHMARRAY_TYPE_FLOAT64, .length = 1, .data = &x};
  shmarray_builder_add(b, "x", &xs, err, sizeof err);
  CHECK(shmarray_builder_add_index(b, "x", err, sizeof err) == SHMARRAY_INVALID_ARGUMENT, "float: %s", err);
  CHECK(shmarray_builder_add_index(NULL, "x", NULL, 0) == SHMARRAY_INVALID_ARGUMENT, "NULL builder");
  shmarray_builder_discard(b);
}

static void test_many(void) {
  enum { N = 50000 };
  int64_t *v = malloc(N * sizeof *v);
  for (int i = 0; i < N; i++) v[i] = (int64_t)((uint64_t)i * 0x9E3779B97F4A7C15ull);
  shmarray_builder *b = NULL;
  shmarray_create("many", dir, NULL, &b, err, sizeof err);
  shmarray_array_spec s = {.type = SHMARRAY_TYPE_INT64, .length = N, .data = v};
  CHECK(shmarray_builder_add(b, "v", &s, err, sizeof err) == SHMARRAY_OK &&
            shmarray_builder_add_index(b, "v", err, sizeof err) == SHMARRAY_OK &&
            shmarray_builder_publish(b, err, sizeof err) == SHMARRAY_OK,
        "publish many: %s", err);
  shmarray_segment *seg = NULL;
  if (shmarray_attach("many", dir, &seg, err, sizeof err) != SHMARRAY_OK) return;
  CHECK(shmarray_validate(seg, err, sizeof err) == SHMARRAY_OK, "validate many: %s", err);
  int64_t *q = malloc(2 * N * sizeof *q), *rows = malloc(2 * N * sizeof *rows);
  for (int i = 0; i < N; i++) {
    q[2 * i] = v[N - 1 - i];
    q[2 * i + 1] = (int64_t)((uint64_t)(N + i) * 0x9E3779B97F4A7C15ull);
  }
  shmarray_keys k = {.kind = SHMARRAY_KEYS_INT64, .count = 2 * N, .data = q};
  int ok = shmarray_lookup(seg, 0, &k, rows, err, sizeof err) == SHMARRAY_OK;
  for (int i = 0; ok && i < N; i++) ok = rows[2 * i] == N - 1 - i && rows[2 * i + 1] == -1;
  CHECK(ok, "100000 lookups, half hits: %s", err);
  shmarray_close(seg);
  free(v);
  free(q);
  free(rows);
}

static void test_fork(void) {
  /* This process has run the Go writer; a forked child can still look up
   * (plain C) and is refused building (Go). */
  pid_t pid = fork();
  if (pid == 0) {
    shmarray_segment *seg = NULL;
    int fails = 0;
    if (shmarray_attach("sample", dir, &seg, NULL, 0) != SHMARRAY_OK) _exit(10);
    int64_t ni[] = {42, 5};
    int64_t rows[2];
    shmarray_keys k = {.kind = SHMARRAY_KEYS_INT64, .count = 2, .data = ni};
    size_t i;
    shmarray_find_array(seg, "n", &i);
    if (shmarray_lookup(seg, i, &k, rows, NULL, 0) != SHMARRAY_OK || rows[0] != 1 || rows[1] != -1) fails |= 1;
    shmarray_close(seg);
    shmarray_builder *b = NULL;
    if (shmarray_create("child", dir, NULL, &b, NULL, 0) != SHMARRAY_FORKED) fails |= 2;
    _exit(fails);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "lookup in a forked child (status %d)", status);
}

/* The reading tests, on the segment "sample" of dir: plain C only. */
static void read_tests(void) {
  shmarray_segment *seg = NULL;
  CHECK(shmarray_attach("sample", dir, &seg, err, sizeof err) == SHMARRAY_OK, "attach: %s", err);
  if (seg) {
    CHECK(shmarray_validate(seg, err, sizeof err) == SHMARRAY_OK, "validate: %s", err);
    test_lookups(seg);
    shmarray_close(seg);
  }
  test_patched();
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--read-only") == 0) {
    /* Run by the full test under valgrind: this process never enters Go
     * (under valgrind the Go writer could not reserve its address space). */
    snprintf(dir, sizeof dir, "%s", argv[2]);
    read_tests();
    printf("read-only: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
  }
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  int rc = make_sample("sample");
  CHECK(rc == SHMARRAY_OK, "make sample: %s", err);
  char cmd[1200];
  if (rc == SHMARRAY_OK) {
    read_tests();
    test_fork();
    rc = run_read_only_under_valgrind(argv[0], dir);
    if (rc >= 0) CHECK(rc == 0, "the reading tests under valgrind (status %d)", rc);
  }
  test_build_errors();
  test_many();
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
