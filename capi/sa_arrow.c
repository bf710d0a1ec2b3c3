/* Export through the Arrow C Data and C Stream Interfaces, zero-copy: every
 * buffer points into the read-only mapping. Each exported structure — the
 * top-level ArrowArray, ArrowSchema and ArrowArrayStream, and each of their
 * children, which a consumer may move out of the parent — holds its own
 * reference to the segment, so the mapping outlives shmarray_close until
 * the last of them is released, from any thread.
 *
 * Types map as in spec §6 (format/arrowtype.go CFormat); an N-D array is the
 * arrow.fixed_shape_tensor extension over fixed_size_list storage (§8). The
 * offsets of variable-length arrays and of lists, and the indices of
 * dictionaries, are not checked here (a consumer trusts them): run
 * shmarray_validate first when the segment is not trusted (spec §11.3). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa_internal.h"

/* Stands in for an empty buffer (Arrow wants length + 1 offsets even for an
 * empty array, and some consumers dislike NULL data pointers). */
static const int64_t zeros[8] __attribute__((aligned(64)));

#define EXT_NAME_KEY "ARROW:extension:name"
#define EXT_META_KEY "ARROW:extension:metadata"
#define TENSOR_NAME "arrow.fixed_shape_tensor"

/* ---- Formats and metadata ------------------------------------------------ */

static const char *const plain_formats[] = {
    NULL, "b", "c", "C", "s", "S", "i", "I", "l", "L", "e", "f",
    "g",  "u", "U", "z", "Z", NULL, "tdD", "tdm", NULL, NULL, "+l", "+L", NULL,
};

/* The C Data format of one element of a, e.g. "l", "w:16", "tsu:UTC". */
static char *element_format(const sa_array *a) {
  char buf[SA_MAX_TZ_LEN + 16];
  switch (a->type) {
  case SHMARRAY_TYPE_FIXED_SIZE_BINARY:
    snprintf(buf, sizeof buf, "w:%u", a->byte_width);
    break;
  case SHMARRAY_TYPE_TIMESTAMP:
    snprintf(buf, sizeof buf, "ts%c:%s", "smun"[a->unit & 3], a->tz);
    break;
  case SHMARRAY_TYPE_DURATION:
    snprintf(buf, sizeof buf, "tD%c", "smun"[a->unit & 3]);
    break;
  case SHMARRAY_TYPE_DICTIONARY: /* the indices' format; the values are the dictionary */
    return strdup(plain_formats[a->dict_index]);
  default:
    return strdup(plain_formats[a->type]);
  }
  return strdup(buf);
}

/* {"shape":[d1,...]} for an N-D array: the shape of one row. */
static void tensor_json(const sa_array *a, char *buf, size_t n) {
  size_t w = (size_t)snprintf(buf, n, "{\"shape\":[");
  for (int k = 1; k < a->ndim; k++)
    w += (size_t)snprintf(buf + w, n - w, "%s%lld", k > 1 ? "," : "", (long long)a->shape[k]);
  snprintf(buf + w, n - w, "]}");
}

typedef struct pairs {
  const sa_kv *kv; /* stored pairs */
  size_t n;
  const char *extra[2][2]; /* extension name and metadata, for N-D arrays */
  size_t nextra;
  char json[SHMARRAY_MAX_NDIM * 24 + 16];
} pairs;

static void field_pairs(const sa_array *a, pairs *p) {
  memset(p, 0, sizeof *p);
  p->kv = a->kv;
  p->n = a->kv_count;
  if (a->ndim > 1) {
    tensor_json(a, p->json, sizeof p->json);
    p->extra[0][0] = EXT_NAME_KEY;
    p->extra[0][1] = TENSOR_NAME;
    p->extra[1][0] = EXT_META_KEY;
    p->extra[1][1] = p->json;
    p->nextra = 2;
  }
}

/* Bytes of the Arrow metadata encoding of p (int32 count, then int32 length
 * and bytes of each key and value), or 0 if it exceeds INT32_MAX. */
static size_t pairs_size(const pairs *p) {
  uint64_t size = 4;
  for (size_t i = 0; i < p->n; i++) size += 8 + (uint64_t)p->kv[i].key_len + p->kv[i].value_len;
  for (size_t i = 0; i < p->nextra; i++) size += 8 + strlen(p->extra[i][0]) + strlen(p->extra[i][1]);
  return size > INT32_MAX ? 0 : (size_t)size;
}

