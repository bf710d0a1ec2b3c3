/* Tests of shmarray_gc and of the lifecycle it relies on: an ephemeral
 * segment whose creator has exited is an orphan that shmarray_list marks and
 * shmarray_gc removes; a live creator's ephemeral segment, a persistent
 * segment and files that are not segments stay; the hidden temporary file of
 * a dead fallback writer goes, a live writer's stays; attaching and closing
 * never unlink; gc works in a forked child (plain C). The orphans are made
 * honestly: a separate process (this program, exec'd) creates the segment
 * with the writer API and exits. Prints "N passed, N failed" last; exits
 * non-zero on any failure. */
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

static void write_file(const char *name, const char *text) {
  int fd = open(path_of(name), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
    perror(name);
    exit(2);
  }
  close(fd);
}

static const shmarray_list_entry *entry(const shmarray_list_entry *e, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(e[i].name, name) == 0) return &e[i];
  return NULL;
}

static void test_gc(const char *argv0) {
  char err[512];
  pid_t dead = publish_in_child(argv0, "orphan", 1);
  CHECK(dead > 0, "a child process publishes an ephemeral segment and exits");
  CHECK(publish_in_child(argv0, "persistent", 0) > 0, "a child publishes a persistent segment and exits");
  CHECK(publish("mine", dir, 1) == SHMARRAY_OK, "this process publishes an ephemeral segment");
  write_file("notes", "not a segment\n");
  char stale[64], live[64], link_name[64];
  snprintf(stale, sizeof stale, ".shmarray-tmp-%d-0123abcd", (int)dead);
  snprintf(live, sizeof live, ".shmarray-tmp-%d-4567ef01", (int)getpid());
  snprintf(link_name, sizeof link_name, ".shmarray-tmp-%d-89abcdef", (int)dead);
  write_file(stale, "left by a writer killed before publishing");
  write_file(live, "a writer still at work");
  char target[512];
  snprintf(target, sizeof target, "%s", path_of("notes"));
  CHECK(symlink(target, path_of(link_name)) == 0, "symlink");

  shmarray_list_entry *e = NULL;
  size_t n = 0;
  CHECK(shmarray_list(dir, &e, &n, err, sizeof err) == SHMARRAY_OK, "list: %s", err);
  CHECK(n == 3, "list shows the three segments and no hidden file (%zu)", n);
  const shmarray_list_entry *o = entry(e, n, "orphan"), *m = entry(e, n, "mine"),
                            *p = entry(e, n, "persistent");
  CHECK(o && o->ephemeral && !o->creator_alive && o->creator_pid == (uint32_t)dead,
        "the dead creator's ephemeral segment is an orphan");
  CHECK(m && m->ephemeral && m->creator_alive && m->creator_pid == (uint32_t)getpid(),
        "a live creator's segment is not");
  CHECK(p && !p->ephemeral && !p->creator_alive, "a persistent segment of a dead creator");
  shmarray_list_free(e);

  size_t removed = 99;
  CHECK(shmarray_gc(dir, 1, &removed, err, sizeof err) == SHMARRAY_OK && removed == 2,
        "dry run: two to remove (%zu): %s", removed, err);
  CHECK(exists("orphan") && exists(stale), "a dry run removes nothing");

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
    _exit(shmarray_gc(dir, 1, &k, NULL, 0) == SHMARRAY_OK && k == 2 ? 0 : 1);
  }
  int status = 0;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "gc in a forked child (status %d)", status);

  removed = 99;
  CHECK(shmarray_gc(dir, 0, &removed, err, sizeof err) == SHMARRAY_OK && removed == 2,
        "gc removes two files (%zu): %s", removed, err);
  CHECK(!exists("orphan"), "the orphan is gone");
  CHECK(!exists(stale), "the dead writer's temporary file is gone");
  CHECK(exists("mine") && exists("persistent") && exists("notes") && exists(live),
        "the live creator's segment, the persistent one, a non-segment and a live writer's file stay");
  struct stat st;
  CHECK(lstat(path_of(link_name), &st) == 0, "the symbolic link stays");
  removed = 99;
  CHECK(shmarray_gc(dir, 0, &removed, NULL, 0) == SHMARRAY_OK && removed == 0, "nothing left to do");
  CHECK(shmarray_gc(dir, 0, NULL, NULL, 0) == SHMARRAY_OK, "removed may be NULL");
  removed = 99;
  CHECK(shmarray_gc("/nonexistent-dir", 0, &removed, err, sizeof err) == SHMARRAY_NOT_FOUND && removed == 0,
        "gc of a missing directory: %s", err);

  unlink(path_of(link_name));
  unlink(path_of(live));
  unlink(path_of("notes"));
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
