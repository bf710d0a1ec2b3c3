/* Listing, unlinking and garbage-collecting segments, as arena/list.go and
 * arena/gc.go: from headers alone, never mapping a file. */
#define _DEFAULT_SOURCE /* d_type and DT_* even under strict feature macros */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa_internal.h"

/* Start time of process pid in clock ticks since boot (field 22 of
 * /proc/PID/stat) in *start, 0 if unreadable; returns 0 when the process
 * does not exist. */
static int start_time(uint32_t pid, uint64_t *start) {
  char path[32], buf[4096];
  *start = 0;
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
    if (n == sizeof buf - 1) break;
  }
  close(fd);
  buf[n] = '\0';
  /* The command name (field 2) may hold spaces and parentheses: the fields
   * after it start after the last ')'. Field 22 is the 20th after it. */
  char *p = strrchr(buf, ')');
  if (!p) return 1;
  p++;
  for (int field = 3; field < 22; field++) {
    while (*p == ' ') p++;
    while (*p && *p != ' ') p++;
  }
  while (*p == ' ') p++;
  if (*p < '0' || *p > '9') return 1;
  uint64_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
      return 1;
  }
  if (*p && *p != ' ' && *p != '\n') return 1;
  *start = v;
  return 1;
}

/* Whether the creator still runs: pid exists and, where both start times
 * are known, has the recorded one (a recycled pid does not count). */
static int creator_alive(uint32_t pid, uint64_t start) {
  if (pid == 0) return 0;
  uint64_t now;
  if (!start_time(pid, &now)) return 0;
  return start == 0 || now == 0 || now == start;
}

/* Reads the header of dir/name into *e, with the message of its status;
 * 0 if the file is not a segment. */
static int probe(const char *dir, const char *name, sa_listed *l) {
  char *path = sa_join(dir, name);
  if (!path) return 0;
  int64_t size = 0;
  int fd = sa_open_segment(path, &size);
  free(path);
  if (fd < 0) return 0;
  uint8_t buf[SA_HEADER_SIZE];
  ssize_t n = pread(fd, buf, sizeof buf, 0);
  close(fd);
  sa_header h;
  char msg[300];
  int rc = sa_read_header(buf, n > 0 ? (size_t)n : 0, &h, msg, sizeof msg);
  if (rc == SHMARRAY_NOT_A_SEGMENT) return 0;
  memset(l, 0, sizeof *l);
  shmarray_list_entry *e = &l->e;
  snprintf(e->name, sizeof e->name, "%s", name);
  e->size = size;
  e->array_count = h.array_count;
  e->creator_pid = h.creator_pid;
  e->created_ns = h.created_ns;
  e->creator_alive = creator_alive(h.creator_pid, h.creator_start);
  e->ephemeral = (h.flags & SA_FLAG_EPHEMERAL) != 0;
  if (rc) {
    e->status = sa_fail(rc, l->message, sizeof l->message, "segment \"%s\": %s", name,
                        sa_bare_message(rc, msg));
  } else if (!(h.flags & SA_FLAG_SEALED)) {
    e->status = sa_fail(SHMARRAY_NOT_SEALED, l->message, sizeof l->message,
                        "segment \"%s\": the writer did not finish this segment", name);
  } else if ((uint64_t)size < h.file_size) {
    e->status = sa_fail(SHMARRAY_TRUNCATED, l->message, sizeof l->message,
                        "segment \"%s\" is %lld bytes, its header says %llu", name, (long long)size,
                        (unsigned long long)h.file_size);
  } else {
    e->status = SHMARRAY_OK;
  }
  return 1;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const sa_listed *)a)->e.name, ((const sa_listed *)b)->e.name);
}

/* Appends one entry to *list (*n entries, room for *cap); 0 when out of
 * memory. */
static sa_listed *grow(sa_listed **list, size_t *n, size_t *cap) {
  if (*n == *cap) {
    size_t ncap = *cap ? 2 * *cap : 16;
    sa_listed *grown = realloc(*list, ncap * sizeof **list);
    if (!grown) return NULL;
    *list = grown;
    *cap = ncap;
  }
  return &(*list)[*n];
}