static char *put_bytes(char *w, const char *s, size_t n) {
  int32_t len = (int32_t)n;
  memcpy(w, &len, 4);
  memcpy(w + 4, s, n);
  return w + 4 + n;
}

/* The encoded metadata in *out: NULL when there are no pairs. 0 or ENOMEM
 * (or EINVAL when too large, which export_check rules out). */
static int encode_pairs(const pairs *p, char **out) {
  *out = NULL;
  if (p->n + p->nextra == 0) return 0;
  size_t size = pairs_size(p);
  if (size == 0) return EINVAL;
  char *buf = malloc(size), *w = buf;
  if (!buf) return ENOMEM;
  int32_t count = (int32_t)(p->n + p->nextra);
  memcpy(w, &count, 4);
  w += 4;
  for (size_t i = 0; i < p->n; i++) {
    w = put_bytes(w, p->kv[i].key, p->kv[i].key_len);
    w = put_bytes(w, p->kv[i].value, p->kv[i].value_len);
  }
  for (size_t i = 0; i < p->nextra; i++) {
    w = put_bytes(w, p->extra[i][0], strlen(p->extra[i][0]));
    w = put_bytes(w, p->extra[i][1], strlen(p->extra[i][1]));
  }
  *out = buf;
  return 0;
}

/* INVALID_ARGUMENT if array i, or one of its children, cannot be expressed
 * in Arrow. The recursion is at most SA_MAX_DEPTH deep (spec §6.1). */
static int export_check(const shmarray_segment *seg, size_t i, char *err, size_t err_len) {
  const sa_array *a = &seg->arrays[i];
  if (sa_type_nested(a->type)) {
    int rc = export_check(seg, a->child, err, err_len);
    if (rc) return rc;
  }
  if (a->ndim > 1 && a->row_elems > INT32_MAX)
    return sa_array_fail(SHMARRAY_INVALID_ARGUMENT, NULL, a->name, a->name_len, err, err_len,
                         "rows of %llu elements exceed Arrow's fixed_size_list limit of 2^31 - 1",
                         (unsigned long long)a->row_elems);
  pairs p;
  field_pairs(a, &p);
  if (pairs_size(&p) == 0)
    return sa_array_fail(SHMARRAY_INVALID_ARGUMENT, NULL, a->name, a->name_len, err, err_len,
                         "its metadata exceeds 2 GiB, too large for Arrow");
  return SHMARRAY_OK;
}

/* ---- ArrowSchema --------------------------------------------------------- */

typedef struct schema_priv {
  shmarray_segment *seg;
  char *format, *name, *metadata;
  struct ArrowSchema **child_ptrs;
  struct ArrowSchema *children;
  struct ArrowSchema *dictionary; /* a dictionary's values (1.3), or NULL */
} schema_priv;

static void release_schema(struct ArrowSchema *s) {
  if (!s || !s->release) return;
  schema_priv *p = s->private_data;
  for (int64_t i = 0; i < s->n_children; i++)
    if (s->children[i]->release) s->children[i]->release(s->children[i]);
  if (s->dictionary && s->dictionary->release) s->dictionary->release(s->dictionary);
  free(p->dictionary);
  sa_segment_unref(p->seg);
  free(p->format);
  free(p->name);
  free(p->metadata);
  free(p->child_ptrs);
  free(p->children);
  free(p);
  s->release = NULL;
}

/* A node taking ownership of format and metadata (freed on failure too),
 * with n_children zeroed children to fill. Releasable at once. */
