/* Text: UTF-8 as the spec defines it (§5.3), and the quoting of names and
 * keys in messages, which format/text.go does byte for byte the same, so that
 * C, Python and Go print the same message for the same file. */
#include <stdio.h>
#include <string.h>

#include "sa_internal.h"

int sa_is_ascii(const uint8_t *p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w & 0x8080808080808080ull) return 0;
  }
  for (; i < n; i++)
    if (p[i] >= 0x80) return 0;
  return 1;
}

/* Length of the well-formed UTF-8 sequence at p[0, n) (n >= 1) whose first
 * byte is not ASCII, or 0 if it is not one: no overlong forms, no
 * surrogates, nothing above U+10FFFF (Go's utf8.Valid). */
static size_t utf8_seq(const uint8_t *p, size_t n) {
  uint8_t c = p[0];
  size_t more;
  uint8_t lo = 0x80, hi = 0xBF; /* bounds of the second byte */
  if (c >= 0xC2 && c <= 0xDF) more = 1;
  else if (c == 0xE0) more = 2, lo = 0xA0;
  else if (c == 0xED) more = 2, hi = 0x9F;
  else if (c >= 0xE1 && c <= 0xEF) more = 2;
  else if (c == 0xF0) more = 3, lo = 0x90;
  else if (c == 0xF4) more = 3, hi = 0x8F;
  else if (c >= 0xF1 && c <= 0xF3) more = 3;
  else return 0;
  if (n - 1 < more || p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k <= more; k++)
    if ((p[k] & 0xC0) != 0x80) return 0;
  return more + 1;
}

size_t sa_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp) {
  size_t k = n ? utf8_seq(p, n) : 0;
  if (!k) return 0;
  static const uint8_t lead_mask[5] = {0, 0, 0x1F, 0x0F, 0x07};
  uint32_t v = p[0] & lead_mask[k];
  for (size_t i = 1; i < k; i++) v = (v << 6) | (p[i] & 0x3Fu);
  *cp = v;
  return k;
}

int sa_utf8_valid(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (n - i >= 8) { /* runs of ASCII eight bytes at a time */
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (!(w & 0x8080808080808080ull)) {
        i += 8;
        continue;
      }
    }
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    size_t k = utf8_seq(p + i, n - i);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

int sa_text_ok(const char *s, size_t n) {
  return sa_utf8_valid((const uint8_t *)s, n) && !memchr(s, 0, n);
}

const char *sa_quote(const void *s, size_t n, size_t max, char *buf, size_t len) {
  const uint8_t *p = s;
  size_t at = 0, lim = n < max ? n : max;
  if (len < 8) { /* never: callers pass SA_QUOTE_LEN(max) bytes */
    if (len) buf[0] = '\0';
    return buf;
  }
  buf[at++] = '"';
  for (size_t i = 0; i < lim && at + 8 < len;) {
    uint8_t c = p[i];
    size_t k;
    if (c == '"' || c == '\\') {
      buf[at++] = '\\';
      buf[at++] = (char)c;
      i++;
    } else if (c >= 0x20 && c < 0x7F) {
      buf[at++] = (char)c;
      i++;
    } else if (c >= 0x80 && (k = utf8_seq(p + i, lim - i)) != 0 && at + k + 8 < len) {
      memcpy(buf + at, p + i, k);
      at += k;
      i += k;
    } else {
      at += (size_t)snprintf(buf + at, len - at, "\\x%02x", c);
      i++;
    }
  }
  snprintf(buf + at, len - at, n > max ? "\"..." : "\"");
  return buf;
}

const char *sa_id_hex(const uint8_t id[SA_ID_LEN], char buf[SA_ID_HEX_LEN]) {
  static const char digits[] = "0123456789abcdef";
  for (unsigned i = 0; i < SA_ID_LEN; i++) {
    buf[2 * i] = digits[id[i] >> 4];
    buf[2 * i + 1] = digits[id[i] & 15];
  }
  buf[2 * SA_ID_LEN] = '\0';
  return buf;
}
