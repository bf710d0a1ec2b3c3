/* Hash indexes (format 1.1, spec §7.8): the structural check of an index
 * (§11.2 step 9.5a), its full validation (§11.3 step 5), single-key lookups
 * (sa_ix_find_*, for the bindings) and batch lookups (shmarray_lookup,
 * shmarray_lookup_view).
 *
 * Plain C, no call into Go, no allocation on the lookup path, so lookups
 * work in a child made by fork() even when the parent had loaded the Go
 * runtime. The table is untrusted data: every probe stops after 2^log2
 * steps, and every row and offset read from the file is checked before use
 * (OUT_OF_BOUNDS, BAD_OFFSETS), so a corrupt index never makes a lookup read
 * outside the array's buffers. It must give the same answers and codes as
 * format/index.go. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sa_internal.h"

#define SA_MAX_INDEX_LOG2 59u

/* ---- Hash (spec §7.8.2): FNV-1a over the key bytes, then fmix64 --------- */

static inline uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

/* Hash of an integer key whose 64-bit extension is v: its 8 LE bytes. */
static inline uint64_t hash_u64(uint64_t v) {
  uint64_t h = SA_FNV_OFFSET;
  for (int i = 0; i < 8; i++, v >>= 8) h = (h ^ (v & 0xFF)) * SA_FNV_PRIME;
  return mix64(h);
}

uint64_t sa_index_hash(const void *p, size_t n) { return mix64(sa_fnv1a(SA_FNV_OFFSET, p, n)); }

/* ---- UTF-32 keys (NumPy 'U' arrays), hashed and compared as UTF-8 ------- */

/* Code points of a key of `width` UTF-32 units, trailing NULs dropped. */
static size_t utf32_len(const uint8_t *p, uint32_t width) {
  size_t n = width;
  while (n > 0 && sa_le32(p + 4 * (n - 1)) == 0) n--;
  return n;
}

/* UTF-8 of code point c into out (1-4 bytes), or 0 if c cannot be encoded
 * (a surrogate or above U+10FFFF). */
static inline int utf8_put(uint32_t c, uint8_t out[4]) {
  if (c < 0x80) {
    out[0] = (uint8_t)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (uint8_t)(0xC0 | c >> 6);
    out[1] = (uint8_t)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c >= 0xD800 && c <= 0xDFFF) return 0;
  if (c < 0x10000) {
    out[0] = (uint8_t)(0xE0 | c >> 12);
    out[1] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
    out[2] = (uint8_t)(0x80 | (c & 0x3F));
    return 3;
  }
  if (c > 0x10FFFF) return 0;
  out[0] = (uint8_t)(0xF0 | c >> 18);
  out[1] = (uint8_t)(0x80 | (c >> 12 & 0x3F));
  out[2] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
  out[3] = (uint8_t)(0x80 | (c & 0x3F));
  return 4;
}

/* Hash of the UTF-8 of n code points; *bytes gets its length. 0 if some
 * code point has no UTF-8 (then no key can equal the query). */
static int utf32_hash(const uint8_t *p, size_t n, uint64_t *hash, size_t *bytes) {
  uint64_t h = SA_FNV_OFFSET;
  size_t total = 0;
  uint8_t u[4];
  for (size_t i = 0; i < n; i++) {
    uint32_t c = sa_le32(p + 4 * i);
    if (c < 0x80) { /* ASCII: one byte, the code point */
      h = (h ^ c) * SA_FNV_PRIME;
      total++;
      continue;
    }
    int k = utf8_put(c, u);
    if (!k) return 0;
    h = sa_fnv1a(h, u, (size_t)k);
    total += (size_t)k;
  }
  *hash = mix64(h);
  *bytes = total;
  return 1;
}

/* The UTF-8 of n code points into out (room for cap bytes): its length, or
 * 0 with *ok = 0 if a code point has no UTF-8, or cap + 1 if it is longer. */
