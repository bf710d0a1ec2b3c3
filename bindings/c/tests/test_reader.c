/* Tests of the reading half of the C ABI: attach and its errors, array
 * descriptions, views, metadata, full validation, Arrow C Data and Stream
 * export (and that exports outlive shmarray_close), listing, unlinking, and
 * reading in a forked child.
 *
 * The segments are made here, in a private temporary directory: valid ones
 * through the writing API, broken ones by copying a valid file and patching
 * its bytes (resealing the header checksum where the test wants a later
 * check to fail). Prints "N passed, N failed" last; exits non-zero on any
 * failure.
 *
 * The fixtures are made by a second run of this program
 * (`test_reader --make-fixtures DIR`), so that this process never enters
 * Go: it then runs clean under valgrind (which does not follow exec by
 * default, and under which the Go writer could not reserve its 64 GiB of
 * address space), and it tests reading in a process where the writing half
 * was never used. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmarray.h"
#include "check.h"

static char dir[256] = "/tmp/shmarray-reader-XXXXXX";

#define NARRAYS 10

/* ---- Files ---------------------------------------------------------------- */

static char *path_of(const char *name) {
  static char buf[4][1024];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", dir, name);
  return p;
}

static unsigned char *read_file(const char *name, size_t *n) {
  FILE *f = fopen(path_of(name), "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)size + 1);
  if (b && fread(b, 1, (size_t)size, f) != (size_t)size) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *n = (size_t)size;
  return b;
}

static void write_file(const char *name, const void *b, size_t n) {
  FILE *f = fopen(path_of(name), "wb");
  if (!f || fwrite(b, 1, n, f) != n) {
    fprintf(stderr, "cannot write %s\n", path_of(name));
    exit(2);
  }
  fclose(f);
}

/* ---- Patching segment bytes (spec §4, §5.1, §9) --------------------------- */

static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
static uint32_t get32(const unsigned char *p) { return (uint32_t)(get64(p) & 0xFFFFFFFFu); }
static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* The bitwise CRC-32 of spec §9.1, independent of the library's. */
static uint32_t crc32(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
  }
  return ~crc;
}

static unsigned char *record(unsigned char *b, size_t i) {
  uint32_t record_size = (uint32_t)get64(b + 56) & 0xFFFFFFFFu;
  return b + get64(b + 48) + i * record_size;
}

/* Recomputes the data CRC of record i (validity, offsets, data). */
static void reseal_data(unsigned char *b, size_t i) {
  unsigned char *r = record(b, i);
  uint32_t c = 0;
  for (int k = 0; k < 3; k++) {
    uint64_t off = get64(r + 40 + 16 * k), len = get64(r + 48 + 16 * k);
    if (len) c = crc32(c, b + off, len);
  }
  put32(r + 96, c);
}

/* Recomputes the header checksum (spec §9.2). */
static void reseal(unsigned char *b) {
  uint32_t header_size = (uint32_t)(get64(b + 12) & 0xFFFFFFFFu);
  uint64_t meta = get64(b + 32), meta_len = get64(b + 40);
  put32(b + 120, 0);
  uint32_t c = crc32(0, b, header_size);
  put32(b + 120, crc32(c, b + meta, meta_len));
}

/* ---- Fixtures, made through the writing API ------------------------------- */

static const int64_t i64s[4] = {1, 2, 0, 4}; /* slot 2 is null */
static const uint8_t i64_valid = 0x0B;
static const double f64s[4] = {0.5, 1.5, 2.5, 3.5};
static const int32_t s_offsets[5] = {0, 1, 1, 7, 10};
static const char s_data[] = "a" "h\xc3\xa9llo" "xyz"; /* "a", "", "héllo", "xyz" */
static const uint8_t b_bits = 0x0D;                     /* 1, 0, 1, 1 */
static const int64_t ts[4] = {10, 20, 30, 40};
static const int32_t d32[4] = {0, 1, 2, 18000};
static const char fsb[] = "abcdefghijkl";
static int32_t cube[24];
static const int64_t cube_shape[3] = {4, 2, 3};
static const int64_t lb_offsets[5] = {0, 2, 2, 3, 5};
static const uint8_t lb_data[5] = {0, 1, 2, 3, 4};

/* The array names of "table", in directory order, and their Arrow formats. */
static const char *const names[NARRAYS] = {"i64", "f64", "s", "b", "ts", "dur", "d32", "fsb", "cube", "lb"};
static const char *const formats[NARRAYS] = {"l", "g", "u", "b", "tsu:UTC", "tDm", "tdD", "w:3", "+w:6", "Z"};

static int add(shmarray_builder *b, const char *name, shmarray_array_spec spec) {
  char err[512];
  int rc = shmarray_builder_add(b, name, &spec, err, sizeof err);
  if (rc) fprintf(stderr, "add %s: %s\n", name, err);
  return rc;
}

/* "table": ten arrays of four rows, one of each kind of layout, with
 * metadata on the segment and on "i64". */
static int make_table(const char *name) {
  char err[512];
  shmarray_builder *b = NULL;
  int rc = shmarray_create(name, dir, NULL, &b, err, sizeof err);
  if (rc) {
    fprintf(stderr, "create %s: %s\n", name, err);
    return rc;
  }
  for (int i = 0; i < 24; i++) cube[i] = i;
  const char *keys[] = {"unit"}, *vals[] = {"m"};
  const char *seg_keys[] = {"source", "rows"}, *seg_vals[] = {"test", "4"};
  if ((rc = add(b, "i64", (shmarray_array_spec){.type = SHMARRAY_TYPE_INT64, .length = 4,
                                                .validity = &i64_valid, .data = i64s,
                                                .metadata_keys = keys, .metadata_values = vals,
                                                .metadata_count = 1})) ||
      (rc = add(b, "f64", (shmarray_array_spec){.type = SHMARRAY_TYPE_FLOAT64, .length = 4, .data = f64s})) ||
      (rc = add(b, "s", (shmarray_array_spec){.type = SHMARRAY_TYPE_UTF8, .length = 4,
                                              .offsets = s_offsets, .data = s_data})) ||
      (rc = add(b, "b", (shmarray_array_spec){.type = SHMARRAY_TYPE_BOOL, .length = 4, .data = &b_bits})) ||
      (rc = add(b, "ts", (shmarray_array_spec){.type = SHMARRAY_TYPE_TIMESTAMP,
                                               .time_unit = SHMARRAY_UNIT_MICROSECOND,
                                               .timezone = "UTC", .length = 4, .data = ts})) ||
      (rc = add(b, "dur", (shmarray_array_spec){.type = SHMARRAY_TYPE_DURATION,
                                                .time_unit = SHMARRAY_UNIT_MILLISECOND,
                                                .length = 4, .data = ts})) ||
      (rc = add(b, "d32", (shmarray_array_spec){.type = SHMARRAY_TYPE_DATE32, .length = 4, .data = d32})) ||
      (rc = add(b, "fsb", (shmarray_array_spec){.type = SHMARRAY_TYPE_FIXED_SIZE_BINARY,
                                                .byte_width = 3, .length = 4, .data = fsb})) ||
      (rc = add(b, "cube", (shmarray_array_spec){.type = SHMARRAY_TYPE_INT32, .ndim = 3,
                                                 .shape = cube_shape, .length = 4, .data = cube})) ||
      (rc = add(b, "lb", (shmarray_array_spec){.type = SHMARRAY_TYPE_LARGE_BINARY, .length = 4,
                                               .offsets = lb_offsets, .data = lb_data})) ||
      (rc = shmarray_builder_set_metadata(b, seg_keys, seg_vals, 2, err, sizeof err))) {
    shmarray_builder_discard(b);
    return rc;
  }
  rc = shmarray_builder_publish(b, err, sizeof err);
  if (rc) fprintf(stderr, "publish %s: %s\n", name, err);
  return rc;
}

