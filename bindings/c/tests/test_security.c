/* Security tests of the C reader core (issue 19, spec §10.5, §11.1, §15):
 *
 *  - the directory-swap race: while shmarray_unlink and shmarray_gc run, a
 *    process swaps the segment directory for a symbolic link to another
 *    directory holding a file of the same name and bytes (renameat2
 *    RENAME_EXCHANGE in a loop); the file outside is never removed;
 *  - the opt-in owner check of shmarray_attach_with and shmarray_owner;
 *  - truncation during attach: a process truncates and rewrites a segment
 *    in a loop while another attaches it in a loop; every attach is OK or
 *    an invalid-segment error, never a SIGBUS;
 *  - as root: gc reports each file it cannot remove (a bind mount) and goes
 *    on; creators are judged across pid namespaces (a creator that is pid 1
 *    of a child namespace is alive from outside, a gc inside one never
 *    removes what creators outside made); and two unprivileged users (uids from 61000 without accounts):
 *    the swap made by another user, and gc in a shared sticky directory,
 *    where a user's gc skips the other's files without failing and root's
 *    removes another user's temporary file only when it carries the magic.
 *    Skipped, with the reason printed, when not root.
 *
 * Helper processes are this program, exec'd with a mode as argv[1]. Prints
 * "N passed, N failed" last; exits non-zero on any failure. */
#define _GNU_SOURCE /* renameat2, setgroups, mount, nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmarray.h"
#include "check.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static const char *argv0;

/* ---- Files --------------------------------------------------------------- */

static void die(const char *what) {
  perror(what);
  exit(2);
}

/* A fresh directory /tmp/shmarray-sec-XXXXXX with exactly mode, in buf. */
static void temp_dir(char *buf, size_t n, mode_t mode) {
  snprintf(buf, n, "/tmp/shmarray-sec-XXXXXX");
  if (!mkdtemp(buf) || chmod(buf, mode) != 0) die("mkdtemp");
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st;
  (void)f;
  if (flag == FTW_DP) return rmdir(p), 0;
  return unlink(p), 0;
}

static void rm_rf(const char *p) { nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static unsigned char *read_all(const char *path, size_t *n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  unsigned char *b = NULL;
  if (fstat(fd, &st) == 0 && (b = malloc((size_t)st.st_size + 1)) &&
      read(fd, b, (size_t)st.st_size) != (ssize_t)st.st_size) {
    free(b);
    b = NULL;
  }
  close(fd);
  *n = b ? (size_t)st.st_size : 0;
  return b;
}

static void write_at(int dirfd, const char *name, const void *b, size_t n) {
  int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, b, n) != (ssize_t)n) die(name);
  close(fd);
}

static void write_path(const char *dir, const char *name, const void *b, size_t n) {
  int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) die(dir);
  write_at(d, name, b, n);
  close(d);
}

static char *join(const char *dir, const char *name) {
  static char buf[4][1024];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", dir, name);
  return p;
}

/* ---- Segments made by the writer ------------------------------------------ */

