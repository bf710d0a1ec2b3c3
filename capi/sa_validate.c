/* Full validation (spec §11.3): the checks that read the data area: null
 * counts against bitmaps, offsets, UTF-8 of string values, data checksums
 * and hash indexes. Always an explicit call (shmarray_validate), never part
 * of attach. The same codes and messages as format.Validate
 * (format/validate.go). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sa_internal.h"

/* ---- Full validation (spec §11.3) --------------------------------------- */

/* Set bits among the first n bits of bm (LSB first). */
static uint64_t count_ones(const uint8_t *bm, uint64_t n) {
  uint64_t total = 0, full = n / 8, i = 0;
  for (; i + 8 <= full; i += 8) {
    uint64_t w;
    memcpy(&w, bm + i, 8);
    total += (uint64_t)__builtin_popcountll(w);
  }
  for (; i < full; i++) total += (uint64_t)__builtin_popcount(bm[i]);
  if (n % 8) total += (uint64_t)__builtin_popcount(bm[full] & ((1u << (n % 8)) - 1));
  return total;
}

#define vfail(seg, a, code, err, err_len, ...) \
  sa_array_fail(code, (seg)->name, (a)->name, (a)->name_len, err, err_len, __VA_ARGS__)

/* Step 2 of full validation over w-byte offsets bounded by limit: the data
 * length of a string array, or (list, 1.3) the child's length; *last gets
 * offsets[length] (format/validate.go checkOffsets). */
static int check_offsets(const shmarray_segment *seg, const sa_array *a, unsigned w,
                         uint64_t limit, int list, uint64_t *last, char *err, size_t err_len) {
  uint64_t n = (uint64_t)a->length;
  *last = 0;
  if (n == 0 && a->offsets_len == 0) return SHMARRAY_OK;
  const uint8_t *offs = seg->base + a->offsets_off;
  uint64_t first = sa_offset_entry(offs, w, 0);
  if (first != 0)
    return vfail(seg, a, SHMARRAY_BAD_OFFSETS, err, err_len, "offsets[0] is %lld, must be 0",
                 (long long)first);
  uint64_t prev = 0;
  for (uint64_t i = 1; i <= n; i++) {
    uint64_t cur = sa_offset_entry(offs, w, i);
    if (cur > limit && list)
      return vfail(seg, a, SHMARRAY_BAD_OFFSETS, err, err_len,
                   "offsets[%llu] is %lld, beyond the child's %llu slots", (unsigned long long)i,
                   (long long)cur, (unsigned long long)limit);
    if (cur > limit)
      return vfail(seg, a, SHMARRAY_BAD_OFFSETS, err, err_len,
                   "offsets[%llu] is %lld, beyond the %llu-byte data buffer",
                   (unsigned long long)i, (long long)cur, (unsigned long long)limit);
    if (cur < prev)
      return vfail(seg, a, SHMARRAY_BAD_OFFSETS, err, err_len,
                   "offsets[%llu] = %llu is less than offsets[%llu] = %llu",
                   (unsigned long long)i, (unsigned long long)cur, (unsigned long long)i - 1,
                   (unsigned long long)prev);
    prev = cur;
  }
  *last = prev;
  return SHMARRAY_OK;
}

static int validate_offsets(const shmarray_segment *seg, const sa_array *a, char *err,
                            size_t err_len) {
  uint64_t n = (uint64_t)a->length, prev;
  unsigned w = sa_offset_width(a->type);
  int rc = check_offsets(seg, a, w, a->data_len, 0, &prev, err, err_len);
  if (rc || prev == 0) return rc;
  const uint8_t *offs = seg->base + a->offsets_off;
  if (a->type != SHMARRAY_TYPE_UTF8 && a->type != SHMARRAY_TYPE_LARGE_UTF8) return SHMARRAY_OK;
  /* An empty buffer's offset means nothing (spec §1.2): not even a pointer. */
  const uint8_t *data = a->data_len ? seg->base + a->data_off : seg->base;
  if (sa_is_ascii(data, (size_t)prev)) return SHMARRAY_OK;
  /* Value by value: a sequence valid as a whole may still split a character
   * across two values. The offsets are read again, so they are checked
   * again: the file may have changed meanwhile (spec §15). */
  uint64_t start = 0;
  for (uint64_t i = 1; i <= n; i++) {
    uint64_t end = sa_offset_entry(offs, w, i);
    if (end < start || end > prev)
      return vfail(seg, a, SHMARRAY_BAD_OFFSETS, err, err_len,
                   "offsets[%llu] changed during validation (the file was modified)",
                   (unsigned long long)i);
    if (!sa_utf8_valid(data + start, (size_t)(end - start)))
      return vfail(seg, a, SHMARRAY_BAD_UTF8, err, err_len, "value %llu is not valid UTF-8",
                   (unsigned long long)i - 1);
    start = end;
  }
  return SHMARRAY_OK;
}

