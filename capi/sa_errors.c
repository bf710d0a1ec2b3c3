/* Error names and messages, and the library's version (spec §13). */
#include <stdarg.h>
#include <stdio.h>

#include "sa_internal.h"

static const char *const code_names[] = {
    "OK",           "INVALID_ARGUMENT", "NOT_FOUND",         "EXISTS",
    "NO_SPACE",     "PERMISSION_DENIED", "NOT_A_SEGMENT",    "UNSUPPORTED_VERSION",
    "TRUNCATED",    "NOT_SEALED",       "CHECKSUM_MISMATCH", "OUT_OF_BOUNDS",
    "MISALIGNED",   "BAD_TYPE",         "BAD_SHAPE",         "BAD_SIZE",
    "BAD_OFFSETS",  "BAD_UTF8",         "DUPLICATE_NAME",    "CLOSED",
    "FORKED",       "IO_ERROR",         "INTERNAL",
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
};

#define NCODES (sizeof code_names / sizeof code_names[0])

const char *shmarray_error_name(int code) {
  if (code < 0 || (size_t)code >= NCODES) return "UNKNOWN";
  return code_names[code];
}

const char *shmarray_version(void) { return "0.1.0"; }

uint32_t shmarray_format_version(void) {
  return (uint32_t)SHMARRAY_FORMAT_MAJOR << 16 | SHMARRAY_FORMAT_MINOR;
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