static int schema_node(struct ArrowSchema *out, shmarray_segment *seg, char *format,
                       const char *name, char *metadata, int64_t flags, int64_t n_children) {
  memset(out, 0, sizeof *out);
  schema_priv *p = calloc(1, sizeof *p);
  char *name_copy = strdup(name);
  if (p && n_children) {
    p->children = calloc((size_t)n_children, sizeof *p->children);
    p->child_ptrs = calloc((size_t)n_children, sizeof *p->child_ptrs);
  }
  if (!p || !format || !name_copy || (n_children && (!p->children || !p->child_ptrs))) {
    if (p) {
      free(p->children);
      free(p->child_ptrs);
    }
    free(p);
    free(format);
    free(name_copy);
    free(metadata);
    return ENOMEM;
  }
  for (int64_t i = 0; i < n_children; i++) p->child_ptrs[i] = &p->children[i];
  sa_segment_ref(seg);
  p->seg = seg;
  p->format = format;
  p->name = name_copy;
  p->metadata = metadata;
  out->format = format;
  out->name = name_copy;
  out->metadata = metadata;
  out->flags = flags;
  out->n_children = n_children;
  out->children = n_children ? p->child_ptrs : NULL;
  out->release = release_schema;
  out->private_data = p;
  return 0;
}

/* The field of array i, named name (its own name, or "item" for the
 * unnamed values of a list, spec §6.1); lists and dictionaries with their
 * children, recursively. */
static int field_schema(shmarray_segment *seg, size_t i, const char *name, struct ArrowSchema *out) {
  const sa_array *a = &seg->arrays[i];
  pairs pr;
  field_pairs(a, &pr);
  char *metadata;
  int rc = encode_pairs(&pr, &metadata);
  if (rc) return rc;
  if (sa_list_offset_width(a->type)) {
    rc = schema_node(out, seg, element_format(a), name, metadata, ARROW_FLAG_NULLABLE, 1);
    if (rc) return rc;
    const sa_array *c = &seg->arrays[a->child];
    rc = field_schema(seg, a->child, c->name_len ? c->name : "item", out->children[0]);
    if (rc) release_schema(out);
    return rc;
  }
  if (a->type == SHMARRAY_TYPE_DICTIONARY) {
    rc = schema_node(out, seg, element_format(a), name, metadata, ARROW_FLAG_NULLABLE, 0);
    if (rc) return rc;
    schema_priv *p = out->private_data;
    if (!(p->dictionary = calloc(1, sizeof *p->dictionary)) ||
        (rc = field_schema(seg, a->child, seg->arrays[a->child].name, p->dictionary))) {
      release_schema(out);
      return rc ? rc : ENOMEM;
    }
    out->dictionary = p->dictionary;
    return 0;
  }
  if (a->ndim < 2)
    return schema_node(out, seg, element_format(a), name, metadata, ARROW_FLAG_NULLABLE, 0);
  char fmt[32];
  snprintf(fmt, sizeof fmt, "+w:%llu", (unsigned long long)a->row_elems);
  rc = schema_node(out, seg, strdup(fmt), name, metadata, ARROW_FLAG_NULLABLE, 1);
  if (rc) return rc;
  rc = schema_node(out->children[0], seg, element_format(a), "item", NULL, ARROW_FLAG_NULLABLE, 0);
  if (rc) release_schema(out);
  return rc;
}

/* The columns: records that are no record's child (spec §6.1). */
static size_t column_count(const shmarray_segment *seg) {
  size_t n = 0;
  for (size_t i = 0; i < seg->h.array_count; i++) n += !seg->arrays[i].is_child;
  return n;
}

/* The schema of the stream's batches: a struct of every column, with the
 * segment metadata. */
static int struct_schema(shmarray_segment *seg, struct ArrowSchema *out) {
  pairs pr;
  memset(&pr, 0, sizeof pr);
  pr.kv = seg->seg_kv;
  pr.n = seg->seg_kv_count;
  char *metadata;
  int rc = encode_pairs(&pr, &metadata);
  if (rc) return rc;
  rc = schema_node(out, seg, strdup("+s"), "", metadata, 0, (int64_t)column_count(seg));
  for (size_t i = 0, k = 0; i < seg->h.array_count && !rc; i++)
    if (!seg->arrays[i].is_child)
      rc = field_schema(seg, i, seg->arrays[i].name, out->children[k++]);
  if (rc && out->release) release_schema(out);
  return rc;
}

/* ---- ArrowArray ---------------------------------------------------------- */

typedef struct array_priv {
  shmarray_segment *seg;
  const void *buffers[3];
  struct ArrowArray **child_ptrs;
  struct ArrowArray *children;
  struct ArrowArray *dictionary; /* a dictionary's values (1.3), or NULL */
} array_priv;

