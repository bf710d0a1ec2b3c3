/* Tests of versions (format 1.2, spec §4, §10.3) through the C ABI: the
 * identity of a published segment, replace and replace_if through the
 * builder, pinned attach (STALE and its messages), shmarray_is_current,
 * shmarray_unlink_version, list entries with id and version, and the
 * BAD_SIZE rule for a 1.2 header too short for its identity. Prints
 * "N passed, N failed" last; exits non-zero on any failure. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmarray.h"
#include "check.h"
#include "common.h"

static char dir[] = "/tmp/shmarray-versions-XXXXXX";

static const char *hex(const uint8_t id[16], char buf[33]) {
  for (int i = 0; i < 16; i++) snprintf(buf + 2 * i, 3, "%02x", id[i]);
  return buf;
}

/* Publishes `name` with one int64 array "n" = {value} under flags (and
 * replace_if, may be NULL); *out gets the identity. */
static int publish(const char *name, int64_t value, uint32_t flags, const uint8_t *replace_if,
                   shmarray_published *out, char *err, size_t err_len) {
  shmarray_create_options opts = {.flags = flags, .replace_if = replace_if};
  shmarray_builder *b = NULL;
  int rc = shmarray_create(name, dir, &opts, &b, err, err_len);
  if (rc) return rc;
  shmarray_array_spec spec = {.type = SHMARRAY_TYPE_INT64, .length = 1, .data = &value};
  if ((rc = shmarray_builder_add(b, "n", &spec, err, err_len))) {
    shmarray_builder_discard(b);
    return rc;
  }
  return shmarray_builder_publish_with(b, out, NULL, err, err_len);
}

static int64_t value_of(shmarray_segment *seg) {
  shmarray_view v;
  if (shmarray_array_view(seg, 0, &v) != SHMARRAY_OK) return -1;
  return ((const int64_t *)v.data)[0];
}

static int is_zero(const uint8_t id[16]) {
  for (int i = 0; i < 16; i++)
    if (id[i]) return 0;
  return 1;
}