static size_t utf32_to_utf8(const uint8_t *p, size_t n, uint8_t *out, size_t cap, int *ok) {
  size_t at = 0;
  *ok = 1;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = sa_le32(p + 4 * i);
    if (c < 0x80 && at < cap) {
      out[at++] = (uint8_t)c;
      continue;
    }
    uint8_t u[4];
    int k = utf8_put(c, u);
    if (!k) {
      *ok = 0;
      return 0;
    }
    if (cap - at < (size_t)k) return cap + 1;
    memcpy(out + at, u, (size_t)k);
    at += (size_t)k;
  }
  return at;
}

/* Whether the UTF-8 of n code points equals key[0, klen). */
static int utf32_equal(const uint8_t *p, size_t n, const uint8_t *key, size_t klen) {
  uint8_t u[4];
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    int k = utf8_put(sa_le32(p + 4 * i), u);
    if (!k || klen - at < (size_t)k || memcmp(key + at, u, (size_t)k) != 0) return 0;
    at += (size_t)k;
  }
  return at == klen;
}

/* ---- The index of one array, resolved and checked ----------------------- */

/* Messages about the indexed array x (sa_array_fail). */
#define ixfail(x, code, err, err_len, ...) \
  sa_array_fail(code, (x)->seg_name, (x)->name, (x)->name ? strlen((x)->name) : 0, err, err_len, __VA_ARGS__)

static inline uint64_t slot_at(const sa_ix *x, uint64_t s) {
  return x->w == 4 ? sa_le32(x->table + 4 * s) : sa_le64(x->table + 8 * s);
}

/* Null rows are not indexed, and no query finds them (spec §7.8.4). */
static inline int row_null(const sa_ix *x, uint64_t r) {
  return x->validity && !sa_bit(x->validity, r);
}

/* The 64-bit extension of the integer of row r (spec §7.8.1). */
static inline uint64_t int_at(const sa_ix *x, uint64_t r) {
  const uint8_t *p = x->data + r * x->width;
  switch (x->type) {
  case SHMARRAY_TYPE_INT8: return (uint64_t)(int64_t)(int8_t)p[0];
  case SHMARRAY_TYPE_UINT8: return p[0];
  case SHMARRAY_TYPE_INT16: return (uint64_t)(int64_t)(int16_t)sa_le16(p);
  case SHMARRAY_TYPE_UINT16: return sa_le16(p);
  case SHMARRAY_TYPE_INT32: return (uint64_t)(int64_t)(int32_t)sa_le32(p);
  case SHMARRAY_TYPE_UINT32: return sa_le32(p);
  default: return sa_le64(p);
  }
}

/* The key bytes of row r (r < length) of a byte-keyed array, with the
 * per-slot offsets check of spec §7.3. */
static int key_at(const sa_ix *x, uint64_t r, const uint8_t **p, uint64_t *n, char *err,
                  size_t err_len) {
  if (!x->ow) {
    *p = x->data + r * x->width;
    *n = x->width;
    return SHMARRAY_OK;
  }
  uint64_t start, end;
  if (!sa_slot_range(x->offs, x->ow, x->data_len, r, &start, &end))
    return sa_slot_fail(x->seg_name, x->name, x->name ? strlen(x->name) : 0, r, start, end,
                        x->data_len, err, err_len);
  *p = x->data + start;
  *n = end - start;
  return SHMARRAY_OK;
}

static int row_oob(const sa_ix *x, uint64_t s, uint64_t r, char *err, size_t err_len) {
  return ixfail(x, SHMARRAY_OUT_OF_BOUNDS, err, err_len, "index slot %llu names row %llu of %llu",
                (unsigned long long)s, (unsigned long long)r, (unsigned long long)x->length);
}

