/* Tests of the writing half of the C ABI (create, add, add_arrow, metadata,
 * publish, discard, receive) and of fork safety: in a child made by fork() writing
 * returns SHMARRAY_FORKED at once while reading still works. Prints
 * "N passed, N failed" last; exits non-zero on any failure. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmarray.h"
#include "check.h"
#include "common.h"

static char dir[] = "/tmp/shmarray-capi-XXXXXX";

/* Publishes "seg" with an int64 column "n" = 0..9 and a utf8 column "s". */
static int publish_sample(const char *name) {
  char err[256];
  shmarray_builder *b = NULL;
  int rc = shmarray_create(name, dir, NULL, &b, err, sizeof err);
  if (rc) return rc;
  int64_t n[10];
  for (int i = 0; i < 10; i++) n[i] = i;
  int32_t offs[4] = {3, 5, 5, 8}; /* offsets need not start at 0 */
  const char *keys[] = {"unit"}, *vals[] = {"m"};
  shmarray_array_spec ns = {.type = SHMARRAY_TYPE_INT64, .length = 10, .data = n,
                            .metadata_keys = keys, .metadata_values = vals, .metadata_count = 1};
  uint8_t valid = 0x5; /* slot 1 null */
  shmarray_array_spec ss = {.type = SHMARRAY_TYPE_UTF8, .length = 3, .validity = &valid,
                            .offsets = offs, .data = "xxxabcde"};
  if ((rc = shmarray_builder_add(b, "n", &ns, err, sizeof err)) ||
      (rc = shmarray_builder_add(b, "s", &ss, err, sizeof err)) ||
      (rc = shmarray_builder_set_metadata(b, keys, vals, 1, err, sizeof err))) {
    fprintf(stderr, "%s\n", err);
    shmarray_builder_discard(b);
    return rc;
  }
  return shmarray_builder_publish(b, err, sizeof err);
}

static void test_round_trip(void) {
  CHECK(publish_sample("sample") == SHMARRAY_OK, "publish sample");
  char err[256];
  shmarray_segment *seg = NULL;
  int rc = shmarray_attach("sample", dir, &seg, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "attach: %s", err);
  if (rc) return;
  CHECK(shmarray_array_count(seg) == 2, "two arrays");
  size_t i = 99;
  CHECK(shmarray_find_array(seg, "s", &i) == SHMARRAY_OK && i == 1, "find s");
  shmarray_array_info info;
  CHECK(shmarray_describe(seg, i, &info) == SHMARRAY_OK && info.null_count == 1 && info.length == 3,
        "s has 3 slots, 1 null");
  shmarray_view v;
  CHECK(shmarray_array_view(seg, i, &v) == SHMARRAY_OK, "view s");
  const int32_t *o = v.offsets;
  CHECK(o[0] == 0 && o[1] == 2 && o[3] == 5 && memcmp(v.data, "abcde", 5) == 0, "offsets rebased to 0");
  CHECK(shmarray_metadata_count(seg, SHMARRAY_SEGMENT_METADATA) == 1, "segment metadata");
  CHECK(shmarray_validate(seg, err, sizeof err) == SHMARRAY_OK, "full validation: %s", err);
  shmarray_close(seg);
}