/* Publishes `name` in `in`: one int64 array of n values; ephemeral if asked. */
static int publish(const char *name, const char *in, int ephemeral, int64_t n) {
  char err[512];
  shmarray_builder *b = NULL;
  shmarray_create_options opts = {.flags = ephemeral ? SHMARRAY_CREATE_EPHEMERAL : 0};
  int rc = shmarray_create(name, in, &opts, &b, err, sizeof err);
  if (rc) {
    fprintf(stderr, "create %s: %s\n", name, err);
    return rc;
  }
  int64_t *x = calloc((size_t)n, sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = i + 1;
  shmarray_array_spec spec = {.type = SHMARRAY_TYPE_INT64, .length = n, .data = x};
  rc = shmarray_builder_add(b, "x", &spec, err, sizeof err);
  free(x);
  if (rc) {
    fprintf(stderr, "add: %s\n", err);
    shmarray_builder_discard(b);
    return rc;
  }
  return shmarray_builder_publish(b, err, sizeof err);
}

/* Runs this program with the given mode and arguments (NULL-terminated),
 * as uid (and gid) `as` unless it is 0, with stdout on *out (a pipe) if out
 * is not NULL. Returns the pid. */
static pid_t spawn(uid_t as, int *out, const char *mode, ...) {
  const char *args[8] = {argv0, mode};
  int k = 2;
  va_list ap;
  va_start(ap, mode);
  const char *a;
  while (k < 7 && (a = va_arg(ap, const char *))) args[k++] = a;
  va_end(ap);
  args[k] = NULL;
  int p[2] = {-1, -1};
  if (out && pipe(p) != 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    if (out) {
      dup2(p[1], 1);
      close(p[0]);
      close(p[1]);
    }
    if (as && (setgroups(0, NULL) != 0 || setgid(as) != 0 || setuid(as) != 0)) _exit(125);
    execv(argv0, (char *const *)args);
    _exit(126);
  }
  if (out) {
    close(p[1]);
    *out = p[0];
  }
  return pid;
}

/* Exit status of pid as a code: its exit code, or 128 + signal. */
static int reap(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* One line from fd (without the newline), up to n - 1 bytes. */
static char *read_line(int fd, char *buf, size_t n) {
  size_t i = 0;
  while (i + 1 < n) {
    ssize_t r = read(fd, buf + i, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || buf[i] == '\n') break;
    i++;
  }
  buf[i] = '\0';
  return buf;
}

/* Publishes `name` in `in` from a process that exits at once; its pid. */
static pid_t publish_in_child(const char *name, const char *in, int ephemeral) {
  pid_t pid = spawn(0, NULL, "--publish", name, in, ephemeral ? "1" : "0", (char *)NULL);
  return reap(pid) == 0 ? pid : -1;
}

/* A pid that no process has now: a child that exited. */
static pid_t dead_pid(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  reap(pid);
  return pid;
}

/* ---- The directory-swap rig (internal/sectest/swap.go) ------------------- */

typedef struct rig {
  char base[64], segs[128], outside[128], swap[128];
  int real_fd; /* the real segment directory, refilled through it */
  pid_t swapper;
  int swapper_out;
  long swaps;
  const unsigned char *canary;
  size_t canary_len;
} rig;

/* base/segs flips between the real directory and a link to base/outside,
 * which holds name with the same bytes as the file the tool must remove. */
static void rig_start(rig *r, const char *name, const unsigned char *content, size_t n, uid_t as) {
  memset(r, 0, sizeof *r);
  temp_dir(r->base, sizeof r->base, 0755);
  snprintf(r->segs, sizeof r->segs, "%s/segs", r->base);
  snprintf(r->outside, sizeof r->outside, "%s/outside", r->base);
  snprintf(r->swap, sizeof r->swap, "%s/swap", r->base);
  if (mkdir(r->segs, 0755) != 0 || mkdir(r->outside, 0700) != 0 || symlink(r->outside, r->swap) != 0)
    die("rig");
  write_path(r->outside, name, content, n);
  r->canary = content;
  r->canary_len = n;
  if ((r->real_fd = open(r->segs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) die("segs");
  if (as) { /* the other user owns the parent and the directory it swaps */
    if (lchown(r->base, as, as) != 0 || lchown(r->segs, as, as) != 0 || lchown(r->swap, as, as) != 0)
      die("lchown");
  }
  r->swapper = spawn(as, &r->swapper_out, "--swap", r->segs, r->swap, (char *)NULL);
  char line[64];
  read_line(r->swapper_out, line, sizeof line);
  if (strcmp(line, "swapping") != 0) {
    fprintf(stderr, "the swapper did not start (%s)\n", line);
    exit(2);
  }
}

static void rig_halt(rig *r) {
  if (r->swapper <= 0) return;
  kill(r->swapper, SIGTERM);
  char line[64];
  r->swaps = atol(read_line(r->swapper_out, line, sizeof line));
  close(r->swapper_out);
  reap(r->swapper);
  r->swapper = 0;
  struct stat st;
  if (lstat(r->segs, &st) == 0 && S_ISLNK(st.st_mode))
    syscall(SYS_renameat2, AT_FDCWD, r->segs, AT_FDCWD, r->swap, RENAME_EXCHANGE);
}

/* Puts name back into the real directory if the tool removed it. */
static int refill(rig *r, const char *name) {
  struct stat st;
  if (fstatat(r->real_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) return 0;
  write_at(r->real_fd, name, r->canary, r->canary_len);
  return 1;
}

static int canary_ok(rig *r, const char *name) {
  size_t n;
  unsigned char *b = read_all(join(r->outside, name), &n);
  int ok = b && n == r->canary_len && memcmp(b, r->canary, n) == 0;
  free(b);
  return ok;
}

/* Runs op at least rounds times against the swapping, refilling the real
 * directory, and on (up to 20 times as many rounds) until op has removed
 * the real file a few times: the canary outside must survive every round,
 * and op must have removed the real file and the directory have been
 * swapped (the race was run, not dodged). */
static void race(const char *what, const char *name, const unsigned char *content, size_t n,
                 int rounds, uid_t as, int (*op)(const char *dir)) {
  rig r;
  rig_start(&r, name, content, n, as);
  refill(&r, name);
  int removed = 0, lost = -1, i;
  for (i = 0; (i < rounds || removed < 3) && i < 20 * rounds && lost < 0; i++) {
    op(r.segs); /* errors are expected while segs is a link */
    removed += refill(&r, name);
    if (!canary_ok(&r, name)) lost = i;
  }
  rig_halt(&r);
  CHECK(lost < 0 && canary_ok(&r, name), "%s: the file outside the directory was removed (round %d)",
        what, lost);
  CHECK(removed > 0, "%s: the tool never removed the file it was meant to: the race was not run",
        what);
  CHECK(r.swaps > 0, "%s: the directory was never swapped", what);
  printf("  %s: %d rounds, %d removals from the real directory, %ld swaps\n", what, i, removed,
         r.swaps);
  close(r.real_fd);
  rm_rf(r.base);
}

static int op_unlink(const char *dir) { return shmarray_unlink("canary", dir, NULL, 0); }
static int op_gc(const char *dir) { return shmarray_gc(dir, 0, NULL, NULL, 0); }

/* The bytes of a published segment, and of an orphan (ephemeral, creator
 * exited). */
static unsigned char *segment_bytes(const char *scratch, int orphan, size_t *n) {
  const char *name = orphan ? "orphan-model" : "segment-model";
  int rc = orphan ? (publish_in_child(name, scratch, 1) > 0 ? 0 : 1) : publish(name, scratch, 0, 3);
  if (rc) die("publish");
  unsigned char *b = read_all(join(scratch, name), n);
  unlink(join(scratch, name));
  if (!b) die("read");
  return b;
}

static void test_swap_races(const char *scratch, uid_t as, int rounds) {
  size_t ns, no;
  unsigned char *seg = segment_bytes(scratch, 0, &ns), *orphan = segment_bytes(scratch, 1, &no);
  static unsigned char zeros[4096];
  char temp[64];
  snprintf(temp, sizeof temp, ".shmarray-tmp-%d-0123abcd", (int)dead_pid());
  const char *who = as ? " (swapped by another user)" : "";
  char what[3][128];
  snprintf(what[0], sizeof what[0], "shmarray_unlink%s", who);
  snprintf(what[1], sizeof what[1], "shmarray_gc of an orphan%s", who);
  snprintf(what[2], sizeof what[2], "shmarray_gc of a temporary file%s", who);
  race(what[0], "canary", seg, ns, rounds, as, op_unlink);
  race(what[1], "canary", orphan, no, rounds, as, op_gc);
  race(what[2], temp, zeros, sizeof zeros, rounds, as, op_gc);
  free(seg);
  free(orphan);
}

/* ---- The owner check ------------------------------------------------------ */

static void test_owner(const char *scratch, uid_t other) {
  char err[1024];
  CHECK(publish("owned", scratch, 0, 3) == SHMARRAY_OK, "publish owned");
  uint32_t me = (uint32_t)geteuid(), stranger = me + 12345;
  shmarray_segment *seg = NULL;
  shmarray_attach_options opts = {.dir = scratch, .owners = &me, .owner_count = 1};
  CHECK(shmarray_attach_with("owned", &opts, &seg, err, sizeof err) == SHMARRAY_OK,
        "attach trusting my own uid: %s", err);
  uint32_t uid = 99, mode = 99;
  CHECK(shmarray_owner(seg, &uid, &mode) == SHMARRAY_OK && uid == me && mode == 0600,
        "shmarray_owner: uid %u mode %o", uid, mode);
  CHECK(shmarray_owner(seg, NULL, NULL) == SHMARRAY_OK, "either pointer may be NULL");
  shmarray_close(seg);
  CHECK(shmarray_owner(NULL, &uid, &mode) == SHMARRAY_INVALID_ARGUMENT, "shmarray_owner(NULL)");

  seg = NULL;
  opts.owners = &stranger;
  int rc = shmarray_attach_with("owned", &opts, &seg, err, sizeof err);
  char want[256];
  snprintf(want, sizeof want, "is owned by uid %u, who is not among the trusted owners [%u]; not attached",
           me, stranger);
  CHECK(rc == SHMARRAY_PERMISSION_DENIED && seg == NULL && strstr(err, want) &&
            strstr(err, "shmarray_attach_options.owners"),
        "another owner is refused: %s", err);
  uint32_t both[2] = {stranger, me};
  opts.owners = both;
  opts.owner_count = 2;
  CHECK(shmarray_attach_with("owned", &opts, &seg, err, sizeof err) == SHMARRAY_OK,
        "one of several trusted owners: %s", err);
  shmarray_close(seg);
  opts.owners = NULL;
  CHECK(shmarray_attach_with("owned", &opts, &seg, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "owners NULL with a count: %s", err);
  char *saved = getenv("SHMARRAY_DIR") ? strdup(getenv("SHMARRAY_DIR")) : NULL;
  setenv("SHMARRAY_DIR", scratch, 1);
  CHECK(shmarray_attach_with("owned", NULL, &seg, err, sizeof err) == SHMARRAY_OK,
        "opts NULL is a plain attach in the default directory: %s", err);
  shmarray_close(seg);
  if (saved) setenv("SHMARRAY_DIR", saved, 1); else unsetenv("SHMARRAY_DIR");
  free(saved);

  if (other) { /* the file now belongs to another user, readable by its group */
    const char *path = join(scratch, "owned");
    CHECK(chown(path, other, other) == 0 && chmod(path, 0640) == 0, "chown");
    opts.owners = &me;
    opts.owner_count = 1;
    rc = shmarray_attach_with("owned", &opts, &seg, err, sizeof err);
    CHECK(rc == SHMARRAY_PERMISSION_DENIED, "a file of uid %u, trusting only %u: %s", other, me, err);
    CHECK(shmarray_attach("owned", scratch, &seg, err, sizeof err) == SHMARRAY_OK, "no check: %s", err);
    CHECK(shmarray_owner(seg, &uid, &mode) == SHMARRAY_OK && uid == other && mode == 0640,
          "the owner of the descriptor: uid %u mode %o", uid, mode);
    shmarray_close(seg);
  }
  unlink(join(scratch, "owned"));
}

/* ---- Truncation during attach --------------------------------------------- */

static void test_truncation(const char *scratch) {
  CHECK(publish("shrinking", scratch, 0, 4096) == SHMARRAY_OK, "publish shrinking");
  int out;
  pid_t owner = spawn(0, &out, "--truncate", join(scratch, "shrinking"), (char *)NULL);
  char line[256];
  CHECK(strcmp(read_line(out, line, sizeof line), "truncating") == 0, "the truncater started");
  int aout;
  pid_t reader = spawn(0, &aout, "--attach-loop", scratch, "shrinking", (char *)NULL);
  read_line(aout, line, sizeof line);
  int status = reap(reader);
  close(aout);
  kill(owner, SIGTERM);
  reap(owner);
  close(out);
  CHECK(status == 0, "the attaching process died or failed (status %d: %d is SIGBUS)", status,
        128 + SIGBUS);
  long ok = -1, invalid = -1, bad = -1;
  CHECK(sscanf(line, "ok %ld invalid %ld bad %ld", &ok, &invalid, &bad) == 3 && bad == 0 &&
            ok + invalid > 0,
        "every attach during truncation is OK or an invalid-segment error: %s", line);
  printf("  attaches while the owner truncated: %s\n", line);
  unlink(join(scratch, "shrinking"));
}

/* ---- Root only ------------------------------------------------------------- */

/* gc reports each file it cannot remove (a bind mount: EBUSY), naming it,
 * one per line, and goes on with the rest. */
static void test_gc_reports_failures(void) {
  char d[64], err[4096];
  temp_dir(d, sizeof d, 0700);
  const char *names[] = {"a-stuck", "b-free", "c-stuck"};
  for (int i = 0; i < 3; i++) CHECK(publish_in_child(names[i], d, 1) > 0, "orphan %s", names[i]);
  char a[256], c[256];
  snprintf(a, sizeof a, "%s", join(d, "a-stuck"));
  snprintf(c, sizeof c, "%s", join(d, "c-stuck"));
  if (mount(a, a, NULL, MS_BIND, NULL) != 0 || mount(c, c, NULL, MS_BIND, NULL) != 0) {
    printf("  skipped: gc failure report: bind mount: %s\n", strerror(errno));
    umount2(a, MNT_DETACH);
    rm_rf(d);
    return;
  }
  size_t removed = 99;
  int rc = shmarray_gc(d, 0, &removed, err, sizeof err);
  char *nl = strchr(err, '\n');
  CHECK(rc == SHMARRAY_IO_ERROR && removed == 1, "gc past two failures: %s, %zu removed: %s",
        shmarray_error_name(rc), removed, err);
  CHECK(nl && strchr(nl + 1, '\n') == NULL && strstr(err, a) && strstr(err, c) &&
            strstr(err, "remove orphaned segment"),
        "each failure names its file, one per line: %s", err);
  CHECK(access(join(d, "b-free"), F_OK) != 0, "the free orphan was removed");
  umount2(a, MNT_DETACH);
  umount2(c, MNT_DETACH);
  rm_rf(d);
}

/* Two unused uids (no account, no group) from 61000. */
static int free_ids(uid_t ids[2]) {
  int k = 0;
  for (uid_t id = 61000; id < 62000 && k < 2; id++)
    if (!getpwuid(id) && !getgrgid(id)) ids[k++] = id;
  return k == 2;
}

/* In a shared sticky directory: user A's gc removes A's own leftover and
 * skips B's orphan and B's temporary files without failing; root's gc
 * removes B's orphan and B's temporary file that carries the magic, and
 * leaves the one that holds only zeros. */
static void test_sticky_gc(uid_t a, uid_t b) {
  char d[64];
  temp_dir(d, sizeof d, 01777);
  CHECK(publish_in_child("b-orphan", d, 1) > 0, "B's orphan");
  pid_t dead = dead_pid();
  char b_magic[64], b_zeros[64], a_zeros[64];
  snprintf(b_magic, sizeof b_magic, ".shmarray-tmp-%d-01", (int)dead);
  snprintf(b_zeros, sizeof b_zeros, ".shmarray-tmp-%d-00", (int)dead);
  snprintf(a_zeros, sizeof a_zeros, ".shmarray-tmp-%d-aa", (int)dead);
  unsigned char head[128] = "SHMARRAY";
  static const unsigned char zeros[128];
  write_path(d, b_magic, head, sizeof head);
  write_path(d, b_zeros, zeros, sizeof zeros);
  write_path(d, a_zeros, zeros, sizeof zeros);
  CHECK(lchown(join(d, "b-orphan"), b, b) == 0 && lchown(join(d, b_magic), b, b) == 0 &&
            lchown(join(d, b_zeros), b, b) == 0 && lchown(join(d, a_zeros), a, a) == 0,
        "chown");
  int out;
  pid_t pid = spawn(a, &out, "--gc", d, (char *)NULL);
  char line[512];
  read_line(out, line, sizeof line);
  close(out);
  CHECK(reap(pid) == 0 && strcmp(line, "OK 1") == 0,
        "A's gc removes A's leftover only and does not fail on B's files: %s", line);
  CHECK(access(join(d, a_zeros), F_OK) != 0, "A's leftover is gone");
  char err[1024];
  size_t removed = 0;
  CHECK(shmarray_gc(d, 0, &removed, err, sizeof err) == SHMARRAY_OK && removed == 2,
        "root's gc: %zu removed: %s", removed, err);
  CHECK(access(join(d, "b-orphan"), F_OK) != 0 && access(join(d, b_magic), F_OK) != 0,
        "root removes B's orphan and B's temporary file with the magic");
  CHECK(access(join(d, b_zeros), F_OK) == 0,
        "root leaves another user's temporary file that does not carry the magic");
  rm_rf(d);
}

/* Runs this program with mode and args as pid 1 of a new pid and mount
 * namespace with its own /proc (as a container), stdin and stdout on *in
 * and *out; returns the pid of the process outside that waits for it, or -1
 * if namespaces cannot be made here. */
static pid_t spawn_in_pidns(int *in, int *out, const char *mode, const char *a, const char *b) {
  int pin[2], pout[2];
  if (pipe(pin) != 0 || pipe(pout) != 0) die("pipe");
  pid_t outer = fork();
  if (outer < 0) die("fork");
  if (outer == 0) {
    dup2(pin[0], 0);
    dup2(pout[1], 1);
    close(pin[0]);
    close(pin[1]);
    close(pout[0]);
    close(pout[1]);
    if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) _exit(120);
    pid_t inner = fork();
    if (inner == 0) {
      if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
          mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        _exit(121);
      execl(argv0, argv0, mode, a, b, (char *)NULL);
      _exit(126);
    }
    _exit(inner > 0 ? reap(inner) : 122);
  }
  close(pin[0]);
  close(pout[1]);
  *in = pin[1];
  *out = pout[0];
  return outer;
}

/* Creators judged across pid namespaces (spec §10.5): a creator that is
 * pid 1 of a child namespace is alive seen from here, and an orphan once it
 * exits; a gc inside a child namespace takes the creators outside it,
 * alive or not, for unknown and removes none of their segments. */
static void test_pid_namespaces(void) {
  char d[64], line[256], err[1024];
  temp_dir(d, sizeof d, 0700);
  int in, out;
  pid_t outer = spawn_in_pidns(&in, &out, "--pidns-creator", d, "inner");
  read_line(out, line, sizeof line);
  if (strncmp(line, "ready", 5) != 0) {
    close(in);
    int st = reap(outer);
    printf("  skipped: pid namespaces cannot be made here (status %d)\n", st);
    close(out);
    rm_rf(d);
    return;
  }
  CHECK(strcmp(line, "ready 1") == 0, "the creator is pid 1 of its namespace: %s", line);
  shmarray_list_entry *e = NULL;
  size_t n = 0, removed = 99;
  CHECK(shmarray_list(d, &e, &n, err, sizeof err) == SHMARRAY_OK && n == 1, "list: %s", err);
  CHECK(n == 1 && e[0].creator_pid == 1 && e[0].creator_alive && !e[0].creator_unknown,
        "pid 1 here is another process, but the creator runs below: alive");
  shmarray_list_free(e);
  CHECK(shmarray_gc(d, 0, &removed, err, sizeof err) == SHMARRAY_OK && removed == 0,
        "gc removes nothing while it runs: %zu: %s", removed, err);
  close(in);
  CHECK(reap(outer) == 0, "the creator exited");
  close(out);
  CHECK(shmarray_list(d, &e, &n, err, sizeof err) == SHMARRAY_OK && n == 1 && e[0].ephemeral &&
            !e[0].creator_alive && !e[0].creator_unknown,
        "an orphan once it exited");
  shmarray_list_free(e);
  CHECK(shmarray_gc(d, 0, &removed, err, sizeof err) == SHMARRAY_OK && removed == 1,
        "gc removes it: %zu: %s", removed, err);

  /* gc inside a child namespace: the creators outside started before it. */
  CHECK(publish("outside-alive", d, 1, 3) == SHMARRAY_OK, "publish outside-alive");
  CHECK(publish_in_child("outside-dead", d, 1) > 0, "publish outside-dead");
  /* Start times count clock ticks (100 a second): the namespace must start
   * a tick later than the creators outside, or they could pass for its own. */
  struct timespec tick = {0, 50 * 1000 * 1000};
  nanosleep(&tick, NULL);
  outer = spawn_in_pidns(&in, &out, "--pidns-gc", d, "-");
  close(in);
  read_line(out, line, sizeof line);
  CHECK(reap(outer) == 0 && strcmp(line, "unknown 2 removed 0") == 0,
        "inside a child namespace the creators outside are unknown, none removed: %s", line);
  close(out);
  CHECK(shmarray_gc(d, 0, &removed, err, sizeof err) == SHMARRAY_OK && removed == 1 &&
            access(join(d, "outside-dead"), F_OK) != 0 && access(join(d, "outside-alive"), F_OK) == 0,
        "from here the dead one is an orphan: %zu: %s", removed, err);
  rm_rf(d);
}

static void test_root(const char *scratch) {
  if (geteuid() != 0) {
    printf("  skipped: the gc failure report, the pid namespace and the two-user tests need root "
           "(run as root to include them)\n");
    return;
  }
  test_gc_reports_failures();
  test_pid_namespaces();
  uid_t ids[2];
  if (!free_ids(ids)) {
    printf("  skipped: two-user tests: no two free uids from 61000\n");
    return;
  }
  pid_t probe = spawn(ids[0], NULL, "--noop", (char *)NULL);
  int st = reap(probe);
  if (st != 0) {
    printf("  skipped: two-user tests: uid %u cannot run %s (status %d; put the build where "
           "others may read it)\n",
           (unsigned)ids[0], argv0, st);
    return;
  }
  test_owner(scratch, ids[0]);
  test_swap_races(scratch, ids[0], 150);
  test_sticky_gc(ids[0], ids[1]);
}

/* ---- Helper processes ------------------------------------------------------ */

static volatile sig_atomic_t stop;
static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static int child_main(int argc, char **argv) {
  const char *mode = argv[1];
  if (strcmp(mode, "--noop") == 0) return 0;
  if (strcmp(mode, "--publish") == 0 && argc == 5)
    return publish(argv[2], argv[3], strcmp(argv[4], "1") == 0, 3) == SHMARRAY_OK ? 0 : 1;
  signal(SIGTERM, on_term);
  if (strcmp(mode, "--swap") == 0 && argc == 4) {
    printf("swapping\n");
    fflush(stdout);
    long n = 0;
    while (!stop)
      if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], RENAME_EXCHANGE) == 0) n++;
    printf("%ld\n", n);
    return 0;
  }
  if (strcmp(mode, "--truncate") == 0 && argc == 3) {
    size_t n;
    unsigned char *whole = read_all(argv[2], &n);
    int fd = open(argv[2], O_RDWR | O_CLOEXEC);
    if (!whole || fd < 0) return 1;
    printf("truncating\n");
    fflush(stdout);
    off_t sizes[4] = {0, 64, 130, (off_t)n - 1};
    for (int i = 0; !stop; i++) {
      if (ftruncate(fd, sizes[i % 4]) != 0 || pwrite(fd, whole, n, 0) != (ssize_t)n) return 1;
    }
    return pwrite(fd, whole, n, 0) == (ssize_t)n ? 0 : 1;
  }
  if (strcmp(mode, "--attach-loop") == 0 && argc == 4) {
    long ok = 0, invalid = 0, bad = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
      char err[1024];
      shmarray_segment *seg = NULL;
      int rc = shmarray_attach(argv[3], argv[2], &seg, err, sizeof err);
      if (rc == SHMARRAY_OK) {
        ok++;
        shmarray_close(seg);
      } else if (rc >= SHMARRAY_NOT_A_SEGMENT && rc <= SHMARRAY_DUPLICATE_NAME) {
        invalid++;
      } else {
        bad++;
        fprintf(stderr, "%s\n", err);
      }
      clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 300);
    printf("ok %ld invalid %ld bad %ld\n", ok, invalid, bad);
    return 0;
  }
  if (strcmp(mode, "--pidns-creator") == 0 && argc == 4) {
    if (publish(argv[3], argv[2], 1, 3) != SHMARRAY_OK) return 1;
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    _exit(0); /* no unlink on exit: an orphan */
  }
  if (strcmp(mode, "--pidns-gc") == 0 && argc == 4) {
    shmarray_list_entry *e = NULL;
    size_t n = 0, unknown = 0, removed = 0;
    if (shmarray_list(argv[2], &e, &n, NULL, 0) != SHMARRAY_OK) return 1;
    for (size_t i = 0; i < n; i++) unknown += e[i].creator_unknown && !e[i].creator_alive;
    shmarray_list_free(e);
    if (shmarray_gc(argv[2], 0, &removed, NULL, 0) != SHMARRAY_OK) return 1;
    printf("unknown %zu removed %zu\n", unknown, removed);
    return 0;
  }
  if (strcmp(mode, "--gc") == 0 && argc == 3) {
    char err[2048] = "";
    size_t removed = 0;
    int rc = shmarray_gc(argv[2], 0, &removed, err, sizeof err);
    printf("%s %zu\n", shmarray_error_name(rc), removed);
    if (rc) fprintf(stderr, "%s\n", err);
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}

int main(int argc, char **argv) {
  argv0 = argv[0];
  if (argc > 1) return child_main(argc, argv);
  char scratch[64];
  temp_dir(scratch, sizeof scratch, 0755);
  setvbuf(stdout, NULL, _IONBF, 0);
  test_swap_races(scratch, 0, 300);
  test_owner(scratch, 0);
  test_truncation(scratch);
  test_root(scratch);
  rm_rf(scratch);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