int sa_list_dir(const char *dir, sa_listed **out, size_t *count, char *err, size_t err_len) {
  dir = sa_resolve_dir(dir);
  DIR *d = opendir(dir);
  if (!d) return sa_os_error(errno, "list", "*", dir, err, err_len);
  sa_listed *list = NULL;
  size_t n = 0, cap = 0;
  int rc = SHMARRAY_OK;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      if (errno) rc = sa_os_error(errno, "list", "*", dir, err, err_len);
      break;
    }
    if (sa_check_name(de->d_name, NULL, 0) != SHMARRAY_OK) continue;
    unsigned char type = de->d_type;
    if (type == DT_UNKNOWN) { /* file systems without d_type */
      struct stat st;
      if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
    }
    if (type != DT_REG) continue; /* links, directories, FIFOs... */
    sa_listed *slot = grow(&list, &n, &cap);
    if (!slot) {
      rc = sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
      break;
    }
    if (probe(dir, de->d_name, slot)) n++;
  }
  closedir(d);
  if (rc) {
    free(list);
    return rc;
  }
  if (n) qsort(list, n, sizeof *list, by_name);
  *out = list;
  *count = n;
  return SHMARRAY_OK;
}

int shmarray_list(const char *dir, shmarray_list_entry **out, size_t *count, char *err,
                  size_t err_len) {
  if (!out || !count)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "out and count must not be NULL");
  sa_listed *list = NULL;
  size_t n = 0;
  int rc = sa_list_dir(dir, &list, &n, err, err_len);
  if (rc) return rc;
  shmarray_list_entry *entries = NULL;
  if (n && !(entries = malloc(n * sizeof *entries))) {
    free(list);
    return sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  }
  for (size_t i = 0; i < n; i++) entries[i] = list[i].e;
  free(list);
  *out = entries;
  *count = n;
  return SHMARRAY_OK;
}

void shmarray_list_free(shmarray_list_entry *entries) { free(entries); }

int shmarray_unlink(const char *name, const char *dir, char *err, size_t err_len) {
  int rc = sa_check_name(name, err, err_len);
  if (rc) return rc;
  char *path = sa_join(sa_resolve_dir(dir), name);
  if (!path) return sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  int64_t size;
  int fd = sa_open_segment(path, &size);
  if (fd == -2) {
    rc = sa_fail(SHMARRAY_NOT_A_SEGMENT, err, err_len,
                 "segment \"%s\": %s is not a regular file; not removed", name, path);
  } else if (fd < 0) {
    rc = sa_os_error(errno, "unlink", name, path, err, err_len);
  } else {
    char magic[8];
    ssize_t n = pread(fd, magic, sizeof magic, 0);
    close(fd);
    if (n != (ssize_t)sizeof magic || memcmp(magic, "SHMARRAY", 8) != 0)
      rc = sa_fail(SHMARRAY_NOT_A_SEGMENT, err, err_len,
                   "%s is not a shmarray segment; not removed", path);
    else if (unlink(path) != 0)
      rc = sa_os_error(errno, "unlink", name, path, err, err_len);
  }
  free(path);
  return rc;
}

/* The writer's pid in a fallback temporary name ".shmarray-tmp-PID-HEX"
 * (arena/os_linux.go), or 0 if name is not one. */
static uint32_t temp_file_pid(const char *name) {
  static const char prefix[] = ".shmarray-tmp-";
  if (strncmp(name, prefix, sizeof prefix - 1) != 0) return 0;
  const char *p = name + sizeof prefix - 1;
  uint64_t pid = 0;
  if (*p < '0' || *p > '9') return 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    pid = pid * 10 + (uint64_t)(*p - '0');
    if (pid > UINT32_MAX) return 0;
  }
  return *p == '-' ? (uint32_t)pid : 0;
}

/* Whether dir/name, read again, is still the orphan e that listing found
 * (same creator, same creation time). */
static int still_orphan(const char *dir, const shmarray_list_entry *e) {
  sa_listed again;
  return probe(dir, e->name, &again) && again.e.ephemeral && !again.e.creator_alive &&
         again.e.creator_pid == e->creator_pid && again.e.created_ns == e->created_ns;
}

