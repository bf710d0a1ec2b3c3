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
#include <sys/stat.h>
#include <sys/types.h>

#include "shmarray.h" /* a link to bindings/c/shmarray.h, so that Go's build cache sees it */

#define SA_HIDDEN __attribute__((visibility("hidden")))
#define SA_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- Layout constants of format v1.0 (spec §4, §5, §14) ---------------- */

#define SA_HEADER_SIZE 128u
/* Format 1.2 (spec §4): the header of a file of minor >= 2 is at least
 * 192 bytes and holds the segment's identity at [128, 152). */
#define SA_MINOR_IDENTITY 2u
#define SA_HEADER_SIZE_ID 192u
#define SA_ID_OFFSET 128u
#define SA_VERSION_OFFSET 144u
#define SA_ID_LEN 16u
#define SA_RECORD_SIZE 192u
#define SA_KV_RECORD_SIZE 16u
#define SA_ALIGNMENT 64u
#define SA_CHECKSUM_OFFSET 120u
#define SA_FLAG_SEALED 1u
#define SA_FLAG_EPHEMERAL 2u
#define SA_RECORD_FLAG_DATA_CRC 1u
#define SA_RECORD_FLAG_CHILD 2u /* format 1.3: the record is another record's child */
#define SA_MINOR_NESTED 3u      /* first minor version with lists and dictionaries */
#define SA_MAX_DEPTH 8u         /* deepest record under its column (spec §6.1) */
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
/* Writers' hidden temporary files (spec §10.5, §10.6) start with this. */
#define SA_TEMP_PREFIX ".shmarray-tmp-"

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

/* Bytes holding n bits, without overflow. */
static inline uint64_t sa_ceil8(uint64_t n) { return n / 8 + (n % 8 + 7) / 8; }

/* *out = x * y if that is at most 2^63 - 1 (format/decode.go mulCap). */
static inline int sa_mul_cap(uint64_t x, uint64_t y, uint64_t *out) {
  uint64_t r;
  if (__builtin_mul_overflow(x, y, &r) || r > (uint64_t)INT64_MAX) return 0;
  *out = r;
  return 1;
}

/* Offsets entry i of a variable-length array (w = 4 or 8), sign-extended
 * for i32 entries: a negative entry reads as at least 2^63. */
static inline uint64_t sa_offset_entry(const uint8_t *offs, unsigned w, uint64_t i) {
  if (w == 4) return (uint64_t)(int64_t)(int32_t)sa_le32(offs + 4 * i);
  return sa_le64(offs + 8 * i);
}

/* The bytes of slot i of a variable-length array whose offsets have not
 * been fully validated: 1 with data[*start, *end) when
 * 0 <= offsets[i] <= offsets[i+1] <= data_len (spec §7.3, §11.4), else 0;
 * messages say "slot %llu has offsets [%lld, %lld), outside the %llu-byte
 * data buffer" (BAD_OFFSETS). */
static inline int sa_slot_range(const uint8_t *offs, unsigned w, uint64_t data_len, uint64_t i,
                                uint64_t *start, uint64_t *end) {
  *start = sa_offset_entry(offs, w, i);
  *end = sa_offset_entry(offs, w, i + 1);
  return *start <= *end && *end <= data_len;
}

/* Index i of a dictionary (format 1.3, spec §6.1) whose indices have type
 * code `type` (2-9) at data: signed types sign-extended, so that a negative
 * index reads as at least 2^63 (*is_signed tells which). */
static inline uint64_t sa_dict_entry(const uint8_t *data, unsigned type, uint64_t i, int *is_signed) {
  *is_signed = type == SHMARRAY_TYPE_INT8 || type == SHMARRAY_TYPE_INT16 ||
               type == SHMARRAY_TYPE_INT32 || type == SHMARRAY_TYPE_INT64;
  switch (type) {
  case SHMARRAY_TYPE_INT8: return (uint64_t)(int64_t)(int8_t)data[i];
  case SHMARRAY_TYPE_UINT8: return data[i];
  case SHMARRAY_TYPE_INT16: return (uint64_t)(int64_t)(int16_t)sa_le16(data + 2 * i);
  case SHMARRAY_TYPE_UINT16: return sa_le16(data + 2 * i);
  case SHMARRAY_TYPE_INT32: return (uint64_t)(int64_t)(int32_t)sa_le32(data + 4 * i);
  case SHMARRAY_TYPE_UINT32: return sa_le32(data + 4 * i);
  default: return sa_le64(data + 8 * i);
  }
}