/* Resolves a view into x, checking what can be checked of it. */
static int resolve(const shmarray_index_view *v, sa_ix *x, char *err, size_t err_len) {
  memset(x, 0, sizeof *x);
  unsigned t = v->type;
  if (!sa_type_indexable(t))
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "an index view of type %u: only integer, string, binary and fixed-size binary "
                   "arrays have hash indexes", t);
  if ((v->slot_width != 4 && v->slot_width != 8) || v->log2 > SA_MAX_INDEX_LOG2 || !v->table ||
      v->length < 0)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "index view: slot width %u, log2 %u, length %lld: not an index",
                   v->slot_width, v->log2, (long long)v->length);
  x->type = t;
  x->length = (uint64_t)v->length;
  x->ow = sa_offset_width(t);
  x->ints = t <= SHMARRAY_TYPE_UINT64;
  x->is_signed = t == SHMARRAY_TYPE_INT8 || t == SHMARRAY_TYPE_INT16 ||
                 t == SHMARRAY_TYPE_INT32 || t == SHMARRAY_TYPE_INT64;
  x->width = t == SHMARRAY_TYPE_FIXED_SIZE_BINARY ? v->byte_width : sa_type_width(t);
  x->offs = v->offsets;
  x->data = v->data;
  x->data_len = v->data_length;
  x->validity = v->validity;
  x->table = v->table;
  x->w = v->slot_width;
  x->mask = ((uint64_t)1 << v->log2) - 1;
  if (x->ow) {
    if (x->length > 0 && (!v->offsets || v->offsets_length / x->ow <= x->length))
      return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                     "index view: %zu offsets bytes for %lld slots", v->offsets_length,
                     (long long)v->length);
  } else if (x->width == 0 || (x->length > 0 && (!v->data || v->data_length / x->width < x->length))) {
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "index view: %zu data bytes for %lld slots of %llu bytes", v->data_length,
                   (long long)v->length, (unsigned long long)x->width);
  }
  return SHMARRAY_OK;
}

/* Fills a view of the index of array a of seg (which has one). */
static void view_of(const shmarray_segment *seg, const sa_array *a, shmarray_index_view *v) {
  memset(v, 0, sizeof *v);
  v->type = a->type;
  v->byte_width = a->byte_width;
  v->length = a->length;
  shmarray_view bufs;
  shmarray_array_view(seg, (size_t)(a - seg->arrays), &bufs);
  v->offsets = bufs.offsets;
  v->offsets_length = bufs.offsets_length;
  v->data = bufs.data;
  v->data_length = bufs.data_length;
  if (a->null_count > 0) v->validity = seg->base + a->validity_off; /* >= ceil8(length) bytes */
  v->table = seg->base + a->index_off;
  v->slot_width = a->index_width;
  v->log2 = a->index_log2;
}

int sa_ix_open(const shmarray_segment *seg, size_t index, sa_ix *x, char *err, size_t err_len) {
  if (!seg || index >= seg->h.array_count)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "no array %zu in this segment", index);
  const sa_array *a = &seg->arrays[index];
  if (a->index_kind != 1)
    return sa_array_fail(SHMARRAY_INVALID_ARGUMENT, seg->name, a->name, a->name_len, err, err_len,
                         "no hash index (build one when creating the segment)");
  shmarray_index_view v;
  view_of(seg, a, &v);
  int rc = resolve(&v, x, err, err_len);
  if (rc) return rc;
  x->seg_name = seg->name;
  x->name = a->name;
  return SHMARRAY_OK;
}

/* ---- Structural check (spec §11.2 step 9.5a) ---------------------------- */

static int msgf(int code, char *msg, size_t len, const char *fmt, ...) SA_PRINTF(4, 5);

static int msgf(int code, char *msg, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, len, fmt, ap);
  va_end(ap);
  return code;
}

