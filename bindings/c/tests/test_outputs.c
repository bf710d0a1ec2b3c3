/* Tests of shared outputs (spec §10.6) through the C ABI: a token from
 * shmarray_builder_output, outputs opened in this process and in a child
 * made by fork() (plain C: no Go runs there), shmarray_builder_wait_writers
 * timing out while a child writes and naming it, publish of what the
 * writers wrote, and outputs refused after publish and for bad tokens.
 * Prints "N passed, N failed" last; exits non-zero on any failure. */
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

static char dir[] = "/tmp/shmarray-outputs-XXXXXX";
static const char *self; /* argv[0] */

#define ROWS 4096

/* In a forked child: open the output, write value into rows [lo, hi), then
 * (if hold) tell the parent through fd `ready` and wait for it to close
 * `go`. Exits 0 on success. */
static void child(const char *token, int lo, int hi, int64_t value, int ready, int go) {
  char err[1024];
  shmarray_output *out = NULL;
  if (shmarray_output_open(token, &out, err, sizeof err) != SHMARRAY_OK) {
    fprintf(stderr, "child: %s\n", err);
    _exit(1);
  }
  size_t len = 0;
  int64_t *rows = shmarray_output_data(out, &len);
  if (len != ROWS * sizeof(int64_t)) _exit(2);
  for (int i = lo; i < hi; i++) rows[i] = value + i;
  if (ready >= 0) {
    char c = 'r';
    if (write(ready, &c, 1) != 1) _exit(3);
    if (read(go, &c, 1) < 0) _exit(4); /* EOF when the parent closes it */
  }
  shmarray_output_close(out);
  _exit(0);
}