static void test_errors(void) {
  char err[256];
  shmarray_builder *b = NULL;
  CHECK(shmarray_create("a/b", dir, NULL, &b, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT, "bad name");
  CHECK(strstr(err, "a/b") != NULL, "message names the segment: %s", err);
  CHECK(shmarray_create("..", dir, NULL, &b, NULL, 0) == SHMARRAY_INVALID_ARGUMENT, "NULL err buffer");
  char tiny[8];
  CHECK(shmarray_create("", dir, NULL, &b, tiny, sizeof tiny) == SHMARRAY_INVALID_ARGUMENT &&
            strlen(tiny) == sizeof tiny - 1, "message truncated and NUL-terminated");
  CHECK(shmarray_create("x", "/nonexistent-dir", NULL, &b, err, sizeof err) == SHMARRAY_NOT_FOUND,
        "missing dir: %s", err);
  shmarray_create_options world = {.mode = 0644};
  CHECK(shmarray_create("x", dir, &world, &b, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "world-readable mode refused");

  CHECK(shmarray_create("errs", dir, NULL, &b, err, sizeof err) == SHMARRAY_OK, "create");
  shmarray_array_spec bad_utf8 = {.type = SHMARRAY_TYPE_UTF8, .length = 1,
                                  .offsets = (int32_t[]){0, 1}, .data = "\xff"};
  CHECK(shmarray_builder_add(b, "u", &bad_utf8, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "invalid UTF-8 refused");
  shmarray_array_spec unknown = {.type = 99, .length = 0};
  CHECK(shmarray_builder_add(b, "t", &unknown, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT, "bad type");
  int64_t shape[2] = {2, 3};
  double cells[6] = {0};
  shmarray_array_spec nd = {.type = SHMARRAY_TYPE_FLOAT64, .ndim = 2, .shape = shape, .length = 2,
                            .data = cells};
  CHECK(shmarray_builder_add(b, "grid", &nd, err, sizeof err) == SHMARRAY_OK, "2-D add: %s", err);
  CHECK(shmarray_builder_add(b, "grid", &nd, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT, "duplicate");
  shmarray_builder_discard(b);
  shmarray_segment *seg = NULL;
  CHECK(shmarray_attach("errs", dir, &seg, err, sizeof err) == SHMARRAY_NOT_FOUND,
        "a discarded segment leaves nothing");

  CHECK(shmarray_create("twice", dir, NULL, &b, err, sizeof err) == SHMARRAY_OK, "create first");
  CHECK(publish_sample("twice") == SHMARRAY_OK, "another creator publishes first");
  CHECK(shmarray_builder_publish(b, err, sizeof err) == SHMARRAY_EXISTS, "never replaces: %s", err);
}

/* Names and modes on the writing path (spec §2.1, §10.2, §15): invalid names
 * are refused before anything is created, the mode is exact whatever the
 * umask and never gives others access, and a symbolic link planted under
 * the name is never followed. */
static void test_names_modes_links(void) {
  char err[256], path[512], target[512];
  shmarray_builder *b = NULL;
  char longname[202];
  memset(longname, 'n', 201);
  longname[201] = '\0';
  const char *bad[] = {"a/b", "..", ".", "", ".hidden", "a..b", "sp ace", "/etc/passwd", longname};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(shmarray_create(bad[i], dir, NULL, &b, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
          "create %.20s: %s", bad[i], err);
  longname[200] = '\0';
  CHECK(shmarray_create(longname, dir, NULL, &b, err, sizeof err) == SHMARRAY_OK, "200-byte name");
  shmarray_builder_discard(b);

  struct {
    uint32_t mode, want; /* want 0: refused */
  } modes[] = {{0, 0600}, {0600, 0600}, {0640, 0640}, {0660, 0660}, {0644, 0}, {0666, 0},
               {0604, 0}, {0602, 0}, {0700, 0}, {0400, 0}, {04600, 0}};
  mode_t old = umask(077);
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "mode-%o", modes[i].mode);
    shmarray_create_options o = {.mode = modes[i].mode};
    int rc = shmarray_create(name, dir, &o, &b, err, sizeof err);
    if (!modes[i].want) {
      CHECK(rc == SHMARRAY_INVALID_ARGUMENT, "mode %o refused: %s", modes[i].mode, err);
      continue;
    }
    CHECK(rc == SHMARRAY_OK && shmarray_builder_publish(b, err, sizeof err) == SHMARRAY_OK,
          "mode %o: %s", modes[i].mode, err);
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == modes[i].want, "mode %o gives %o",
          modes[i].mode, (unsigned)(st.st_mode & 07777));
    shmarray_unlink(name, dir, NULL, 0);
  }
  umask(old);

  snprintf(target, sizeof target, "%s/link-target", dir);
  snprintf(path, sizeof path, "%s/planted", dir);
  CHECK(symlink(target, path) == 0, "plant a link");
  CHECK(shmarray_create("planted", dir, NULL, &b, err, sizeof err) == SHMARRAY_EXISTS,
        "a link under the name: %s", err);
  CHECK(shmarray_create("late", dir, NULL, &b, err, sizeof err) == SHMARRAY_OK, "create late");
  snprintf(path, sizeof path, "%s/late", dir);
  CHECK(symlink(target, path) == 0, "plant a link before publish");
  CHECK(shmarray_builder_publish(b, err, sizeof err) == SHMARRAY_EXISTS, "publish over a link: %s", err);
  CHECK(access(target, F_OK) != 0, "the link's target was never created");
  CHECK(shmarray_unlink("late", dir, err, sizeof err) == SHMARRAY_NOT_A_SEGMENT, "unlink refuses a link");
  unlink(path);
  snprintf(path, sizeof path, "%s/planted", dir);
  unlink(path);
}

/* A minimal Arrow int32 array owned by the test, to check that add_arrow
 * takes ownership and releases exactly once. */
static int schema_released, array_released;
static void release_schema(struct ArrowSchema *s) { schema_released++; s->release = NULL; }
static void release_array(struct ArrowArray *a) { array_released++; a->release = NULL; }

static void test_add_arrow(void) {
  static int32_t values[4] = {7, -1, 9, 11};
  static const void *buffers[2] = {NULL, values};
  struct ArrowSchema schema = {.format = "i", .name = "", .flags = ARROW_FLAG_NULLABLE,
                               .release = release_schema};
  struct ArrowArray array = {.length = 4, .n_buffers = 2, .buffers = buffers, .release = release_array};
  char err[256];
  shmarray_builder *b = NULL;
  CHECK(shmarray_create("arrow-in", dir, NULL, &b, err, sizeof err) == SHMARRAY_OK, "create");
  CHECK(shmarray_builder_add_arrow(b, "v", &array, &schema, err, sizeof err) == SHMARRAY_OK,
        "add_arrow: %s", err);
  CHECK(schema_released == 1 && array_released == 1, "both released once (%d, %d)", schema_released,
        array_released);
  struct ArrowSchema bad_schema = {.format = "tiM", .name = "", .release = release_schema}; /* interval */
  struct ArrowArray bad_array = {.length = 0, .n_buffers = 2, .buffers = buffers, .release = release_array};
  CHECK(shmarray_builder_add_arrow(b, "w", &bad_array, &bad_schema, err, sizeof err) ==
            SHMARRAY_INVALID_ARGUMENT, "unsupported type refused: %s", err);
  CHECK(schema_released == 2 && array_released == 2, "released on error too");
  CHECK(shmarray_builder_publish(b, err, sizeof err) == SHMARRAY_OK, "publish");
  shmarray_segment *seg = NULL;
  CHECK(shmarray_attach("arrow-in", dir, &seg, err, sizeof err) == SHMARRAY_OK, "attach");
  shmarray_view v;
  CHECK(shmarray_array_view(seg, 0, &v) == SHMARRAY_OK && ((const int32_t *)v.data)[3] == 11, "values");
  shmarray_close(seg);
}

/* In a forked child: writing is refused at once, reading works. */
/* Arrays filled in place (shmarray_builder_add_empty): the memory handed
 * out is zeroed and the size is right; what is written before publish is
 * what readers see, checksum included; types that cannot be filled in place
 * and specs that carry buffers are refused. */
static void test_add_empty(void) {
  char err[256];
  shmarray_builder *b = NULL;
  CHECK(shmarray_create("filled", dir, NULL, &b, err, sizeof err) == SHMARRAY_OK, "create: %s", err);
  if (!b) return;
  int64_t shape[2] = {1000, 3};
  shmarray_array_spec grid = {.type = SHMARRAY_TYPE_FLOAT64, .ndim = 2, .shape = shape, .length = 1000};
  void *mem = NULL;
  size_t size = 0;
  int rc = shmarray_builder_add_empty(b, "grid", &grid, &mem, &size, err, sizeof err);
  CHECK(rc == SHMARRAY_OK && mem && size == 1000 * 3 * sizeof(double), "add_empty 2-D: %s", err);
  if (rc) {
    shmarray_builder_discard(b);
    return;
  }
  CHECK(((uintptr_t)mem & 63) == 0, "64-byte aligned");
  double *cells = mem;
  int zeroed = 1;
  for (size_t i = 0; i < 3000; i++) zeroed &= cells[i] == 0;
  CHECK(zeroed, "handed out zeroed");
  for (size_t i = 0; i < 3000; i++) cells[i] = (double)i / 4;

  shmarray_array_spec words = {.type = SHMARRAY_TYPE_UTF8, .length = 4};
  CHECK(shmarray_builder_add_empty(b, "w", &words, &mem, &size, err, sizeof err) ==
            SHMARRAY_INVALID_ARGUMENT && mem == NULL && size == 0 && strstr(err, "in place"),
        "utf8 cannot be filled in place: %s", err);
  shmarray_array_spec bits = {.type = SHMARRAY_TYPE_BOOL, .length = 4};
  CHECK(shmarray_builder_add_empty(b, "bits", &bits, &mem, &size, err, sizeof err) ==
            SHMARRAY_INVALID_ARGUMENT, "bool cannot be filled in place: %s", err);
  int64_t given[2] = {1, 2};
  shmarray_array_spec with_data = {.type = SHMARRAY_TYPE_INT64, .length = 2, .data = given};
  CHECK(shmarray_builder_add_empty(b, "given", &with_data, &mem, &size, err, sizeof err) ==
            SHMARRAY_INVALID_ARGUMENT && strstr(err, "NULL"), "a spec with data is refused: %s", err);
  CHECK(shmarray_builder_add_empty(b, "grid", &grid, &mem, &size, err, sizeof err) ==
            SHMARRAY_INVALID_ARGUMENT, "a taken name is refused");
  CHECK(shmarray_builder_add_empty(b, "x", &grid, NULL, &size, err, sizeof err) ==
            SHMARRAY_INVALID_ARGUMENT, "NULL data pointer refused");
  CHECK(shmarray_builder_publish(b, err, sizeof err) == SHMARRAY_OK, "publish: %s", err);

  shmarray_segment *seg = NULL;
  CHECK(shmarray_attach("filled", dir, &seg, err, sizeof err) == SHMARRAY_OK, "attach: %s", err);
  if (!seg) return;
  CHECK(shmarray_array_count(seg) == 1, "only the grid was added");
  shmarray_view v;
  CHECK(shmarray_array_view(seg, 0, &v) == SHMARRAY_OK && ((const double *)v.data)[2999] == 2999.0 / 4,
        "readers see what was written");
  CHECK(shmarray_validate(seg, err, sizeof err) == SHMARRAY_OK, "full validation, checksum included: %s",
        err);
  shmarray_close(seg);
}

/* A segment's file received in two pieces, the second first, is published
 * and reads back; one with a piece missing is refused and leaves nothing. */
static void test_receive(void) {
  char path[256], err[256];
  snprintf(path, sizeof path, "%s/sample", dir);
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL, "open %s", path);
  if (!f) return;
  static char file[1 << 16];
  size_t n = fread(file, 1, sizeof file, f);
  fclose(f);
  CHECK(n > 128 && n < sizeof file, "read the sample's file: %zu bytes", n);
  shmarray_receiver *r = NULL;
  int rc = shmarray_receive("received", dir, (int64_t)n, 0, &r, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "receive: %s", err);
  if (rc) return;
  size_t half = n / 2;
  CHECK(shmarray_receiver_write(r, (int64_t)half, file + half, n - half, err, sizeof err) == SHMARRAY_OK,
        "write the second half: %s", err);
  shmarray_segment *seg = NULL;
  CHECK(shmarray_attach("received", dir, &seg, NULL, 0) == SHMARRAY_NOT_FOUND, "invisible before publish");
  CHECK(shmarray_receiver_write(r, (int64_t)n, file, 1, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "a write past the end is refused");
  CHECK(shmarray_receiver_write(r, 0, file, half, err, sizeof err) == SHMARRAY_OK, "write the first half");
  CHECK(shmarray_receiver_publish(r, err, sizeof err) == SHMARRAY_OK, "publish: %s", err);
  rc = shmarray_attach("received", dir, &seg, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "attach the copy: %s", err);
  if (!rc) {
    CHECK(shmarray_validate(seg, err, sizeof err) == SHMARRAY_OK, "the copy validates: %s", err);
    shmarray_close(seg);
  }
  r = NULL;
  CHECK(shmarray_receive("partial", dir, (int64_t)n, 0, &r, err, sizeof err) == SHMARRAY_OK, "receive");
  CHECK(shmarray_receiver_write(r, 0, file, half, err, sizeof err) == SHMARRAY_OK, "write half");
  rc = shmarray_receiver_publish(r, err, sizeof err);
  CHECK(rc == SHMARRAY_TRUNCATED && strstr(err, "never arrived"), "half a file is refused: %d %s", rc, err);
  CHECK(shmarray_attach("partial", dir, &seg, NULL, 0) == SHMARRAY_NOT_FOUND, "and left nothing");
  r = NULL;
  CHECK(shmarray_receive("discarded", dir, (int64_t)n, 0, &r, err, sizeof err) == SHMARRAY_OK, "receive");
  shmarray_receiver_discard(r);
  shmarray_receiver_discard(NULL);
  CHECK(shmarray_receive("received", dir, (int64_t)n, 0, &r, err, sizeof err) == SHMARRAY_EXISTS,
        "a taken name is refused");
}

static void test_fork(void) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20); /* a hang would kill the child by SIGALRM: the test fails */
    char err[256];
    shmarray_builder *b = NULL;
    int rc = shmarray_create("from-child", dir, NULL, &b, err, sizeof err);
    if (rc != SHMARRAY_FORKED) _exit(10);
    if (!strstr(err, "fork")) _exit(11);
    shmarray_segment *seg = NULL;
    shmarray_receiver *r = NULL;
    if (shmarray_receive("from-child", dir, 4096, 0, &r, err, sizeof err) != SHMARRAY_FORKED) _exit(14);
    if (shmarray_attach("sample", dir, &seg, err, sizeof err) != SHMARRAY_OK) _exit(12);
    shmarray_view v;
    if (shmarray_array_view(seg, 0, &v) != SHMARRAY_OK || ((const int64_t *)v.data)[9] != 9) _exit(13);
    shmarray_close(seg);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "forked child: status %d (10: create not refused, 11: message, 12-13: reading failed, "
        "14: receive not refused, signal: hang)", status);
}

int main(void) {
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  CHECK(shmarray_format_version() == ((SHMARRAY_FORMAT_MAJOR << 16) | SHMARRAY_FORMAT_MINOR), "format");
  CHECK(strcmp(shmarray_error_name(SHMARRAY_FORKED), "FORKED") == 0, "error names");
  test_round_trip();
  test_errors();
  test_names_modes_links();
  test_add_arrow();
  test_add_empty();
  test_receive();
  test_fork();
  remove_test_dir(dir); /* everything the tests published, then the directory */
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
