/* Directory-relative operations (spec §2.2, §10.5, §15), as
 * arena/dirfd_linux.go: a segment directory is resolved by path once, when
 * it is opened, and every later step on its entries (open, stat, unlink)
 * is relative to that descriptor. Swapping the directory's path for a
 * symbolic link afterwards changes nothing for the call that holds it, and
 * a name is unlinked only while it holds the very file that was checked. */
#define _DEFAULT_SOURCE /* d_type and DT_* even under strict feature macros */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa_internal.h"

int sa_dir_open(sa_dir *d, const char *dir, int follow, const char *op, const char *name,
                char *err, size_t err_len) {
  memset(d, 0, sizeof *d);
  d->fd = -1;
  dir = sa_resolve_dir(dir);
  char *abs = sa_abs_path(dir);
  if (!abs) return sa_os_error(errno, op, name, dir, err, err_len);
  int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  if (!follow) flags |= O_NOFOLLOW;
  int fd = open(abs, flags);
  if (fd < 0) {
    int e = errno;
    struct stat st;
    /* O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR (ELOOP on some
     * kernels); lstat tells a link from a file. */
    if (!follow && (e == ENOTDIR || e == ELOOP) && lstat(abs, &st) == 0 && S_ISLNK(st.st_mode)) {
      char *target = realpath(abs, NULL);
      int rc = sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                       "%s: segment directory %s is a symbolic link (to %s); files are removed "
                       "only in a directory named directly, never through a link (pass the "
                       "directory itself)",
                       op, dir, target ? target : "");
      free(target);
      free(abs);
      return rc;
    }
    free(abs);
    return sa_os_error(e, op, name, dir, err, err_len);
  }
  d->fd = fd;
  d->path = abs;
  return SHMARRAY_OK;
}

void sa_dir_close(sa_dir *d) {
  if (!d) return;
  if (d->fd >= 0) close(d->fd);
  d->fd = -1;
  free(d->path);
  d->path = NULL;
}

void sa_names_free(char **names, size_t count) {
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
}

int sa_dir_files(const sa_dir *d, char ***names, size_t *count) {
  *names = NULL;
  *count = 0;
  int fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  DIR *dd = fdopendir(fd);
  if (!dd) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  char **list = NULL;
  size_t n = 0, cap = 0;
  int e = 0;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(dd);
    if (!de) {
      e = errno;
      break;
    }
    unsigned char type = de->d_type;
    if (type == DT_UNKNOWN) { /* file systems without d_type */
      struct stat st;
      if (fstatat(d->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
    }
    /* Only a hint: every file is opened with O_NOFOLLOW and checked with
     * fstat all the same. */
    if (type != DT_REG) continue;
    if (n == cap) {
      size_t ncap = cap ? 2 * cap : 16;
      char **grown = realloc(list, ncap * sizeof *list);
      if (!grown) {
        e = ENOMEM;
        break;
      }
      list = grown;
      cap = ncap;
    }
    if (!(list[n] = strdup(de->d_name))) {
      e = ENOMEM;
      break;
    }
    n++;
  }
  closedir(dd);
  if (e) {
    sa_names_free(list, n);
    errno = e;
    return -1;
  }
  *names = list;
  *count = n;
  return 0;
}

int sa_dir_open_entry(const sa_dir *d, const char *name, struct stat *st) {
  int fd = openat(d->fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fstat(fd, st) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  if (!S_ISREG(st->st_mode)) {
    close(fd);
    return SA_NOT_REGULAR;
  }
  return fd;
}

int sa_dir_remove(const sa_dir *d, const char *name, const struct stat *checked) {
  struct stat now;
  if (fstatat(d->fd, name, &now, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  if (now.st_dev != checked->st_dev || now.st_ino != checked->st_ino) return SA_CHANGED;
  /* Between the comparison and the unlink only someone who can rename
   * entries of this very directory can put another of its entries under
   * the name; the unlink is on its descriptor, so nothing outside it is
   * ever removed (spec §15). */
  return unlinkat(d->fd, name, 0) == 0 ? 0 : -1;
}

int sa_dir_entitled(sa_dir *d, const struct stat *st) {
  if (!d->self_known) {
    struct stat own;
    if (fstat(d->fd, &own) == 0) {
      d->self_known = 1;
      d->self_uid = (uint32_t)own.st_uid;
      d->self_mode = (uint32_t)own.st_mode;
    } else {
      d->self_known = -1;
    }
  }
  uint32_t euid = (uint32_t)geteuid();
  return euid == 0 || (uint32_t)st->st_uid == euid || d->self_known < 0 ||
         !(d->self_mode & S_ISVTX) || d->self_uid == euid;
}
