/* Error names and messages, and the library's version (spec §13). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sa_internal.h"

static const char *const code_names[] = {
    "OK",           "INVALID_ARGUMENT", "NOT_FOUND",         "EXISTS",
    "NO_SPACE",     "PERMISSION_DENIED", "NOT_A_SEGMENT",    "UNSUPPORTED_VERSION",
    "TRUNCATED",    "NOT_SEALED",       "CHECKSUM_MISMATCH", "OUT_OF_BOUNDS",
    "MISALIGNED",   "BAD_TYPE",         "BAD_SHAPE",         "BAD_SIZE",
    "BAD_OFFSETS",  "BAD_UTF8",         "DUPLICATE_NAME",    "CLOSED",
    "FORKED",       "IO_ERROR",         "INTERNAL",          "STALE",
};

/* The same texts as codeTexts in format/errors.go, so that C and Go
 * messages start alike. */
static const char *const code_texts[] = {
    "ok",
    "invalid argument",
    "not found",
    "already exists",
    "no space",
    "permission denied",
    "not a shmarray segment",
    "unsupported format version",
    "truncated segment",
    "segment not sealed",
    "checksum mismatch",
    "out of bounds",
    "misaligned buffer",
    "bad type",
    "bad shape",
    "bad size",
    "bad offsets",
    "invalid UTF-8",
    "duplicate name",
    "closed",
    "called in a forked child",
    "I/O error",
    "internal error",
    "stale version",
};

#define NCODES (sizeof code_names / sizeof code_names[0])

const char *shmarray_error_name(int code) {
  if (code < 0 || (size_t)code >= NCODES) return "UNKNOWN";
  return code_names[code];
}

/* The file VERSION at the root of the repository is the one source of the
 * version: `make lib`, `make wheel` and bindings/python/setup.py pass it in
 * as -DSHMARRAY_VERSION. A build that does not (go vet, go test) says so. */
#ifndef SHMARRAY_VERSION
#define SHMARRAY_VERSION "unversioned"
#endif

const char *shmarray_version(void) { return SHMARRAY_VERSION; }

uint32_t shmarray_format_version(void) {
  return (uint32_t)SHMARRAY_FORMAT_MAJOR << 16 | SHMARRAY_FORMAT_MINOR;
}

int sa_array_fail(int code, const char *seg_name, const char *name, size_t name_len, char *err,
                  size_t err_len, const char *fmt, ...) {
  char msg[1600], q[SA_QUOTE_LEN(SA_QUOTE_NAME)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!name) return sa_fail(code, err, err_len, "%s", msg);
  sa_quote(name, name_len, SA_QUOTE_NAME, q, sizeof q);
  if (seg_name) return sa_fail(code, err, err_len, "segment \"%s\": array %s: %s", seg_name, q, msg);
  return sa_fail(code, err, err_len, "array %s: %s", q, msg);
}

int sa_slot_fail(const char *seg_name, const char *name, size_t name_len, uint64_t i, uint64_t start,
                 uint64_t end, uint64_t data_len, char *err, size_t err_len) {
  return sa_array_fail(SHMARRAY_BAD_OFFSETS, seg_name, name, name_len, err, err_len,
                       "slot %llu has offsets [%lld, %lld), outside the %llu-byte data buffer",
                       (unsigned long long)i, (long long)start, (long long)end,
                       (unsigned long long)data_len);
}

sa_fix_names sa_fix = {"shmarray_list", "shmarray_export_array", "shmarray_attach_options.owners"};

const char *sa_bare_message(int code, const char *err) {
  static const char prefix[] = "shmarray: ";
  const char *text = sa_code_text(code);
  size_t n = strlen(text);
  if (strncmp(err, prefix, sizeof prefix - 1) == 0 && strncmp(err + sizeof prefix - 1, text, n) == 0 &&
      err[sizeof prefix - 1 + n] == ':' && err[sizeof prefix + n] == ' ')
    return err + sizeof prefix + n + 1;
  return err;
}

const char *sa_code_text(int code) {
  if (code < 0 || (size_t)code >= NCODES) return "unknown error";
  return code_texts[code];
}

int sa_fail(int code, char *err, size_t err_len, const char *fmt, ...) {
  if (!err || err_len == 0) return code;
  int n;
  if (code >= 0 && (size_t)code < NCODES)
    n = snprintf(err, err_len, "shmarray: %s: ", code_texts[code]);
  else
    n = snprintf(err, err_len, "shmarray: error code %d: ", code);
  if (n < 0) {
    err[0] = '\0';
    return code;
  }
  if ((size_t)n < err_len - 1) {
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(err + n, err_len - (size_t)n, fmt, ap) < 0) err[n] = '\0';
    va_end(ap);
  }
  return code;
}