int sa_index_check(const sa_header *h, const sa_array *a, char *msg, size_t len) {
  if (!sa_type_indexable(a->type) || a->ndim != 1)
    return msgf(SHMARRAY_BAD_TYPE, msg, len, "a %s array of %u dimensions cannot have a hash index",
                sa_type_name(a->type), a->ndim);
  if (a->is_child)
    return msgf(SHMARRAY_BAD_TYPE, msg, len, "a child record cannot have a hash index");
  if (a->index_len != 0) {
    if (a->index_off % SA_ALIGNMENT != 0)
      return msgf(SHMARRAY_MISALIGNED, msg, len, "index buffer offset %llu is not a multiple of %u",
                  (unsigned long long)a->index_off, SA_ALIGNMENT);
    if (!sa_within(a->index_off, a->index_len, h->header_size, h->meta_offset))
      return msgf(SHMARRAY_OUT_OF_BOUNDS, msg, len,
                  "index buffer [%llu, +%llu) is outside the data area [%u, %llu)",
                  (unsigned long long)a->index_off, (unsigned long long)a->index_len,
                  h->header_size, (unsigned long long)h->meta_offset);
  }
  uint64_t w = a->index_width, n = (uint64_t)(a->length - a->null_count);
  if (w != 4 && w != 8)
    return msgf(SHMARRAY_BAD_SIZE, msg, len, "index slot width is %llu, must be 4 or 8",
                (unsigned long long)w);
  if (a->index_log2 > SA_MAX_INDEX_LOG2)
    return msgf(SHMARRAY_BAD_SIZE, msg, len, "index_log2 is %u, at most %u", a->index_log2,
                SA_MAX_INDEX_LOG2);
  if (w == 4 && (uint64_t)a->length > 0xFFFFFFFFull)
    return msgf(SHMARRAY_BAD_SIZE, msg, len,
                "index slots of 4 bytes cannot name the rows of a %lld-row array",
                (long long)a->length);
  uint64_t slots = (uint64_t)1 << a->index_log2;
  if (slots < 2 * n)
    return msgf(SHMARRAY_BAD_SIZE, msg, len, "index of 2^%u slots is more than half full with %llu keys",
                a->index_log2, (unsigned long long)n);
  if (a->index_len < slots * w)
    return msgf(SHMARRAY_BAD_SIZE, msg, len,
                "index buffer is %llu bytes, 2^%u slots of %llu bytes need %llu",
                (unsigned long long)a->index_len, a->index_log2, (unsigned long long)w,
                (unsigned long long)(slots * w));
  return SHMARRAY_OK;
}

/* ---- One key ------------------------------------------------------------- */

/* The search of spec §7.8.4 for the query of hash h: key bytes q[0, qn) or,
 * for an integer index, the 64-bit extension qv. */
static int probe_one(const sa_ix *x, uint64_t h, const uint8_t *q, uint64_t qn, uint64_t qv,
                     int64_t *out, char *err, size_t err_len) {
  uint64_t s = h & x->mask;
  for (uint64_t i = 0; i <= x->mask; i++, s = (s + 1) & x->mask) {
    uint64_t v = slot_at(x, s);
    if (v == 0) break;
    uint64_t row = v - 1;
    if (row >= x->length) return row_oob(x, s, row, err, err_len);
    if (row_null(x, row)) continue;
    int eq;
    if (x->ints) {
      eq = int_at(x, row) == qv;
    } else {
      const uint8_t *k;
      uint64_t kn;
      int rc = key_at(x, row, &k, &kn, err, err_len);
      if (rc) return rc;
      eq = kn == qn && (qn == 0 || memcmp(k, q, (size_t)qn) == 0);
    }
    if (eq) {
      *out = (int64_t)row;
      return SHMARRAY_OK;
    }
  }
  *out = -1;
  return SHMARRAY_OK;
}

/* Whether an integer query (v, negative when a signed query below 0) can
 * equal a key of x's type; *ext is its 64-bit extension. */
static int int_fits(const sa_ix *x, uint64_t v, int negative) {
  unsigned bits = (unsigned)(x->width * 8);
  if (x->is_signed) {
    if (negative) return bits == 64 || (int64_t)v >= -((int64_t)1 << (bits - 1));
    return v <= (((uint64_t)1 << (bits - 1)) - 1);
  }
  if (negative) return 0;
  return bits == 64 || v <= (((uint64_t)1 << bits) - 1);
}

