/* Listing, unlinking and garbage-collecting segments, as arena/list.go and
 * arena/gc.go: from headers alone, never mapping a file, every file reached
 * relative to the directory opened once (sa_dir.c) and removed only while
 * its name still holds the file that was checked (spec §10.5). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa_internal.h"

static uint32_t temp_file_pid(const char *name);
static int probe_building(const sa_dir *d, const char *name, uint32_t pid, sa_procview *v,
                          sa_listed *l);

/* Reads the header of name in d, from a descriptor opened relative to d,
 * into *l with the message of its status; 0 if it is not a segment. *st is
 * the fstat of the file read, whose identity a removal checks the name
 * against. */
static int probe(const sa_dir *d, const char *name, sa_procview *v, sa_listed *l,
                 struct stat *st) {
  int fd = sa_dir_open_entry(d, name, st);
  if (fd < 0) return 0;
  uint8_t buf[SA_HEADER_SIZE_ID]; /* with the identity of a 1.2 file */
  ssize_t n = pread(fd, buf, sizeof buf, 0);
  close(fd);
  sa_header h;
  char msg[300];
  int rc = sa_read_header(buf, n > 0 ? (size_t)n : 0, &h, msg, sizeof msg);
  if (rc == SHMARRAY_NOT_A_SEGMENT) return 0;
  memset(l, 0, sizeof *l);
  shmarray_list_entry *e = &l->e;
  int64_t size = (int64_t)st->st_size;
  snprintf(e->name, sizeof e->name, "%s", name);
  e->size = size;
  e->array_count = h.array_count;
  e->creator_pid = h.creator_pid;
  e->created_ns = h.created_ns;
  memcpy(e->id, h.id, SA_ID_LEN);
  e->version = h.version;
  switch (sa_creator(v, h.creator_pid, h.creator_start)) {
  case SA_CREATOR_ALIVE:
    e->creator_alive = 1;
    break;
  case SA_CREATOR_UNKNOWN:
    e->creator_unknown = 1;
    break;
  }
  e->ephemeral = (h.flags & SA_FLAG_EPHEMERAL) != 0;
  /* The messages of arena/list.go's probe. */
  if (rc) {
    e->status = sa_fail(rc, l->message, sizeof l->message, "%s", sa_bare_message(rc, msg));
  } else if (!(h.flags & SA_FLAG_SEALED)) {
    e->status = sa_fail(SHMARRAY_NOT_SEALED, l->message, sizeof l->message, "segment \"%s\"", name);
  } else if ((uint64_t)size < h.file_size) {
    e->status = sa_fail(SHMARRAY_TRUNCATED, l->message, sizeof l->message,
                        "segment \"%s\" is %lld bytes, its header says %llu", name, (long long)size,
                        (unsigned long long)h.file_size);
  } else {
    e->status = SHMARRAY_OK;
  }
  return 1;
}

/* Orphans first, then temporary files, each by name. */
static int by_kind_and_name(const void *a, const void *b) {
  const sa_listed *x = a, *y = b;
  if (x->temp != y->temp) return x->temp - y->temp;
  return strcmp(x->e.name, y->e.name);
}

/* Room for one more entry at the end of *list (*n entries, room for *cap);
 * NULL when out of memory. */
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

/* Opens dir for op (follow as sa_dir_open) and reads its regular files'
 * names: on error the code with a message, and nothing to free. */
static int open_files(const char *dir, int follow, const char *op, sa_dir *d, char ***names,
                      size_t *nnames, char *err, size_t err_len) {
  int rc = sa_dir_open(d, dir, follow, op, "*", err, err_len);
  if (rc) return rc;
  if (sa_dir_files(d, names, nnames) != 0) {
    rc = sa_os_error(errno, op, "*", d->path, err, err_len);
    sa_dir_close(d);
  }
  return rc;
}

