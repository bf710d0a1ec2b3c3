/* Output handles (spec §10.6, "Shared outputs"): a writer in any process
 * opens one array of an unpublished segment, by the token its builder
 * handed out (arena.OutputHandle.Token), and fills it in place. Plain C, no
 * Go: it works in forked children and in the Python extension. The Go twin
 * of this file is arena/shared_linux.go's OpenOutput; both follow the
 * steps of §10.6 in the same order. */
#define _GNU_SOURCE /* MAP_SHARED, flock */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa_internal.h"

#define SA_TOKEN_PREFIX "shmout1"
#define SA_TOKEN_FIELDS 9
#define SA_MAGIC "SHMARRAY"

struct shmarray_output {
  int fd;         /* holds flock(LOCK_SH) until finished or closed; -1 after finish */
  void *map;      /* from the page holding the array's first byte; NULL when empty */
  size_t map_len;
  uint8_t *data;  /* the array's bytes inside map */
  size_t len;
};

/* A decimal u64 of s[0, n): 1 on success (1 to 20 digits, no leading zero,
 * no overflow; arena's tokenNumber has the same rule). */
static int parse_u64(const char *s, size_t n, uint64_t *out) {
  uint64_t v = 0;
  if (n == 0 || n > 20 || (s[0] == '0' && n > 1)) return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
      return 0;
  }
  *out = v;
  return 1;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A malloc'ed NUL-terminated string from lowercase/uppercase hex s[0, n),
 * or NULL if it is not hex of a non-empty string without NUL. */
static char *unhex(const char *s, size_t n) {
  if (n == 0 || n % 2) return NULL;
  char *out = malloc(n / 2 + 1);
  if (!out) return NULL;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
      free(out);
      return NULL;
    }
    out[i] = (char)(hi << 4 | lo);
  }
  out[n / 2] = 0;
  return out;
}

/* The fields of a token, as arena.OutputHandle. */
typedef struct sa_token {
  uint64_t dev, ino, offset, length;
  char *dir, *file, *name, *array; /* malloc'ed */
  /* dir and array quoted for messages (any byte but NUL may be in them;
   * name is a valid segment name and file is checked, so they are plain) */
  char qdir[SA_QUOTE_LEN(SA_QUOTE_NAME)], qarray[SA_QUOTE_LEN(SA_QUOTE_NAME)];
} sa_token;

static void token_free(sa_token *t) {
  free(t->dir);
  free(t->file);
  free(t->name);
  free(t->array);
}

static int token_fail(const char *token, char *err, size_t err_len, const char *why) {
  char q[SA_QUOTE_LEN(40)];
  return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                 "output token %s: %s (pass the token Builder.output made, unchanged)",
                 sa_quote(token, strlen(token), 40, q, sizeof q), why);
}

/* 1 if dir is an absolute, clean path: "/" or "/" followed by components
 * that are neither empty, "." nor "..", with no trailing "/" (Go's
 * filepath.Clean leaves it unchanged). */
static int clean_abs_dir(const char *dir) {
  if (dir[0] != '/') return 0;
  if (dir[1] == 0) return 1;
  for (const char *p = dir + 1;;) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return 0;
    if (!e) return 1;
    p = e + 1;
  }
}

/* 1 if file is a hidden name a builder of segment name gives its file
 * (spec §10.6): SA_TEMP_PREFIX + PID (decimal, no leading zero) + "-" + 16
 * lowercase hex digits, then nothing (the fallback path's name) or "-" +
 * name. arena's builderFileName has the same rule. */