int sa_ix_find_bytes(const sa_ix *x, const uint8_t *q, size_t n, int64_t *row, char *err,
                     size_t err_len) {
  *row = -1;
  if (x->ints || (!x->ow && n != x->width)) return SHMARRAY_OK; /* never a key */
  return probe_one(x, sa_index_hash(q, n), q, n, 0, row, err, err_len);
}

int sa_ix_find_int(const sa_ix *x, uint64_t v, int is_signed_query, int64_t *row, char *err,
                   size_t err_len) {
  *row = -1;
  if (!x->ints || !int_fits(x, v, is_signed_query && (int64_t)v < 0)) return SHMARRAY_OK;
  return probe_one(x, hash_u64(v), NULL, 0, v, row, err, err_len);
}

/* The row found by the lookup of the key of row r itself, or -1. */
static int find_row(const sa_ix *x, uint64_t r, int64_t *out, char *err, size_t err_len) {
  if (x->ints) {
    uint64_t v = int_at(x, r);
    return probe_one(x, hash_u64(v), NULL, 0, v, out, err, err_len);
  }
  const uint8_t *q;
  uint64_t qn;
  int rc = key_at(x, r, &q, &qn, err, err_len);
  if (rc) return rc;
  return probe_one(x, sa_index_hash(q, (size_t)qn), q, qn, 0, out, err, err_len);
}

/* The key of row r, quoted (shortened) or as a number, for messages. */
static const char *key_text(const sa_ix *x, uint64_t r, char *buf, size_t len) {
  if (x->ints) {
    uint64_t v = int_at(x, r);
    if (x->is_signed) snprintf(buf, len, "%lld", (long long)v);
    else snprintf(buf, len, "%llu", (unsigned long long)v);
    return buf;
  }
  const uint8_t *p;
  uint64_t n;
  if (key_at(x, r, &p, &n, NULL, 0)) {
    snprintf(buf, len, "?");
    return buf;
  }
  return sa_quote(p, (size_t)n, SA_QUOTE_KEY, buf, len);
}

int sa_validate_index(const shmarray_segment *seg, size_t index, char *err, size_t err_len) {
  sa_ix x;
  int rc = sa_ix_open(seg, index, &x, err, err_len);
  if (rc) return rc;
  const sa_array *a = &seg->arrays[index];
  uint64_t used = 0;
  for (uint64_t s = 0; s <= x.mask; s++) {
    uint64_t val = slot_at(&x, s);
    if (val > x.length)
      return ixfail(&x, SHMARRAY_OUT_OF_BOUNDS, err, err_len,
                    "index slot %llu names row %llu, past the array's %llu rows",
                    (unsigned long long)s, (unsigned long long)(val - 1),
                    (unsigned long long)x.length);
    if (val != 0 && row_null(&x, val - 1))
      return ixfail(&x, SHMARRAY_CHECKSUM_MISMATCH, err, err_len,
                    "index slot %llu names row %llu, which is null (null rows are not indexed)",
                    (unsigned long long)s, (unsigned long long)(val - 1));
    used += val != 0;
  }
  uint64_t n = (uint64_t)(a->length - a->null_count);
  if (used != n)
    return ixfail(&x, SHMARRAY_BAD_SIZE, err, err_len, "the index has %llu entries for %llu non-null keys",
                  (unsigned long long)used, (unsigned long long)n);
  for (uint64_t r = 0; r < x.length; r++) {
    if (row_null(&x, r)) continue;
    int64_t got;
    if ((rc = find_row(&x, r, &got, err, err_len))) return rc;
    if (got == (int64_t)r) continue;
    char key[SA_QUOTE_LEN(SA_QUOTE_KEY)];
    key_text(&x, r, key, sizeof key);
    if (got < 0)
      return ixfail(&x, SHMARRAY_CHECKSUM_MISMATCH, err, err_len,
                    "the index does not find the key %s of row %llu", key, (unsigned long long)r);
    uint64_t lo = (uint64_t)got < r ? (uint64_t)got : r, hi = (uint64_t)got < r ? r : (uint64_t)got;
    return ixfail(&x, SHMARRAY_DUPLICATE_NAME, err, err_len,
                  "key %s appears at rows %llu and %llu (indexed keys must be unique)", key,
                  (unsigned long long)lo, (unsigned long long)hi);
  }
  return SHMARRAY_OK;
}
/* ---- Batch lookups ------------------------------------------------------ */

