/* Names, directories and paths (spec §2): the segment name rule, the
 * segment directory ($SHMARRAY_DIR), joining and making paths absolute, and
 * the messages of errno values for a segment file. Used by attaching
 * (sa_attach.c), the directory operations (sa_dir.c) and listing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa_internal.h"

/* ---- Names, directories, paths (spec §2) -------------------------------- */

int sa_check_name(const char *name, char *err, size_t err_len) {
  if (!name || !name[0])
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "segment name is empty");
  size_t n = strlen(name);
  if (n > SA_MAX_SEGMENT_NAME)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "segment name is %zu bytes, the limit is %u", n, SA_MAX_SEGMENT_NAME);
  char q[SA_QUOTE_LEN(SA_QUOTE_NAME)];
  sa_quote(name, n, SA_QUOTE_NAME, q, sizeof q);
  if (name[0] == '.')
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "segment name %s starts with '.', which is reserved for temporary files", q);
  if (strstr(name, ".."))
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "segment name %s contains \"..\"", q);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
        c == '_' || c == '-')
      continue;
    /* The character as its user typed it, as format/names.go says it. */
    char what[64];
    uint32_t cp;
    size_t k = c >= 0x80 ? sa_utf8_decode((const uint8_t *)name + i, n - i, &cp) : 0;
    if (c >= 0x20 && c < 0x7F)
      snprintf(what, sizeof what, "the character '%c'", c);
    else if (k)
      snprintf(what, sizeof what, "the character '%.*s' (U+%04X, not ASCII)", (int)k,
               name + i, (unsigned)cp);
    else
      snprintf(what, sizeof what, "the byte 0x%02x", c);
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "segment name %s has %s at byte %zu; use only letters, digits, '.', '_' and '-'",
                   q, what, i);
  }
  return SHMARRAY_OK;
}

const char *sa_resolve_dir(const char *dir) {
  if (dir && dir[0]) return dir;
  const char *env = getenv(SA_ENV_DIR);
  if (env && env[0]) return env;
  return SA_DEFAULT_DIR;
}

/* Go's filepath.Clean of p, in place (the result is never longer). */
static void clean_path(char *p) {
  size_t n = strlen(p), r = 0, w = 0, dotdot = 0;
  int rooted = p[0] == '/';
  if (rooted) w = r = dotdot = 1;
  while (r < n) {
    if (p[r] == '/') {
      r++;
    } else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
      r++;
    } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
      r += 2;
      if (w > dotdot) {
        w--;
        while (w > dotdot && p[w] != '/') w--;
      } else if (!rooted) {
        if (w > 0) p[w++] = '/';
        p[w++] = '.';
        p[w++] = '.';
        dotdot = w;
      }
    } else {
      if ((rooted && w != 1) || (!rooted && w != 0)) p[w++] = '/';
      for (; r < n && p[r] != '/'; r++) p[w++] = p[r];
    }
  }
  if (w == 0) p[w++] = '.';
  p[w] = '\0';
}

char *sa_join(const char *dir, const char *name) {
  size_t dn = strlen(dir), nn = strlen(name);
  char *p = malloc(dn + nn + 2);
  if (!p) return NULL;
  memcpy(p, dir, dn);
  p[dn] = '/';
  memcpy(p + dn + 1, name, nn + 1);
  clean_path(p);
  return p;
}

char *sa_abs_path(const char *dir) {
  if (dir[0] == '/') {
    char *p = strdup(dir);
    if (p) clean_path(p);
    return p;
  }
  size_t cap = 256;
  for (;;) {
    char *cwd = malloc(cap);
    if (!cwd) return NULL;
    if (getcwd(cwd, cap)) {
      char *p = sa_join(cwd, dir);
      free(cwd);
      if (!p) errno = ENOMEM;
      return p;
    }
    int e = errno;
    free(cwd);
    if (e != ERANGE || cap > (1u << 20)) {
      errno = e;
      return NULL;
    }
    cap *= 2;
  }
}

int sa_os_error(int e, const char *op, const char *name, const char *path, char *err,
                size_t err_len) {
  switch (e) {
  case ENOENT:
    return sa_fail(SHMARRAY_NOT_FOUND, err, err_len,
                   "%s segment \"%s\": %s does not exist (check the name and the directory; "
                   "list segments with %s)",
                   op, name, path, sa_fix.list);
  case EEXIST:
    return sa_fail(SHMARRAY_EXISTS, err, err_len,
                   "%s segment \"%s\": %s already exists (choose another name, or unlink the "
                   "old segment first)",
                   op, name, path);
  case ENOSPC:
  case EDQUOT:
    return sa_fail(SHMARRAY_NO_SPACE, err, err_len,
                   "%s segment \"%s\": %s: %s (set %s or the dir argument to a larger "
                   "directory, or enlarge it)",
                   op, name, path, strerror(e), SA_ENV_DIR);
  case EACCES:
  case EPERM:
  case EROFS:
    return sa_fail(SHMARRAY_PERMISSION_DENIED, err, err_len, "%s segment \"%s\": %s: %s", op,
                   name, path, strerror(e));
  case ELOOP:
    return sa_fail(SHMARRAY_NOT_A_SEGMENT, err, err_len,
                   "%s segment \"%s\": %s is a symbolic link; segments are regular files and "
                   "links are not followed",
                   op, name, path);
  case ENOTDIR:
    return sa_fail(SHMARRAY_NOT_FOUND, err, err_len,
                   "%s segment \"%s\": a component of %s is not a directory", op, name, path);
  case ENAMETOOLONG:
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "%s segment \"%s\": path %s is too long", op, name, path);
  }
  return sa_fail(SHMARRAY_IO_ERROR, err, err_len, "%s segment \"%s\" (%s): %s", op, name, path,
                 strerror(e));
}