/* Bit i of an LSB-first bitmap (spec §7.2). */
static inline int sa_bit(const uint8_t *bm, uint64_t i) { return bm[i >> 3] >> (i & 7) & 1; }

/* FNV-1a of a name, for the private open-addressing tables of names and
 * keys (not the index hash of spec §7.8.2). */
#define SA_FNV_OFFSET 0xCBF29CE484222325ull
#define SA_FNV_PRIME 0x00000100000001B3ull

/* FNV-1a over n bytes from h (SA_FNV_OFFSET to start). */
static inline uint64_t sa_fnv1a(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * SA_FNV_PRIME;
  return h;
}

static inline uint64_t sa_name_hash(const void *p, size_t n) { return sa_fnv1a(SA_FNV_OFFSET, p, n); }

/* Smallest power of two >= 2n (at least 8): a table at most half full. */
static inline size_t sa_table_size(size_t n) {
  size_t cap = 8;
  while (cap < 2 * n) cap *= 2;
  return cap;
}

/* ---- Types (sa_types.c, spec §6) --------------------------------------- */

SA_HIDDEN int sa_type_known(unsigned type);    /* codes 1-24 */
/* list, large_list, dictionary (format 1.3, spec §6.1): a child record. */
SA_HIDDEN int sa_type_nested(unsigned type);
/* 4 for list, 8 for large_list, else 0: offsets entries that index slots of
 * the child record. */
SA_HIDDEN unsigned sa_list_offset_width(unsigned type);
SA_HIDDEN int sa_type_timed(unsigned type);    /* timestamp, duration */
SA_HIDDEN int sa_type_numeric(unsigned type);  /* integers and floats: may be N-D */
SA_HIDDEN int sa_type_indexable(unsigned type); /* may carry a hash index (§7.8) */
/* Element width in bytes of a type code (fixed_size_binary: 0, see
 * byte_width), 0 for bool and the variable-length types. */
SA_HIDDEN unsigned sa_type_width(unsigned type);
/* Width of an offsets entry: 4, 8, or 0 for a type without offsets. */
SA_HIDDEN unsigned sa_offset_width(unsigned type);
/* Spec name of a type code ("int64"); "unknown" for an unknown code. */
SA_HIDDEN const char *sa_type_name(unsigned type);

/* ---- Text (sa_text.c) --------------------------------------------------- */

SA_HIDDEN int sa_is_ascii(const uint8_t *p, size_t n);
/* The well-formed UTF-8 sequence of 2 to 4 bytes at p[0, n) (its first byte
 * not ASCII): its length, with its code point in *cp; 0 if there is none. */
SA_HIDDEN size_t sa_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp);
/* Well-formed UTF-8 (spec §5.3, Go's utf8.Valid). */
SA_HIDDEN int sa_utf8_valid(const uint8_t *p, size_t n);
/* UTF-8 without NUL: the rule for every string of the string table. */
SA_HIDDEN int sa_text_ok(const char *s, size_t n);

/* Names and keys in messages are quoted the same way in every language
 * (format/text.go): in double quotes, printable ASCII as itself except '"'
 * and '\\', which get a backslash, well-formed UTF-8 sequences as themselves,
 * every other byte as \xHH; at most `max` bytes of s, then "..." after the
 * closing quote if s is longer. Names are shown up to SA_QUOTE_NAME bytes,
 * index keys up to SA_QUOTE_KEY. buf needs SA_QUOTE_LEN(max) bytes; returns
 * buf. */
#define SA_QUOTE_NAME 256u
#define SA_QUOTE_KEY 64u
#define SA_QUOTE_LEN(max) (4u * (max) + 16u)
SA_HIDDEN const char *sa_quote(const void *s, size_t n, size_t max, char *buf, size_t len);