/* A lookup costs two or three dependent cache misses (slot, then offsets,
 * then bytes), each hundreds of cycles. Keys are therefore processed as
 * INFLIGHT interleaved state machines (asynchronous memory access chaining):
 * each step of one lookup prefetches what its next step reads, then the
 * loop moves on to the other lookups, so that by the time it comes back the
 * memory has arrived. A finished lookup takes the next key at once, so the
 * misses of ~INFLIGHT lookups always overlap, however long a few probe
 * sequences are. */
#define INFLIGHT 24

enum { ST_FREE, ST_SLOT, ST_OFFSETS, ST_COMPARE };

#define UTF8_ROOM 256 /* UTF-32 keys up to this many UTF-8 bytes are converted once */

typedef struct probe_state {
  size_t i;         /* the key */
  int utf32;        /* q holds UTF-32 code points (a long key, compared as it goes) */
  uint8_t utf8[UTF8_ROOM]; /* a UTF-32 key converted to UTF-8 */
  uint64_t s, steps, row, qv;
  const uint8_t *q; /* query bytes, or UTF-32 code points when utf32 */
  uint64_t qn;      /* query length in bytes (the UTF-8 length for UTF-32) */
  uint64_t ncp;     /* UTF-32: code points */
  const uint8_t *k; /* the row's key bytes */
  uint64_t kn;
  int stage;
} probe_state;

static int key_is_null(const shmarray_keys *k, size_t i) {
  if (!k->validity) return 0;
  uint64_t b = k->validity_offset + i;
  return !(k->validity[b >> 3] >> (b & 7) & 1);
}

/* The 64-bit key of integer query i of k, or 0 when the key type cannot
 * hold it (then it is not found). */
static int query_int(const sa_ix *x, const shmarray_keys *k, size_t i, uint64_t *out) {
  uint64_t v;
  memcpy(&v, (const uint8_t *)k->data + 8 * i, 8);
  *out = v;
  return int_fits(x, v, k->kind == SHMARRAY_KEYS_INT64 && (int64_t)v < 0);
}

/* Starts the lookup of key i in p: hashes it and prefetches its first
 * slot. Returns 1 if it must be probed, 0 if it is settled already (a null
 * key, or one the array cannot hold: rows[i] stays -1), or -code. */