int sa_list_dir(const char *dir, sa_listed **out, size_t *count, char **abs_dir, char *err,
                size_t err_len) {
  *out = NULL;
  *count = 0;
  sa_dir d;
  char **names;
  size_t nnames;
  int rc = open_files(dir, SA_FOLLOW_DIR_LINK, "list", &d, &names, &nnames, err, err_len);
  if (rc) return rc;
  sa_listed *list = NULL;
  size_t n = 0, cap = 0;
  sa_procview v = {0};
  for (size_t i = 0; i < nnames; i++) {
    uint32_t pid = temp_file_pid(names[i]);
    if (!pid && sa_check_name(names[i], NULL, 0) != SHMARRAY_OK) continue;
    sa_listed *slot = grow(&list, &n, &cap);
    if (!slot) {
      rc = sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
      break;
    }
    struct stat st;
    if (pid ? probe_building(&d, names[i], pid, &v, slot) : probe(&d, names[i], &v, slot, &st)) n++;
  }
  sa_procview_free(&v);
  sa_names_free(names, nnames);
  if (rc) {
    free(list);
    sa_dir_close(&d);
    return rc;
  }
  if (n) qsort(list, n, sizeof *list, by_kind_and_name);
  if (abs_dir) {
    *abs_dir = d.path;
    d.path = NULL;
  }
  sa_dir_close(&d);
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
  int rc = sa_list_dir(dir, &list, &n, NULL, err, err_len);
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

/* The error of sa_dir_remove (arena's removeError); OK stays OK. */
static int remove_error(int r, const char *op, const char *name, const char *path, char *err,
                        size_t err_len) {
  if (r == SA_CHANGED)
    return sa_fail(SHMARRAY_NOT_FOUND, err, err_len,
                   "%s segment \"%s\": %s was replaced by another file while it was being "
                   "removed; nothing was removed (check the directory and try again)",
                   op, name, path);
  if (r) return sa_os_error(errno, op, name, path, err, err_len);
  return SHMARRAY_OK;
}

/* shmarray_unlink (id NULL) and shmarray_unlink_version: the file opened
 * relative to the directory must start with the magic and, for a version,
 * hold that id in its header; the name is unlinked only while it still
 * holds that file. */
static int unlink_segment(const char *name, const char *dir, const uint8_t *id, char *err,
                          size_t err_len) {
  int rc = sa_check_name(name, err, err_len);
  if (rc) return rc;
  sa_dir d;
  if ((rc = sa_dir_open(&d, dir, SA_REFUSE_DIR_LINK, "unlink", "*", err, err_len))) return rc;
  char *path = sa_join(d.path, name);
  if (!path) {
    sa_dir_close(&d);
    return sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  }
  char want[SA_ID_HEX_LEN], have[SA_ID_HEX_LEN];
  if (id) sa_id_hex(id, want);
  struct stat st;
  int fd = sa_dir_open_entry(&d, name, &st);
  if (fd == SA_NOT_REGULAR) {
    rc = sa_fail(SHMARRAY_NOT_A_SEGMENT, err, err_len,
                 "segment \"%s\": %s is not a regular file; not removed", name, path);
  } else if (fd < 0 && errno == ENOENT && id) {
    rc = sa_fail(SHMARRAY_STALE, err, err_len,
                 "segment \"%s\": unlink names id %s, no segment has that name now", name, want);
  } else if (fd < 0) {
    rc = sa_os_error(errno, "unlink", name, path, err, err_len);
  } else {
    uint8_t buf[SA_HEADER_SIZE_ID]; /* the identity of a 1.2 file */
    ssize_t n = pread(fd, buf, id ? sizeof buf : 8, 0);
    close(fd);
    sa_header h;
    if (n < 8 || memcmp(buf, "SHMARRAY", 8) != 0) {
      rc = sa_fail(SHMARRAY_NOT_A_SEGMENT, err, err_len,
                   "%s is not a shmarray segment; not removed", path);
    } else if (id) {
      /* Any other header problem still reads the identity where there is
       * one; an id all zero (a 1.0 or 1.1 file) matches only an id all zero. */
      sa_read_header(buf, (size_t)n, &h, NULL, 0);
      if (memcmp(h.id, id, SA_ID_LEN) != 0)
        rc = sa_fail(SHMARRAY_STALE, err, err_len,
                     "segment \"%s\": unlink names id %s, the name holds version %llu (id %s) now; "
                     "nothing was removed",
                     name, want, (unsigned long long)h.version, sa_id_hex(h.id, have));
    }
    if (rc == SHMARRAY_OK)
      rc = remove_error(sa_dir_remove(&d, name, &st), "unlink", name, path, err, err_len);
  }
  free(path);
  sa_dir_close(&d);
  return rc;
}

int shmarray_unlink(const char *name, const char *dir, char *err, size_t err_len) {
  return unlink_segment(name, dir, NULL, err, err_len);
}

int shmarray_unlink_version(const char *name, const char *dir, const uint8_t id[16], char *err,
                            size_t err_len) {
  if (!id) return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "id must not be NULL");
  return unlink_segment(name, dir, id, err, err_len);
}

