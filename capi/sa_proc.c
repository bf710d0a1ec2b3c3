/* Judging the creator of a segment (or the writer of a temporary file) by
 * its recorded pid and start time, across pid namespaces (spec §10.5), as
 * arena/proc_linux.go. Pids name processes only within a pid namespace, and
 * a segment records none, so a creator is taken for gone only when that is
 * proven from here:
 *
 *  1. pid 0 is unknown.
 *  2. /proc must show this pid namespace (field 1 of /proc/self/stat is our
 *     own pid); else every creator is unknown.
 *  3. A recorded start time earlier than that of this namespace's pid 1
 *     means the creator ran in another namespace: unknown. If pid 1's start
 *     time cannot be read, every creator with a start time is unknown.
 *  4. kill(pid, 0) succeeding or failing with EPERM: a process with that pid
 *     exists, alive if its start time (field 22 of /proc/PID/stat) equals
 *     the recorded one or either is unknown.
 *  5. Otherwise, or if that process is another one (pid reused), any
 *     process of a namespace below whose innermost pid (last NSpid entry of
 *     /proc/P/status) is pid and whose start time matches (or either is 0)
 *     is the creator, alive.
 *  6. Otherwise the creator is gone, if all of /proc was read for step 5;
 *     if not (an error part way), unknown.
 *
 * /proc is read lazily and at most once per step for one list or gc. */
#define _DEFAULT_SOURCE /* kill, d_type */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa_internal.h"

/* Reads the file at path into buf (NUL-terminated, at most size - 1 bytes);
 * the bytes read, or -1 when it cannot be opened or read. */
static ssize_t read_small(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, size - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      close(fd);
      return -1;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n == size - 1) break;
  }
  close(fd);
  buf[n] = '\0';
  return (ssize_t)n;
}

/* Parses the decimal digits at *p (Go's strconv.ParseUint: digits only, no
 * overflow of max) up to a space, tab, newline or the end; 1 with *v on
 * success. */
static int parse_uint(const char *p, const char *end, uint64_t max, uint64_t *v) {
  if (p == end) return 0;
  uint64_t x = 0;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9') return 0;
    uint64_t digit = (uint64_t)(*p - '0');
    if (x > (max - digit) / 10) return 0;
    x = x * 10 + digit;
  }
  *v = x;
  return 1;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* The start time of process who ("self" or a pid) in clock ticks since
 * boot, field 22 of /proc/WHO/stat, in *start (0 when the field is not
 * understood); 0 when the file cannot be read. If pid_field is not NULL it
 * receives field 1 (up to 31 bytes), "" when not understood. */
static int stat_start(const char *who, uint64_t *start, char *pid_field) {
  char path[64], buf[4096];
  *start = 0;
  if (pid_field) pid_field[0] = '\0';
  snprintf(path, sizeof path, "/proc/%s/stat", who);
  if (read_small(path, buf, sizeof buf) < 0) return 0;
  /* The command name (field 2) may hold spaces and parentheses: the fields
   * after it start after the last ')'. Field 22 is the 20th after it. */
  char *open_ = strchr(buf, ' ');
  char *p = strrchr(buf, ')');
  if (!open_ || !p || p < open_) return 1;
  if (pid_field && (size_t)(open_ - buf) < 32) {
    memcpy(pid_field, buf, (size_t)(open_ - buf));
    pid_field[open_ - buf] = '\0';
  }
  p++;
  for (int field = 3; field <= 22; field++) {
    while (*p && is_space(*p)) p++;
    if (!*p) return 1;
    char *end = p;
    while (*end && !is_space(*end)) end++;
    if (field == 22) {
      uint64_t v;
      if (parse_uint(p, end, UINT64_MAX, &v)) *start = v;
      return 1;
    }
    p = end;
  }
  return 1;
}

static int pid_start(uint32_t pid, uint64_t *start) {
  char who[16];
  snprintf(who, sizeof who, "%u", pid);
  return stat_start(who, start, NULL);
}

/* The innermost pid and start time of every visible process that runs in a
 * pid namespace below this one (NSpid with two entries or more). Returns 0
 * if /proc could not be read to its end (then no creator is proven gone). */
static int read_nested(sa_procview *v) {
  DIR *proc = opendir("/proc");
  if (!proc) return 0;
  size_t cap = 0;
  struct dirent *de;
  int complete = 1;
  for (errno = 0; (de = readdir(proc)); errno = 0) {
    const char *n = de->d_name;
    uint64_t outer;
    if (!parse_uint(n, n + strlen(n), UINT64_MAX, &outer)) continue;
    char path[300], buf[8192];
    snprintf(path, sizeof path, "/proc/%s/status", n);
    if (read_small(path, buf, sizeof buf) < 0) continue;
    char *line = strstr(buf, "NSpid:");
    while (line && line != buf && line[-1] != '\n') line = strstr(line + 1, "NSpid:");
    if (!line) continue;
    char *p = line + strlen("NSpid:"), *eol = strchr(p, '\n');
    if (!eol) eol = p + strlen(p);
    const char *last = NULL, *last_end = NULL;
    int fields = 0;
    while (p < eol) {
      while (p < eol && is_space(*p)) p++;
      if (p == eol) break;
      char *end = p;
      while (end < eol && !is_space(*end)) end++;
      last = p;
      last_end = end;
      fields++;
      p = end;
    }
    uint64_t inner;
    if (fields < 2 || !parse_uint(last, last_end, UINT32_MAX, &inner)) continue;
    if (v->nested_count == cap) {
      size_t ncap = cap ? 2 * cap : 16;
      sa_nested_pid *grown = realloc(v->nested, ncap * sizeof *grown);
      if (!grown) {
        complete = 0;
        break;
      }
      v->nested = grown;
      cap = ncap;
    }
    uint64_t start = 0;
    stat_start(n, &start, NULL);
    v->nested[v->nested_count].pid = (uint32_t)inner;
    v->nested[v->nested_count].start = start;
    v->nested_count++;
  }
  if (errno != 0) complete = 0; /* readdir failed */
  closedir(proc);
  return complete;
}

int sa_creator(sa_procview *v, uint32_t pid, uint64_t start) {
  if (pid == 0) return SA_CREATOR_UNKNOWN;
  if (!v->checked) {
    v->checked = 1;
    char self[32], mine[32];
    uint64_t ignored;
    snprintf(mine, sizeof mine, "%ld", (long)getpid());
    v->consistent = stat_start("self", &ignored, self) && strcmp(self, mine) == 0;
    v->init_known = pid_start(1, &v->init_start);
  }
  if (!v->consistent) return SA_CREATOR_UNKNOWN;
  if (start != 0 && (!v->init_known || start < v->init_start)) return SA_CREATOR_UNKNOWN;
  /* A pid above 2^31 - 1 names no process (kill would take it for a
   * process group). */
  if (pid <= INT32_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
    uint64_t now = 0;
    if (!pid_start(pid, &now) || start == 0 || now == 0 || now == start) return SA_CREATOR_ALIVE;
  }
  if (!v->nested_read) {
    v->nested_read = 1;
    v->nested_complete = read_nested(v);
  }
  for (size_t i = 0; i < v->nested_count; i++) {
    const sa_nested_pid *n = &v->nested[i];
    if (n->pid == pid && (start == 0 || n->start == 0 || n->start == start)) return SA_CREATOR_ALIVE;
  }
  return v->nested_complete ? SA_CREATOR_GONE : SA_CREATOR_UNKNOWN;
}

void sa_procview_free(sa_procview *v) {
  if (!v) return;
  free(v->nested);
  v->nested = NULL;
  v->nested_count = 0;
}