static int start_key(const sa_ix *x, const shmarray_keys *k, size_t i, probe_state *p, char *err,
                     size_t err_len) {
  if (key_is_null(k, i)) return 0;
  uint64_t h;
  if (x->ints) {
    if (!query_int(x, k, i, &p->qv)) return 0;
    h = hash_u64(p->qv);
    p->utf32 = 0;
  } else if (k->kind == SHMARRAY_KEYS_UTF32) {
    const uint8_t *cp = (const uint8_t *)k->data + (size_t)4 * k->width * i;
    size_t ncp = utf32_len(cp, k->width);
    int ok;
    size_t len = utf32_to_utf8(cp, ncp, p->utf8, UTF8_ROOM, &ok);
    if (!ok) return 0; /* no UTF-8: no key equals it */
    if (len <= UTF8_ROOM) {
      p->utf32 = 0;
      p->q = p->utf8;
      p->qn = len;
      h = sa_index_hash(p->q, len);
    } else { /* long: hashed and compared from the code points */
      size_t bytes;
      p->utf32 = 1;
      p->q = cp;
      p->ncp = ncp;
      if (!utf32_hash(cp, ncp, &h, &bytes)) return 0;
      p->qn = bytes;
    }
  } else {
    p->utf32 = 0;
    if (k->kind == SA_KEYS_SLICES) {
      const sa_slice *sl = (const sa_slice *)k->data + i;
      if (!sl->p) return 0; /* a null key */
      p->q = sl->p;
      p->qn = sl->n;
    } else if (k->kind == SHMARRAY_KEYS_FIXED) {
      p->q = (const uint8_t *)k->data + (size_t)k->width * i;
      p->qn = k->width;
    } else {
      int64_t a, b;
      if (k->kind == SHMARRAY_KEYS_STRINGS32) {
        int32_t o[2];
        memcpy(o, (const int32_t *)k->offsets + i, sizeof o);
        a = o[0], b = o[1];
      } else {
        memcpy(&a, (const int64_t *)k->offsets + i, 8);
        memcpy(&b, (const int64_t *)k->offsets + i + 1, 8);
      }
      /* The keys may come from a segment that was not validated (a
       * StringColumn, an Arrow array over one): checked like the file's. */
      if (a < 0 || b < a || (uint64_t)b > k->data_length)
        return -sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                        "key %zu has offsets [%lld, %lld), outside the %zu bytes of key data", i,
                        (long long)a, (long long)b, k->data_length);
      p->q = (const uint8_t *)k->data + a;
      p->qn = (uint64_t)(b - a);
    }
    if (!x->ow && p->qn != x->width) return 0; /* fixed_size_binary: another width */
    h = sa_index_hash(p->q, (size_t)p->qn);
  }
  p->i = i;
  p->steps = 0;
  p->s = h & x->mask;
  __builtin_prefetch(x->table + x->w * p->s);
  return 1;
}

/* Moves p to the next slot of its probe sequence; 0 once it has seen all
 * S slots (a hostile table without an empty one: not found). */
static inline int next_slot(const sa_ix *x, probe_state *p) {
  if (++p->steps > x->mask) return 0;
  p->s = (p->s + 1) & x->mask;
  __builtin_prefetch(x->table + x->w * p->s);
  p->stage = ST_SLOT;
  return 1;
}

static int lookup_keys(const sa_ix *x, const shmarray_keys *k, int64_t *rows, char *err,
                       size_t err_len) {
  probe_state st[INFLIGHT];
  size_t next = 0, n = k->count;
  int live = 0, rc;
  for (int j = 0; j < INFLIGHT; j++) st[j].stage = ST_FREE;
  for (size_t i = 0; i < n; i++) rows[i] = -1;
  for (;;) {
    for (int j = 0; j < INFLIGHT; j++) {
      probe_state *p = &st[j];
      switch (p->stage) {
      case ST_FREE:
        while (next < n) { /* take keys until one needs probing */
          rc = start_key(x, k, next++, p, err, err_len);
          if (rc < 0) return -rc;
          if (rc) {
            p->stage = ST_SLOT;
            live++;
            break;
          }
        }
        break;
      case ST_SLOT: {
        uint64_t v = slot_at(x, p->s);
        if (v == 0) { /* an empty slot: not found */
          p->stage = ST_FREE;
          live--;
          break;
        }
        p->row = v - 1;
        if (p->row >= x->length) return row_oob(x, p->s, p->row, err, err_len);
        if (row_null(x, p->row)) { /* never a match (spec §7.8.4) */
          if (!next_slot(x, p)) p->stage = ST_FREE, live--;
          break;
        }
        if (x->ow) {
          __builtin_prefetch(x->offs + x->ow * p->row);
          p->stage = ST_OFFSETS;
        } else {
          __builtin_prefetch(x->data + x->width * p->row);
          p->stage = ST_COMPARE;
        }
        break;
      }
      case ST_OFFSETS:
        if ((rc = key_at(x, p->row, &p->k, &p->kn, err, err_len))) return rc;
        if (p->kn != p->qn) { /* lengths differ: next slot without reading bytes */
          if (!next_slot(x, p)) p->stage = ST_FREE, live--;
          break;
        }
        __builtin_prefetch(p->k);
        p->stage = ST_COMPARE;
        break;
      case ST_COMPARE: {
        int eq;
        if (x->ints) {
          eq = int_at(x, p->row) == p->qv;
        } else {
          if (!x->ow) {
            p->k = x->data + x->width * p->row;
            p->kn = x->width;
          }
          if (p->kn != p->qn) eq = 0;
          else if (p->utf32) eq = utf32_equal(p->q, (size_t)p->ncp, p->k, (size_t)p->kn);
          else eq = p->qn == 0 || memcmp(p->k, p->q, (size_t)p->qn) == 0;
        }
        if (eq) {
          rows[p->i] = (int64_t)p->row;
          p->stage = ST_FREE;
          live--;
        } else if (!next_slot(x, p)) {
          p->stage = ST_FREE;
          live--;
        }
        break;
      }
      }
    }
    if (!live && next >= n) return SHMARRAY_OK;
  }
}

