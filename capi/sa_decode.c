/* Structural validation of a segment (spec §11.2): the header, its
 * checksum, the tables of the metadata area and every directory record,
 * decoded once into private memory (sa_internal.h: sa_header, sa_array).
 *
 * A segment is untrusted input: every field is decoded once from the bytes
 * into private memory (strings are copied, then checked), every offset and
 * length is checked with overflow-safe arithmetic before use, and the work
 * is bounded by the size of the metadata area (see owner_kvs). It must give
 * the same code and message as format.Decode (format/decode.go) for every
 * input; a differential fuzz target (capi/creader, FuzzCReader) holds the
 * two together. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sa_internal.h"

/* ---- String storage: chunks freed with the segment ---------------------- */

struct sa_chunk {
  sa_chunk *next;
  size_t used, cap;
  char data[];
};

/* n bytes owned by seg, or NULL when out of memory. */
static char *pool_alloc(shmarray_segment *seg, size_t n) {
  sa_chunk *c = seg->chunks;
  if (c && c->cap - c->used >= n) {
    char *p = c->data + c->used;
    c->used += n;
    return p;
  }
  if (n > 4096) { /* a big string gets a chunk of its own, behind the current one */
    sa_chunk *big = malloc(sizeof *big + n);
    if (!big) return NULL;
    big->used = big->cap = n;
    if (c) {
      big->next = c->next;
      c->next = big;
    } else {
      big->next = NULL;
      seg->chunks = big;
    }
    return big->data;
  }
  size_t cap = c ? (c->cap < 65536 ? c->cap * 2 : 65536) : 1024;
  if (cap < n) cap = n;
  sa_chunk *fresh = malloc(sizeof *fresh + cap);
  if (!fresh) return NULL;
  fresh->next = c;
  fresh->used = n;
  fresh->cap = cap;
  seg->chunks = fresh;
  return fresh->data;
}

/* A NUL-terminated private copy of src[0, n). */
static char *pool_copy(shmarray_segment *seg, const uint8_t *src, size_t n) {
  char *s = pool_alloc(seg, n + 1);
  if (!s) return NULL;
  memcpy(s, src, n);
  s[n] = '\0';
  return s;
}


/* ---- Header (spec §4) --------------------------------------------------- */

int sa_read_header(const uint8_t *b, size_t n, sa_header *h, char *err, size_t err_len) {
  memset(h, 0, sizeof *h);
  if (n < 8 || memcmp(b, "SHMARRAY", 8) != 0)
    return sa_fail(SHMARRAY_NOT_A_SEGMENT, err, err_len,
                   "the file does not start with the magic \"SHMARRAY\"");
  if (n < 12)
    return sa_fail(SHMARRAY_TRUNCATED, err, err_len,
                   "file is %zu bytes, shorter than the %u-byte header", n, SA_HEADER_SIZE);
  h->major = sa_le16(b + 8);
  h->minor = sa_le16(b + 10);
  if (h->major != SHMARRAY_FORMAT_MAJOR)
    return sa_fail(SHMARRAY_UNSUPPORTED_VERSION, err, err_len,
                   "segment has format version %u.%u, this reader supports %d.x (upgrade "
                   "shmarray to read it)",
                   h->major, h->minor, SHMARRAY_FORMAT_MAJOR);
  if (n < SA_HEADER_SIZE)
    return sa_fail(SHMARRAY_TRUNCATED, err, err_len,
                   "file is %zu bytes, shorter than the %u-byte header", n, SA_HEADER_SIZE);
  h->header_size = sa_le32(b + 12);
  h->file_size = sa_le64(b + 16);
  h->flags = sa_le32(b + 24);
  h->array_count = sa_le32(b + 28);
  h->meta_offset = sa_le64(b + 32);
  h->meta_length = sa_le64(b + 40);
  h->directory_offset = sa_le64(b + 48);
  h->record_size = sa_le32(b + 56);
  h->kv_count = sa_le32(b + 60);
  h->kv_offset = sa_le64(b + 64);
  h->strtab_offset = sa_le64(b + 72);
  h->strtab_length = sa_le64(b + 80);
  h->seg_kv_first = sa_le32(b + 88);
  h->seg_kv_count = sa_le32(b + 92);
  h->created_ns = (int64_t)sa_le64(b + 96);
  h->creator_pid = sa_le32(b + 104);
  h->creator_start = sa_le64(b + 112);
  h->checksum = sa_le32(b + SA_CHECKSUM_OFFSET);
  if (h->minor >= SA_MINOR_IDENTITY && h->header_size >= SA_HEADER_SIZE_ID &&
      n >= SA_HEADER_SIZE_ID) {
    memcpy(h->id, b + SA_ID_OFFSET, SA_ID_LEN);
    h->version = sa_le64(b + SA_VERSION_OFFSET);
  }
  return SHMARRAY_OK;
}


/* ---- Structural validation (spec §11.2) --------------------------------- */

/* A slot of the table of the keys of one key/value range: the key's hash
 * and the index + 1 of its record (0: free). */
typedef struct key_slot {
  uint64_t hash;
  uint32_t kv;
} key_slot;