static void release_array(struct ArrowArray *arr) {
  if (!arr || !arr->release) return;
  array_priv *p = arr->private_data;
  for (int64_t i = 0; i < arr->n_children; i++)
    if (arr->children[i]->release) arr->children[i]->release(arr->children[i]);
  if (arr->dictionary && arr->dictionary->release) arr->dictionary->release(arr->dictionary);
  free(p->dictionary);
  sa_segment_unref(p->seg);
  free(p->child_ptrs);
  free(p->children);
  free(p);
  arr->release = NULL;
}

/* A node with n_buffers buffers (set by the caller in priv->buffers) and
 * n_children zeroed children to fill. Releasable at once. */
static int array_node(struct ArrowArray *out, shmarray_segment *seg, int64_t length,
                      int64_t null_count, int64_t n_buffers, int64_t n_children) {
  memset(out, 0, sizeof *out);
  array_priv *p = calloc(1, sizeof *p);
  if (p && n_children) {
    p->children = calloc((size_t)n_children, sizeof *p->children);
    p->child_ptrs = calloc((size_t)n_children, sizeof *p->child_ptrs);
  }
  if (!p || (n_children && (!p->children || !p->child_ptrs))) {
    if (p) {
      free(p->children);
      free(p->child_ptrs);
    }
    free(p);
    return ENOMEM;
  }
  for (int64_t i = 0; i < n_children; i++) p->child_ptrs[i] = &p->children[i];
  sa_segment_ref(seg);
  p->seg = seg;
  out->length = length;
  out->null_count = null_count;
  out->n_buffers = n_buffers;
  out->buffers = p->buffers;
  out->n_children = n_children;
  out->children = n_children ? p->child_ptrs : NULL;
  out->release = release_array;
  out->private_data = p;
  return 0;
}

static const void *buffer(const shmarray_segment *seg, uint64_t off, uint64_t len) {
  return len ? (const void *)(seg->base + off) : (const void *)zeros;
}

/* The array data of array i. */
static int array_data(shmarray_segment *seg, size_t i, struct ArrowArray *out) {
  const sa_array *a = &seg->arrays[i];
  const void *validity = a->validity_len ? seg->base + a->validity_off : NULL;
  const void *data = buffer(seg, a->data_off, a->data_len);
  if (a->ndim > 1) {
    int rc = array_node(out, seg, a->length, a->null_count, 1, 1);
    if (rc) return rc;
    ((array_priv *)out->private_data)->buffers[0] = validity;
    struct ArrowArray *child = out->children[0];
    rc = array_node(child, seg, a->length * (int64_t)a->row_elems, 0, 2, 0);
    if (rc) {
      release_array(out);
      return rc;
    }
    ((array_priv *)child->private_data)->buffers[1] = data;
    return 0;
  }
  if (sa_list_offset_width(a->type)) { /* validity, offsets; the values as the child */
    int rc = array_node(out, seg, a->length, a->null_count, 2, 1);
    if (rc) return rc;
    array_priv *p = out->private_data;
    p->buffers[0] = validity;
    p->buffers[1] = buffer(seg, a->offsets_off, a->offsets_len);
    if ((rc = array_data(seg, a->child, out->children[0]))) release_array(out);
    return rc;
  }
  if (a->type == SHMARRAY_TYPE_DICTIONARY) { /* validity, indices; the values as dictionary */
    int rc = array_node(out, seg, a->length, a->null_count, 2, 0);
    if (rc) return rc;
    array_priv *p = out->private_data;
    p->buffers[0] = validity;
    p->buffers[1] = data;
    if (!(p->dictionary = calloc(1, sizeof *p->dictionary)) ||
        (rc = array_data(seg, a->child, p->dictionary))) {
      release_array(out);
      return rc ? rc : ENOMEM;
    }
    out->dictionary = p->dictionary;
    return 0;
  }
  int var = sa_offset_width(a->type) != 0;
  int rc = array_node(out, seg, a->length, a->null_count, var ? 3 : 2, 0);
  if (rc) return rc;
  array_priv *p = out->private_data;
  p->buffers[0] = validity;
  if (var) {
    p->buffers[1] = buffer(seg, a->offsets_off, a->offsets_len);
    p->buffers[2] = data;
  } else {
    p->buffers[1] = data;
  }
  return 0;
}

