/* Attaching a segment (spec §11.1): opening the file relative to its
 * directory (sa_dir.c; names and paths are sa_path.c's), the opt-in owner
 * check, decoding from private memory, mapping it read-only, the file's
 * owner, and closing (reference counts). The checks themselves are
 * sa_decode's (sa_decode.c); the accessors of an attached segment are
 * sa_access.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa_internal.h"

/* ---- Attach and close (spec §11.1) -------------------------------------- */

/* PERMISSION_DENIED for a file owned by uid, not among the n trusted
 * owners (arena.AttachWith's message; the list as Go's %v prints it). */
static int untrusted_owner(const char *name, const char *path, uint32_t uid,
                           const uint32_t *owners, size_t n, char *err, size_t err_len) {
  size_t cap = 3 + 11 * n;
  char *list = malloc(cap);
  if (!list) return sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  size_t at = 0;
  list[at++] = '[';
  for (size_t i = 0; i < n; i++)
    at += (size_t)snprintf(list + at, cap - at, i ? " %u" : "%u", owners[i]);
  list[at++] = ']';
  list[at] = '\0';
  int rc = sa_fail(SHMARRAY_PERMISSION_DENIED, err, err_len,
                   "segment \"%s\": %s is owned by uid %u, who is not among the trusted owners %s; "
                   "not attached (its owner could change or truncate it under you: attach it only "
                   "if you trust uid %u, by adding it to %s)",
                   name, path, uid, list, uid, sa_fix.owners);
  free(list);
  return rc;
}

/* STALE for a pinned attach (opts->pin_id) that found no file under name
 * (held NULL) or the segment held (arena's message, byte for byte). */
static int stale_pin(const char *name, const shmarray_attach_options *o, const sa_header *held,
                     char *err, size_t err_len) {
  char want[SA_ID_HEX_LEN], have[SA_ID_HEX_LEN];
  sa_id_hex(o->pin_id, want);
  if (!held)
    return sa_fail(SHMARRAY_STALE, err, err_len,
                   "segment \"%s\": wanted version %llu (id %s), no segment has that name now", name,
                   (unsigned long long)o->pin_version, want);
  return sa_fail(SHMARRAY_STALE, err, err_len,
                 "segment \"%s\": wanted version %llu (id %s), the name holds version %llu (id %s) "
                 "now (attach by name to follow the latest)",
                 name, (unsigned long long)o->pin_version, want, (unsigned long long)held->version,
                 sa_id_hex(held->id, have));
}

int shmarray_attach(const char *name, const char *dir, shmarray_segment **out, char *err,
                    size_t err_len) {
  shmarray_attach_options opts = {.dir = dir};
  return shmarray_attach_with(name, &opts, out, err, err_len);
}

/* The rest of an attach once the file is open as fd (fstat in *st): the
 * owner check, the size, decoding from private memory, the pin, mapping.
 * Takes path and abs_dir (malloc'ed; freed on error, kept by the segment
 * on success); never closes fd. */
static int attach_open(const char *name, char *path, char *abs_dir, int fd, const struct stat *st,
                       const shmarray_attach_options *o, shmarray_segment **out, char *err,
                       size_t err_len) {
  int rc = SHMARRAY_OK;
  shmarray_segment *seg = NULL;
  int64_t size = (int64_t)st->st_size;
  size_t i = 0;
  while (i < o->owner_count && o->owners[i] != (uint32_t)st->st_uid) i++;
  if (o->owner_count && i == o->owner_count) {
    rc = untrusted_owner(name, path, (uint32_t)st->st_uid, o->owners, o->owner_count, err, err_len);
  } else if (size < 8) {
    rc = sa_fail(SHMARRAY_NOT_A_SEGMENT, err, err_len,
                 "segment \"%s\": %s is %lld bytes, too short to be a segment", name, path,
                 (long long)size);
  } else if ((uint64_t)size > (uint64_t)(SIZE_MAX >> 1)) {
    rc = sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                 "segment \"%s\": %lld bytes cannot be mapped", name, (long long)size);
  } else if (!(seg = sa_segment_new()) || !(seg->name = strdup(name))) {
    rc = sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  }
  if (rc) {
    free(seg);
    free(path);
    free(abs_dir);
    return rc;
  }
  seg->path = path;
  seg->dir = abs_dir;
  seg->owner_uid = (uint32_t)st->st_uid;
  seg->mode = (uint32_t)st->st_mode & 0777;
  seg->dev = (uint64_t)st->st_dev;
  seg->ino = (uint64_t)st->st_ino;
  /* Decoded from private memory filled with pread, before anything is
   * mapped: a truncation meanwhile is TRUNCATED, never a SIGBUS (§15). */
  rc = sa_decode_fd(seg, fd, (uint64_t)size, err, err_len);
  /* A pin is checked before anything is mapped: the id names the version
   * (the version number only the message). */
  if (!rc && o->pin_id &&
      (memcmp(seg->h.id, o->pin_id, SA_ID_LEN) != 0 || seg->h.version != o->pin_version))
    rc = stale_pin(name, o, &seg->h, err, err_len);
  if (rc) {
    sa_segment_free(seg);
    return rc;
  }
  void *mem = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    rc = sa_os_error(errno, "map", name, seg->path, err, err_len);
    sa_segment_free(seg);
    return rc;
  }
  seg->base = mem;
  seg->size = (size_t)size;
  seg->mapped = 1;
  *out = seg;
  return SHMARRAY_OK;
}