typedef struct dec {
  shmarray_segment *seg;
  const uint8_t *meta; /* private copy of the metadata area [meta_offset, meta_end) */
  const sa_header *h;
  uint64_t meta_end;
  const uint8_t *strtab;
  uint64_t strtab_len;
  uint64_t str_used; /* total length of the string references checked so far (§5.3) */
  char *err;
  size_t err_len;
  /* Context for messages, turned into text only when one is written:
   * "array 3: ", "array 3: \"x\": ", "array 3: \"x\" metadata: " or
   * "segment metadata: ". */
  enum { AT_NONE, AT_ARRAY, AT_NAMED, AT_ARRAY_META, AT_SEG_META } at;
  uint32_t at_i; /* the array, for AT_ARRAY to AT_ARRAY_META */
  /* Key/value records, see owner_kvs. */
  uint8_t *claimed; /* h->kv_count bits: the record is in an earlier owner's range */
  key_slot *keys;   /* keys of the current range, open addressing */
  size_t keys_size;
  /* Format 1.3 (§11.2 step 9.2a), in files of minor >= 3: parent_of[j] is
   * the index + 1 of the record that named record j its child (0: none so
   * far), depth[j] its depth under its column. */
  uint32_t *parent_of;
  uint8_t *depth;
} dec;

static int dfail(dec *d, int code, const char *fmt, ...) SA_PRINTF(3, 4);

/* The text of d's context (dec.at) into buf. */
static void where_text(const dec *d, char *buf, size_t len) {
  char q[SA_QUOTE_LEN(SA_QUOTE_NAME)] = "";
  if (d->at == AT_NAMED || d->at == AT_ARRAY_META) {
    const sa_array *a = &d->seg->arrays[d->at_i];
    sa_quote(a->name, a->name_len, SA_QUOTE_NAME, q, sizeof q);
  }
  switch (d->at) {
  case AT_NONE: buf[0] = '\0'; break;
  case AT_ARRAY: snprintf(buf, len, "array %u: ", d->at_i); break;
  case AT_NAMED: snprintf(buf, len, "array %u: %s: ", d->at_i, q); break;
  case AT_ARRAY_META: snprintf(buf, len, "array %u: %s metadata: ", d->at_i, q); break;
  case AT_SEG_META: snprintf(buf, len, "segment metadata: "); break;
  }
}