/* The writer's pid in a fallback temporary name ".shmarray-tmp-PID-..."
 * (arena/gc.go tempFilePID): decimal digits, > 0, fitting 32 bits, then
 * '-'; 0 if name is not one. */
static uint32_t temp_file_pid(const char *name) {
  if (strncmp(name, SA_TEMP_PREFIX, sizeof SA_TEMP_PREFIX - 1) != 0) return 0;
  const char *p = name + sizeof SA_TEMP_PREFIX - 1;
  uint64_t pid = 0;
  if (*p < '0' || *p > '9') return 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    pid = pid * 10 + (uint64_t)(*p - '0');
    if (pid > UINT32_MAX) return 0;
  }
  return *p == '-' ? (uint32_t)pid : 0;
}

/* Judges the temporary file name of d, whose name says its writer was pid
 * (arena/gc.go probeTemp): 1, with *l filled and *st the file read, only if
 * it is proven a leftover the caller may remove: a regular file with one
 * link, the caller's (or the caller is root), starting with the magic or,
 * for the caller's own file, with zeros only (empty included), and whose
 * writer is proven gone. */
static int probe_temp(const sa_dir *d, const char *name, uint32_t pid, sa_procview *v,
                      sa_listed *l, struct stat *st) {
  int fd = sa_dir_open_entry(d, name, st);
  if (fd < 0) return 0;
  uint32_t euid = (uint32_t)geteuid();
  int own = (uint32_t)st->st_uid == euid;
  if (st->st_nlink != 1 || (!own && euid != 0)) {
    close(fd);
    return 0;
  }
  uint8_t head[8];
  ssize_t want = st->st_size < (off_t)sizeof head ? (ssize_t)st->st_size : (ssize_t)sizeof head;
  ssize_t n = pread(fd, head, sizeof head, 0);
  close(fd);
  if (n != want) return 0;
  int magic = n == (ssize_t)sizeof head && memcmp(head, "SHMARRAY", 8) == 0;
  int zero = 1;
  for (ssize_t i = 0; i < n; i++) zero &= head[i] == 0;
  if (!magic && !(own && zero)) return 0;
  if (sa_creator(v, pid, 0) != SA_CREATOR_GONE) return 0;
  memset(l, 0, sizeof *l);
  snprintf(l->e.name, sizeof l->e.name, "%s", name);
  l->e.size = (int64_t)st->st_size;
  l->e.creator_pid = pid;
  l->e.created_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
  l->temp = 1;
  l->e.status = sa_fail(SHMARRAY_NOT_SEALED, l->message, sizeof l->message,
                        "%s is the unfinished temporary file of writer %u, which no longer runs",
                        name, pid);
  return 1;
}

/* The segment name a hidden name carries after its pid and 16 hex digits
 * (arena/gc.go tempSegmentName): a pointer into name, or NULL if none. */
static const char *temp_segment_name(const char *name) {
  const char *p = strchr(name + sizeof SA_TEMP_PREFIX - 1, '-');
  if (!p || strlen(p + 1) < 18 || p[17] != '-') return NULL;
  return sa_check_name(p + 18, NULL, 0) == SHMARRAY_OK ? p + 18 : NULL;
}

/* Judges the hidden file name of d, whose name says its writer is pid, for
 * listing (arena/gc.go probeBuilding): 1, with *l filled, when its name
 * carries a segment name (shared outputs, spec §10.6) and it is the
 * caller's regular file with one link, zeros in its first 8 bytes
 * (unsealed), whose writer runs: a segment being built. */
static int probe_building(const sa_dir *d, const char *name, uint32_t pid, sa_procview *v,
                          sa_listed *l) {
  const char *segment = temp_segment_name(name);
  if (!segment) return 0;
  struct stat st;
  int fd = sa_dir_open_entry(d, name, &st);
  if (fd < 0) return 0;
  uint8_t head[8];
  ssize_t want = st.st_size < (off_t)sizeof head ? (ssize_t)st.st_size : (ssize_t)sizeof head;
  ssize_t n = pread(fd, head, sizeof head, 0);
  close(fd);
  int zero = n == want;
  for (ssize_t i = 0; zero && i < n; i++) zero = head[i] == 0;
  if (!zero || st.st_nlink != 1 || (uint32_t)st.st_uid != (uint32_t)geteuid()) return 0;
  if (sa_creator(v, pid, 0) != SA_CREATOR_ALIVE) return 0;
  memset(l, 0, sizeof *l);
  snprintf(l->e.name, sizeof l->e.name, "%s", name);
  l->e.size = (int64_t)st.st_size;
  l->e.creator_pid = pid;
  l->e.creator_alive = 1;
  l->e.created_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  l->e.building = 1;
  l->e.status = sa_fail(SHMARRAY_NOT_SEALED, l->message, sizeof l->message,
                        "%s is the unpublished file of segment \"%s\", being built by process %u",
                        name, segment, pid);
  return 1;
}

