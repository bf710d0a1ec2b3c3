/* Internal declarations of the plain-C reading half of libshmarray.so
 * (sa_*.c). Not installed: the public ABI is bindings/c/shmarray.h.
 *
 * Nothing here enters the Go runtime, so everything works in a child made by
 * fork(). Every non-static function below is hidden, so that the only
 * exported shmarray_* symbols are those of shmarray.h. */
#ifndef SA_INTERNAL_H
#define SA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../bindings/c/shmarray.h"

#define SA_HIDDEN __attribute__((visibility("hidden")))
#define SA_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- Layout constants of format v1.0 (spec §4, §5, §14) ---------------- */

#define SA_HEADER_SIZE 128u
#define SA_RECORD_SIZE 192u
#define SA_KV_RECORD_SIZE 16u
#define SA_ALIGNMENT 64u
#define SA_CHECKSUM_OFFSET 120u
#define SA_FLAG_SEALED 1u
#define SA_FLAG_EPHEMERAL 2u
#define SA_RECORD_FLAG_DATA_CRC 1u
#define SA_MAX_ARRAYS (1u << 20)
#define SA_MAX_KV (1u << 20)
#define SA_MAX_NAME_LEN 1024u
#define SA_MAX_KEY_LEN 4096u
#define SA_MAX_VALUE_LEN (1u << 20)
#define SA_MAX_TZ_LEN 256u
#define SA_MAX_LENGTH ((int64_t)1 << 62)
#define SA_MAX_SEGMENT_NAME 200u
#define SA_DEFAULT_DIR "/dev/shm"
#define SA_ENV_DIR "SHMARRAY_DIR"

/* ---- Little-endian loads: byte-wise, so alignment never matters -------- */

static inline uint16_t sa_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static inline uint32_t sa_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t sa_le64(const uint8_t *p) {
  return (uint64_t)sa_le32(p) | (uint64_t)sa_le32(p + 4) << 32;
}

/* Whether the range (off, n) lies inside [lo, hi) in the sense of spec §1.2,
 * without overflow. */
static inline int sa_within(uint64_t off, uint64_t n, uint64_t lo, uint64_t hi) {
  return off >= lo && off <= hi && n <= hi - off;
}

/* ---- Errors (sa_errors.c) ---------------------------------------------- */

/* Writes "shmarray: <code text>: <message>" into err (if err is not NULL and
 * err_len > 0), NUL-terminated and truncated to err_len bytes, and returns
 * code. */
SA_HIDDEN int sa_fail(int code, char *err, size_t err_len, const char *fmt, ...) SA_PRINTF(4, 5);

/* The lower-case text of a code ("not found"), as format/errors.go. */
SA_HIDDEN const char *sa_code_text(int code);

/* ---- CRC-32 (sa_crc32.c): zlib / IEEE 802.3, spec §9.1 ----------------- */

/* Continues crc (0 to start) over p[0, n): sa_crc32(sa_crc32(0, a), b) is
 * the CRC of a followed by b, like zlib's crc32(). */
SA_HIDDEN uint32_t sa_crc32(uint32_t crc, const void *p, size_t n);

/* ---- Decoded segment (sa_reader.c) -------------------------------------- */

/* One key/value pair. Both strings are NUL-terminated private copies, owned
 * by the segment ("" for an empty value). */
typedef struct sa_kv {
  const char *key;
  const char *value;
  uint32_t key_len, value_len;
} sa_kv;

/* One directory record, decoded once from the file (spec §5.1) and checked. */
typedef struct sa_array {
  /* Raw fields, as stored. */
  uint32_t name_off, name_len;
  uint8_t type, ndim, unit, flags;
  uint32_t byte_width;
  uint32_t tz_off, tz_len;
  int64_t length, null_count;
  uint64_t validity_off, validity_len;
  uint64_t offsets_off, offsets_len;
  uint64_t data_off, data_len;
  uint32_t kv_first, kv_count;
  uint32_t data_crc;
  int64_t shape[SHMARRAY_MAX_NDIM];
  uint64_t index_off, index_len; /* hash index (format 1.1, spec §7.8) */
  uint8_t index_kind, index_width, index_log2; /* kind 0 after decode unless checked */
  /* Resolved once the record passed its checks. */
  const char *name; /* NUL-terminated, owned by the segment */
  const char *tz;   /* "" when none */
  const sa_kv *kv;  /* kv_count pairs: &seg->kvs[kv_first], this array's alone (§5.2) */
  uint64_t row_elems; /* prod(shape[1:ndim]); 1 for a plain array */
} sa_array;