static int dfail(dec *d, int code, const char *fmt, ...) {
  char msg[1600], where[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  where_text(d, where, sizeof where);
  const shmarray_segment *s = d->seg;
  if (s->name)
    return sa_fail(code, d->err, d->err_len, "segment \"%s\" (%s): %s%s", s->name,
                   s->path ? s->path : "", where, msg);
  return sa_fail(code, d->err, d->err_len, "%s%s", where, msg);
}

static int oom(dec *d) { return dfail(d, SHMARRAY_INTERNAL, "out of memory"); }

/* The byte at file offset off of the metadata area, in the private copy;
 * off must be inside [meta_offset, meta_end) (checked by step 8.3 for
 * every table). */
static const uint8_t *meta_at(const dec *d, uint64_t off) {
  return d->meta + (size_t)(off - d->h->meta_offset);
}

/*
 * String-table references (spec §5.3). References may overlap, but the total
 * length of all those checked (names, time zones, keys and values, in the
 * order of §11.2) must not exceed strtab_length: so the bytes attach copies
 * and checks are bounded by the string table, whatever a hostile file claims.
 * OUT_OF_BOUNDS if (off, n) is not in range, then BAD_SIZE if it takes the
 * running total past strtab_length (format/decode.go text).
 */
static int str_ref(dec *d, const char *what, uint32_t off, uint32_t n) {
  if (!sa_within(off, n, 0, d->strtab_len))
    return dfail(d, SHMARRAY_OUT_OF_BOUNDS, "%s [%u, +%u) is outside the %llu-byte string table",
                 what, off, n, (unsigned long long)d->strtab_len);
  d->str_used += n; /* at most strtab_len + 2^32 - 1: no overflow */
  if (d->str_used > d->strtab_len)
    return dfail(d, SHMARRAY_BAD_SIZE,
                 "%s takes the referenced strings to %llu bytes, more than the %llu-byte string "
                 "table",
                 what, (unsigned long long)d->str_used, (unsigned long long)d->strtab_len);
  return SHMARRAY_OK;
}

/* A string of the string table (format/decode.go text): OUT_OF_BOUNDS,
 * BAD_SIZE (running total, then length not in [min, max]), BAD_UTF8; on
 * success *out is a private NUL-terminated copy. */
static int text(dec *d, const char *what, uint32_t off, uint32_t n, uint32_t min, uint32_t max,
                const char **out) {
  int rc = str_ref(d, what, off, n);
  if (rc) return rc;
  if (n < min || n > max)
    return dfail(d, SHMARRAY_BAD_SIZE, "%s is %u bytes, expected %u to %u", what, n, min, max);
  if (n == 0) { /* an empty value */
    *out = "";
    return SHMARRAY_OK;
  }
  char *s = pool_copy(d->seg, d->strtab + off, n);
  if (!s) return oom(d);
  if (!sa_text_ok(s, n)) return dfail(d, SHMARRAY_BAD_UTF8, "%s is not UTF-8 text without NUL", what);
  *out = s;
  return SHMARRAY_OK;
}

/*
 * Key/value metadata (§11.2 steps 9.6 and 10, §11.2.1). A record belongs to
 * one owner at most (§5.2): owners are visited as arrays 0, 1, ..., then the
 * segment, and a range that contains a record of an earlier owner's range is
 * OUT_OF_BOUNDS. So every record is checked once at most, and the work of
 * attach is linear in kv_count; the strings its records refer to are copied
 * and checked once each, within the string-table total of §5.3 (str_ref).
 */
static int kv_init(dec *d) {
  uint32_t nkv = d->h->kv_count;
  d->claimed = calloc(((size_t)nkv + 7) / 8, 1);
  d->seg->kvs = calloc(nkv, sizeof *d->seg->kvs);
  if (!d->claimed || !d->seg->kvs) return oom(d);
  return SHMARRAY_OK;
}

/* Checks key/value record j of a range (§11.2.1) into seg->kvs[j]; the keys
 * of the earlier records of the range are in d->keys[0, size). */
static int check_kv(dec *d, uint32_t j, size_t size) {
  const uint8_t *p = meta_at(d, d->h->kv_offset + (uint64_t)j * SA_KV_RECORD_SIZE);
  uint32_t r[4]; /* key_offset, key_length, value_offset, value_length */
  for (int k = 0; k < 4; k++) r[k] = sa_le32(p + 4 * k);
  const char *str[2];
  for (int part = 0; part < 2; part++) {
    const char *what = part ? "metadata value" : "metadata key";
    uint32_t off = r[2 * part], n = r[2 * part + 1];
    uint32_t min = part ? 0 : 1, max = part ? SA_MAX_VALUE_LEN : SA_MAX_KEY_LEN;
    int rc = text(d, what, off, n, min, max, &str[part]);
    if (rc) return rc;
  }
  /* Step 3: the key is not the key of an earlier record of the range. */
  uint32_t klen = r[1];
  uint64_t hash = sa_name_hash(str[0], klen);
  size_t s = (size_t)hash & (size - 1);
  for (; d->keys[s].kv; s = (s + 1) & (size - 1)) {
    const sa_kv *o = &d->seg->kvs[d->keys[s].kv - 1];
    if (d->keys[s].hash == hash && o->key_len == klen && memcmp(o->key, str[0], klen) == 0) {
      char q[SA_QUOTE_LEN(SA_QUOTE_NAME)];
      return dfail(d, SHMARRAY_DUPLICATE_NAME, "metadata key %s appears twice",
                   sa_quote(str[0], klen, SA_QUOTE_NAME, q, sizeof q));
    }
  }
  d->keys[s] = (key_slot){hash, j + 1};
  d->seg->kvs[j] = (sa_kv){str[0], str[1], r[1], r[3]};
  return SHMARRAY_OK;
}

static void free_dec(dec *d) {
  free(d->claimed);
  free(d->keys);
  free(d->parent_of);
  free(d->depth);
}

/* Checks the key/value range [first, first + count) of one owner
 * (§11.2 step 9.6 or 10) and returns its pairs in *out. */
static int owner_kvs(dec *d, uint32_t first, uint32_t count, const sa_kv **out) {
  *out = NULL;
  if (count == 0) return SHMARRAY_OK;
  if ((uint64_t)first + count > d->h->kv_count)
    return dfail(d, SHMARRAY_OUT_OF_BOUNDS, "key/value records [%u, +%u) exceed kv_count %u",
                 first, count, d->h->kv_count);
  int rc;
  if (!d->claimed && (rc = kv_init(d))) return rc;
  uint32_t end = first + count; /* <= kv_count */
  for (uint32_t j = first; j < end; j++)
    if (d->claimed[j / 8] & (1u << (j % 8)))
      return dfail(d, SHMARRAY_OUT_OF_BOUNDS,
                   "key/value record %u already belongs to another array or the segment", j);
  for (uint32_t j = first; j < end; j++) d->claimed[j / 8] |= (uint8_t)(1u << (j % 8));
  size_t size = sa_table_size(count);
  if (size > d->keys_size) {
    free(d->keys);
    d->keys_size = 0;
    if (!(d->keys = calloc(size, sizeof *d->keys))) return oom(d);
    d->keys_size = size;
  } else {
    memset(d->keys, 0, size * sizeof *d->keys);
  }
  for (uint32_t j = first; j < end; j++)
    if ((rc = check_kv(d, j, size))) return rc;
  *out = &d->seg->kvs[first];
  return SHMARRAY_OK;
}

/* Decodes directory record i once into private memory. */
static void read_record(const uint8_t *p, sa_array *a) {
  a->name_off = sa_le32(p + 0);
  a->name_len = sa_le32(p + 4);
  a->type = p[8];
  a->ndim = p[9];
  a->unit = p[10];
  a->flags = p[11];
  a->byte_width = sa_le32(p + 12);
  a->tz_off = sa_le32(p + 16);
  a->tz_len = sa_le32(p + 20);
  a->length = (int64_t)sa_le64(p + 24);
  a->null_count = (int64_t)sa_le64(p + 32);
  a->validity_off = sa_le64(p + 40);
  a->validity_len = sa_le64(p + 48);
  a->offsets_off = sa_le64(p + 56);
  a->offsets_len = sa_le64(p + 64);
  a->data_off = sa_le64(p + 72);
  a->data_len = sa_le64(p + 80);
  a->kv_first = sa_le32(p + 88);
  a->kv_count = sa_le32(p + 92);
  a->data_crc = sa_le32(p + 96);
  for (int k = 0; k < SHMARRAY_MAX_NDIM; k++) a->shape[k] = (int64_t)sa_le64(p + 104 + 8 * k);
  a->index_off = sa_le64(p + 168);
  a->index_len = sa_le64(p + 176);
  a->index_kind = p[184];
  a->index_width = p[185];
  a->index_log2 = p[186];
  a->dict_index = p[187];
  a->child = sa_le32(p + 188);
}

/* §11.2 step 9.2. */
static int check_type(dec *d, sa_array *a) {
  unsigned t = a->type;
  if (!sa_type_known(t)) return dfail(d, SHMARRAY_BAD_TYPE, "unknown type code %u", t);
  if (sa_type_nested(t) && d->h->minor < SA_MINOR_NESTED)
    return dfail(d, SHMARRAY_BAD_TYPE, "type code %u (%s) needs format version 1.%u, the file is 1.%u",
                 t, sa_type_name(t), SA_MINOR_NESTED, d->h->minor);
  if (sa_type_timed(t) && a->unit > 3)
    return dfail(d, SHMARRAY_BAD_TYPE,
                 "time unit %u is not one of 0 (s), 1 (ms), 2 (us), 3 (ns)", a->unit);
  if (!sa_type_timed(t) && a->unit != 0)
    return dfail(d, SHMARRAY_BAD_TYPE, "type %s has time unit %u, expected 0", sa_type_name(t),
                 a->unit);
  if (t == SHMARRAY_TYPE_FIXED_SIZE_BINARY && (a->byte_width == 0 || a->byte_width > INT32_MAX))
    return dfail(d, SHMARRAY_BAD_TYPE, "fixed_size_binary byte width %u is not in [1, 2^31)",
                 a->byte_width);
  if (t != SHMARRAY_TYPE_FIXED_SIZE_BINARY && a->byte_width != 0)
    return dfail(d, SHMARRAY_BAD_TYPE, "type %s has byte width %u, expected 0", sa_type_name(t),
                 a->byte_width);
  if (t != SHMARRAY_TYPE_TIMESTAMP && a->tz_len != 0)
    return dfail(d, SHMARRAY_BAD_TYPE, "type %s carries a time zone; only timestamp may",
                 sa_type_name(t));
  a->tz = "";
  if (a->tz_len != 0) return text(d, "time zone", a->tz_off, a->tz_len, 1, SA_MAX_TZ_LEN, &a->tz);
  return SHMARRAY_OK;
}

/* §11.2 step 9.2a (format 1.3): the dictionary index type, the child link
 * (after its parent, one parent, at most SA_MAX_DEPTH deep) and the CHILD
 * flag, in O(1) per record (format/decode.go tree). */
static int check_tree(dec *d, sa_array *a, uint32_t i) {
  unsigned t = a->type;
  if (t == SHMARRAY_TYPE_DICTIONARY &&
      !(a->dict_index >= SHMARRAY_TYPE_INT8 && a->dict_index <= SHMARRAY_TYPE_UINT64))
    return dfail(d, SHMARRAY_BAD_TYPE,
                 "dictionary index type %u is not an integer type code (2 to 9)", a->dict_index);
  if (t != SHMARRAY_TYPE_DICTIONARY && a->dict_index != 0)
    return dfail(d, SHMARRAY_BAD_TYPE, "type %s has dictionary index type %u, expected 0",
                 sa_type_name(t), a->dict_index);
  uint32_t n = d->h->array_count;
  if (sa_type_nested(t)) {
    uint32_t c = a->child;
    if (c <= i || c >= n)
      return dfail(d, SHMARRAY_OUT_OF_BOUNDS,
                   "child record %u is not after record %u in the %u-record directory", c, i, n);
    if (d->parent_of[c] != 0)
      return dfail(d, SHMARRAY_OUT_OF_BOUNDS, "child record %u is already the child of record %u",
                   c, d->parent_of[c] - 1);
    if (d->depth[i] >= SA_MAX_DEPTH)
      return dfail(d, SHMARRAY_BAD_TYPE, "lists and dictionaries nest deeper than %u levels",
                   SA_MAX_DEPTH);
    d->parent_of[c] = i + 1;
    d->depth[c] = (uint8_t)(d->depth[i] + 1);
  } else if (a->child != 0) {
    return dfail(d, SHMARRAY_BAD_TYPE, "type %s has child record %u, expected 0", sa_type_name(t),
                 a->child);
  }
  uint32_t p = d->parent_of[i];
  int flagged = (a->flags & SA_RECORD_FLAG_CHILD) != 0;
  if (flagged && p == 0)
    return dfail(d, SHMARRAY_BAD_TYPE,
                 "the record has the CHILD flag but no earlier record names it as its child");
  if (!flagged && p != 0)
    return dfail(d, SHMARRAY_BAD_TYPE,
                 "record %u names this record as its child but its CHILD flag is clear", p - 1);
  if (p == 0) return SHMARRAY_OK;
  a->is_child = 1;
  a->parent = p - 1;
  if (d->seg->arrays[a->parent].type == SHMARRAY_TYPE_DICTIONARY && sa_type_nested(t))
    return dfail(d, SHMARRAY_BAD_TYPE, "a dictionary's values cannot be a %s", sa_type_name(t));
  if (a->ndim != 1)
    return dfail(d, SHMARRAY_BAD_SHAPE, "a child record has %u dimensions, expected 1", a->ndim);
  return SHMARRAY_OK;
}

/* §11.2 step 9.3. */
static int check_shape(dec *d, const sa_array *a) {
  if (a->ndim == 0 || a->ndim > SHMARRAY_MAX_NDIM)
    return dfail(d, SHMARRAY_BAD_SHAPE, "ndim %u is not in [1, %d]", a->ndim, SHMARRAY_MAX_NDIM);
  if (a->ndim > 1 && !sa_type_numeric(a->type))
    return dfail(d, SHMARRAY_BAD_SHAPE,
                 "type %s cannot have %u dimensions; only integer and float arrays are N-D",
                 sa_type_name(a->type), a->ndim);
  if (a->length < 0 || a->length > SA_MAX_LENGTH)
    return dfail(d, SHMARRAY_BAD_SIZE, "length %lld is not in [0, 2^62]", (long long)a->length);
  if (a->null_count < 0 || a->null_count > a->length)
    return dfail(d, SHMARRAY_BAD_SIZE, "null_count %lld is not in [0, length %lld]",
                 (long long)a->null_count, (long long)a->length);
  if (a->shape[0] != a->length)
    return dfail(d, SHMARRAY_BAD_SHAPE, "shape[0] is %lld but length is %lld",
                 (long long)a->shape[0], (long long)a->length);
  for (int k = a->ndim; k < SHMARRAY_MAX_NDIM; k++)
    if (a->shape[k] != 0)
      return dfail(d, SHMARRAY_BAD_SHAPE,
                   "shape[%d] is %lld past ndim %u; unused entries must be zero", k,
                   (long long)a->shape[k], a->ndim);
  for (int k = 0; k < a->ndim; k++)
    if (a->shape[k] < 0)
      return dfail(d, SHMARRAY_BAD_SHAPE, "shape[%d] is %lld", k, (long long)a->shape[k]);
  return SHMARRAY_OK;
}

/* §11.2 steps 9.4 and 9.5. */
static int check_buffers(dec *d, sa_array *a) {
  static const char *const what[3] = {"validity", "offsets", "data"};
  const uint64_t off[3] = {a->validity_off, a->offsets_off, a->data_off};
  const uint64_t len[3] = {a->validity_len, a->offsets_len, a->data_len};
  uint64_t lo = d->h->header_size, hi = d->h->meta_offset;
  for (int k = 0; k < 3; k++) {
    if (len[k] == 0) continue;
    if (off[k] % SA_ALIGNMENT != 0)
      return dfail(d, SHMARRAY_MISALIGNED, "%s buffer offset %llu is not a multiple of %u",
                   what[k], (unsigned long long)off[k], SA_ALIGNMENT);
    if (!sa_within(off[k], len[k], lo, hi))
      return dfail(d, SHMARRAY_OUT_OF_BOUNDS,
                   "%s buffer [%llu, +%llu) is outside the data area [%llu, %llu)", what[k],
                   (unsigned long long)off[k], (unsigned long long)len[k],
                   (unsigned long long)lo, (unsigned long long)hi);
  }
  uint64_t n = (uint64_t)a->length;
  if (a->null_count > 0 && a->validity_len == 0)
    return dfail(d, SHMARRAY_BAD_SIZE, "null_count is %lld but there is no validity bitmap",
                 (long long)a->null_count);
  if (a->validity_len != 0 && a->validity_len < sa_ceil8(n))
    return dfail(d, SHMARRAY_BAD_SIZE, "validity bitmap is %llu bytes, %llu slots need %llu",
                 (unsigned long long)a->validity_len, (unsigned long long)n,
                 (unsigned long long)sa_ceil8(n));
  /* Data size, with every product of spec §8 checked left to right. */
  uint64_t need = 0, row = 1;
  if (a->type == SHMARRAY_TYPE_BOOL) {
    need = sa_ceil8(n);
  } else if (!sa_offset_width(a->type) && !sa_list_offset_width(a->type)) {
    uint64_t width = a->type == SHMARRAY_TYPE_FIXED_SIZE_BINARY ? a->byte_width
                     : a->type == SHMARRAY_TYPE_DICTIONARY      ? sa_type_width(a->dict_index)
                                                                 : sa_type_width(a->type);
    uint64_t elems;
    int ok = 1;
    for (int k = 1; k < a->ndim && ok; k++) ok = sa_mul_cap(row, (uint64_t)a->shape[k], &row);
    if (!ok || !sa_mul_cap(n, row, &elems) || !sa_mul_cap(elems, width, &need))
      return dfail(d, SHMARRAY_BAD_SIZE, "length %lld x shape x width overflows",
                   (long long)a->length);
  }
  if (a->data_len < need)
    return dfail(d, SHMARRAY_BAD_SIZE, "data buffer is %llu bytes, %llu slots need %llu",
                 (unsigned long long)a->data_len, (unsigned long long)n,
                 (unsigned long long)need);
  if (sa_list_offset_width(a->type) && a->data_len != 0)
    return dfail(d, SHMARRAY_BAD_SIZE, "type %s has no data but the data buffer is %llu bytes",
                 sa_type_name(a->type), (unsigned long long)a->data_len);
  uint64_t ow = sa_offset_width(a->type);
  if (!ow) ow = sa_list_offset_width(a->type);
  if (ow) {
    uint64_t need_off = 0;
    int fits = sa_mul_cap(n + 1, ow, &need_off);
    if (!(n == 0 && a->offsets_len == 0) && (!fits || a->offsets_len < need_off)) {
      if (!fits)
        return dfail(d, SHMARRAY_BAD_SIZE,
                     "offsets buffer is %llu bytes, %llu slots need more than 2^63 - 1",
                     (unsigned long long)a->offsets_len, (unsigned long long)n);
      return dfail(d, SHMARRAY_BAD_SIZE, "offsets buffer is %llu bytes, %llu slots need %llu",
                   (unsigned long long)a->offsets_len, (unsigned long long)n,
                   (unsigned long long)need_off);
    }
  } else if (a->offsets_len != 0) {
    return dfail(d, SHMARRAY_BAD_SIZE, "type %s has no offsets but the offsets buffer is %llu bytes",
                 sa_type_name(a->type), (unsigned long long)a->offsets_len);
  }
  a->row_elems = row;
  return SHMARRAY_OK;
}

/* Inserts array i into the name index; DUPLICATE_NAME if the name is taken
 * (§11.2 step 9.7). */
static int index_name(dec *d, uint32_t i) {
  shmarray_segment *seg = d->seg;
  const sa_array *a = &seg->arrays[i];
  size_t s = (size_t)sa_name_hash(a->name, a->name_len) & seg->index_mask;
  for (; seg->index[s]; s = (s + 1) & seg->index_mask) {
    uint32_t j = seg->index[s] - 1;
    const sa_array *b = &seg->arrays[j];
    if (b->name_len == a->name_len && memcmp(b->name, a->name, a->name_len) == 0) {
      char q[SA_QUOTE_LEN(SA_QUOTE_NAME)];
      return dfail(d, SHMARRAY_DUPLICATE_NAME, "arrays %u and %u are both called %s", j, i,
                   sa_quote(a->name, a->name_len, SA_QUOTE_NAME, q, sizeof q));
    }
  }
  seg->index[s] = i + 1;
  return SHMARRAY_OK;
}

static int decode_tables(dec *d) {
  const sa_header *h = d->h;
  shmarray_segment *seg = d->seg;
  if (h->record_size < SA_RECORD_SIZE)
    return dfail(d, SHMARRAY_BAD_SIZE, "record_size is %u, at least %u expected", h->record_size,
                 SA_RECORD_SIZE);
  if (h->array_count > SA_MAX_ARRAYS)
    return dfail(d, SHMARRAY_BAD_SIZE, "array_count %u exceeds the limit %u", h->array_count,
                 SA_MAX_ARRAYS);
  if (h->kv_count > SA_MAX_KV)
    return dfail(d, SHMARRAY_BAD_SIZE, "kv_count %u exceeds the limit %u", h->kv_count, SA_MAX_KV);
  uint64_t dir_len = (uint64_t)h->array_count * h->record_size; /* < 2^52 */
  if (!sa_within(h->directory_offset, dir_len, h->meta_offset, d->meta_end))
    return dfail(d, SHMARRAY_OUT_OF_BOUNDS, "directory [%llu, +%llu) is outside the metadata area",
                 (unsigned long long)h->directory_offset, (unsigned long long)dir_len);
  uint64_t kv_len = (uint64_t)h->kv_count * SA_KV_RECORD_SIZE;
  if (!sa_within(h->kv_offset, kv_len, h->meta_offset, d->meta_end))
    return dfail(d, SHMARRAY_OUT_OF_BOUNDS,
                 "key/value table [%llu, +%llu) is outside the metadata area",
                 (unsigned long long)h->kv_offset, (unsigned long long)kv_len);
  if (!sa_within(h->strtab_offset, h->strtab_length, h->meta_offset, d->meta_end))
    return dfail(d, SHMARRAY_OUT_OF_BOUNDS,
                 "string table [%llu, +%llu) is outside the metadata area",
                 (unsigned long long)h->strtab_offset, (unsigned long long)h->strtab_length);
  d->strtab = meta_at(d, h->strtab_offset);
  d->strtab_len = h->strtab_length;

  /* Every record is read once, before any is checked: the directory lies in
   * the file, so this allocation is bounded by the file's size. */
  if (h->array_count) {
    seg->arrays = calloc(h->array_count, sizeof *seg->arrays);
    seg->index_mask = sa_table_size(h->array_count) - 1;
    seg->index = calloc(seg->index_mask + 1, sizeof *seg->index);
    if (!seg->arrays || !seg->index) return oom(d);
    if (h->minor >= SA_MINOR_NESTED) {
      d->parent_of = calloc(h->array_count, sizeof *d->parent_of);
      d->depth = calloc(h->array_count, 1);
      if (!d->parent_of || !d->depth) return oom(d);
    }
  }
  for (uint32_t i = 0; i < h->array_count; i++)
    read_record(meta_at(d, h->directory_offset + (uint64_t)i * h->record_size), &seg->arrays[i]);
  int rc;
  for (uint32_t i = 0; i < h->array_count; i++) {
    sa_array *a = &seg->arrays[i];
    d->at = AT_ARRAY, d->at_i = i;
    /* A child's name may be empty, its offset then ignored (spec §6.1). */
    int flagged = h->minor >= SA_MINOR_NESTED && (a->flags & SA_RECORD_FLAG_CHILD);
    if (h->minor < SA_MINOR_NESTED) a->dict_index = 0, a->child = 0; /* reserved bytes there */
    if (flagged && a->name_len == 0)
      a->name = "";
    else if ((rc = text(d, "name", a->name_off, a->name_len, 1, SA_MAX_NAME_LEN, &a->name)))
      return rc;
    d->at = AT_NAMED;
    if ((rc = check_type(d, a)) || (d->parent_of && (rc = check_tree(d, a, i))) ||
        (rc = check_shape(d, a)) || (rc = check_buffers(d, a)))
      return rc;
    /* Step 9.5a: the index fields mean something only from minor 1 on, and
     * only for a kind this reader knows (spec §5.1); otherwise no index. */
    if (h->minor >= 1 && a->index_kind == 1) {
      char msg[300];
      if ((rc = sa_index_check(h, a, msg, sizeof msg))) return dfail(d, rc, "%s", msg);
    } else {
      a->index_kind = 0;
    }
    d->at = AT_ARRAY_META;
    if ((rc = owner_kvs(d, a->kv_first, a->kv_count, &a->kv))) return rc;
    d->at = AT_NONE;
    if (!a->is_child && (rc = index_name(d, i))) return rc; /* columns only (spec §6.1) */
  }
  d->at = AT_SEG_META;
  if ((rc = owner_kvs(d, h->seg_kv_first, h->seg_kv_count, &seg->seg_kv))) return rc;
  seg->seg_kv_count = seg->seg_kv ? h->seg_kv_count : 0;
  return SHMARRAY_OK;
}

/* Where the bytes of the file come from: a descriptor read with pread, or
 * caller memory (sa_decode) copied the same way, so that both decode from
 * private copies along one code path. */
typedef struct source {
  int fd;             /* >= 0: pread from it */
  const uint8_t *mem; /* else: memory of size bytes */
  uint64_t size;      /* L: the file's size when it was opened */
} source;

/* Reads n bytes at off (off + n <= L) into buf; 1 on success, 0 when the
 * file ended first (it shrank since fstat), -1 with errno on a read error. */
static int src_read(const source *src, uint64_t off, void *buf, size_t n) {
  if (src->fd < 0) {
    memcpy(buf, src->mem + off, n);
    return 1;
  }
  uint8_t *p = buf;
  while (n) {
    ssize_t r = pread(src->fd, p, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) return 0;
    p += r;
    off += (uint64_t)r;
    n -= (size_t)r;
  }
  return 1;
}

/* The error of a src_read that did not return 1 (arena/guard.go's text for
 * a file that shrank under the reader). */
static int read_fail(dec *d, int got) {
  if (got == 0)
    return dfail(d, SHMARRAY_TRUNCATED,
                 "the file shrank while it was being read (someone truncated a published "
                 "segment)");
  return dfail(d, SHMARRAY_IO_ERROR, "reading the file: %s", strerror(errno));
}

static int decode(shmarray_segment *seg, const source *src, char *err, size_t err_len) {
  dec d;
  memset(&d, 0, sizeof d);
  d.seg = seg;
  d.h = &seg->h;
  d.err = err;
  d.err_len = err_len;
  sa_header *h = &seg->h;
  uint64_t size = src->size;
  /* Steps 1-3: magic, version, whole header, from a private copy of its
   * first 128 bytes (fewer in a shorter file). */
  uint8_t head[SA_HEADER_SIZE];
  size_t head_len = size < SA_HEADER_SIZE ? (size_t)size : SA_HEADER_SIZE;
  int got = src_read(src, 0, head, head_len);
  if (got != 1) return read_fail(&d, got);
  char msg[300];
  int rc = sa_read_header(head, head_len, h, msg, sizeof msg);
  if (rc) return dfail(&d, rc, "%s", sa_bare_message(rc, msg));
  if (h->header_size < SA_HEADER_SIZE)
    return dfail(&d, SHMARRAY_BAD_SIZE, "header_size is %u, at least %u expected", h->header_size,
                 SA_HEADER_SIZE);
  /* Format 1.2: a header with an identity has room for it. */
  if (h->minor >= SA_MINOR_IDENTITY && h->header_size < SA_HEADER_SIZE_ID)
    return dfail(&d, SHMARRAY_BAD_SIZE, "header_size is %u, at least %u expected in a version 1.%u file",
                 h->header_size, SA_HEADER_SIZE_ID, h->minor);
  if (size < h->header_size)
    return dfail(&d, SHMARRAY_TRUNCATED, "file is %llu bytes, shorter than its %u-byte header",
                 (unsigned long long)size, h->header_size);
  /* Step 4. */
  if (size < h->file_size)
    return dfail(&d, SHMARRAY_TRUNCATED, "file is %llu bytes but its header says %llu",
                 (unsigned long long)size, (unsigned long long)h->file_size);
  /* Step 5. */
  if (!(h->flags & SA_FLAG_SEALED))
    return dfail(&d, SHMARRAY_NOT_SEALED, "the writer did not finish this segment");
  /* Step 6. */
  if (h->meta_offset % SA_ALIGNMENT != 0)
    return dfail(&d, SHMARRAY_MISALIGNED, "metadata area offset %llu is not a multiple of %u",
                 (unsigned long long)h->meta_offset, SA_ALIGNMENT);
  if (!sa_within(h->meta_offset, h->meta_length, h->header_size, h->file_size))
    return dfail(&d, SHMARRAY_OUT_OF_BOUNDS, "metadata area [%llu, +%llu) is outside [%u, %llu)",
                 (unsigned long long)h->meta_offset, (unsigned long long)h->meta_length,
                 h->header_size, (unsigned long long)h->file_size);
  d.meta_end = h->meta_offset + h->meta_length;
  /* Step 7: CRC of the header (checksum field as zero) and the metadata
   * area. The header's bytes past 128 are only summed, read in pieces; the
   * metadata area is read once into private memory (at most file_size
   * bytes, all of which the CRC reads anyway) and decoded from there. */
  static const uint8_t zero[4];
  uint32_t sum = sa_crc32(0, head, SA_CHECKSUM_OFFSET);
  sum = sa_crc32(sum, zero, 4);
  sum = sa_crc32(sum, head + SA_CHECKSUM_OFFSET + 4, SA_HEADER_SIZE - SA_CHECKSUM_OFFSET - 4);
  uint8_t piece[4096];
  for (uint64_t off = SA_HEADER_SIZE; off < h->header_size;) {
    size_t n = h->header_size - off < sizeof piece ? (size_t)(h->header_size - off) : sizeof piece;
    if ((got = src_read(src, off, piece, n)) != 1) return read_fail(&d, got);
    /* The identity (minor >= 2: header_size >= 192 was checked above) is
     * in the first piece, read from the same private copy as the CRC. */
    if (off == SA_HEADER_SIZE && h->minor >= SA_MINOR_IDENTITY) {
      memcpy(h->id, piece + (SA_ID_OFFSET - SA_HEADER_SIZE), SA_ID_LEN);
      h->version = sa_le64(piece + (SA_VERSION_OFFSET - SA_HEADER_SIZE));
    }
    sum = sa_crc32(sum, piece, n);
    off += n;
  }
  uint8_t *meta = malloc(h->meta_length ? (size_t)h->meta_length : 1);
  if (!meta) return oom(&d);
  if (h->meta_length && (got = src_read(src, h->meta_offset, meta, (size_t)h->meta_length)) != 1) {
    free(meta);
    return read_fail(&d, got);
  }
  d.meta = meta;
  sum = sa_crc32(sum, meta, (size_t)h->meta_length);
  if (sum != h->checksum) {
    free(meta);
    return dfail(&d, SHMARRAY_CHECKSUM_MISMATCH,
                 "header and metadata CRC-32 is %08x, the header says %08x", sum, h->checksum);
  }
  /* Steps 8-10. */
  rc = decode_tables(&d);
  free_dec(&d);
  free(meta); /* everything kept was copied out of it */
  return rc;
}

int sa_decode(shmarray_segment *seg, const uint8_t *b, size_t size, char *err, size_t err_len) {
  seg->base = b;
  seg->size = size;
  source src = {-1, b, size};
  return decode(seg, &src, err, err_len);
}

int sa_decode_fd(shmarray_segment *seg, int fd, uint64_t size, char *err, size_t err_len) {
  source src = {fd, NULL, size};
  return decode(seg, &src, err, err_len);
}

void sa_segment_free(shmarray_segment *seg) {
  if (!seg) return;
  if (seg->mapped && seg->base) munmap((void *)seg->base, seg->size);
  for (sa_chunk *c = seg->chunks, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  free(seg->arrays);
  free(seg->kvs);
  free(seg->index);
  free(seg->name);
  free(seg->path);
  free(seg->dir);
  free(seg);
}

shmarray_segment *sa_segment_new(void) {
  shmarray_segment *seg = calloc(1, sizeof *seg);
  if (seg) seg->refs = seg->total = 1;
  return seg;
}

void sa_segment_ref(shmarray_segment *seg) {
  __atomic_add_fetch(&seg->refs, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&seg->total, 1, __ATOMIC_RELAXED);
}

void sa_segment_pin(shmarray_segment *seg) { __atomic_add_fetch(&seg->total, 1, __ATOMIC_RELAXED); }

/* The caller's own unit of total keeps seg alive while it unmaps. */
void sa_segment_unref(shmarray_segment *seg) {
  if (!seg) return;
  if (__atomic_sub_fetch(&seg->refs, 1, __ATOMIC_ACQ_REL) == 0 && seg->mapped && seg->base) {
    munmap((void *)seg->base, seg->size);
    seg->mapped = 0;
  }
  sa_segment_unpin(seg);
}

void sa_segment_unpin(shmarray_segment *seg) {
  if (seg && __atomic_sub_fetch(&seg->total, 1, __ATOMIC_ACQ_REL) == 0) sa_segment_free(seg);
}

