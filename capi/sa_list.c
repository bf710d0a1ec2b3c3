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

/* Reads the header of dir/name into *e; 0 if the file is not a segment. */
static int probe(const char *dir, const char *name, shmarray_list_entry *e) {
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
  int rc = sa_read_header(buf, n > 0 ? (size_t)n : 0, &h, NULL, 0);
  if (rc == SHMARRAY_NOT_A_SEGMENT) return 0;
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->size = size;
  e->array_count = h.array_count;
  e->creator_pid = h.creator_pid;
  e->created_ns = h.created_ns;
  e->creator_alive = creator_alive(h.creator_pid, h.creator_start);
  e->ephemeral = (h.flags & SA_FLAG_EPHEMERAL) != 0;
  if (rc) e->status = rc;
  else if (!(h.flags & SA_FLAG_SEALED)) e->status = SHMARRAY_NOT_SEALED;
  else if ((uint64_t)size < h.file_size) e->status = SHMARRAY_TRUNCATED;
  else e->status = SHMARRAY_OK;
  return 1;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const shmarray_list_entry *)a)->name, ((const shmarray_list_entry *)b)->name);
}

int shmarray_list(const char *dir, shmarray_list_entry **out, size_t *count, char *err,
                  size_t err_len) {
  if (!out || !count)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "out and count must not be NULL");
  dir = sa_resolve_dir(dir);
  DIR *d = opendir(dir);
  if (!d) return sa_os_error(errno, "list", "*", dir, err, err_len);
  shmarray_list_entry *list = NULL;
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
    if (n == cap) {
      size_t ncap = cap ? 2 * cap : 16;
      shmarray_list_entry *grown = realloc(list, ncap * sizeof *list);
      if (!grown) {
        rc = sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
        break;
      }
      list = grown;
      cap = ncap;
    }
    if (probe(dir, de->d_name, &list[n])) n++;
  }
  closedir(d);
  if (rc) {
    free(list);
    return rc;
  }
  if (n == 0) {
    free(list);
    list = NULL;
  } else {
    qsort(list, n, sizeof *list, by_name);
  }
  *out = list;
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
  shmarray_list_entry again;
  return probe(dir, e->name, &again) && again.ephemeral && !again.creator_alive &&
         again.creator_pid == e->creator_pid && again.created_ns == e->created_ns;
}

/* Keeps the first error: returns rc if first is still OK. */
static int first_error(int first, int rc) { return first ? first : rc; }

int shmarray_gc(const char *dir, int dry_run, size_t *removed, char *err, size_t err_len) {
  size_t count = 0;
  if (removed) *removed = 0;
  shmarray_list_entry *list = NULL;
  size_t n = 0;
  int rc = shmarray_list(dir, &list, &n, err, err_len);
  if (rc) return rc;
  const char *d = sa_resolve_dir(dir);
  int first = SHMARRAY_OK;
  for (size_t i = 0; i < n; i++) {
    const shmarray_list_entry *e = &list[i];
    if (!e->ephemeral || e->creator_alive) continue;
    if (dry_run) {
      count++;
      continue;
    }
    if (!still_orphan(d, e)) continue; /* replaced or removed since listing */
    /* Only the first error's message is kept in err. */
    int r = shmarray_unlink(e->name, dir, first ? NULL : err, first ? 0 : err_len);
    if (r) first = first_error(first, r);
    else count++;
  }
  shmarray_list_free(list);

  DIR *dd = opendir(d);
  if (!dd) {
    int r = sa_os_error(errno, "gc", "*", d, first ? NULL : err, first ? 0 : err_len);
    if (removed) *removed = count;
    return first_error(first, r);
  }
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(dd);
    if (!de) break;
    uint32_t pid = temp_file_pid(de->d_name);
    struct stat st;
    if (!pid || fstatat(dirfd(dd), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode) || creator_alive(pid, 0))
      continue;
    if (dry_run || unlinkat(dirfd(dd), de->d_name, 0) == 0 || errno == ENOENT) {
      count++;
    } else if (!first) {
      int errnum = errno;
      char *path = sa_join(d, de->d_name);
      first = sa_fail(errnum == EACCES || errnum == EPERM || errnum == EROFS ? SHMARRAY_PERMISSION_DENIED
                                                                              : SHMARRAY_IO_ERROR,
                      err, err_len, "gc: removing the temporary file %s of dead writer %u: %s",
                      path ? path : de->d_name, pid, strerror(errnum));
      free(path);
    }
  }
  closedir(dd);
  if (removed) *removed = count;
  return first;
}