/* "ragged": arrays of different lengths (not a table), one of them an
 * empty utf8 array stored without an offsets buffer. */
static int make_ragged(const char *name) {
  char err[512];
  shmarray_builder *b = NULL;
  int rc = shmarray_create(name, dir, NULL, &b, err, sizeof err);
  if (rc) return rc;
  if ((rc = add(b, "x", (shmarray_array_spec){.type = SHMARRAY_TYPE_INT64, .length = 3, .data = ts})) ||
      (rc = add(b, "e", (shmarray_array_spec){.type = SHMARRAY_TYPE_UTF8, .length = 0}))) {
    shmarray_builder_discard(b);
    return rc;
  }
  return shmarray_builder_publish(b, err, sizeof err);
}

/* Copies "table" to name, patched by edit. */
static void patched(const char *name, void (*edit)(unsigned char *b, size_t *n)) {
  size_t n;
  unsigned char *b = read_file("table", &n);
  if (!b) {
    fprintf(stderr, "cannot read table\n");
    exit(2);
  }
  edit(b, &n);
  write_file(name, b, n);
  free(b);
}

static void cut_last_byte(unsigned char *b, size_t *n) { (void)b, (*n)--; }
static void bump_major(unsigned char *b, size_t *n) { (void)n, b[8] = 2; }
static void flip_meta_byte(unsigned char *b, size_t *n) { b[*n - 1] ^= 1; }
static void clear_sealed(unsigned char *b, size_t *n) { (void)n, b[24] = 0, reseal(b); }
static void bad_type(unsigned char *b, size_t *n) { (void)n, record(b, 0)[8] = 99, reseal(b); }
/* The creator fields, not resealed (listing does not check the CRC): the
 * test process (parent of the fixture maker) with an unknown start time is
 * alive; with another start time it is a reused pid, so dead. */
static void creator_alive(unsigned char *b, size_t *n) {
  (void)n, put32(b + 104, (uint32_t)getppid()), put64(b + 112, 0);
}
static void creator_reused(unsigned char *b, size_t *n) {
  (void)n, put32(b + 104, (uint32_t)getppid()), put64(b + 112, 1);
}
static void flip_data_byte(unsigned char *b, size_t *n) {
  (void)n;
  b[get64(record(b, 1) + 72)] ^= 1; /* f64's data: not covered by the header CRC */
}
static void bad_utf8(unsigned char *b, size_t *n) {
  (void)n;
  b[get64(record(b, 2) + 72) + 1] = 0xFF; /* "h" of "héllo" */
  reseal_data(b, 2);
  reseal(b);
}
static void bad_offsets(unsigned char *b, size_t *n) {
  (void)n;
  put32(b + get64(record(b, 2) + 56) + 8, 0); /* offsets 0, 1, 0, 7, 10 */
  reseal_data(b, 2);
  reseal(b);
}
static void bad_null_count(unsigned char *b, size_t *n) {
  (void)n;
  b[get64(record(b, 0) + 40)] = 0x0F; /* no nulls, but null_count says 1 */
  reseal_data(b, 0);
  reseal(b);
}

/* A key/value record belongs to one owner at most (spec §5.2): "f64" (array 1)
 * takes the range of "i64" (array 0), or the segment takes it. */
static void shared_kv(unsigned char *b, size_t *n) {
  (void)n;
  memcpy(record(b, 1) + 88, record(b, 0) + 88, 8); /* kv_first, kv_count */
  reseal(b);
}
static void shared_seg_kv(unsigned char *b, size_t *n) {
  (void)n;
  memcpy(b + 88, record(b, 0) + 88, 8); /* seg_kv_first, seg_kv_count */
  reseal(b);
}

/* The total length of the strings referred to must not exceed the string
 * table (spec §5.3); "table" refers to each of its strings once, so any
 * reference that repeats bytes of another takes the total over. */
static unsigned char *kv_record(unsigned char *b, uint32_t j) { return b + get64(b + 64) + 16 * (uint64_t)j; }
/* Every array name is the whole string table (ASCII, no NUL): in range, but
 * array 1's name takes the total past the table. "i64" (array 0) has its
 * metadata dropped, whose key would otherwise do it first. */
static void names_whole_strtab(unsigned char *b, size_t *n) {
  (void)n;
  uint32_t arrays = get32(b + 28), strtab_len = (uint32_t)get64(b + 80);
  put32(record(b, 0) + 92, 0);
  for (uint32_t i = 0; i < arrays; i++) {
    put32(record(b, i) + 0, 0);
    put32(record(b, i) + 4, strtab_len);
  }
  reseal(b);
}
/* The segment's first record ("rows": "4") takes the value of the second
 * ("source": "test"): 3 bytes more than the table holds. */
static void value_over_total(unsigned char *b, size_t *n) {
  (void)n;
  uint32_t first = get32(b + 88);
  memcpy(kv_record(b, first) + 8, kv_record(b, first + 1) + 8, 8);
  reseal(b);
}
/* The same record takes the value of "i64"'s record ("unit": "m"): as long
 * as "4", so the total is exactly strtab_length, which is allowed. */
