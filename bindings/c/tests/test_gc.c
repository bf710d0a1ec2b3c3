/* Tests of shmarray_gc and of the lifecycle it relies on: an ephemeral
 * segment whose creator has exited is an orphan that shmarray_list marks and
 * shmarray_gc removes; a live creator's ephemeral segment, a persistent
 * segment, a segment whose creator cannot be judged (pid 0, a start time
 * before this pid namespace's pid 1) and files that are not segments stay;
 * the hidden temporary files of a dead fallback writer go when they are
 * proven leftovers (zeros, the magic or nothing at their start, one link,
 * a regular file), and every other file under such a name stays, silently;
 * a directory given as a symbolic link is refused by gc and unlink and
 * followed by list and attach; attaching and closing never unlink; gc works
 * in a forked child (plain C). The orphans are made honestly: a separate
 * process (this program, exec'd) creates the segment with the writer API
 * and exits. Prints "N passed, N failed" last; exits non-zero on any
 * failure. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmarray.h"
#include "check.h"

static char dir[] = "/tmp/shmarray-gc-XXXXXX";

static char *path_of(const char *name) {
  static char buf[512];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

static int exists(const char *name) { return access(path_of(name), F_OK) == 0; }

/* Publishes `name` in `in` with one int64 array; ephemeral if asked. */
static int publish(const char *name, const char *in, int ephemeral) {
  char err[256];
  shmarray_builder *b = NULL;
  shmarray_create_options opts = {.flags = ephemeral ? SHMARRAY_CREATE_EPHEMERAL : 0};
  int rc = shmarray_create(name, in, &opts, &b, err, sizeof err);
  if (rc) {
    fprintf(stderr, "create %s: %s\n", name, err);
    return rc;
  }
  int64_t x[3] = {1, 2, 3};
  shmarray_array_spec spec = {.type = SHMARRAY_TYPE_INT64, .length = 3, .data = x};
  if ((rc = shmarray_builder_add(b, "x", &spec, err, sizeof err))) {
    fprintf(stderr, "add: %s\n", err);
    shmarray_builder_discard(b);
    return rc;
  }
  return shmarray_builder_publish(b, err, sizeof err);
}

/* Runs `argv0 --publish name dir ephemeral` (a creator that exits at once)
 * and returns its pid, reaped, or -1. */