static void test_outputs(void) {
  char err[2048] = "", token[SHMARRAY_OUTPUT_TOKEN_MAX];
  shmarray_builder *b = NULL;
  int rc = shmarray_create("out", dir, NULL, &b, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "create: %s", err);
  if (rc) return;
  shmarray_array_spec spec = {.type = SHMARRAY_TYPE_INT64, .length = ROWS};
  void *data = NULL;
  size_t size = 0;
  rc = shmarray_builder_add_empty(b, "x", &spec, &data, &size, err, sizeof err);
  CHECK(rc == SHMARRAY_OK && size == ROWS * 8, "add_empty: %s", err);
  int64_t copied = 5;
  shmarray_array_spec one = {.type = SHMARRAY_TYPE_INT64, .length = 1, .data = &copied};
  CHECK(shmarray_builder_add(b, "copied", &one, err, sizeof err) == SHMARRAY_OK, "add: %s", err);

  CHECK(shmarray_builder_output(b, "nope", token, sizeof token, err, sizeof err) ==
            SHMARRAY_NOT_FOUND,
        "output of a missing array");
  CHECK(shmarray_builder_output(b, "copied", token, sizeof token, err, sizeof err) ==
            SHMARRAY_INVALID_ARGUMENT,
        "output of a copied array");
  CHECK(shmarray_builder_output(b, "x", token, 8, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "a token buffer too small");
  rc = shmarray_builder_output(b, "x", token, sizeof token, err, sizeof err);
  CHECK(rc == SHMARRAY_OK && strncmp(token, "shmout1:", 8) == 0, "output token: %s", err);
  if (rc) {
    shmarray_builder_discard(b);
    return;
  }

  /* The list shows the segment being built, under its hidden name. */
  shmarray_list_entry *entries = NULL;
  size_t count = 0;
  rc = shmarray_list(dir, &entries, &count, err, sizeof err);
  CHECK(rc == SHMARRAY_OK && count == 1, "list while building: %s (%zu entries)", err, count);
  if (rc == SHMARRAY_OK && count == 1)
    CHECK(entries[0].building == 1 && entries[0].status == SHMARRAY_NOT_SEALED &&
              strncmp(entries[0].name, ".shmarray-tmp-", 14) == 0 &&
              entries[0].creator_pid == (uint32_t)getpid(),
          "the entry is marked building: %s", entries[0].name);
  shmarray_list_free(entries);

  /* This process writes rows [0, 1024) through its own output. */
  shmarray_output *mine = NULL;
  rc = shmarray_output_open(token, &mine, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "open in the builder's process: %s", err);
  if (mine) {
    int64_t *rows = shmarray_output_data(mine, NULL);
    for (int i = 0; i < 1024; i++) rows[i] = 1000 + i;
    /* Finished: no lock any more (publish below does not wait for it), the
     * rows stay readable until the close after publish. */
    CHECK(shmarray_output_finish(mine, err, sizeof err) == SHMARRAY_OK, "finish: %s", err);
    CHECK(shmarray_output_finish(mine, err, sizeof err) == SHMARRAY_OK, "finish twice");
    CHECK(shmarray_output_finish(NULL, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT, "finish NULL");
  }

  /* The same through a fresh process under valgrind, which runs the C
   * core alone (no Go: it cannot run under valgrind): `--read-only DIR`
   * opens the output whose token is in DIR/token. */
  char path[300];
  snprintf(path, sizeof path, "%s/token", dir);
  FILE *f = fopen(path, "w");
  CHECK(f && fputs(token, f) >= 0 && fclose(f) == 0, "write %s", path);
  int st = run_read_only_under_valgrind(self, dir);
  if (st >= 0) CHECK(st == 0, "an output opened and filled under valgrind (status %d)", st);
  unlink(path);

  /* A forked child writes [1024, 2048) and exits; another writes
   * [2048, 4096) and holds its output open until told. */
  pid_t quick = fork();
  if (quick == 0) child(token, 1024, 2048, 1000, -1, -1);
  int ready[2], go[2];
  if (pipe(ready) || pipe(go)) {
    CHECK(0, "pipe");
    return;
  }
  pid_t holder = fork();
  if (holder == 0) {
    close(ready[0]);
    close(go[1]);
    child(token, 2048, ROWS, 1000, ready[1], go[0]);
  }
  close(ready[1]);
  close(go[0]);
  char c;
  CHECK(read(ready[0], &c, 1) == 1, "the holding child is ready");
  int status = -1;
  waitpid(quick, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the quick child (status %d)", status);

  rc = shmarray_builder_wait_writers(b, 200, err, sizeof err);
  char pid[32];
  snprintf(pid, sizeof pid, "processes %d", (int)holder);
  CHECK(rc == SHMARRAY_IO_ERROR && strstr(err, pid) && strstr(err, "still write"),
        "wait_writers names the writer (rc %d): %s", rc, err);
  CHECK(shmarray_builder_wait_writers(b, -1, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
        "a negative timeout");

  close(go[1]); /* the holder closes its output and exits */
  waitpid(holder, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the holding child (status %d)", status);
  close(ready[0]);
  rc = shmarray_builder_wait_writers(b, 10000, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "wait_writers once the writers are gone: %s", err);
  shmarray_output *late = NULL;
  rc = shmarray_output_open(token, &late, err, sizeof err);
  CHECK(rc == SHMARRAY_CLOSED && strstr(err, "being published"), "open while publishing: %s", err);
  rc = shmarray_builder_publish(b, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "publish: %s", err);

  shmarray_segment *seg = NULL;
  rc = shmarray_attach("out", dir, &seg, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "attach: %s", err);
  if (seg) {
    shmarray_view v;
    CHECK(shmarray_array_view(seg, 0, &v) == SHMARRAY_OK, "view");
    int wrong = 0;
    for (int i = 0; i < ROWS; i++) wrong += ((const int64_t *)v.data)[i] != 1000 + i;
    CHECK(wrong == 0, "%d rows differ from what the writers wrote", wrong);
    CHECK(shmarray_validate(seg, err, sizeof err) == SHMARRAY_OK, "validate: %s", err);
    shmarray_close(seg);
  }
  if (mine) {
    const int64_t *rows = shmarray_output_data(mine, NULL);
    CHECK(rows[0] == 1000 && rows[1023] == 2023, "a finished output still reads its rows");
    shmarray_output_close(mine);
  }
  rc = shmarray_output_open(token, &late, err, sizeof err);
  CHECK(rc == SHMARRAY_CLOSED && strstr(err, "published") && late == NULL,
        "open after publish: %s", err);
}

static void test_bad_tokens(void) {
  char err[1024];
  static const char *bad[] = {
      "", "shmout1", "shmout2:1:2:3:4:2f:2e:73:61", "shmout1:x:2:3:4:2f:2e:73:61",
      "shmout1:1:2:18446744073709551615:4:2f:2e7368:73:61",
      "shmout1:1:2:3:4:zz:2e:73:61", "shmout1:1:2:3:4:2f:73656700:73:61",
      "shmout1:1:2:3:4:2f:736567:73:61", /* "seg": not a hidden name */
      "shmout1:1:2:3:4:2f:2e7368:73:61:extra",
      "shmout1:99999999999999999999:2:3:4:2f:2e7368:73:61",
      /* a valid token for comparison, then what the builder never makes: */
      /* dir "/d", file ".shmarray-tmp-1-0123456789abcdef-s", name "s", array "a" */
#define FILE_S "2e73686d61727261792d746d702d312d303132333435363738396162636465662d73"
      "shmout1:01:2:3:4:2f64:" FILE_S ":73:61",             /* a leading zero */
      "shmout1:1:2:3:4:64:" FILE_S ":73:61",                /* relative dir "d" */
      "shmout1:1:2:3:4:2f642f2e2e2f65:" FILE_S ":73:61",    /* "/d/../e" */
      "shmout1:1:2:3:4:2f642f:" FILE_S ":73:61",            /* "/d/" */
      "shmout1:1:2:3:4:2f2f64:" FILE_S ":73:61",            /* "//d" */
      "shmout1:1:2:3:4:2f64:" FILE_S ":74:61",              /* segment "t", not the file's "s" */
      "shmout1:1:2:3:4:2f64:2e73686d61727261792d746d702d616e797468696e67:73:61", /* -anything */
      "shmout1:1:2:3:4:2f64:" FILE_S ":2e2e:61",            /* segment "..": not a segment name */
      "\x1b[31mshmout1:1:2:3:4:2f64:" FILE_S ":73:61",     /* a control character */
  };
  {
    char ok[512];
    snprintf(ok, sizeof ok, "shmout1:1:2:3:4:2f64:%s:73:61", FILE_S);
    shmarray_output *o = NULL;
    int rc = shmarray_output_open(ok, &o, err, sizeof err);
    CHECK(rc == SHMARRAY_NOT_FOUND && o == NULL,
          "the valid token parses (then /d is missing: rc %d): %s", rc, err);
  }
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    shmarray_output *o = (shmarray_output *)1;
    int rc = shmarray_output_open(bad[i], &o, err, sizeof err);
    CHECK(rc == SHMARRAY_INVALID_ARGUMENT && o == NULL, "token %zu refused (rc %d): %s", i, rc, err);
    CHECK(!strchr(err, '\x1b'), "token %zu: no raw control character in the message", i);
  }
  CHECK(shmarray_output_open(NULL, NULL, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT, "NULL");
  CHECK(shmarray_output_data(NULL, NULL) == NULL, "data of NULL");
  shmarray_output_close(NULL);
}

/* hex of s into out (2 * strlen(s) + 1 bytes). */
static void hex(const char *s, char *out) {
  for (; *s; s++, out += 2) sprintf(out, "%02x", (unsigned char)*s);
  *out = 0;
}

/* A file that is not the builder's, under a name of the builder's form, is
 * refused for what it is: several links, another owner (as root). */
static void test_forged_files(void) {
  char err[1024], path[400], other[400], token[2048], hd[800], hf[200];
  const char *file = ".shmarray-tmp-1-0123456789abcdef-s";
  snprintf(path, sizeof path, "%s/%s", dir, file);
  snprintf(other, sizeof other, "%s/plain", dir);
  static const char zeros[4096];
  FILE *f = fopen(path, "w");
  CHECK(f && fwrite(zeros, 1, sizeof zeros, f) == sizeof zeros && fclose(f) == 0, "write %s", path);
  struct stat st;
  CHECK(stat(path, &st) == 0, "stat %s", path);
  hex(dir, hd);
  hex(file, hf);
  snprintf(token, sizeof token, "shmout1:%llu:%llu:0:8:%s:%s:73:61", (unsigned long long)st.st_dev,
           (unsigned long long)st.st_ino, hd, hf);
  shmarray_output *o = NULL;
  int rc = shmarray_output_open(token, &o, err, sizeof err);
  CHECK(rc == SHMARRAY_OK, "our own file of one link opens: %s", err);
  shmarray_output_close(o);
  o = NULL;
  CHECK(link(path, other) == 0, "link %s", other);
  rc = shmarray_output_open(token, &o, err, sizeof err);
  CHECK(rc == SHMARRAY_PERMISSION_DENIED && o == NULL && strstr(err, "links"),
        "a file with two links is refused (rc %d): %s", rc, err);
  unlink(other);
  if (geteuid() == 0) {
    CHECK(chown(path, 65534, 65534) == 0, "chown");
    rc = shmarray_output_open(token, &o, err, sizeof err);
    CHECK(rc == SHMARRAY_PERMISSION_DENIED && o == NULL && strstr(err, "not owned"),
          "another user's file is refused (rc %d): %s", rc, err);
  }
  unlink(path);
  CHECK(symlink(other, path) == 0, "symlink");
  rc = shmarray_output_open(token, &o, err, sizeof err);
  CHECK(rc != SHMARRAY_OK && o == NULL, "a symbolic link is not followed (rc %d): %s", rc, err);
  unlink(path);
}

int main(int argc, char **argv) {
  self = argv[0];
  if (argc == 3 && strcmp(argv[1], "--read-only") == 0) {
    /* Rows [0, 1024) again, with the values the builder's process wrote,
     * through the output whose token is in DIR/token. */
    char path[300], token[SHMARRAY_OUTPUT_TOKEN_MAX] = "", err[1024];
    snprintf(path, sizeof path, "%s/token", argv[2]);
    FILE *f = fopen(path, "r");
    CHECK(f && fgets(token, sizeof token, f), "read %s", path);
    if (f) fclose(f);
    shmarray_output *out = NULL;
    int rc = shmarray_output_open(token, &out, err, sizeof err);
    CHECK(rc == SHMARRAY_OK, "open: %s", err);
    if (out) {
      size_t len = 0;
      int64_t *rows = shmarray_output_data(out, &len);
      CHECK(len == ROWS * sizeof(int64_t), "length %zu", len);
      for (int i = 0; i < 1024 && rows; i++) rows[i] = 1000 + i;
      shmarray_output_close(out);
    }
    CHECK(shmarray_output_open("shmout1:bad", &out, err, sizeof err) == SHMARRAY_INVALID_ARGUMENT,
          "a bad token");
    printf("under valgrind: %d passed, %d failed\n", passed, failed);
    return failed != 0;
  }
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_outputs();
  test_bad_tokens();
  test_forged_files();
  remove_test_dir(dir);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