/* Appends a failure to r; 0 when out of memory. */
static sa_gc_failure *add_failure(sa_gc_result *r) {
  if ((r->failure_count & (r->failure_count - 1)) == 0) { /* 0, 1, 2, 4...: grow */
    size_t ncap = r->failure_count ? 2 * r->failure_count : 1;
    sa_gc_failure *grown = realloc(r->failures, ncap * sizeof *grown);
    if (!grown) return NULL;
    r->failures = grown;
  }
  return &r->failures[r->failure_count++];
}

int sa_gc_dir(const char *dir, int dry_run, sa_gc_result *r, char *err, size_t err_len) {
  memset(r, 0, sizeof *r);
  sa_dir d;
  char **names;
  size_t nnames;
  int rc = open_files(dir, SA_REFUSE_DIR_LINK, "gc", &d, &names, &nnames, err, err_len);
  if (rc) return rc;
  sa_procview v = {0};
  size_t cap = 0;
  int oom = 0;
  /* One walk: each file is judged from one descriptor and removed only
   * while its name still holds that file. */
  for (size_t i = 0; i < nnames && !oom; i++) {
    const char *name = names[i];
    sa_listed *l = grow(&r->removed, &r->count, &cap);
    if (!l) {
      oom = 1;
      break;
    }
    struct stat st;
    int ok = 0;
    const char *op = NULL;
    uint32_t pid = temp_file_pid(name);
    if (pid) {
      ok = probe_temp(&d, name, pid, &v, l, &st);
      op = "remove the temporary file of a dead writer,";
    } else if (sa_check_name(name, NULL, 0) == SHMARRAY_OK) {
      ok = probe(&d, name, &v, l, &st) && l->e.ephemeral && !l->e.creator_alive &&
           !l->e.creator_unknown;
      op = "remove orphaned";
    }
    /* Not proven ours, or (sticky directory) not ours to remove: skipped
     * silently, as other users' business. */
    if (!ok || !sa_dir_entitled(&d, &st)) continue;
    if (!dry_run) {
      int gone = sa_dir_remove(&d, name, &st);
      if (gone == SA_CHANGED || (gone < 0 && errno == ENOENT))
        continue; /* removed or replaced since it was judged: not ours to remove */
      if (gone < 0) {
        int e = errno;
        char *path = sa_join(d.path, name);
        sa_gc_failure *f = path ? add_failure(r) : NULL; /* after the path: an entry counted is filled */
        if (!f) {
          free(path);
          oom = 1;
          break;
        }
        f->code = sa_os_error(e, op, name, path, f->message, sizeof f->message);
        free(path);
        continue;
      }
    }
    r->count++;
  }
  sa_procview_free(&v);
  sa_names_free(names, nnames);
  if (r->count) qsort(r->removed, r->count, sizeof *r->removed, by_kind_and_name);
  r->dir = d.path;
  d.path = NULL;
  sa_dir_close(&d);
  if (oom) {
    sa_gc_failure *f = add_failure(r);
    if (f) f->code = sa_fail(SHMARRAY_INTERNAL, f->message, sizeof f->message, "gc: out of memory");
    if (!f) return sa_fail(SHMARRAY_INTERNAL, err, err_len, "gc: out of memory");
  }
  if (!r->failure_count) return SHMARRAY_OK;
  /* Every failure, one per line, as Go's errors.Join prints them. */
  if (err && err_len) {
    size_t at = 0;
    err[0] = '\0';
    for (size_t i = 0; i < r->failure_count && at + 1 < err_len; i++)
      at += (size_t)snprintf(err + at, err_len - at, i ? "\n%s" : "%s", r->failures[i].message);
  }
  return r->failures[0].code;
}

void sa_gc_result_free(sa_gc_result *r) {
  if (!r) return;
  free(r->dir);
  free(r->removed);
  free(r->failures);
  memset(r, 0, sizeof *r);
}

int shmarray_gc(const char *dir, int dry_run, size_t *removed, char *err, size_t err_len) {
  sa_gc_result r;
  int rc = sa_gc_dir(dir, dry_run, &r, err, err_len);
  if (removed) *removed = r.count;
  sa_gc_result_free(&r);
  return rc;
}