int sa_ix_lookup(const sa_ix *x, const shmarray_keys *k, int64_t *rows, char *err,
                 size_t err_len) {
  if (!k || (!rows && k->count))
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "keys and rows_out must not be NULL");
  int strings = k->kind == SHMARRAY_KEYS_STRINGS32 || k->kind == SHMARRAY_KEYS_STRINGS64;
  int int_kind = k->kind == SHMARRAY_KEYS_INT64 || k->kind == SHMARRAY_KEYS_UINT64;
  int byte_kind = strings || k->kind == SHMARRAY_KEYS_FIXED || k->kind == SHMARRAY_KEYS_UTF32 ||
                  k->kind == SA_KEYS_SLICES;
  if (!int_kind && !byte_kind)
    return ixfail(x, SHMARRAY_INVALID_ARGUMENT, err, err_len, "unknown key kind %u", k->kind);
  if (int_kind != x->ints)
    return ixfail(x, SHMARRAY_INVALID_ARGUMENT, err, err_len, "the array is indexed by %s, not %s keys",
                  x->ints ? "integers" : "strings or bytes", int_kind ? "integer" : "string");
  if (k->count && !k->data && !strings)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "keys.data must not be NULL");
  if (k->count && strings && !k->offsets)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "keys.offsets must not be NULL");
  if ((k->kind == SHMARRAY_KEYS_FIXED || k->kind == SHMARRAY_KEYS_UTF32) && k->width == 0 && k->count)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "keys.width must not be 0");
  return lookup_keys(x, k, rows, err, err_len);
}

/* ---- Public functions --------------------------------------------------- */

int shmarray_has_index(const shmarray_segment *seg, size_t index) {
  return seg && index < seg->h.array_count && seg->arrays[index].index_kind == 1;
}

int shmarray_index_view_of(const shmarray_segment *seg, size_t index, shmarray_index_view *out) {
  if (!seg || !out || index >= seg->h.array_count) return SHMARRAY_INVALID_ARGUMENT;
  if (seg->arrays[index].index_kind != 1) return SHMARRAY_INVALID_ARGUMENT;
  view_of(seg, &seg->arrays[index], out);
  return SHMARRAY_OK;
}

int shmarray_lookup(const shmarray_segment *seg, size_t array_index, const shmarray_keys *keys,
                    int64_t *rows_out, char *err, size_t err_len) {
  sa_ix x;
  int rc = sa_ix_open(seg, array_index, &x, err, err_len);
  if (rc) return rc;
  if (keys && keys->kind == SA_KEYS_SLICES) /* not part of the ABI */
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "unknown key kind %u", keys->kind);
  return sa_ix_lookup(&x, keys, rows_out, err, err_len);
}

int shmarray_lookup_view(const shmarray_index_view *view, const shmarray_keys *keys,
                         int64_t *rows_out, char *err, size_t err_len) {
  if (!view) return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "view must not be NULL");
  sa_ix x;
  int rc = resolve(view, &x, err, err_len);
  if (rc) return rc;
  if (keys && keys->kind == SA_KEYS_SLICES)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "unknown key kind %u", keys->kind);
  return sa_ix_lookup(&x, keys, rows_out, err, err_len);
}