static pid_t publish_in_child(const char *argv0, const char *name, int ephemeral) {
  pid_t pid = fork();
  if (pid == 0) {
    execlp(argv0, argv0, "--publish", name, dir, ephemeral ? "1" : "0", (char *)NULL);
    perror("exec");
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return -1;
  return pid;
}

static void write_bytes(const char *name, const void *b, size_t n) {
  int fd = open(path_of(name), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || write(fd, b, n) != (ssize_t)n) {
    perror(name);
    exit(2);
  }
  close(fd);
}

static void write_file(const char *name, const char *text) { write_bytes(name, text, strlen(text)); }

/* A copy of file `from` as `to`, with the 8 bytes at offset at replaced by
 * the little-endian v (the header is not resealed: listing and gc read the
 * header's fields without checking its checksum). */
static void copy_patched(const char *from, const char *to, size_t at, uint64_t v) {
  unsigned char buf[65536];
  int fd = open(path_of(from), O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
  if (fd >= 0) close(fd);
  if (n < (ssize_t)(at + 8)) {
    fprintf(stderr, "copy %s: short\n", from);
    exit(2);
  }
  for (int i = 0; i < 8; i++) buf[at + (size_t)i] = (unsigned char)(v >> (8 * i));
  write_bytes(to, buf, (size_t)n);
}

/* Field 22 of /proc/1/stat, 0 if unreadable. */
static unsigned long long init_start_time(void) {
  char buf[4096];
  int fd = open("/proc/1/stat", O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (fd >= 0) close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  p++;
  for (int field = 3; field < 22; field++) {
    while (*p == ' ') p++;
    while (*p && *p != ' ') p++;
  }
  return strtoull(p, NULL, 10);
}

static const shmarray_list_entry *entry(const shmarray_list_entry *e, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(e[i].name, name) == 0) return &e[i];
  return NULL;
}

static void test_gc(const char *argv0) {
  char err[2048];
  pid_t dead = publish_in_child(argv0, "orphan", 1);
  CHECK(dead > 0, "a child process publishes an ephemeral segment and exits");
  CHECK(publish_in_child(argv0, "persistent", 0) > 0, "a child publishes a persistent segment and exits");
  CHECK(publish("mine", dir, 1) == SHMARRAY_OK, "this process publishes an ephemeral segment");
  /* The orphan's header with creator_pid 0 (offset 104), and with a start
   * time (offset 112) before this namespace's pid 1 started: creators that
   * cannot be judged, never orphans. */
  copy_patched("orphan", "unknown-pid0", 104, 0);
  int old_start = init_start_time() > 1;
  if (old_start) copy_patched("orphan", "unknown-old", 112, 1);
  write_file("notes", "not a segment\n");
  /* Temporary files of a dead writer: proven leftovers (zeros, the magic,
   * nothing), and files under such names that are not (other content, a
   * live writer, a link, a second link to a file, a FIFO, bad names). */
  char zeros[64], sealed[64], empty[64], text[64], live[64], link_name[64], hard[64], fifo[64];
  snprintf(zeros, sizeof zeros, ".shmarray-tmp-%d-00", (int)dead);
  snprintf(sealed, sizeof sealed, ".shmarray-tmp-%d-01", (int)dead);
  snprintf(empty, sizeof empty, ".shmarray-tmp-%d-02", (int)dead);
  snprintf(text, sizeof text, ".shmarray-tmp-%d-aa", (int)dead);
  snprintf(live, sizeof live, ".shmarray-tmp-%d-4567ef01", (int)getpid());
  snprintf(link_name, sizeof link_name, ".shmarray-tmp-%d-89abcdef", (int)dead);
  snprintf(hard, sizeof hard, ".shmarray-tmp-%d-hard", (int)dead);
  snprintf(fifo, sizeof fifo, ".shmarray-tmp-%d-fifo", (int)dead);
  static const unsigned char nothing[4096];
  unsigned char magic[128] = "SHMARRAY";
  write_bytes(zeros, nothing, sizeof nothing);
  write_bytes(sealed, magic, sizeof magic);
  write_bytes(empty, nothing, 0);
  write_file(text, "left by a writer killed before publishing");
  write_bytes(live, nothing, 64);
  write_file(".shmarray-tmp-junk", "");
  write_file(".shmarray-tmp-0-00", "");
  write_bytes("plain", nothing, 8);
  char target[512];
  snprintf(target, sizeof target, "%s", path_of("notes"));
  CHECK(symlink(target, path_of(link_name)) == 0, "symlink");
  char plain[512];
  snprintf(plain, sizeof plain, "%s", path_of("plain"));
  CHECK(link(plain, path_of(hard)) == 0, "hard link");
  CHECK(mkfifo(path_of(fifo), 0600) == 0, "fifo");

  shmarray_list_entry *e = NULL;
  size_t n = 0;
  CHECK(shmarray_list(dir, &e, &n, err, sizeof err) == SHMARRAY_OK, "list: %s", err);
  CHECK(n == 4u + (unsigned)old_start, "list shows the segments and no hidden file (%zu)", n);
  const shmarray_list_entry *o = entry(e, n, "orphan"), *m = entry(e, n, "mine"),
                            *p = entry(e, n, "persistent"), *u = entry(e, n, "unknown-pid0"),
                            *old = entry(e, n, "unknown-old");
  CHECK(o && o->ephemeral && !o->creator_alive && !o->creator_unknown &&
            o->creator_pid == (uint32_t)dead,
        "the dead creator's ephemeral segment is an orphan");
  CHECK(m && m->ephemeral && m->creator_alive && !m->creator_unknown &&
            m->creator_pid == (uint32_t)getpid(),
        "a live creator's segment is not");
  CHECK(p && !p->ephemeral && !p->creator_alive, "a persistent segment of a dead creator");
  CHECK(u && u->ephemeral && u->creator_unknown && !u->creator_alive && u->creator_pid == 0,
        "creator pid 0 is unknown");
  CHECK(!old_start || (old && old->creator_unknown && !old->creator_alive),
        "a creator that started before this pid namespace's pid 1 is unknown");
  shmarray_list_free(e);

  size_t removed = 99;
  CHECK(shmarray_gc(dir, 1, &removed, err, sizeof err) == SHMARRAY_OK && removed == 4,
        "dry run: four to remove (%zu): %s", removed, err);
  CHECK(exists("orphan") && exists(zeros), "a dry run removes nothing");

  /* Attaching and closing never unlink. */
  shmarray_segment *seg = NULL;
  CHECK(shmarray_attach("orphan", dir, &seg, err, sizeof err) == SHMARRAY_OK, "attach the orphan");
  shmarray_close(seg);
  CHECK(exists("orphan"), "closing does not unlink");

  /* gc is plain C: it works in a child forked after this process entered Go. */
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    size_t k = 0;
    _exit(shmarray_gc(dir, 1, &k, NULL, 0) == SHMARRAY_OK && k == 4 ? 0 : 1);
  }
  int status = 0;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "gc in a forked child (status %d)", status);

  /* A directory given as a symbolic link: gc and unlink refuse it (files
   * are removed only in a directory named directly), list and attach
   * follow it. */
  char via[600];
  snprintf(via, sizeof via, "%s.link", dir);
  CHECK(symlink(dir, via) == 0, "a link to the directory");
  err[0] = '\0';
  CHECK(shmarray_gc(via, 0, &removed, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT && removed == 0 &&
            strstr(err, "is a symbolic link") && strstr(err, "pass the directory itself"),
        "gc through a link to the directory: %s", err);
  CHECK(shmarray_unlink("orphan", via, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT &&
            strstr(err, "pass the directory itself"),
        "unlink through a link to the directory: %s", err);
  CHECK(shmarray_list(via, &e, &n, err, sizeof err) == SHMARRAY_OK && n == 4u + (unsigned)old_start,
        "list follows the link: %s", err);
  shmarray_list_free(e);
  CHECK(shmarray_attach("orphan", via, &seg, err, sizeof err) == SHMARRAY_OK, "attach follows it: %s", err);
  shmarray_close(seg);
  unlink(via);
  CHECK(exists("orphan"), "nothing was removed through the link");

  removed = 99;
  CHECK(shmarray_gc(dir, 0, &removed, err, sizeof err) == SHMARRAY_OK && removed == 4,
        "gc removes four files (%zu): %s", removed, err);
  CHECK(!exists("orphan"), "the orphan is gone");
  CHECK(!exists(zeros) && !exists(sealed) && !exists(empty),
        "the dead writer's temporary files are gone (zeros, the magic, empty)");
  CHECK(exists("mine") && exists("persistent") && exists("notes") && exists(live) &&
            exists("unknown-pid0") && (!old_start || exists("unknown-old")),
        "the live creator's segment, the persistent one, the unknown creators', a non-segment "
        "and a live writer's file stay");
  CHECK(exists(text) && exists(hard) && exists(".shmarray-tmp-junk") && exists(".shmarray-tmp-0-00"),
        "a temporary name holding other content, a second link and bad names stay");
  struct stat st;
  CHECK(lstat(path_of(link_name), &st) == 0 && lstat(path_of(fifo), &st) == 0,
        "the symbolic link and the FIFO stay");
  removed = 99;
  CHECK(shmarray_gc(dir, 0, &removed, NULL, 0) == SHMARRAY_OK && removed == 0, "nothing left to do");
  CHECK(shmarray_gc(dir, 0, NULL, NULL, 0) == SHMARRAY_OK, "removed may be NULL");
  removed = 99;
  CHECK(shmarray_gc("/nonexistent-dir", 0, &removed, err, sizeof err) == SHMARRAY_NOT_FOUND && removed == 0,
        "gc of a missing directory: %s", err);

  const char *rest[] = {link_name, live, "notes", text, hard, fifo, "plain", ".shmarray-tmp-junk",
                        ".shmarray-tmp-0-00", "unknown-pid0", "unknown-old"};
  for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) unlink(path_of(rest[i]));
  shmarray_unlink("mine", dir, NULL, 0);
  shmarray_unlink("persistent", dir, NULL, 0);
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "--publish") == 0)
    return publish(argv[2], argv[3], strcmp(argv[4], "1") == 0) == SHMARRAY_OK ? 0 : 1;
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  test_gc(argv[0]);
  CHECK(rmdir(dir) == 0, "the test directory is empty at the end");
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