static void test_identity_replace_pin(void) {
  char err[1024] = "", h1[33], h2[33], want[2048];
  shmarray_published p1, p2, p3;
  int rc = publish("v", 10, 0, NULL, &p1, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "first publish: %s", err);
  if (rc) return;
  CHECK(p1.version == 1 && !is_zero(p1.id), "first publish is version 1 with an id (%llu)",
        (unsigned long long)p1.version);

  shmarray_segment *s1 = NULL;
  CHECK(shmarray_attach("v", dir, &s1, err, sizeof err) == SHMARRAY_OK, "attach v1: %s", err);
  if (!s1) return;
  uint8_t id[16];
  uint64_t version = 0;
  CHECK(shmarray_identity(s1, id, &version) == SHMARRAY_OK && version == 1 &&
            memcmp(id, p1.id, 16) == 0,
        "identity of v1");
  CHECK(shmarray_identity(NULL, id, &version) == SHMARRAY_INVALID_ARGUMENT, "identity of NULL");
  int current = -1;
  CHECK(shmarray_is_current(s1, &current, err, sizeof err) == SHMARRAY_OK && current == 1,
        "v1 is current: %s", err);

  /* Without the flag: EXISTS, as before. */
  rc = publish("v", 11, 0, NULL, NULL, err, sizeof err);
  CHECK(rc == SHMARRAY_EXISTS, "publish over v1 without replace: %d %s", rc, err);

  rc = publish("v", 20, SHMARRAY_CREATE_REPLACE, NULL, &p2, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "replace: %s", err);
  CHECK(p2.version == 2 && memcmp(p2.id, p1.id, 16) != 0, "replace gives version 2, a new id");
  CHECK(shmarray_is_current(s1, &current, err, sizeof err) == SHMARRAY_OK && current == 0,
        "v1 is no longer current");
  CHECK(value_of(s1) == 10, "v1 still reads its own data after the replace");

  /* Pinned attach: the version wanted, or STALE with arena's message. */
  shmarray_attach_options pin = {.dir = dir, .pin_id = p1.id, .pin_version = 1};
  shmarray_segment *s = NULL;
  rc = shmarray_attach_with("v", &pin, &s, err, sizeof err);
  snprintf(want, sizeof want,
           "shmarray: stale version: segment \"v\": wanted version 1 (id %s), the name holds "
           "version 2 (id %s) now (attach by name to follow the latest)",
           hex(p1.id, h1), hex(p2.id, h2));
  CHECK(rc == SHMARRAY_STALE && s == NULL, "pinned attach of v1 after the replace: %d", rc);
  CHECK(strcmp(err, want) == 0, "STALE message:\n got  %s\n want %s", err, want);
  CHECK(strcmp(shmarray_error_name(SHMARRAY_STALE), "STALE") == 0, "name of 23");
  pin.pin_id = p2.id;
  pin.pin_version = 2;
  rc = shmarray_attach_with("v", &pin, &s, err, sizeof err);
  CHECK(rc == SHMARRAY_OK && value_of(s) == 20, "pinned attach of v2: %s", err);
  shmarray_close(s);

  /* replace_if: only while the name holds that id. */
  rc = publish("v", 30, 0, p1.id, NULL, err, sizeof err);
  snprintf(want, sizeof want,
           "shmarray: stale version: segment \"v\": replace_if names id %s, the name holds "
           "version 2 (id %s) now",
           h1, h2);
  CHECK(rc == SHMARRAY_STALE, "replace_if with v1's id: %d %s", rc, err);
  CHECK(strcmp(err, want) == 0, "replace_if message:\n got  %s\n want %s", err, want);
  rc = publish("v", 30, 0, p2.id, &p3, err, sizeof err);
  CHECK(rc == SHMARRAY_OK && p3.version == 3, "replace_if with v2's id: %s", err);

  /* The list shows the identity the name holds. */
  shmarray_list_entry *entries = NULL;
  size_t count = 0;
  rc = shmarray_list(dir, &entries, &count, err, sizeof err);
  CHECK(rc == SHMARRAY_OK && count == 1, "list: %s", err);
  if (rc == SHMARRAY_OK && count == 1)
    CHECK(entries[0].version == 3 && memcmp(entries[0].id, p3.id, 16) == 0, "list entry identity");
  shmarray_list_free(entries);

  /* unlink_version: only the version named. */
  rc = shmarray_unlink_version("v", dir, p2.id, err, sizeof err);
  char h3[33];
  snprintf(want, sizeof want,
           "shmarray: stale version: segment \"v\": unlink names id %s, the name holds version 3 "
           "(id %s) now; nothing was removed",
           h2, hex(p3.id, h3));
  CHECK(rc == SHMARRAY_STALE && strcmp(err, want) == 0,
        "unlink_version of v2 while v3 is published:\n got  %s\n want %s", err, want);
  shmarray_segment *s3 = NULL;
  CHECK(shmarray_attach("v", dir, &s3, err, sizeof err) == SHMARRAY_OK && value_of(s3) == 30,
        "v3 is still there: %s", err);
  rc = shmarray_unlink_version("v", dir, p3.id, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "unlink_version of v3: %s", err);
  CHECK(shmarray_is_current(s3, &current, err, sizeof err) == SHMARRAY_OK && current == 0,
        "v3 is not current once unlinked");
  CHECK(value_of(s3) == 30, "v3 still reads after the unlink");
  shmarray_close(s3);
  rc = shmarray_unlink_version("v", dir, p3.id, err, sizeof err);
  CHECK(rc == SHMARRAY_STALE, "unlink_version of a name gone: %d %s", rc, err);

  /* Nothing under the name: pinned attach and replace_if are STALE. */
  pin.pin_id = p3.id;
  pin.pin_version = 3;
  rc = shmarray_attach_with("v", &pin, &s, err, sizeof err);
  snprintf(want, sizeof want,
           "shmarray: stale version: segment \"v\": wanted version 3 (id %s), no segment has that "
           "name now",
           hex(p3.id, h3));
  CHECK(rc == SHMARRAY_STALE && strcmp(err, want) == 0, "pinned attach of a name gone:\n got  %s\n want %s",
        err, want);
  rc = publish("v", 40, 0, p3.id, NULL, err, sizeof err);
  snprintf(want, sizeof want,
           "shmarray: stale version: segment \"v\": replace_if names id %s, no segment has that "
           "name now",
           h3);
  CHECK(rc == SHMARRAY_STALE && strcmp(err, want) == 0, "replace_if on a name gone:\n got  %s\n want %s",
        err, want);
  /* Replace of a name that holds nothing is a first publish. */
  rc = publish("v", 50, SHMARRAY_CREATE_REPLACE, NULL, &p1, err, sizeof err);
  CHECK(rc == SHMARRAY_OK && p1.version == 1, "replace of nothing is version 1: %s", err);
  CHECK(shmarray_is_current(s1, &current, err, sizeof err) == SHMARRAY_OK && current == 0,
        "the first v1 is not the new v1");
  shmarray_close(s1);
  shmarray_unlink("v", dir, NULL, 0);
}