/* One record batch: a struct array of every column, all of length rows. */
static int struct_array(shmarray_segment *seg, int64_t rows, struct ArrowArray *out) {
  int rc = array_node(out, seg, rows, 0, 1, (int64_t)column_count(seg));
  for (size_t i = 0, k = 0; i < seg->h.array_count && !rc; i++)
    if (!seg->arrays[i].is_child) rc = array_data(seg, i, out->children[k++]);
  if (rc && out->release) release_array(out);
  return rc;
}

int shmarray_export_array(shmarray_segment *seg, size_t index, struct ArrowArray *out_array,
                          struct ArrowSchema *out_schema, char *err, size_t err_len) {
  if (!seg || !out_array || !out_schema)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "segment, out_array and out_schema must not be NULL");
  if (index >= seg->h.array_count)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "array index %zu is out of range: the segment has %u arrays", index,
                   seg->h.array_count);
  int rc = export_check(seg, index, err, err_len);
  if (rc) return rc;
  struct ArrowSchema schema;
  struct ArrowArray array;
  if (field_schema(seg, index, seg->arrays[index].name, &schema) != 0)
    return sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  if (array_data(seg, index, &array) != 0) {
    release_schema(&schema);
    return sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  }
  *out_schema = schema;
  *out_array = array;
  return SHMARRAY_OK;
}

/* ---- ArrowArrayStream ---------------------------------------------------- */

typedef struct stream_priv {
  shmarray_segment *seg;
  int64_t rows;
  int done;
  const char *error;
} stream_priv;

static int stream_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
  stream_priv *p = s->private_data;
  int rc = struct_schema(p->seg, out);
  p->error = rc ? "shmarray: out of memory exporting the schema" : NULL;
  return rc;
}

static int stream_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
  stream_priv *p = s->private_data;
  if (p->done) { /* end of stream */
    memset(out, 0, sizeof *out);
    out->release = NULL;
    p->error = NULL;
    return 0;
  }
  int rc = struct_array(p->seg, p->rows, out);
  p->error = rc ? "shmarray: out of memory exporting the batch" : NULL;
  if (!rc) p->done = 1;
  return rc;
}

static const char *stream_last_error(struct ArrowArrayStream *s) {
  return ((stream_priv *)s->private_data)->error;
}

static void stream_release(struct ArrowArrayStream *s) {
  if (!s || !s->release) return;
  stream_priv *p = s->private_data;
  sa_segment_unref(p->seg);
  free(p);
  s->release = NULL;
}

int shmarray_export_stream(shmarray_segment *seg, struct ArrowArrayStream *out, char *err,
                           size_t err_len) {
  if (!seg || !out)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "segment and out must not be NULL");
  int64_t rows = seg->h.array_count ? seg->arrays[0].length : 0; /* record 0 is a column */
  for (size_t i = 0; i < seg->h.array_count; i++) {
    const sa_array *a = &seg->arrays[i];
    if (a->is_child) continue; /* exported with its parent */
    if (a->length != rows) {
      char q0[SA_QUOTE_LEN(SA_QUOTE_NAME)], q[SA_QUOTE_LEN(SA_QUOTE_NAME)];
      return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                     "segment is not a table: array %s has %lld rows, %s has %lld; "
                     "export arrays one by one with %s",
                     sa_quote(seg->arrays[0].name, seg->arrays[0].name_len, SA_QUOTE_NAME, q0,
                              sizeof q0),
                     (long long)rows, sa_quote(a->name, a->name_len, SA_QUOTE_NAME, q, sizeof q),
                     (long long)a->length, sa_fix.export_array);
    }
    int rc = export_check(seg, i, err, err_len);
    if (rc) return rc;
  }
  pairs pr;
  memset(&pr, 0, sizeof pr);
  pr.kv = seg->seg_kv;
  pr.n = seg->seg_kv_count;
  if (pairs_size(&pr) == 0)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "the segment metadata exceeds 2 GiB, too large for Arrow");
  stream_priv *p = calloc(1, sizeof *p);
  if (!p) return sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  sa_segment_ref(seg);
  p->seg = seg;
  p->rows = rows;
  memset(out, 0, sizeof *out);
  out->get_schema = stream_get_schema;
  out->get_next = stream_get_next;
  out->get_last_error = stream_last_error;
  out->release = stream_release;
  out->private_data = p;
  return SHMARRAY_OK;
}