static void value_at_total(unsigned char *b, size_t *n) {
  (void)n;
  uint32_t first = get32(b + 88);
  memcpy(kv_record(b, first) + 8, kv_record(b, get32(record(b, 0) + 88)) + 8, 8);
  reseal(b);
}

static void make_fixtures(void) {
  if (make_table("table") || make_ragged("ragged")) {
    fprintf(stderr, "cannot create the test segments\n");
    exit(2);
  }
  patched("trunc", cut_last_byte);
  patched("major", bump_major);
  patched("flip", flip_meta_byte);
  patched("unsealed", clear_sealed);
  patched("badtype", bad_type);
  patched("alive", creator_alive);
  patched("reused", creator_reused);
  patched("datacrc", flip_data_byte);
  patched("badutf8", bad_utf8);
  patched("badoffs", bad_offsets);
  patched("nullcount", bad_null_count);
  patched("sharedkv", shared_kv);
  patched("sharedsegkv", shared_seg_kv);
  patched("strnames", names_whole_strtab);
  patched("strvalue", value_over_total);
  patched("strlimit", value_at_total);
  patched(".hidden", bump_major);
  write_file("notes", "hello, this is not a segment\n", 29);
  write_file("tiny", "SHM", 3);
  if (symlink(path_of("table"), path_of("link")) || mkdir(path_of("subdir"), 0700) ||
      mkfifo(path_of("fifo"), 0600)) {
    perror("fixtures");
    exit(2);
  }
}

/* ---- Tests ---------------------------------------------------------------- */

static int attach_code(const char *name, const char *in) {
  shmarray_segment *seg = NULL;
  char err[512] = "";
  int rc = shmarray_attach(name, in, &seg, err, sizeof err);
  if (rc == SHMARRAY_OK) shmarray_close(seg);
  else if (strncmp(err, "shmarray: ", 10) != 0) fprintf(stderr, "odd message: %s\n", err);
  return rc;
}

static void test_versions_and_names(void) {
  /* The Makefile passes the file VERSION in: the library must say the same. */
  CHECK(strcmp(shmarray_version(), SHMARRAY_EXPECTED_VERSION) == 0, "version %s, VERSION says %s",
        shmarray_version(), SHMARRAY_EXPECTED_VERSION);
  CHECK(shmarray_format_version() == 0x10003u, "format version %x", shmarray_format_version());
  CHECK(strcmp(shmarray_error_name(SHMARRAY_OK), "OK") == 0, "name of 0");
  CHECK(strcmp(shmarray_error_name(SHMARRAY_NOT_FOUND), "NOT_FOUND") == 0, "name of 2");
  CHECK(strcmp(shmarray_error_name(SHMARRAY_INTERNAL), "INTERNAL") == 0, "name of 22");
  CHECK(strcmp(shmarray_error_name(99), "UNKNOWN") == 0, "name of 99");
  CHECK(strcmp(shmarray_error_name(-1), "UNKNOWN") == 0, "name of -1");
}