/* The hidden temporary files of dead fallback writers in d, sorted by name,
 * appended to *list. */
static int stale_temp_files(const char *d, sa_listed **list, size_t *n, size_t *cap, char *err,
                            size_t err_len) {
  DIR *dd = opendir(d);
  if (!dd) return sa_os_error(errno, "gc", "*", d, err, err_len);
  size_t first = *n;
  int rc = SHMARRAY_OK;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(dd);
    if (!de) break;
    uint32_t pid = temp_file_pid(de->d_name);
    struct stat st;
    if (!pid || fstatat(dirfd(dd), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode) || creator_alive(pid, 0))
      continue;
    sa_listed *l = grow(list, n, cap);
    if (!l) {
      rc = sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
      break;
    }
    memset(l, 0, sizeof *l);
    snprintf(l->e.name, sizeof l->e.name, "%s", de->d_name);
    l->e.size = (int64_t)st.st_size;
    l->e.creator_pid = pid;
    l->e.created_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    l->temp = 1;
    l->e.status = sa_fail(SHMARRAY_NOT_SEALED, l->message, sizeof l->message,
                          "%s is the unfinished temporary file of writer %u, which no longer runs",
                          de->d_name, pid);
    (*n)++;
  }
  closedir(dd);
  if (*n > first) qsort(*list + first, *n - first, sizeof **list, by_name);
  return rc;
}

int sa_gc_dir(const char *dir, int dry_run, sa_listed **removed, size_t *count, char *err,
              size_t err_len) {
  *removed = NULL;
  *count = 0;
  sa_listed *list = NULL, *out = NULL;
  size_t n = 0, nout = 0, cap = 0;
  int rc = sa_list_dir(dir, &list, &n, err, err_len);
  if (rc) return rc;
  const char *d = sa_resolve_dir(dir);
  int first = SHMARRAY_OK; /* gc goes on past errors; the first one is returned */
  for (size_t i = 0; i < n; i++) {
    const shmarray_list_entry *e = &list[i].e;
    if (!e->ephemeral || e->creator_alive) continue;
    if (!dry_run) {
      if (!still_orphan(d, e)) continue; /* replaced or removed since listing */
      int r = shmarray_unlink(e->name, dir, first ? NULL : err, first ? 0 : err_len);
      if (r) {
        if (!first) first = r; /* err holds the first error's message */
        continue;
      }
    }
    sa_listed *l = grow(&out, &nout, &cap);
    if (!l) {
      first = first ? first : sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
      break;
    }
    *l = list[i];
    nout++;
  }
  free(list);
  size_t temps = nout;
  int r = stale_temp_files(d, &out, &nout, &cap, first ? NULL : err, first ? 0 : err_len);
  if (r && !first) first = r;
  size_t kept = temps;
  int dfd = dry_run || nout == temps ? -1 : open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (size_t i = temps; i < nout; i++) {
    if (!dry_run) {
      int gone = dfd >= 0 && (unlinkat(dfd, out[i].e.name, 0) == 0 || errno == ENOENT);
      int errnum = errno;
      if (!gone && !first) {
        char *path = sa_join(d, out[i].e.name);
        first = sa_fail(errnum == EACCES || errnum == EPERM || errnum == EROFS
                            ? SHMARRAY_PERMISSION_DENIED
                            : SHMARRAY_IO_ERROR,
                        err, err_len, "gc: removing the temporary file %s of dead writer %u: %s",
                        path ? path : out[i].e.name, out[i].e.creator_pid, strerror(errnum));
        free(path);
      }
      if (!gone) continue;
    }
    out[kept++] = out[i];
  }
  if (dfd >= 0) close(dfd);
  *removed = out;
  *count = kept;
  return first;
}

int shmarray_gc(const char *dir, int dry_run, size_t *removed, char *err, size_t err_len) {
  sa_listed *list;
  size_t n;
  int rc = sa_gc_dir(dir, dry_run, &list, &n, err, err_len);
  free(list);
  if (removed) *removed = n;
  return rc;
}