/* The text form of a segment id (spec §4): 32 lowercase hex digits and a
 * NUL into buf, which needs SA_ID_HEX_LEN bytes; returns buf. */
#define SA_ID_HEX_LEN 33u
SA_HIDDEN const char *sa_id_hex(const uint8_t id[SA_ID_LEN], char buf[SA_ID_HEX_LEN]);

/* ---- Errors (sa_errors.c) ---------------------------------------------- */

/* Writes "shmarray: <code text>: <message>" into err (if err is not NULL and
 * err_len > 0), NUL-terminated and truncated to err_len bytes, and returns
 * code. */
SA_HIDDEN int sa_fail(int code, char *err, size_t err_len, const char *fmt, ...) SA_PRINTF(4, 5);

/* The lower-case text of a code ("not found"), as format/errors.go. */
SA_HIDDEN const char *sa_code_text(int code);

/* sa_fail for one array: "segment "S": array "N": <message>", without the
 * segment part when seg_name is NULL, the bare message when name is. */
SA_HIDDEN int sa_array_fail(int code, const char *seg_name, const char *name, size_t name_len,
                            char *err, size_t err_len, const char *fmt, ...) SA_PRINTF(7, 8);
/* BAD_OFFSETS for slot i whose offsets [start, end) fail sa_slot_range. */
SA_HIDDEN int sa_slot_fail(const char *seg_name, const char *name, size_t name_len, uint64_t i,
                           uint64_t start, uint64_t end, uint64_t data_len, char *err,
                           size_t err_len);

/* The message of err without its "shmarray: <code text>: " prefix. */
SA_HIDDEN const char *sa_bare_message(int code, const char *err);

/* What messages name as the fix, per binding: the C library names its own
 * functions; the Python extension sets the Python names at import. */
typedef struct sa_fix_names {
  const char *list;         /* listing segments: "shmarray_list" */
  const char *export_array; /* exporting one array: "shmarray_export_array" */
  const char *owners;       /* trusting an owner: "shmarray_attach_options.owners" */
} sa_fix_names;
SA_HIDDEN extern sa_fix_names sa_fix;

/* ---- CRC-32 (sa_crc32.c): zlib / IEEE 802.3, spec §9.1 ----------------- */

/* Continues crc (0 to start) over p[0, n): sa_crc32(sa_crc32(0, a), b) is
 * the CRC of a followed by b, like zlib's crc32(). */
SA_HIDDEN uint32_t sa_crc32(uint32_t crc, const void *p, size_t n);

/* ---- Decoded segment (sa_decode.c) -------------------------------------- */

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
  uint8_t dict_index; /* dictionary (1.3): the type code of its indices */
  uint32_t child;     /* list, large_list, dictionary (1.3): the child record, else 0 */
  int is_child;       /* 1.3: some record names this one as its child (flag CHILD) */
  uint32_t parent;    /* that record, when is_child */
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
  /* The identity (minor >= 2, spec §4); zero in an older file. */
  uint8_t id[SA_ID_LEN];
  uint64_t version;
} sa_header;

typedef struct sa_chunk sa_chunk; /* string storage, see sa_decode.c */

/* The attached segment. It is reference counted: the handle returned by
 * shmarray_attach holds one reference, every exported Arrow structure holds
 * one; the mapping goes when the last reference does. A binding may also
 * pin the decoded directory alone (sa_segment_pin), which then outlives the
 * mapping; the structure is freed once neither remains. After decode
 * nothing in it changes, so readers need no lock. */