typedef struct sa_header {
  uint16_t major, minor;
  uint32_t header_size;
  uint64_t file_size;
  uint32_t flags, array_count;
  uint64_t meta_offset, meta_length, directory_offset;
  uint32_t record_size, kv_count;
  uint64_t kv_offset, strtab_offset, strtab_length;
  uint32_t seg_kv_first, seg_kv_count;
  int64_t created_ns;
  uint32_t creator_pid;
  uint64_t creator_start;
  uint32_t checksum;
} sa_header;

typedef struct sa_chunk sa_chunk; /* string storage, see sa_reader.c */

/* The attached segment. It is reference counted: the handle returned by
 * shmarray_attach holds one reference, every exported Arrow structure holds
 * one; the mapping and everything decoded from it go at zero. After decode
 * nothing in it changes, so readers need no lock. */
struct shmarray_segment {
  int refs; /* __atomic */
  const uint8_t *base; /* the mapping (or caller memory for sa_decode) */
  size_t size;         /* bytes of the file, L */
  int mapped;          /* whether base must be munmap'ed */
  char *name, *path;   /* for messages */
  sa_header h;
  sa_array *arrays; /* h.array_count */
  sa_kv *kvs;       /* h.kv_count; only records some owner covers are filled */
  const sa_kv *seg_kv;
  uint32_t seg_kv_count;
  uint32_t *index; /* open-addressing table of array indexes by name, or NULL */
  size_t index_mask;
  sa_chunk *chunks; /* owned strings */
};

/* Reads the header fields of b[0, n) as format.ReadHeader: NOT_A_SEGMENT,
 * TRUNCATED or UNSUPPORTED_VERSION, messages into err. */
SA_HIDDEN int sa_read_header(const uint8_t *b, size_t n, sa_header *h, char *err, size_t err_len);

/* Structural validation (spec §11.2) of b[0, size) into seg, which must be
 * zeroed except for name and path (used in messages; may be NULL). On error
 * seg holds partial state: free it with sa_segment_free. b must stay
 * readable while seg is used. */
SA_HIDDEN int sa_decode(shmarray_segment *seg, const uint8_t *b, size_t size, char *err,
                        size_t err_len);

/* Full validation (spec §11.3) of one array. */
SA_HIDDEN int sa_validate_array(const shmarray_segment *seg, size_t index, char *err,
                                size_t err_len);

/* ---- Hash indexes (sa_index.c; format 1.1, spec §7.8) ------------------ */

/* Step 9.5a of structural validation for a record with index_kind 1 in a
 * file of minor >= 1: returns the code and writes the bare message (no
 * "shmarray: code:" prefix) into msg. */
SA_HIDDEN int sa_index_check(const sa_header *h, const sa_array *a, char *msg, size_t msg_len);

/* Step 5 of full validation (spec §11.3) of an indexed array whose offsets
 * passed step 2. */
SA_HIDDEN int sa_validate_index(const shmarray_segment *seg, size_t index, char *err,
                                size_t err_len);

/* Frees everything seg owns, unmaps it if mapped, and frees seg. */
SA_HIDDEN void sa_segment_free(shmarray_segment *seg);

SA_HIDDEN void sa_segment_ref(shmarray_segment *seg);
SA_HIDDEN void sa_segment_unref(shmarray_segment *seg);

/* Element width in bytes of a type code (fixed_size_binary: 0, see
 * byte_width), 0 for bool and the variable-length types. */
SA_HIDDEN unsigned sa_type_width(unsigned type);
/* Width of an offsets entry: 4, 8, or 0 for a type without offsets. */
SA_HIDDEN unsigned sa_offset_width(unsigned type);
/* Spec name of a type code ("int64"). */
SA_HIDDEN const char *sa_type_name(unsigned type);

/* ---- Paths (sa_reader.c) ------------------------------------------------ */

/* INVALID_ARGUMENT unless name is a valid segment name (spec §2.1). */
SA_HIDDEN int sa_check_name(const char *name, char *err, size_t err_len);
/* The directory for a call: dir if non-empty, else $SHMARRAY_DIR if
 * non-empty, else /dev/shm. Not owned by the caller. */
SA_HIDDEN const char *sa_resolve_dir(const char *dir);
/* malloc'ed path dir/name, cleaned lexically as Go's filepath.Join. */
SA_HIDDEN char *sa_join(const char *dir, const char *name);
/* open(path, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC) and fstat. Returns
 * the fd (size in *size), or -1 with errno set, or -2 when the file is not a
 * regular file. */
SA_HIDDEN int sa_open_segment(const char *path, int64_t *size);
/* Maps an errno from an operation on a segment to a code with a message, as
 * arena/errno_linux.go. */
SA_HIDDEN int sa_os_error(int errnum, const char *op, const char *name, const char *path,
                          char *err, size_t err_len);

#endif /* SA_INTERNAL_H */