static void test_attach_errors(void) {
  struct {
    const char *name;
    int want;
  } cases[] = {
      {"missing", SHMARRAY_NOT_FOUND},
      {"a/b", SHMARRAY_INVALID_ARGUMENT},
      {"", SHMARRAY_INVALID_ARGUMENT},
      {".hidden", SHMARRAY_INVALID_ARGUMENT},
      {"a..b", SHMARRAY_INVALID_ARGUMENT},
      {"sp ace", SHMARRAY_INVALID_ARGUMENT},
      {"notes", SHMARRAY_NOT_A_SEGMENT},
      {"tiny", SHMARRAY_NOT_A_SEGMENT},
      {"link", SHMARRAY_NOT_A_SEGMENT},
      {"subdir", SHMARRAY_NOT_A_SEGMENT},
      {"fifo", SHMARRAY_NOT_A_SEGMENT},
      {"trunc", SHMARRAY_TRUNCATED},
      {"major", SHMARRAY_UNSUPPORTED_VERSION},
      {"flip", SHMARRAY_CHECKSUM_MISMATCH},
      {"reused", SHMARRAY_CHECKSUM_MISMATCH}, /* the creator fields are checksummed */
      {"unsealed", SHMARRAY_NOT_SEALED},
      {"badtype", SHMARRAY_BAD_TYPE},
      {"sharedkv", SHMARRAY_OUT_OF_BOUNDS},
      {"sharedsegkv", SHMARRAY_OUT_OF_BOUNDS},
      {"strnames", SHMARRAY_BAD_SIZE},
      {"strvalue", SHMARRAY_BAD_SIZE},
      {"strlimit", SHMARRAY_OK},
      {"table", SHMARRAY_OK},
      {"datacrc", SHMARRAY_OK}, /* attach never reads data pages */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = attach_code(cases[i].name, dir);
    CHECK(rc == cases[i].want, "attach %s: %s, want %s", cases[i].name, shmarray_error_name(rc),
          shmarray_error_name(cases[i].want));
  }
  char longname[202];
  memset(longname, 'x', 201);
  longname[201] = '\0';
  CHECK(attach_code(longname, dir) == SHMARRAY_INVALID_ARGUMENT, "201-byte name");
  longname[200] = '\0';
  CHECK(attach_code(longname, dir) == SHMARRAY_NOT_FOUND, "200-byte name is valid");
  CHECK(attach_code("table", "/nonexistent-dir") == SHMARRAY_NOT_FOUND, "missing directory");
  CHECK(attach_code("table", path_of("notes")) == SHMARRAY_NOT_FOUND, "directory is a file");

  shmarray_segment *seg = NULL;
  char err[512];
  CHECK(shmarray_attach("table", dir, NULL, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT, "out NULL");
  CHECK(shmarray_attach(NULL, dir, &seg, NULL, 0) == SHMARRAY_INVALID_ARGUMENT, "name NULL");
  CHECK(shmarray_attach("missing", dir, &seg, NULL, 0) == SHMARRAY_NOT_FOUND && seg == NULL,
        "err may be NULL; out untouched on error");
  CHECK(shmarray_attach("missing", dir, &seg, err, sizeof err) == SHMARRAY_NOT_FOUND &&
            strncmp(err, "shmarray: not found: ", 21) == 0 && strstr(err, "missing"),
        "message: %s", err);
  char small[8];
  CHECK(shmarray_attach("missing", dir, &seg, small, sizeof small) == SHMARRAY_NOT_FOUND &&
            strcmp(small, "shmarra") == 0,
        "truncated message: %s", small);
  CHECK(shmarray_attach("badtype", dir, &seg, err, sizeof err) == SHMARRAY_BAD_TYPE &&
            strstr(err, "bad type") && strstr(err, "99"),
        "message: %s", err);
  CHECK(shmarray_attach("sharedkv", dir, &seg, err, sizeof err) == SHMARRAY_OUT_OF_BOUNDS &&
            strstr(err, "array 1") && strstr(err, "already belongs"),
        "message: %s", err);
  CHECK(shmarray_attach("strnames", dir, &seg, err, sizeof err) == SHMARRAY_BAD_SIZE &&
            strstr(err, "array 1: name takes the referenced strings to ") &&
            strstr(err, "more than the"),
        "message: %s", err);
  CHECK(shmarray_attach("strvalue", dir, &seg, err, sizeof err) == SHMARRAY_BAD_SIZE &&
            strstr(err, "segment metadata: metadata value takes the referenced strings"),
        "message: %s", err);
  CHECK(shmarray_attach("strlimit", dir, &seg, err, sizeof err) == SHMARRAY_OK, "strlimit: %s",
        err);
  if (seg) {
    const char *k = NULL, *v = NULL;
    CHECK(shmarray_metadata(seg, SHMARRAY_SEGMENT_METADATA, 0, &k, &v) == SHMARRAY_OK &&
              strcmp(k, "rows") == 0 && strcmp(v, "m") == 0,
          "two references to one byte: %s = %s", k ? k : "?", v ? v : "?");
    shmarray_close(seg);
    seg = NULL;
  }
  /* The path is cleaned lexically before open, as Go's filepath.Join does:
   * "no-such-dir/.." vanishes instead of failing with ENOENT. */
  char via[600];
  snprintf(via, sizeof via, "%s/no-such-dir/..", dir);
  CHECK(attach_code("table", via) == SHMARRAY_OK, "directory with ..");
}

/* A refused segment name is shown as its user typed it, the offending
 * character named; the texts are those of format/names_test.go
 * TestSegmentNameMessages. */
static void test_name_messages(const char *dir) {
  static const struct {
    const char *name, *want;
  } cases[] = {
      {"prix-\xe2\x82\xac", "segment name \"prix-\xe2\x82\xac\" has the character '\xe2\x82\xac' "
                            "(U+20AC, not ASCII) at byte 5; use only letters, digits, '.', '_' and '-'"},
      {"a/b", "segment name \"a/b\" has the character '/' at byte 1; use only letters, digits, "
              "'.', '_' and '-'"},
      {"a\tb", "segment name \"a\\x09b\" has the byte 0x09 at byte 1; use only letters, digits, "
               "'.', '_' and '-'"},
      {"ab\xff", "segment name \"ab\\xff\" has the byte 0xff at byte 2; use only letters, digits, "
                 "'.', '_' and '-'"},
      {".x", "segment name \".x\" starts with '.', which is reserved for temporary files"},
      {"a..b", "segment name \"a..b\" contains \"..\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[512];
    shmarray_segment *seg = NULL;
    int rc = shmarray_attach(cases[i].name, dir, &seg, err, sizeof err);
    const char *msg = strstr(err, "segment name");
    CHECK(rc == SHMARRAY_INVALID_ARGUMENT && msg && strcmp(msg, cases[i].want) == 0,
          "name %zu: %s\n  want %s", i, err, cases[i].want);
  }
}

static void test_dir_resolution(void) {
  setenv("SHMARRAY_DIR", dir, 1);
  CHECK(attach_code("table", NULL) == SHMARRAY_OK, "SHMARRAY_DIR with dir NULL");
  CHECK(attach_code("table", "") == SHMARRAY_OK, "SHMARRAY_DIR with dir \"\"");
  setenv("SHMARRAY_DIR", "/nonexistent-dir", 1);
  CHECK(attach_code("table", dir) == SHMARRAY_OK, "the dir argument wins over SHMARRAY_DIR");
  setenv("SHMARRAY_DIR", "", 1);
  char name[64];
  snprintf(name, sizeof name, "shmarray-test-reader-%ld", (long)getpid());
  CHECK(attach_code(name, NULL) == SHMARRAY_NOT_FOUND, "empty SHMARRAY_DIR means /dev/shm");
  unsetenv("SHMARRAY_DIR");
}

static void test_describe(shmarray_segment *seg) {
  CHECK(shmarray_array_count(seg) == NARRAYS, "array count %zu", shmarray_array_count(seg));
  CHECK(shmarray_array_count(NULL) == 0, "count of NULL");
  for (size_t i = 0; i < NARRAYS; i++) {
    size_t at = 99;
    CHECK(shmarray_find_array(seg, names[i], &at) == SHMARRAY_OK && at == i, "find %s: %zu",
          names[i], at);
  }
  size_t at;
  CHECK(shmarray_find_array(seg, "nope", &at) == SHMARRAY_NOT_FOUND, "find nope");
  CHECK(shmarray_find_array(seg, "", &at) == SHMARRAY_NOT_FOUND, "find empty name");

  shmarray_array_info info;
  CHECK(shmarray_describe(seg, NARRAYS, &info) == SHMARRAY_INVALID_ARGUMENT, "info out of range");
  CHECK(shmarray_describe(seg, 0, &info) == SHMARRAY_OK, "info i64");
  CHECK(strcmp(info.name, "i64") == 0 && info.name_length == 3 && info.type == SHMARRAY_TYPE_INT64 &&
            info.length == 4 && info.null_count == 1 && info.ndim == 1 && info.shape[0] == 4 &&
            info.shape[1] == 0 && strcmp(info.timezone, "") == 0 && info.metadata_count == 1,
        "info of i64");
  shmarray_describe(seg, 4, &info);
  CHECK(info.type == SHMARRAY_TYPE_TIMESTAMP && info.time_unit == SHMARRAY_UNIT_MICROSECOND &&
            strcmp(info.timezone, "UTC") == 0,
        "info of ts");
  shmarray_describe(seg, 5, &info);
  CHECK(info.type == SHMARRAY_TYPE_DURATION && info.time_unit == SHMARRAY_UNIT_MILLISECOND, "dur");
  shmarray_describe(seg, 7, &info);
  CHECK(info.type == SHMARRAY_TYPE_FIXED_SIZE_BINARY && info.byte_width == 3, "info of fsb");
  shmarray_describe(seg, 8, &info);
  CHECK(info.type == SHMARRAY_TYPE_INT32 && info.ndim == 3 && info.length == 4 &&
            info.shape[0] == 4 && info.shape[1] == 2 && info.shape[2] == 3 && info.shape[3] == 0,
        "info of cube");

  shmarray_view v;
  CHECK(shmarray_array_view(seg, NARRAYS, &v) == SHMARRAY_INVALID_ARGUMENT, "view out of range");
  shmarray_array_view(seg, 0, &v);
  const int64_t *iv = v.data;
  CHECK(v.validity && v.validity_length >= 1 && (v.validity[0] & 0x0F) == 0x0B && !v.offsets &&
            v.data_length >= 32 && iv[0] == 1 && iv[1] == 2 && iv[3] == 4,
        "view of i64");
  shmarray_array_view(seg, 1, &v);
  CHECK(!v.validity && ((const double *)v.data)[3] == 3.5, "view of f64 (no bitmap: no nulls)");
  shmarray_array_view(seg, 2, &v);
  const int32_t *so = v.offsets;
  CHECK(v.offsets_length >= 20 && so[0] == 0 && so[3] == 7 && so[4] == 10 && v.data_length >= 10 &&
            memcmp((const char *)v.data + so[2], "h\xc3\xa9llo", 6) == 0,
        "view of s");
  shmarray_array_view(seg, 3, &v);
  CHECK(v.data_length >= 1 && (((const uint8_t *)v.data)[0] & 0x0F) == 0x0D, "view of b");
  shmarray_array_view(seg, 8, &v);
  CHECK(v.data_length >= 96 && ((const int32_t *)v.data)[23] == 23, "view of cube");
  shmarray_array_view(seg, 9, &v);
  CHECK(((const int64_t *)v.offsets)[4] == 5 && ((const uint8_t *)v.data)[4] == 4, "view of lb");

  const char *k, *val;
  CHECK(shmarray_metadata_count(seg, 0) == 1 && shmarray_metadata_count(seg, 1) == 0 &&
            shmarray_metadata_count(seg, NARRAYS) == 0,
        "array metadata counts");
  CHECK(shmarray_metadata(seg, 0, 0, &k, &val) == SHMARRAY_OK && strcmp(k, "unit") == 0 &&
            strcmp(val, "m") == 0,
        "metadata of i64");
  CHECK(shmarray_metadata(seg, 0, 1, &k, &val) == SHMARRAY_INVALID_ARGUMENT, "metadata out of range");
  CHECK(shmarray_metadata(seg, 1, 0, &k, &val) == SHMARRAY_INVALID_ARGUMENT, "f64 has none");
  CHECK(shmarray_metadata_count(seg, SHMARRAY_SEGMENT_METADATA) == 2, "segment metadata count");
  /* The writer stores segment keys sorted. */
  CHECK(shmarray_metadata(seg, SHMARRAY_SEGMENT_METADATA, 0, &k, &val) == SHMARRAY_OK &&
            strcmp(k, "rows") == 0 && strcmp(val, "4") == 0,
        "segment metadata 0: %s", k);
  CHECK(shmarray_metadata(seg, SHMARRAY_SEGMENT_METADATA, 1, &k, &val) == SHMARRAY_OK &&
            strcmp(k, "source") == 0 && strcmp(val, "test") == 0,
        "segment metadata 1");
  CHECK(shmarray_metadata(seg, SHMARRAY_SEGMENT_METADATA, 2, &k, &val) == SHMARRAY_INVALID_ARGUMENT,
        "segment metadata out of range");
}

static void test_validate(shmarray_segment *seg) {
  char err[512];
  CHECK(shmarray_validate(seg, err, sizeof err) == SHMARRAY_OK, "validate table: %s", err);
  struct {
    const char *name;
    int want;
  } cases[] = {
      {"datacrc", SHMARRAY_CHECKSUM_MISMATCH},
      {"badutf8", SHMARRAY_BAD_UTF8},
      {"badoffs", SHMARRAY_BAD_OFFSETS},
      {"nullcount", SHMARRAY_BAD_SIZE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    shmarray_segment *s = NULL;
    int rc = shmarray_attach(cases[i].name, dir, &s, err, sizeof err);
    CHECK(rc == SHMARRAY_OK, "attach %s: %s", cases[i].name, err);
    if (rc) continue;
    rc = shmarray_validate(s, err, sizeof err);
    CHECK(rc == cases[i].want, "validate %s: %s (%s)", cases[i].name, shmarray_error_name(rc), err);
    shmarray_close(s);
  }
}

/* The value of key in Arrow C metadata (int32 count, then int32 length and
 * bytes of each key and value), or NULL. */
static const char *meta_value(const char *m, const char *key, char *out, size_t n) {
  if (!m) return NULL;
  int32_t count, len;
  memcpy(&count, m, 4);
  m += 4;
  for (int32_t i = 0; i < count; i++) {
    memcpy(&len, m, 4);
    int match = (size_t)len == strlen(key) && memcmp(m + 4, key, (size_t)len) == 0;
    m += 4 + len;
    memcpy(&len, m, 4);
    if (match) {
      snprintf(out, n, "%.*s", (int)len, m + 4);
      return out;
    }
    m += 4 + len;
  }
  return NULL;
}

static void test_export_array(shmarray_segment *seg) {
  char err[512], buf[256];
  for (size_t i = 0; i < NARRAYS; i++) {
    struct ArrowArray arr;
    struct ArrowSchema sch;
    int rc = shmarray_export_array(seg, i, &arr, &sch, err, sizeof err);
    CHECK(rc == SHMARRAY_OK, "export %s: %s", names[i], err);
    if (rc) continue;
    shmarray_view v;
    shmarray_array_view(seg, i, &v);
    CHECK(strcmp(sch.format, formats[i]) == 0, "format of %s: %s", names[i], sch.format);
    CHECK(strcmp(sch.name, names[i]) == 0 && sch.flags == ARROW_FLAG_NULLABLE && !sch.dictionary,
          "field of %s", names[i]);
    CHECK(arr.length == 4 && arr.offset == 0 && arr.null_count == (i == 0 ? 1 : 0) && !arr.dictionary,
          "array of %s", names[i]);
    CHECK(arr.buffers[0] == v.validity, "validity of %s", names[i]);
    if (i == 8) { /* cube: fixed_shape_tensor over fixed_size_list<int32>[6] */
      CHECK(arr.n_buffers == 1 && arr.n_children == 1 && sch.n_children == 1, "cube layout");
      struct ArrowArray *c = arr.children[0];
      CHECK(strcmp(sch.children[0]->format, "i") == 0 && strcmp(sch.children[0]->name, "item") == 0,
            "cube child field");
      CHECK(c->length == 24 && c->null_count == 0 && c->n_buffers == 2 && !c->buffers[0] &&
                c->buffers[1] == v.data,
            "cube child array");
      CHECK(meta_value(sch.metadata, "ARROW:extension:name", buf, sizeof buf) &&
                strcmp(buf, "arrow.fixed_shape_tensor") == 0,
            "cube extension name");
      CHECK(meta_value(sch.metadata, "ARROW:extension:metadata", buf, sizeof buf) &&
                strcmp(buf, "{\"shape\":[2,3]}") == 0,
            "cube extension metadata: %s", buf);
    } else if (i == 2 || i == 9) { /* variable length */
      CHECK(arr.n_buffers == 3 && arr.buffers[1] == v.offsets && arr.buffers[2] == v.data &&
                arr.n_children == 0,
            "buffers of %s", names[i]);
    } else {
      CHECK(arr.n_buffers == 2 && arr.buffers[1] == v.data && arr.n_children == 0,
            "buffers of %s", names[i]);
    }
    if (i == 0)
      CHECK(meta_value(sch.metadata, "unit", buf, sizeof buf) && strcmp(buf, "m") == 0,
            "field metadata of i64");
    if (i == 1) CHECK(sch.metadata == NULL, "no metadata: NULL");
    sch.release(&sch);
    arr.release(&arr);
    CHECK(sch.release == NULL && arr.release == NULL, "release marks released");
  }
  struct ArrowArray arr;
  struct ArrowSchema sch;
  CHECK(shmarray_export_array(seg, NARRAYS, &arr, &sch, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "export out of range");
  CHECK(shmarray_export_array(seg, 0, NULL, &sch, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "export to NULL");
}

static void test_export_stream(shmarray_segment *seg) {
  char err[512], buf[64];
  struct ArrowArrayStream st;
  CHECK(shmarray_export_stream(seg, &st, err, sizeof err) == SHMARRAY_OK, "export stream: %s", err);
  struct ArrowSchema sch;
  CHECK(st.get_schema(&st, &sch) == 0, "get_schema");
  CHECK(strcmp(sch.format, "+s") == 0 && sch.n_children == NARRAYS, "struct schema");
  for (int i = 0; i < NARRAYS; i++)
    CHECK(strcmp(sch.children[i]->name, names[i]) == 0 &&
              strcmp(sch.children[i]->format, formats[i]) == 0,
          "stream field %d", i);
  CHECK(meta_value(sch.metadata, "source", buf, sizeof buf) && strcmp(buf, "test") == 0,
        "schema metadata");
  struct ArrowArray batch;
  CHECK(st.get_next(&st, &batch) == 0 && batch.release, "get_next");
  shmarray_view v;
  shmarray_array_view(seg, 1, &v);
  CHECK(batch.length == 4 && batch.null_count == 0 && batch.n_buffers == 1 && !batch.buffers[0] &&
            batch.n_children == NARRAYS && batch.children[1]->buffers[1] == v.data,
        "batch");
  struct ArrowArray end;
  CHECK(st.get_next(&st, &end) == 0 && end.release == NULL, "end of stream");
  CHECK(st.get_last_error(&st) == NULL, "no error");
  st.release(&st);
  CHECK(st.release == NULL, "stream released");
  /* The batch and schema outlive the stream. */
  CHECK(((const double *)batch.children[1]->buffers[1])[2] == 2.5, "batch after stream release");
  batch.release(&batch);
  sch.release(&sch);

  shmarray_segment *ragged = NULL;
  CHECK(shmarray_attach("ragged", dir, &ragged, err, sizeof err) == SHMARRAY_OK, "attach ragged");
  if (!ragged) return;
  CHECK(shmarray_export_stream(ragged, &st, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "arrays of different lengths are not a stream");
  struct ArrowArray arr;
  CHECK(shmarray_export_array(ragged, 1, &arr, &sch, err, sizeof err) == SHMARRAY_OK, "export e");
  CHECK(arr.length == 0 && arr.n_buffers == 3 && arr.buffers[1] &&
            ((const int32_t *)arr.buffers[1])[0] == 0,
        "empty utf8 gets one zero offset");
  arr.release(&arr);
  sch.release(&sch);
  shmarray_close(ragged);
}

static void *release_in_thread(void *p) {
  struct ArrowArray *arr = p;
  arr->release(arr);
  return NULL;
}

static void test_outlive_close(void) {
  char err[512];
  shmarray_segment *seg = NULL;
  CHECK(shmarray_attach("table", dir, &seg, err, sizeof err) == SHMARRAY_OK, "attach: %s", err);
  if (!seg) return;
  struct ArrowArray arr, cube;
  struct ArrowSchema sch, cube_sch;
  struct ArrowArrayStream st;
  CHECK(shmarray_export_array(seg, 0, &arr, &sch, err, sizeof err) == SHMARRAY_OK, "export i64");
  CHECK(shmarray_export_array(seg, 8, &cube, &cube_sch, err, sizeof err) == SHMARRAY_OK, "export cube");
  CHECK(shmarray_export_stream(seg, &st, err, sizeof err) == SHMARRAY_OK, "export stream");
  shmarray_close(seg); /* the exports keep the mapping */

  CHECK(((const int64_t *)arr.buffers[1])[3] == 4 && strcmp(sch.name, "i64") == 0,
        "array readable after close");
  /* A consumer may move a child out and release the parent. */
  struct ArrowArray child = *cube.children[0];
  cube.children[0]->release = NULL;
  cube.release(&cube);
  CHECK(((const int32_t *)child.buffers[1])[23] == 23, "moved child readable");
  child.release(&child);
  cube_sch.release(&cube_sch);

  struct ArrowSchema ss;
  struct ArrowArray batch;
  CHECK(st.get_schema(&st, &ss) == 0 && st.get_next(&st, &batch) == 0, "stream after close");
  CHECK(strcmp(ss.children[2]->name, "s") == 0 &&
            memcmp((const char *)batch.children[2]->buffers[2] + 1, "h\xc3\xa9llo", 6) == 0,
        "stream data after close");
  st.release(&st);
  ss.release(&ss);
  batch.release(&batch);

  sch.release(&sch);
  pthread_t t; /* the last reference may go on any thread */
  CHECK(pthread_create(&t, NULL, release_in_thread, &arr) == 0 && pthread_join(t, NULL) == 0,
        "release in a thread");
  CHECK(arr.release == NULL, "released in the thread");
}

static int cmp_names(const shmarray_list_entry *e, size_t n, const char *const *want, size_t nwant) {
  if (n != nwant) return 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(e[i].name, want[i]) != 0) return 0;
  return 1;
}

static const shmarray_list_entry *entry(const shmarray_list_entry *e, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(e[i].name, name) == 0) return &e[i];
  return NULL;
}

static void test_list(void) {
  static const char *const want[] = {"alive",     "badoffs", "badtype", "badutf8", "datacrc",
                                     "flip",      "major",   "nullcount", "ragged", "reused",
                                     "sharedkv",  "sharedsegkv", "strlimit", "strnames",
                                     "strvalue", "table", "trunc", "unsealed"};
  shmarray_list_entry *e = NULL;
  size_t n = 0;
  char err[512];
  CHECK(shmarray_list(dir, &e, &n, err, sizeof err) == SHMARRAY_OK, "list: %s", err);
  CHECK(cmp_names(e, n, want, sizeof want / sizeof want[0]),
        "listed %zu entries; non-segments, links, directories, FIFOs and .names skipped", n);
  const shmarray_list_entry *t = entry(e, n, "table");
  struct stat st;
  stat(path_of("table"), &st);
  CHECK(t && t->status == SHMARRAY_OK && t->array_count == NARRAYS && t->size == st.st_size &&
            t->creator_pid != 0 && t->creator_pid != (uint32_t)getpid() && t->creator_alive == 0 &&
            t->ephemeral == 0 && t->created_ns > 0,
        "entry of table (its creator, the fixture maker, has exited)");
  const shmarray_list_entry *x = entry(e, n, "alive");
  CHECK(x && x->creator_pid == (uint32_t)getpid() && x->creator_alive == 1,
        "a running creator with an unknown start time is alive");
  x = entry(e, n, "reused");
  CHECK(x && x->creator_pid == (uint32_t)getpid() && x->creator_alive == 0,
        "a different start time means the pid was reused");
  x = entry(e, n, "major");
  CHECK(x && x->status == SHMARRAY_UNSUPPORTED_VERSION && x->array_count == 0, "entry of major");
  x = entry(e, n, "trunc");
  CHECK(x && x->status == SHMARRAY_TRUNCATED, "entry of trunc");
  x = entry(e, n, "unsealed");
  CHECK(x && x->status == SHMARRAY_NOT_SEALED, "entry of unsealed");
  x = entry(e, n, "flip");
  CHECK(x && x->status == SHMARRAY_OK, "listing reads the header only");
  shmarray_list_free(e);
  CHECK(shmarray_list("/nonexistent-dir", &e, &n, err, sizeof err) == SHMARRAY_NOT_FOUND,
        "list a missing directory");
  shmarray_list_free(NULL);
}

static void test_unlink(void) {
  char err[512];
  CHECK(shmarray_unlink("a/b", dir, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT, "unlink a/b");
  CHECK(shmarray_unlink("missing", dir, err, sizeof err) == SHMARRAY_NOT_FOUND, "unlink missing");
  CHECK(shmarray_unlink("notes", dir, err, sizeof err) == SHMARRAY_NOT_A_SEGMENT &&
            access(path_of("notes"), F_OK) == 0,
        "a file that is not a segment is not removed");
  CHECK(shmarray_unlink("tiny", dir, err, sizeof err) == SHMARRAY_NOT_A_SEGMENT, "unlink tiny");
  CHECK(shmarray_unlink("link", dir, err, sizeof err) == SHMARRAY_NOT_A_SEGMENT, "unlink link");
  CHECK(shmarray_unlink("fifo", dir, err, sizeof err) == SHMARRAY_NOT_A_SEGMENT, "unlink fifo");

  shmarray_segment *seg = NULL;
  CHECK(shmarray_attach("ragged", dir, &seg, err, sizeof err) == SHMARRAY_OK, "attach ragged");
  CHECK(shmarray_unlink("ragged", dir, err, sizeof err) == SHMARRAY_OK, "unlink ragged: %s", err);
  CHECK(attach_code("ragged", dir) == SHMARRAY_NOT_FOUND, "gone after unlink");
  if (seg) {
    shmarray_view v;
    shmarray_array_view(seg, 0, &v);
    CHECK(((const int64_t *)v.data)[2] == 30, "attached readers keep reading");
    shmarray_close(seg);
  }
  CHECK(shmarray_unlink("major", dir, err, sizeof err) == SHMARRAY_OK, "any file with the magic");
}

static void test_fork(void) {
  pid_t pid = fork();
  if (pid == 0) { /* no Go in here: reading is plain C */
    shmarray_segment *seg = NULL;
    size_t i;
    shmarray_view v;
    int ok = shmarray_attach("table", dir, &seg, NULL, 0) == SHMARRAY_OK &&
             shmarray_find_array(seg, "f64", &i) == SHMARRAY_OK &&
             shmarray_array_view(seg, i, &v) == SHMARRAY_OK && ((const double *)v.data)[1] == 1.5 &&
             shmarray_validate(seg, NULL, 0) == SHMARRAY_OK;
    shmarray_close(seg);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "reading in a forked child");
}

static void cleanup(void) {
  static const char *const all[] = {"table", "ragged", "trunc", "major", "flip", "unsealed",
                                    "badtype", "alive", "reused", "datacrc", "badutf8", "badoffs",
                                    "nullcount", "sharedkv", "sharedsegkv", "strnames",
                                    "strvalue", "strlimit", ".hidden", "notes", "tiny", "link", "fifo"};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) unlink(path_of(all[i]));
  rmdir(path_of("subdir"));
  rmdir(dir);
}

/* Runs `argv0 --make-fixtures dir` and waits for it. */
static int run_fixture_maker(const char *argv0) {
  pid_t pid = fork();
  if (pid == 0) {
    execlp(argv0, argv0, "--make-fixtures", dir, (char *)NULL);
    perror("exec");
    _exit(127);
  }
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}

/* Format 1.3 (spec §6.1): lists and dictionaries, read from the conformance
 * vectors (make test-c runs from the repository's root). */
#define VECTORS "conformance/vectors/v1"

static void test_nested(void) {
  char err[512];
  shmarray_segment *seg = NULL;
  int rc = shmarray_attach("list_int32.shm", VECTORS "/valid", &seg, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "attach list_int32: %s", err);
  if (!seg) return;
  shmarray_array_info a, c;
  shmarray_tree_info ta, tc;
  CHECK(shmarray_describe(seg, 0, &a) == SHMARRAY_OK && shmarray_describe_tree(seg, 0, &ta) == SHMARRAY_OK &&
            a.type == SHMARRAY_TYPE_LIST && ta.child == 1 && !ta.is_child, "the list names record 1");
  CHECK(shmarray_describe(seg, 1, &c) == SHMARRAY_OK && shmarray_describe_tree(seg, 1, &tc) == SHMARRAY_OK &&
            tc.is_child && tc.parent == 0 && c.name_length == 0 && c.type == SHMARRAY_TYPE_INT32,
        "record 1 is its unnamed child");
  CHECK(shmarray_describe_tree(seg, 2, &tc) == SHMARRAY_OK && !tc.is_child && tc.child == 0 && tc.index_type == 0,
        "ids is a plain column");
  CHECK(shmarray_describe_tree(seg, 3, &tc) == SHMARRAY_INVALID_ARGUMENT, "no record 3");
  size_t i;
  CHECK(shmarray_find_array(seg, "tags", &i) == SHMARRAY_OK && i == 0, "a column is found by name");
  CHECK(shmarray_find_array(seg, "", &i) == SHMARRAY_NOT_FOUND, "a child is not");
  int64_t start = -1, end = -1;
  CHECK(shmarray_list_slot(seg, 0, 0, &start, &end, err, sizeof err) == SHMARRAY_OK && start == 0 && end == 2,
        "slot 0 holds child slots [0, 2)");
  CHECK(shmarray_list_slot(seg, 0, 3, &start, &end, err, sizeof err) == SHMARRAY_OK && start == 2 && end == 5,
        "slot 3 holds [2, 5)");
  CHECK(shmarray_list_slot(seg, 1, 0, &start, &end, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "an int32 is not a list");
  CHECK(shmarray_list_slot(seg, 0, 4, &start, &end, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "slot 4 of 4 is out of range");
  struct ArrowArray arr;
  struct ArrowSchema sch;
  rc = shmarray_export_array(seg, 0, &arr, &sch, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "export the list: %s", err);
  if (rc == SHMARRAY_OK) {
    CHECK(strcmp(sch.format, "+l") == 0 && sch.n_children == 1 && strcmp(sch.children[0]->name, "item") == 0 &&
              strcmp(sch.children[0]->format, "i") == 0, "schema +l with an int32 child named item");
    CHECK(arr.n_buffers == 2 && arr.n_children == 1 && arr.children[0]->length == 5 &&
              arr.children[0]->null_count == 1 && arr.null_count == 1, "array: offsets and a child of 5 slots");
    arr.release(&arr);
    sch.release(&sch);
  }
  struct ArrowArrayStream st;
  rc = shmarray_export_stream(seg, &st, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "export the stream: %s", err);
  if (rc == SHMARRAY_OK) {
    CHECK(st.get_schema(&st, &sch) == 0 && sch.n_children == 2, "the stream has the 2 columns");
    if (sch.release) sch.release(&sch);
    st.release(&st);
  }
  shmarray_close(seg);

  rc = shmarray_attach("dictionary_utf8.shm", VECTORS "/valid", &seg, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "attach dictionary_utf8: %s", err);
  if (!seg) return;
  int64_t v = 0;
  CHECK(shmarray_describe(seg, 0, &a) == SHMARRAY_OK && shmarray_describe_tree(seg, 0, &ta) == SHMARRAY_OK &&
            a.type == SHMARRAY_TYPE_DICTIONARY && ta.index_type == SHMARRAY_TYPE_INT8 && ta.child == 1,
        "an int8 dictionary");
  CHECK(shmarray_dictionary_slot(seg, 0, 1, &v, err, sizeof err) == SHMARRAY_OK && v == 2, "slot 1 is GOOG (2)");
  CHECK(shmarray_dictionary_slot(seg, 0, 2, &v, err, sizeof err) == SHMARRAY_OK && v == -1, "slot 2 is null");
  rc = shmarray_export_array(seg, 0, &arr, &sch, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "export the dictionary: %s", err);
  if (rc == SHMARRAY_OK) {
    CHECK(strcmp(sch.format, "c") == 0 && sch.dictionary && strcmp(sch.dictionary->format, "u") == 0 &&
              !(sch.flags & ARROW_FLAG_DICTIONARY_ORDERED), "schema: int8 indices, utf8 dictionary");
    CHECK(arr.dictionary && arr.dictionary->length == 3 && arr.n_buffers == 2, "array: the 3-value dictionary");
    arr.release(&arr);
    sch.release(&sch);
  }
  shmarray_close(seg);

  /* Not validated: each slot read is checked. */
  rc = shmarray_attach("list_offset_past_child.shm", VECTORS "/invalid", &seg, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "attach list_offset_past_child: %s", err);
  if (seg) {
    CHECK(shmarray_list_slot(seg, 0, 3, &start, &end, err, sizeof err) == SHMARRAY_BAD_OFFSETS &&
              strstr(err, "outside the child's 5 slots"), "offsets past the child: %s", err);
    CHECK(shmarray_validate(seg, err, sizeof err) == SHMARRAY_BAD_OFFSETS, "full validation says so too");
    shmarray_close(seg);
  }
  rc = shmarray_attach("dictionary_index_out_of_range.shm", VECTORS "/invalid", &seg, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "attach dictionary_index_out_of_range: %s", err);
  if (seg) {
    CHECK(shmarray_dictionary_slot(seg, 0, 1, &v, err, sizeof err) == SHMARRAY_OUT_OF_BOUNDS,
          "an index past the dictionary: %s", err);
    shmarray_close(seg);
  }
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--make-fixtures") == 0) {
    snprintf(dir, sizeof dir, "%s", argv[2]);
    make_fixtures();
    return 0;
  }
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  if (!run_fixture_maker(argv[0])) {
    fprintf(stderr, "cannot make the test segments in %s\n", dir);
    cleanup();
    return 2;
  }
  test_versions_and_names();
  test_attach_errors();
  test_name_messages(dir);
  test_dir_resolution();

  char err[512];
  shmarray_segment *seg = NULL;
  int rc = shmarray_attach("table", dir, &seg, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "attach table: %s", err);
  if (seg) {
    test_describe(seg);
    test_validate(seg);
    test_export_array(seg);
    test_export_stream(seg);
    shmarray_close(seg);
  }
  shmarray_close(NULL);
  test_outlive_close();
  test_fork();
  test_list();
  test_unlink();
  test_nested();
  cleanup();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