struct shmarray_segment {
  int refs;  /* users of the mapping (and of the directory); __atomic */
  int total; /* refs + pins; __atomic */
  const uint8_t *base; /* the mapping (or caller memory for sa_decode) */
  size_t size;         /* bytes of the file, L */
  int mapped;          /* whether base must be munmap'ed */
  char *name, *path;   /* for messages; path is dir/name */
  char *dir;           /* the directory, absolute and cleaned (spec §2.2); NULL for sa_decode */
  uint32_t owner_uid, mode; /* st_uid and permission bits of the descriptor attached */
  uint64_t dev, ino;        /* st_dev and st_ino of the file mapped (shmarray_is_current) */
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
 * TRUNCATED or UNSUPPORTED_VERSION, messages into err. The identity is
 * read only when minor >= 2, header_size >= 192 and n >= 192 (else zero). */
SA_HIDDEN int sa_read_header(const uint8_t *b, size_t n, sa_header *h, char *err, size_t err_len);

/* Structural validation (spec §11.2) of b[0, size) into seg, which must be
 * zeroed except for name and path (used in messages; may be NULL). On error
 * seg holds partial state: free it with sa_segment_free. seg->base becomes
 * b, which must stay readable while seg is used (views point into it). The
 * header and the metadata area are copied into private memory first and
 * decoded from the copy, as sa_decode_fd reads them (one code path). */
SA_HIDDEN int sa_decode(shmarray_segment *seg, const uint8_t *b, size_t size, char *err,
                        size_t err_len);
/* The same for the file open as fd, of size bytes (fstat): the header and
 * the metadata area are read with pread into private memory and decoded
 * from there, never from a mapping, so a file truncated meanwhile is
 * TRUNCATED ("the file shrank while it was being read"), never a SIGBUS.
 * Reads nothing else: the data area is not touched. seg->base is left for
 * the caller to set (the mapping made afterwards). */
SA_HIDDEN int sa_decode_fd(shmarray_segment *seg, int fd, uint64_t size, char *err,
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

/* The index of one array, resolved for lookups. It points into the mapping
 * (or the caller's buffers, for shmarray_lookup_view) and owns nothing. */
typedef struct sa_ix {
  const char *seg_name, *name; /* for messages; either may be NULL */
  unsigned type;
  uint64_t length;
  const uint8_t *offs; /* variable-length types */
  unsigned ow;         /* 4 or 8, 0 for fixed width */
  const uint8_t *data;
  uint64_t data_len;
  const uint8_t *validity; /* NULL when no row is null */
  uint64_t width;          /* bytes per value: byte_width or the integer width */
  int ints, is_signed;
  const uint8_t *table;
  unsigned w; /* bytes per slot */
  uint64_t mask;
} sa_ix;

/* The hash of spec §7.8.2 of the key bytes p[0, n). */
SA_HIDDEN uint64_t sa_index_hash(const void *p, size_t n);

/* *x for array `index` of seg; INVALID_ARGUMENT if it has no hash index. */
SA_HIDDEN int sa_ix_open(const shmarray_segment *seg, size_t index, sa_ix *x, char *err,
                         size_t err_len);

/* One query (spec §7.8.4): *row is the row holding it, or -1. Errors only
 * for a table full validation would reject (OUT_OF_BOUNDS, BAD_OFFSETS). */
SA_HIDDEN int sa_ix_find_bytes(const sa_ix *x, const uint8_t *q, size_t n, int64_t *row,
                               char *err, size_t err_len);
/* An integer query: v as a signed (is_signed_query) or unsigned 64-bit
 * integer; a value the key type cannot hold is not found. */
SA_HIDDEN int sa_ix_find_int(const sa_ix *x, uint64_t v, int is_signed_query, int64_t *row,
                             char *err, size_t err_len);

/* Key layout of the bindings only (not in shmarray.h): data is an array of
 * count sa_slice, a NULL p being a null key. */
#define SA_KEYS_SLICES 100u
typedef struct sa_slice {
  const uint8_t *p;
  size_t n;
} sa_slice;

/* A batch lookup (shmarray_lookup) over x. */
SA_HIDDEN int sa_ix_lookup(const sa_ix *x, const shmarray_keys *keys, int64_t *rows, char *err,
                           size_t err_len);

/* Frees everything seg owns, unmaps it if mapped, and frees seg. */
SA_HIDDEN void sa_segment_free(shmarray_segment *seg);

/* A reference: the mapping and the directory stay until its unref. */
SA_HIDDEN void sa_segment_ref(shmarray_segment *seg);
SA_HIDDEN void sa_segment_unref(shmarray_segment *seg);
/* A pin, taken while holding a reference or a pin: the decoded directory
 * (header, arrays, names, metadata) stays until its unpin, the mapping
 * only as long as some reference does. */
SA_HIDDEN void sa_segment_pin(shmarray_segment *seg);
SA_HIDDEN void sa_segment_unpin(shmarray_segment *seg);
/* A new segment structure holding one reference; NULL without memory. */
SA_HIDDEN shmarray_segment *sa_segment_new(void);

/* ---- Names and paths (sa_attach.c) ------------------------------------- */

/* INVALID_ARGUMENT unless name is a valid segment name (spec §2.1). */
SA_HIDDEN int sa_check_name(const char *name, char *err, size_t err_len);
/* The directory for a call: dir if non-empty, else $SHMARRAY_DIR if
 * non-empty, else /dev/shm. Not owned by the caller. */
SA_HIDDEN const char *sa_resolve_dir(const char *dir);
/* malloc'ed path dir/name, cleaned lexically as Go's filepath.Join. */
SA_HIDDEN char *sa_join(const char *dir, const char *name);
/* malloc'ed absolute, cleaned path of dir: resolved against the working
 * directory when relative (Go's filepath.Abs); NULL with errno set. */
SA_HIDDEN char *sa_abs_path(const char *dir);
/* Maps an errno from an operation on a segment to a code with a message, as
 * arena/errno_linux.go. */
SA_HIDDEN int sa_os_error(int errnum, const char *op, const char *name, const char *path,
                          char *err, size_t err_len);

/* ---- Directory-relative operations (sa_dir.c, spec §2.2, §10.5, §15) --- */

/* An open segment directory, as arena/dirfd_linux.go's dirHandle: the path
 * is resolved once, when it is opened, and every later step reaches the
 * directory's entries only through fd (openat, fstatat, unlinkat), so a
 * path renamed or swapped for a link meanwhile changes nothing for the
 * call that holds it. */
typedef struct sa_dir {
  int fd;     /* -1 when closed */
  char *path; /* absolute and cleaned (malloc'ed): messages, a segment's dir */
  int self_known;              /* 1: self_* read by sa_dir_entitled; -1: fstat failed */
  uint32_t self_uid, self_mode; /* the directory's own owner and mode */
} sa_dir;

#define SA_FOLLOW_DIR_LINK 1 /* reading and listing: follow a link as the last component */
#define SA_REFUSE_DIR_LINK 0 /* removing: refuse it (O_NOFOLLOW) */

/* Opens dir (resolved by sa_resolve_dir) into *d: open(abs, O_RDONLY |
 * O_DIRECTORY | O_CLOEXEC), with O_NOFOLLOW for SA_REFUSE_DIR_LINK, which
 * makes a symbolic link as the last component INVALID_ARGUMENT ("pass the
 * directory itself"). Other errors as sa_os_error for op on segment name
 * ("*" for a whole directory), naming the directory as given. *d is closed
 * (fd -1) on error. */
SA_HIDDEN int sa_dir_open(sa_dir *d, const char *dir, int follow, const char *op,
                          const char *name, char *err, size_t err_len);
SA_HIDDEN void sa_dir_close(sa_dir *d);

/* The regular files of d (DT_UNKNOWN resolved with fstatat, links and
 * other types left out), read through a new descriptor openat(fd, "."):
 * *names is a malloc'ed array of *count malloc'ed names, freed with
 * sa_names_free. -1 with errno on error. */
SA_HIDDEN int sa_dir_files(const sa_dir *d, char ***names, size_t *count);
SA_HIDDEN void sa_names_free(char **names, size_t count);

/* openat(d->fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) and
 * fstat into *st. Returns the descriptor, or -1 with errno set, or
 * SA_NOT_REGULAR (descriptor closed) when it is not a regular file. */
#define SA_NOT_REGULAR (-2)
SA_HIDDEN int sa_dir_open_entry(const sa_dir *d, const char *name, struct stat *st);

/* Unlinks name from d only if fstatat(AT_SYMLINK_NOFOLLOW) still finds the
 * file checked (st_dev and st_ino of *checked), then unlinkat(fd, name, 0).
 * 0, or -1 with errno (ENOENT: gone), or SA_CHANGED: the name now holds
 * another file, which is left alone. */
#define SA_CHANGED (-2)
SA_HIDDEN int sa_dir_remove(const sa_dir *d, const char *name, const struct stat *checked);

/* Whether the caller may remove the entry whose file is *st by the rule of
 * a directory with the sticky bit: root, the file's owner or the
 * directory's owner; in a directory without it, anyone (unlinkat decides).
 * gc skips what it is not entitled to remove (spec §10.5). */
SA_HIDDEN int sa_dir_entitled(sa_dir *d, const struct stat *st);

/* ---- Creators across pid namespaces (sa_proc.c, spec §10.5) ------------ */

#define SA_CREATOR_ALIVE 0   /* a process with the pid runs, with its start time where known */
#define SA_CREATOR_GONE 1    /* proven gone in this pid namespace and every one below it */
#define SA_CREATOR_UNKNOWN 2 /* cannot be judged from here: never taken for dead */

/* What one list or gc call has read of /proc, read lazily and at most once
 * per step (arena/proc_linux.go procView). Zero it to start; free it with
 * sa_procview_free. */
typedef struct sa_nested_pid {
  uint32_t pid;   /* innermost pid (last NSpid entry) */
  uint64_t start; /* start time, 0 if unreadable */
} sa_nested_pid;

typedef struct sa_procview {
  int checked, consistent, init_known;
  uint64_t init_start;
  int nested_read, nested_complete; /* complete: every entry of /proc was read */
  sa_nested_pid *nested;
  size_t nested_count;
} sa_procview;

/* Judges the creator recorded as pid, started at start (clock ticks since
 * boot, 0 if not recorded): SA_CREATOR_*. */
SA_HIDDEN int sa_creator(sa_procview *v, uint32_t pid, uint64_t start);
SA_HIDDEN void sa_procview_free(sa_procview *v);

/* ---- Listing and gc (sa_list.c) ---------------------------------------- */

/* One file found by listing or removed by gc: the entry of shmarray_list,
 * and the message of its status ("" when OK). */
typedef struct sa_listed {
  shmarray_list_entry e;
  int temp;          /* a fallback writer's hidden temporary file (gc only) */
  char message[512]; /* "shmarray: <code>: ..." when e.status is not OK */
} sa_listed;

/* The segments of dir sorted by name; *out is malloc'ed (NULL when none).
 * *abs_dir, if abs_dir is not NULL, receives the directory's absolute path
 * (malloc'ed) on success. */
SA_HIDDEN int sa_list_dir(const char *dir, sa_listed **out, size_t *count, char **abs_dir,
                          char *err, size_t err_len);

/* A file gc meant to remove and could not: its code and message, which
 * names it. */
typedef struct sa_gc_failure {
  int code;
  char message[1024];
} sa_gc_failure;

/* What one gc did. Every pointer is malloc'ed (NULL when empty); free with
 * sa_gc_result_free. */
typedef struct sa_gc_result {
  char *dir;          /* the directory, absolute (NULL if it could not be opened) */
  sa_listed *removed; /* what it removed (or would): the orphans, then the
                         temporary files, each sorted by name */
  size_t count;
  sa_gc_failure *failures; /* in the order met */
  size_t failure_count;
} sa_gc_result;

/* shmarray_gc with everything it did in *r (arena.GC): it goes on past a
 * file it cannot remove. Returns OK, the error of opening or reading the
 * directory (nothing done), or the code of the first failure, with every
 * failure's message in err, one per line (Go's errors.Join). */
SA_HIDDEN int sa_gc_dir(const char *dir, int dry_run, sa_gc_result *r, char *err,
                        size_t err_len);
SA_HIDDEN void sa_gc_result_free(sa_gc_result *r);

#endif /* SA_INTERNAL_H */