/* Step 2a (format 1.3): the index of every non-null slot of a dictionary
 * names a slot of its dictionary (format/validate.go validateIndices). */
static int validate_indices(const shmarray_segment *seg, const sa_array *a, char *err,
                            size_t err_len) {
  uint64_t dict_len = (uint64_t)seg->arrays[a->child].length;
  const uint8_t *data = a->data_len ? seg->base + a->data_off : seg->base;
  const uint8_t *validity = a->validity_len ? seg->base + a->validity_off : NULL;
  for (uint64_t i = 0; i < (uint64_t)a->length; i++) {
    if (validity && !sa_bit(validity, i)) continue;
    int is_signed;
    uint64_t v = sa_dict_entry(data, a->dict_index, i, &is_signed);
    if (v >= dict_len || (is_signed && (int64_t)v < 0)) {
      if (is_signed)
        return vfail(seg, a, SHMARRAY_OUT_OF_BOUNDS, err, err_len,
                     "slot %llu has index %lld, outside its %llu-value dictionary",
                     (unsigned long long)i, (long long)v, (unsigned long long)dict_len);
      return vfail(seg, a, SHMARRAY_OUT_OF_BOUNDS, err, err_len,
                   "slot %llu has index %llu, outside its %llu-value dictionary",
                   (unsigned long long)i, (unsigned long long)v, (unsigned long long)dict_len);
    }
  }
  return SHMARRAY_OK;
}

int sa_validate_array(const shmarray_segment *seg, size_t index, char *err, size_t err_len) {
  const sa_array *a = &seg->arrays[index];
  const uint64_t off[3] = {a->validity_off, a->offsets_off, a->data_off};
  const uint64_t len[3] = {a->validity_len, a->offsets_len, a->data_len};
  for (int k = 0; k < 3; k++)
    if (len[k] != 0 && !sa_within(off[k], len[k], 0, seg->size))
      return vfail(seg, a, SHMARRAY_OUT_OF_BOUNDS, err, err_len,
                   "buffer [%llu, +%llu) is outside the %zu-byte file",
                   (unsigned long long)off[k], (unsigned long long)len[k], seg->size);
  if (a->validity_len != 0) {
    int64_t nulls = a->length - (int64_t)count_ones(seg->base + a->validity_off, (uint64_t)a->length);
    if (nulls != a->null_count)
      return vfail(seg, a, SHMARRAY_BAD_SIZE, err, err_len,
                   "null_count is %lld but the bitmap has %lld nulls", (long long)a->null_count,
                   (long long)nulls);
  }
  if (sa_offset_width(a->type)) {
    int rc = validate_offsets(seg, a, err, err_len);
    if (rc) return rc;
  }
  if (sa_list_offset_width(a->type)) {
    uint64_t last;
    int rc = check_offsets(seg, a, sa_list_offset_width(a->type),
                           (uint64_t)seg->arrays[a->child].length, 1, &last, err, err_len);
    if (rc) return rc;
  }
  if (a->type == SHMARRAY_TYPE_DICTIONARY) {
    int rc = validate_indices(seg, a, err, err_len);
    if (rc) return rc;
  }
  if (a->flags & SA_RECORD_FLAG_DATA_CRC) {
    uint32_t sum = 0;
    for (int k = 0; k < 3; k++)
      if (len[k]) sum = sa_crc32(sum, seg->base + off[k], (size_t)len[k]);
    if (sum != a->data_crc)
      return vfail(seg, a, SHMARRAY_CHECKSUM_MISMATCH, err, err_len,
                   "data CRC-32 is %08x, the record says %08x", sum, a->data_crc);
  }
  if (a->index_kind == 1) return sa_validate_index(seg, index, err, err_len);
  return SHMARRAY_OK;
}

int shmarray_validate(const shmarray_segment *seg, char *err, size_t err_len) {
  if (!seg) return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "segment must not be NULL");
  for (size_t i = 0; i < seg->h.array_count; i++) {
    int rc = sa_validate_array(seg, i, err, err_len);
    if (rc) return rc;
  }
  return SHMARRAY_OK;
}