int shmarray_attach_with(const char *name, const shmarray_attach_options *opts,
                         shmarray_segment **out, char *err, size_t err_len) {
  if (!out) return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "out must not be NULL");
  shmarray_attach_options o = {0};
  if (opts) o = *opts;
  if (o.owner_count && !o.owners)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "opts->owners is NULL but opts->owner_count is %zu", o.owner_count);
  int rc = sa_check_name(name, err, err_len);
  if (rc) return rc;
  /* The directory once, then the name relative to it (spec §10.4). */
  sa_dir d;
  if ((rc = sa_dir_open(&d, o.dir, SA_FOLLOW_DIR_LINK, "attach", name, err, err_len))) return rc;
  char *path = sa_join(d.path, name);
  if (!path) {
    sa_dir_close(&d);
    return sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  }
  struct stat st;
  memset(&st, 0, sizeof st);
  int fd = sa_dir_open_entry(&d, name, &st);
  int open_errno = errno;
  char *abs_dir = d.path; /* the segment keeps the absolute directory */
  d.path = NULL;
  sa_dir_close(&d);
  if (fd == SA_NOT_REGULAR) {
    rc = sa_fail(SHMARRAY_NOT_A_SEGMENT, err, err_len, "segment \"%s\": %s is not a regular file",
                 name, path);
  } else if (fd < 0 && open_errno == ENOENT && o.pin_id) {
    rc = stale_pin(name, &o, NULL, err, err_len);
  } else if (fd < 0) {
    rc = sa_os_error(open_errno, "attach", name, path, err, err_len);
  } else {
    rc = attach_open(name, path, abs_dir, fd, &st, &o, out, err, err_len);
    close(fd);
    return rc;
  }
  free(path);
  free(abs_dir);
  return rc;
}

int shmarray_attach_fd(int fd, const char *name, const char *dir, shmarray_segment **out,
                       char *err, size_t err_len) {
  if (!out) return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "out must not be NULL");
  int rc = sa_check_name(name, err, err_len);
  if (rc) return rc;
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "segment \"%s\": descriptor %d is not open", name, fd);
  if (!S_ISREG(st.st_mode))
    return sa_fail(SHMARRAY_NOT_A_SEGMENT, err, err_len,
                   "segment \"%s\": descriptor %d is not a regular file", name, fd);
  char *abs_dir = sa_abs_path(sa_resolve_dir(dir));
  char *path = abs_dir ? sa_join(abs_dir, name) : NULL;
  if (!path) {
    free(abs_dir);
    return sa_fail(SHMARRAY_INTERNAL, err, err_len, "segment \"%s\": cannot resolve its directory",
                   name);
  }
  shmarray_attach_options o = {0};
  return attach_open(name, path, abs_dir, fd, &st, &o, out, err, err_len);
}

int shmarray_owner(const shmarray_segment *seg, uint32_t *uid, uint32_t *mode) {
  if (!seg) return SHMARRAY_INVALID_ARGUMENT;
  if (uid) *uid = seg->owner_uid;
  if (mode) *mode = seg->mode;
  return SHMARRAY_OK;
}

void shmarray_close(shmarray_segment *seg) { sa_segment_unref(seg); }

/* ---- Is the name still this file? --------------------------------------- */

/* One lstat of the segment's path, which is its attach directory (absolute
 * and cleaned) joined with its name: the cost of asking "is mine still the
 * latest?" when nothing changed (arena's IsCurrent does the same). */
int shmarray_is_current(const shmarray_segment *seg, int *current, char *err, size_t err_len) {
  if (!seg || !current || !seg->path)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "seg and current must not be NULL (and seg must be attached)");
  struct stat st;
  if (fstatat(AT_FDCWD, seg->path, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) {
      *current = 0;
      return SHMARRAY_OK;
    }
    return sa_os_error(errno, "check", seg->name, seg->path, err, err_len);
  }
  *current = (uint64_t)st.st_dev == seg->dev && (uint64_t)st.st_ino == seg->ino;
  return SHMARRAY_OK;
}