/* The descriptor of the file published reads exactly that version, even
 * once another process replaced it under the name. */
static void test_publish_fd(void) {
  char err[1024] = "";
  shmarray_builder *b = NULL;
  int64_t value = 7;
  CHECK(shmarray_create("fd", dir, NULL, &b, err, sizeof err) == SHMARRAY_OK, "create: %s", err);
  if (!b) return;
  shmarray_array_spec spec = {.type = SHMARRAY_TYPE_INT64, .length = 1, .data = &value};
  CHECK(shmarray_builder_add(b, "n", &spec, err, sizeof err) == SHMARRAY_OK, "add: %s", err);
  shmarray_published p;
  int fd = -1;
  int rc = shmarray_builder_publish_with(b, &p, &fd, err, sizeof err);
  CHECK(rc == SHMARRAY_OK && fd >= 0 && p.version == 1, "publish with fd: %s", err);
  if (rc) return;
  shmarray_published p2;
  CHECK(publish("fd", 8, SHMARRAY_CREATE_REPLACE, NULL, &p2, err, sizeof err) == SHMARRAY_OK,
        "replace: %s", err);
  shmarray_segment *seg = NULL;
  rc = shmarray_attach_fd(fd, "fd", dir, &seg, err, sizeof err);
  close(fd);
  CHECK(rc == SHMARRAY_OK, "attach_fd: %s", err);
  if (rc) return;
  uint8_t id[16];
  uint64_t version = 0;
  int current = -1;
  shmarray_identity(seg, id, &version);
  CHECK(version == 1 && memcmp(id, p.id, 16) == 0 && value_of(seg) == 7,
        "attach_fd reads the version published");
  CHECK(shmarray_is_current(seg, &current, err, sizeof err) == SHMARRAY_OK && current == 0,
        "and knows it is no longer current");
  shmarray_close(seg);
  CHECK(shmarray_attach_fd(-1, "fd", dir, &seg, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "attach_fd of -1");
  shmarray_unlink("fd", dir, NULL, 0);
}

/* Published when no descriptor is left to keep: still SHMARRAY_OK, with the
 * identity and fd -1, and the version attaches by name, pinned. */
static void test_publish_without_descriptors(void) {
  char err[1024] = "";
  shmarray_builder *b = NULL;
  int64_t value = 9;
  CHECK(shmarray_create("nofd", dir, NULL, &b, err, sizeof err) == SHMARRAY_OK, "create: %s", err);
  if (!b) return;
  shmarray_array_spec spec = {.type = SHMARRAY_TYPE_INT64, .length = 1, .data = &value};
  CHECK(shmarray_builder_add(b, "n", &spec, err, sizeof err) == SHMARRAY_OK, "add: %s", err);
  struct rlimit old, low;
  CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0, "getrlimit");
  low = old;
  low.rlim_cur = 256;
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
  int fillers[256], n = 0;
  while (n < 256 && (fillers[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) n++;
  shmarray_published p = {{0}, 0};
  int fd = -2;
  int rc = shmarray_builder_publish_with(b, &p, &fd, err, sizeof err);
  while (n > 0) close(fillers[--n]);
  CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0, "restore the limit");
  CHECK(rc == SHMARRAY_OK, "published without a descriptor to keep: %s", err);
  CHECK(fd == -1 && p.version == 1 && !is_zero(p.id), "fd -1 and the identity (fd %d, version %llu)",
        fd, (unsigned long long)p.version);
  if (fd >= 0) close(fd);
  shmarray_attach_options opts = {.dir = dir, .pin_id = p.id, .pin_version = p.version};
  shmarray_segment *seg = NULL;
  rc = shmarray_attach_with("nofd", &opts, &seg, err, sizeof err);
  CHECK(rc == SHMARRAY_OK && value_of(seg) == 9, "the version attaches pinned: %s", err);
  if (seg) shmarray_close(seg);
  shmarray_unlink("nofd", dir, NULL, 0);
}

/* A 1.2 file whose header_size is below 192: BAD_SIZE, with the message Go
 * gives, byte for byte. */
static void test_short_identity_header(void) {
  char err[1024] = "";
  CHECK(publish("src", 1, 0, NULL, NULL, err, sizeof err) == SHMARRAY_OK, "publish src: %s", err);
  char path[512];
  snprintf(path, sizeof path, "%s/src", dir);
  int fd = open(path, O_RDONLY);
  struct stat st;
  CHECK(fd >= 0 && fstat(fd, &st) == 0, "open src");
  if (fd < 0) return;
  uint8_t *b = malloc((size_t)st.st_size);
  CHECK(read(fd, b, (size_t)st.st_size) == st.st_size, "read src");
  close(fd);
  CHECK(b[10] == 2 && b[11] == 0, "the writer writes minor 2 (got %u)", b[10] | b[11] << 8);
  b[12] = 160; /* header_size 160 (< 192) */
  b[13] = b[14] = b[15] = 0;
  snprintf(path, sizeof path, "%s/short", dir);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  CHECK(fd >= 0 && write(fd, b, (size_t)st.st_size) == st.st_size, "write short");
  close(fd);
  free(b);
  shmarray_segment *s = NULL;
  int rc = shmarray_attach("short", dir, &s, err, sizeof err);
  const char *want = "header_size is 160, at least 192 expected in a version 1.2 file";
  CHECK(rc == SHMARRAY_BAD_SIZE && strstr(err, want), "short 1.2 header: %d %s", rc, err);
  unlink(path);
  shmarray_unlink("src", dir, NULL, 0);
}

/* The reading calls of this file on segment "ro" of dir, which a writer
 * published: run by main under valgrind too (the Go runtime of the writing
 * half cannot run under valgrind, so nothing here writes). Removes "ro". */
static void read_only(void) {
  char err[1024] = "", path[512];
  shmarray_segment *seg = NULL, *s2 = NULL;
  int rc = shmarray_attach("ro", dir, &seg, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "attach ro: %s", err);
  if (rc) return;
  uint8_t id[16], other[16];
  uint64_t version = 0;
  shmarray_identity(seg, id, &version);
  memcpy(other, id, 16);
  other[0] ^= 1;
  int current = -1;
  CHECK(shmarray_is_current(seg, &current, err, sizeof err) == SHMARRAY_OK && current == 1,
        "ro is current");
  shmarray_attach_options pin = {.dir = dir, .pin_id = other, .pin_version = version};
  CHECK(shmarray_attach_with("ro", &pin, &s2, err, sizeof err) == SHMARRAY_STALE, "wrong pin");
  CHECK(shmarray_attach_with("gone", &pin, &s2, err, sizeof err) == SHMARRAY_STALE, "pin, no file");
  pin.pin_id = id;
  CHECK(shmarray_attach_with("ro", &pin, &s2, err, sizeof err) == SHMARRAY_OK, "right pin: %s", err);
  shmarray_close(s2);
  snprintf(path, sizeof path, "%s/ro", dir);
  int fd = open(path, O_RDONLY);
  CHECK(shmarray_attach_fd(fd, "ro", dir, &s2, err, sizeof err) == SHMARRAY_OK, "attach_fd: %s", err);
  close(fd);
  shmarray_close(s2);
  shmarray_list_entry *entries = NULL;
  size_t count = 0;
  CHECK(shmarray_list(dir, &entries, &count, err, sizeof err) == SHMARRAY_OK, "list: %s", err);
  shmarray_list_free(entries);
  CHECK(shmarray_unlink_version("ro", dir, other, err, sizeof err) == SHMARRAY_STALE, "wrong id");
  CHECK(shmarray_unlink_version("ro", dir, id, err, sizeof err) == SHMARRAY_OK, "unlink: %s", err);
  CHECK(shmarray_is_current(seg, &current, err, sizeof err) == SHMARRAY_OK && current == 0,
        "ro is gone");
  shmarray_close(seg);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--read-only") == 0) {
    snprintf(dir, sizeof dir, "%s", argv[2]);
    read_only();
    printf("read-only: %d passed, %d failed\n", passed, failed);
    return failed != 0;
  }
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_identity_replace_pin();
  test_short_identity_header();
  test_publish_fd();
  test_publish_without_descriptors();
  char err[1024] = "";
  CHECK(publish("ro", 1, 0, NULL, NULL, err, sizeof err) == SHMARRAY_OK, "publish ro: %s", err);
  read_only();
  CHECK(publish("ro", 1, 0, NULL, NULL, err, sizeof err) == SHMARRAY_OK, "publish ro: %s", err);
  int rc = run_read_only_under_valgrind(argv[0], dir);
  if (rc >= 0) CHECK(rc == 0, "the reading tests under valgrind (status %d)", rc);
  remove_test_dir(dir); /* whatever a failed check left, then the directory */
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
