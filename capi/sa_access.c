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

int shmarray_describe_tree(const shmarray_segment *seg, size_t index, shmarray_tree_info *out) {
  if (!seg || !out || index >= seg->h.array_count) return SHMARRAY_INVALID_ARGUMENT;
  const sa_array *a = &seg->arrays[index];
  memset(out, 0, sizeof *out);
  out->index_type = a->type == SHMARRAY_TYPE_DICTIONARY ? a->dict_index : 0;
  out->is_child = a->is_child;
  out->child = sa_type_nested(a->type) ? a->child : 0;
  out->parent = a->is_child ? a->parent : 0;
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

/* ---- Lists and dictionaries (format 1.3, spec §6.1) --------------------- */

int shmarray_list_slot(const shmarray_segment *seg, size_t index, int64_t slot, int64_t *start,
                       int64_t *end, char *err, size_t err_len) {
  if (!seg || !start || !end || index >= seg->h.array_count)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "no such array");
  const sa_array *a = &seg->arrays[index];
  unsigned w = sa_list_offset_width(a->type);
  if (!w)
    return sa_array_fail(SHMARRAY_INVALID_ARGUMENT, seg->name, a->name, a->name_len, err, err_len,
                         "a %s array is not a list", sa_type_name(a->type));
  if (slot < 0 || slot >= a->length)
    return sa_array_fail(SHMARRAY_INVALID_ARGUMENT, seg->name, a->name, a->name_len, err, err_len,
                         "slot %lld is not in [0, %lld)", (long long)slot, (long long)a->length);
  uint64_t s, e, limit = (uint64_t)seg->arrays[a->child].length;
  /* The offsets were not necessarily validated: check this slot's (§6.1). */
  if (!sa_slot_range(seg->base + a->offsets_off, w, limit, (uint64_t)slot, &s, &e))
    return sa_array_fail(SHMARRAY_BAD_OFFSETS, seg->name, a->name, a->name_len, err, err_len,
                         "slot %lld has offsets [%lld, %lld), outside the child's %llu slots",
                         (long long)slot, (long long)s, (long long)e, (unsigned long long)limit);
  *start = (int64_t)s;
  *end = (int64_t)e;
  return SHMARRAY_OK;
}

int shmarray_dictionary_slot(const shmarray_segment *seg, size_t index, int64_t slot,
                             int64_t *value, char *err, size_t err_len) {
  if (!seg || !value || index >= seg->h.array_count)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "no such array");
  const sa_array *a = &seg->arrays[index];
  if (a->type != SHMARRAY_TYPE_DICTIONARY)
    return sa_array_fail(SHMARRAY_INVALID_ARGUMENT, seg->name, a->name, a->name_len, err, err_len,
                         "a %s array is not a dictionary", sa_type_name(a->type));
  if (slot < 0 || slot >= a->length)
    return sa_array_fail(SHMARRAY_INVALID_ARGUMENT, seg->name, a->name, a->name_len, err, err_len,
                         "slot %lld is not in [0, %lld)", (long long)slot, (long long)a->length);
  if (a->validity_len && !sa_bit(seg->base + a->validity_off, (uint64_t)slot)) {
    *value = -1; /* a null slot: its index means nothing */
    return SHMARRAY_OK;
  }
  int is_signed;
  uint64_t v = sa_dict_entry(seg->base + a->data_off, a->dict_index, (uint64_t)slot, &is_signed);
  uint64_t dict_len = (uint64_t)seg->arrays[a->child].length;
  if (v >= dict_len || (is_signed && (int64_t)v < 0))
    return sa_array_fail(SHMARRAY_OUT_OF_BOUNDS, seg->name, a->name, a->name_len, err, err_len,
                         "slot %lld has index %lld, outside its %llu-value dictionary",
                         (long long)slot, (long long)v, (unsigned long long)dict_len);
  *value = (int64_t)v;
  return SHMARRAY_OK;
}

/* The identity (format 1.2, spec §4), decoded at attach. */
int shmarray_identity(const shmarray_segment *seg, uint8_t id[16], uint64_t *version) {
  if (!seg) return SHMARRAY_INVALID_ARGUMENT;
  if (id) memcpy(id, seg->h.id, SA_ID_LEN);
  if (version) *version = seg->h.version;
  return SHMARRAY_OK;
}