static int builder_file_name(const char *file, const char *name) {
  size_t pre = strlen(SA_TEMP_PREFIX);
  if (strncmp(file, SA_TEMP_PREFIX, pre) != 0) return 0;
  const char *p = file + pre;
  size_t digits = 0;
  while (p[digits] >= '0' && p[digits] <= '9') digits++;
  if (digits == 0 || digits > 10 || p[0] == '0' || p[digits] != '-') return 0;
  p += digits + 1;
  for (int i = 0; i < 16; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return 0;
  p += 16;
  return p[0] == 0 || (p[0] == '-' && strcmp(p + 1, name) == 0);
}

/* Parses token into *t (zeroed first): INVALID_ARGUMENT on anything that
 * arena.ParseOutputToken refuses. */
static int parse_token(const char *token, sa_token *t, char *err, size_t err_len) {
  memset(t, 0, sizeof *t);
  const char *f[SA_TOKEN_FIELDS];
  size_t n[SA_TOKEN_FIELDS], count = 0;
  const char *p = token;
  for (;;) {
    const char *c = strchr(p, ':');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    if (count == SA_TOKEN_FIELDS) {
      count++;
      break;
    }
    f[count] = p;
    n[count++] = len;
    if (!c) break;
    p = c + 1;
  }
  if (count != SA_TOKEN_FIELDS || n[0] != strlen(SA_TOKEN_PREFIX) ||
      memcmp(f[0], SA_TOKEN_PREFIX, n[0]) != 0)
    return token_fail(token, err, err_len,
                      "not a shmarray output token (" SA_TOKEN_PREFIX
                      ":DEV:INO:OFFSET:LENGTH:DIR:FILE:NAME:ARRAY)");
  uint64_t *nums[4] = {&t->dev, &t->ino, &t->offset, &t->length};
  for (int i = 0; i < 4; i++)
    if (!parse_u64(f[1 + i], n[1 + i], nums[i]))
      return token_fail(token, err, err_len, "a number field is not a decimal number");
  char **names[4] = {&t->dir, &t->file, &t->name, &t->array};
  for (int i = 0; i < 4; i++) {
    *names[i] = unhex(f[5 + i], n[5 + i]);
    if (!*names[i]) {
      token_free(t);
      return token_fail(token, err, err_len, "a name field is not a name in hex");
    }
  }
  uint64_t end;
  const char *why = NULL;
  if (__builtin_add_overflow(t->offset, t->length, &end))
    why = "offset + length overflows";
  else if (sa_check_name(t->name, t->qdir, sizeof t->qdir) != SHMARRAY_OK)
    why = "the segment name is not a valid segment name";
  else if (!clean_abs_dir(t->dir))
    why = "the directory is not an absolute, clean path";
  else if (!builder_file_name(t->file, t->name))
    why = "the file is not the builder's hidden name (" SA_TEMP_PREFIX
          "PID-HEX16[-NAME], NAME the segment's)";
  if (why) {
    token_free(t);
    return token_fail(token, err, err_len, why);
  }
  sa_quote(t->dir, strlen(t->dir), SA_QUOTE_NAME, t->qdir, sizeof t->qdir);
  sa_quote(t->array, strlen(t->array), SA_QUOTE_NAME, t->qarray, sizeof t->qarray);
  return SHMARRAY_OK;
}

/* CLOSED for a handle that can no longer open. */
static int closed_fail(const sa_token *t, const char *why, char *err, size_t err_len) {
  return sa_fail(SHMARRAY_CLOSED, err, err_len,
                 "output %s of segment \"%s\" (file %s in %s): %s; output handles open only "
                 "until the segment is published (ask its builder for a new one, or attach the "
                 "published segment to read it)",
                 t->qarray, t->name, t->file, t->qdir, why);
}

int shmarray_output_open(const char *token, shmarray_output **out, char *err, size_t err_len) {
  if (!token || !out)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "token and out must not be NULL");
  *out = NULL;
  sa_token t;
  int rc = parse_token(token, &t, err, err_len);
  if (rc) return rc;
  sa_dir d;
  rc = sa_dir_open(&d, t.dir, SA_FOLLOW_DIR_LINK, "open", t.name, err, err_len);
  if (rc) {
    token_free(&t);
    return rc;
  }
  int fd = openat(d.fd, t.file, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  struct stat st, now;
  uint8_t head[8];
  ssize_t got;
  shmarray_output *o = NULL;
  if (fd < 0) {
    rc = errno == ENOENT
             ? closed_fail(&t, "its file is gone: the segment was published or discarded", err,
                           err_len)
             : sa_os_error(errno, "open", t.name, d.path, err, err_len);
    goto done;
  }
  if (fstat(fd, &st) != 0) {
    rc = sa_os_error(errno, "open", t.name, d.path, err, err_len);
    goto done;
  }
  /* The builder's file: a regular file of ours, its hidden name its only
   * link, the device and inode of the token (arena's outputFileWrong). */
  const char *wrong = !S_ISREG(st.st_mode)          ? "not a regular file"
                      : st.st_uid != geteuid()      ? "not owned by this user"
                      : st.st_nlink != 1            ? "it has several links, not 1"
                      : (uint64_t)st.st_dev != t.dev || (uint64_t)st.st_ino != t.ino
                          ? "another device and inode"
                          : NULL;
  if (wrong) {
    rc = sa_fail(SHMARRAY_PERMISSION_DENIED, err, err_len,
                 "output %s of segment \"%s\" (file %s in %s): the name holds another file than "
                 "the builder's (%s; someone else can rename files in that directory); nothing "
                 "was written",
                 t.qarray, t.name, t.file, t.qdir, wrong);
    goto done;
  }
  /* Never wait: the builder holds LOCK_EX only while it publishes. */
  if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
    rc = errno == EWOULDBLOCK ? closed_fail(&t, "it is being published", err, err_len)
                              : sa_os_error(errno, "lock", t.name, d.path, err, err_len);
    goto done;
  }
  if (fstatat(d.fd, t.file, &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_dev != st.st_dev ||
      now.st_ino != st.st_ino) {
    rc = closed_fail(&t, "it was published meanwhile", err, err_len);
    goto done;
  }
  got = pread(fd, head, sizeof head, 0);
  if (got == (ssize_t)sizeof head && memcmp(head, SA_MAGIC, sizeof head) == 0) {
    rc = closed_fail(&t, "it is sealed already", err, err_len);
    goto done;
  }
  if (st.st_size < 0 || (uint64_t)st.st_size < t.offset + t.length ||
      t.length > (uint64_t)SIZE_MAX) {
    rc = sa_fail(SHMARRAY_OUT_OF_BOUNDS, err, err_len,
                 "output %s of segment \"%s\" (file %s in %s): bytes [%llu, %llu) lie beyond "
                 "the file's %lld bytes (a handle of another segment?)",
                 t.qarray, t.name, t.file, t.qdir, (unsigned long long)t.offset,
                 (unsigned long long)(t.offset + t.length), (long long)st.st_size);
    goto done;
  }
  o = calloc(1, sizeof *o);
  if (!o) {
    rc = sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
    goto done;
  }
  o->fd = fd;
  o->len = (size_t)t.length;
  if (t.length > 0) {
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = t.offset - t.offset % page;
    o->map_len = (size_t)(t.offset + t.length - start);
    void *m = mmap(NULL, o->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)start);
    if (m == MAP_FAILED) {
      rc = sa_os_error(errno, "map", t.name, d.path, err, err_len);
      free(o);
      o = NULL;
      goto done;
    }
    o->map = m;
    o->data = (uint8_t *)m + (t.offset - start);
  }
  fd = -1; /* o owns it */
  *out = o;
done:
  if (fd >= 0) close(fd);
  sa_dir_close(&d);
  token_free(&t);
  return rc;
}

void *shmarray_output_data(const shmarray_output *o, size_t *len) {
  if (len) *len = o ? o->len : 0;
  if (!o || !o->len) return NULL;
  return o->data;
}

int shmarray_output_finish(shmarray_output *o, char *err, size_t err_len) {
  if (!o) return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "output must not be NULL");
  if (o->fd < 0) return SHMARRAY_OK;
  /* Read-only first: once the lock is gone nothing here may write. */
  if (o->map && mprotect(o->map, o->map_len, PROT_READ) != 0)
    return sa_fail(SHMARRAY_IO_ERROR, err, err_len, "make an output read-only: %s",
                   strerror(errno));
  /* Explicitly: the mapping keeps the open file description, and its lock,
   * alive after close. */
  flock(o->fd, LOCK_UN);
  close(o->fd);
  o->fd = -1;
  return SHMARRAY_OK;
}

void shmarray_output_close(shmarray_output *o) {
  if (!o) return;
  if (o->map) munmap(o->map, o->map_len);
  if (o->fd >= 0) close(o->fd); /* releases the lock */
  free(o);
}
