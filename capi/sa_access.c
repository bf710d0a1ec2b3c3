/* The accessors of an attached segment's handle: describe, find, view and
 * metadata. They read only what sa_decode checked and copied, and never
 * touch the file. */
#include <string.h>

#include "sa_internal.h"

/* ---- Describing and viewing arrays -------------------------------------- */

size_t shmarray_array_count(const shmarray_segment *seg) { return seg ? seg->h.array_count : 0; }

int shmarray_describe(const shmarray_segment *seg, size_t index, shmarray_array_info *out) {
  if (!seg || !out || index >= seg->h.array_count) return SHMARRAY_INVALID_ARGUMENT;
  const sa_array *a = &seg->arrays[index];
  memset(out, 0, sizeof *out);
  out->name = a->name;
  out->name_length = a->name_len;
  out->type = a->type;
  out->time_unit = a->unit;
  out->byte_width = a->byte_width;
  out->ndim = a->ndim;
  out->timezone = a->tz;
  out->length = a->length;
  out->null_count = a->null_count;
  for (int k = 0; k < a->ndim; k++) out->shape[k] = a->shape[k];
  out->metadata_count = a->kv_count;
  return SHMARRAY_OK;
}

int shmarray_find_array(const shmarray_segment *seg, const char *name, size_t *index) {
  if (!seg || !name || !index) return SHMARRAY_INVALID_ARGUMENT;
  if (!seg->index) return SHMARRAY_NOT_FOUND;
  size_t n = strlen(name);
  for (size_t s = (size_t)sa_name_hash(name, n) & seg->index_mask; seg->index[s];
       s = (s + 1) & seg->index_mask) {
    const sa_array *a = &seg->arrays[seg->index[s] - 1];
    if (a->name_len == n && memcmp(a->name, name, n) == 0) {
      *index = seg->index[s] - 1;
      return SHMARRAY_OK;
    }
  }
  return SHMARRAY_NOT_FOUND;
}

int shmarray_array_view(const shmarray_segment *seg, size_t index, shmarray_view *out) {
  if (!seg || !out || index >= seg->h.array_count) return SHMARRAY_INVALID_ARGUMENT;
  const sa_array *a = &seg->arrays[index];
  memset(out, 0, sizeof *out);
  if (a->validity_len) {
    out->validity = seg->base + a->validity_off;
    out->validity_length = (size_t)a->validity_len;
  }
  if (a->offsets_len) {
    out->offsets = seg->base + a->offsets_off;
    out->offsets_length = (size_t)a->offsets_len;
  }
  if (a->data_len) {
    out->data = seg->base + a->data_off;
    out->data_length = (size_t)a->data_len;
  }
  return SHMARRAY_OK;
}

size_t shmarray_metadata_count(const shmarray_segment *seg, size_t array_index) {
  if (!seg) return 0;
  if (array_index == SHMARRAY_SEGMENT_METADATA) return seg->seg_kv_count;
  if (array_index >= seg->h.array_count) return 0;
  return seg->arrays[array_index].kv_count;
}

int shmarray_metadata(const shmarray_segment *seg, size_t array_index, size_t i, const char **key,
                      const char **value) {
  if (!seg || !key || !value) return SHMARRAY_INVALID_ARGUMENT;
  const sa_kv *kv;
  if (array_index == SHMARRAY_SEGMENT_METADATA) {
    if (i >= seg->seg_kv_count) return SHMARRAY_INVALID_ARGUMENT;
    kv = &seg->seg_kv[i];
  } else {
    if (array_index >= seg->h.array_count || i >= seg->arrays[array_index].kv_count)
      return SHMARRAY_INVALID_ARGUMENT;
    kv = &seg->arrays[array_index].kv[i];
  }
  *key = kv->key;
  *value = kv->value;
  return SHMARRAY_OK;
}

/* The identity (format 1.2, spec §4), decoded at attach. */
int shmarray_identity(const shmarray_segment *seg, uint8_t id[16], uint64_t *version) {
  if (!seg) return SHMARRAY_INVALID_ARGUMENT;
  if (id) memcpy(id, seg->h.id, SA_ID_LEN);
  if (version) *version = seg->h.version;
  return SHMARRAY_OK;
}
