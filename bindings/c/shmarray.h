/*
 * shmarray.h — the C ABI of libshmarray.so. Hand-written; this file, not the
 * header cgo generates, is the ABI of record. C99.
 *
 * Two halves with different rules:
 *
 *  - Reading (attach, enumerate, view, validate, export to Arrow, list,
 *    unlink) is plain C compiled into the library. It never enters the Go
 *    runtime, so it works in any process, including a child made by fork()
 *    after the parent used the writing half.
 *
 *  - Writing (create, add, publish) runs Go code. A Go runtime does not
 *    survive fork(): in a child of a process that loaded this library these
 *    calls return SHMARRAY_FORKED at once instead of hanging. Create segments
 *    before forking, or in a process started with exec (spawn).
 *
 * Errors: every function that can fail returns an int code from the table
 * below (spec/format-v1.md §13), SHMARRAY_OK (0) on success. Functions that
 * take `char *err, size_t err_len` also write a NUL-terminated message naming
 * the problem and the fix into err (truncated to err_len bytes); err may be
 * NULL. Output parameters are written only on success. No Go panic crosses
 * this boundary: it becomes SHMARRAY_INTERNAL.
 *
 * Threads: distinct handles may be used from distinct threads; one handle
 * must not be used concurrently with shmarray_close / discard / publish of it.
 */
#ifndef SHMARRAY_H
#define SHMARRAY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versions ---------------------------------------------------------- */

#define SHMARRAY_FORMAT_MAJOR 1
#define SHMARRAY_FORMAT_MINOR 3

/* Library version, e.g. "0.2.0" (the file VERSION of the source tree).
 * Static storage. */
const char *shmarray_version(void);
/* Format version this library writes and reads: (major << 16) | minor. */
uint32_t shmarray_format_version(void);

/* ---- Error codes (spec §13) -------------------------------------------- */

#define SHMARRAY_OK                  0
#define SHMARRAY_INVALID_ARGUMENT    1
#define SHMARRAY_NOT_FOUND           2
#define SHMARRAY_EXISTS              3
#define SHMARRAY_NO_SPACE            4
#define SHMARRAY_PERMISSION_DENIED   5
#define SHMARRAY_NOT_A_SEGMENT       6
#define SHMARRAY_UNSUPPORTED_VERSION 7
#define SHMARRAY_TRUNCATED           8
#define SHMARRAY_NOT_SEALED          9
#define SHMARRAY_CHECKSUM_MISMATCH   10
#define SHMARRAY_OUT_OF_BOUNDS       11
#define SHMARRAY_MISALIGNED          12
#define SHMARRAY_BAD_TYPE            13
#define SHMARRAY_BAD_SHAPE           14
#define SHMARRAY_BAD_SIZE            15
#define SHMARRAY_BAD_OFFSETS         16
#define SHMARRAY_BAD_UTF8            17
#define SHMARRAY_DUPLICATE_NAME      18
#define SHMARRAY_CLOSED              19
#define SHMARRAY_FORKED              20
#define SHMARRAY_IO_ERROR            21
#define SHMARRAY_INTERNAL            22
/* STALE: the name no longer holds the version the caller named (a pinned
 * attach, a conditional replace, shmarray_unlink_version). */
#define SHMARRAY_STALE               23

/* The spec name of a code ("NOT_FOUND"), or "UNKNOWN". Static storage. */
const char *shmarray_error_name(int code);

/* ---- Types (spec §6) --------------------------------------------------- */

#define SHMARRAY_TYPE_BOOL              1
#define SHMARRAY_TYPE_INT8              2
#define SHMARRAY_TYPE_UINT8             3
#define SHMARRAY_TYPE_INT16             4
#define SHMARRAY_TYPE_UINT16            5
#define SHMARRAY_TYPE_INT32             6
#define SHMARRAY_TYPE_UINT32            7
#define SHMARRAY_TYPE_INT64             8
#define SHMARRAY_TYPE_UINT64            9
#define SHMARRAY_TYPE_FLOAT16           10
#define SHMARRAY_TYPE_FLOAT32           11
#define SHMARRAY_TYPE_FLOAT64           12
#define SHMARRAY_TYPE_UTF8              13
#define SHMARRAY_TYPE_LARGE_UTF8        14
#define SHMARRAY_TYPE_BINARY            15
#define SHMARRAY_TYPE_LARGE_BINARY      16
#define SHMARRAY_TYPE_FIXED_SIZE_BINARY 17
#define SHMARRAY_TYPE_DATE32            18
#define SHMARRAY_TYPE_DATE64            19
#define SHMARRAY_TYPE_TIMESTAMP         20
#define SHMARRAY_TYPE_DURATION          21
/* Format 1.3 (spec §6.1): a record of these types names a child record
 * (shmarray_array_info.child) holding the list's values or the dictionary's
 * values; children are records of their own, marked is_child. */
#define SHMARRAY_TYPE_LIST              22
#define SHMARRAY_TYPE_LARGE_LIST        23
#define SHMARRAY_TYPE_DICTIONARY        24

#define SHMARRAY_UNIT_SECOND      0
#define SHMARRAY_UNIT_MILLISECOND 1
#define SHMARRAY_UNIT_MICROSECOND 2
#define SHMARRAY_UNIT_NANOSECOND  3

#define SHMARRAY_MAX_NDIM 8

/* ---- Arrow C Data Interface (the canonical Arrow definitions) ----------- */

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char *format;
  const char *name;
  const char *metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema **children;
  struct ArrowSchema *dictionary;
  void (*release)(struct ArrowSchema *);
  void *private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void **buffers;
  struct ArrowArray **children;
  struct ArrowArray *dictionary;
  void (*release)(struct ArrowArray *);
  void *private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
  int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
  const char *(*get_last_error)(struct ArrowArrayStream *);
  void (*release)(struct ArrowArrayStream *);
  void *private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

/* ==== Reading: plain C, safe after fork() ================================ */

/* An attached segment: a read-only mapping of the whole file. */
typedef struct shmarray_segment shmarray_segment;

/*
 * Attach the published segment `name` in `dir` (NULL or "": $SHMARRAY_DIR,
 * else /dev/shm): open the directory once and the name relative to it
 * (O_NOFOLLOW | O_NONBLOCK), read the header and the metadata area with
 * pread into private memory and check them there (header, checksum, every
 * directory record, spec §11.2), then map the file read-only. O(arrays),
 * never touches data pages. A file truncated while it is being attached is
 * TRUNCATED, never a crash (what a reader can promise once the file is
 * mapped is in spec §15). It is shmarray_attach_with without an owner
 * check. On success *out is a handle to release with shmarray_close.
 * Errors: INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, IO_ERROR, and the
 * invalid-segment codes 6..18.
 */
int shmarray_attach(const char *name, const char *dir, shmarray_segment **out,
                    char *err, size_t err_len);

/* Options of shmarray_attach_with; all zero is shmarray_attach. */
typedef struct shmarray_attach_options {
  const char *dir;        /* NULL or "": $SHMARRAY_DIR, else /dev/shm */
  const uint32_t *owners; /* owner_count trusted uids, read during the call */
  size_t owner_count;     /* 0: no owner check */
  const uint8_t *pin_id;  /* NULL: attach whatever version the name holds;
                             else 16 bytes: the id of the one version to
                             attach (see shmarray_attach_with) */
  uint64_t pin_version;   /* with pin_id: that version's number (messages) */
} shmarray_attach_options;

/*
 * shmarray_attach with options (opts may be NULL). With owner_count > 0 a
 * file whose owner (st_uid from fstat of the opened descriptor, not of the
 * path) is not among owners is refused with PERMISSION_DENIED before
 * anything is mapped: a segment's owner can rewrite or truncate it under
 * its readers (spec §15), so list only users you trust, typically
 * geteuid(). Errors: as shmarray_attach; INVALID_ARGUMENT if owners is NULL
 * with owner_count > 0.
 */
int shmarray_attach_with(const char *name, const shmarray_attach_options *opts,
                         shmarray_segment **out, char *err, size_t err_len);
/* With pin_id set, the attach succeeds only if the name holds exactly that
 * version (same id and version); otherwise STALE, nothing attached, with a
 * message naming the version wanted and the one the name holds now (or
 * that no segment has the name now). This is how a handle passed to
 * another process (a pickled segment) reads the version it named and never
 * another one; attach by name without a pin to follow the latest. */

/* ---- Identity and versions (format 1.2, spec §4) ------------------------
 * Every segment published by a 1.2 writer has a random 16-byte id and a
 * version: 1 at the first publish under a name, +1 at each replace. A file
 * of an older minor version has neither (id all zero, version 0). */

/* The id and version of the attached segment, read at attach. Either
 * pointer may be NULL. INVALID_ARGUMENT if seg is NULL. */
int shmarray_identity(const shmarray_segment *seg, uint8_t id[16], uint64_t *version);

/* Whether the segment's name (in the directory it was attached from) still
 * holds the file that was mapped: one stat of the path (fstatat, no link
 * followed) compared with the mapped file's st_dev and st_ino. *current
 * becomes 1 if so, 0 if the name holds another file or none (replaced or
 * unlinked). It does not read the file. Errors: INVALID_ARGUMENT (NULL
 * arguments), PERMISSION_DENIED, IO_ERROR. */
int shmarray_is_current(const shmarray_segment *seg, int *current, char *err, size_t err_len);

/*
 * Attach the segment file open as `fd` (any descriptor open for reading; it
 * is read with pread and mapped, never closed or kept), as shmarray_attach
 * attaches the file it opens: the same checks, no owner check, no pin.
 * `name` and `dir` (NULL or "": $SHMARRAY_DIR, else /dev/shm) say where the
 * file is published, for messages and shmarray_is_current. It is how a writer reads exactly the file it
 * published (shmarray_builder_publish_with's fd), even if another process
 * replaced it under the name at once. Nothing is looked up by name.
 * Errors: INVALID_ARGUMENT (name, a closed fd), NOT_A_SEGMENT and the other
 * invalid-segment codes. */
int shmarray_attach_fd(int fd, const char *name, const char *dir, shmarray_segment **out,
                       char *err, size_t err_len);

/* The owner (st_uid) and permission bits (st_mode & 0777) of the file when
 * it was attached, from fstat of the descriptor that was mapped. Either
 * pointer may be NULL. INVALID_ARGUMENT if seg is NULL. */
int shmarray_owner(const shmarray_segment *seg, uint32_t *uid, uint32_t *mode);

/*
 * Release the handle. The mapping is unmapped once no Arrow structure
 * exported from it is alive (each holds a reference). Pointers obtained
 * through shmarray_describe / shmarray_array_view / shmarray_metadata die
 * here. Never unlinks. NULL is ignored.
 */
void shmarray_close(shmarray_segment *seg);

/* Number of arrays: every directory record, the children of lists and
 * dictionaries (format 1.3, shmarray_array_info.is_child) included. */
size_t shmarray_array_count(const shmarray_segment *seg);

/* Description of one array. Strings are NUL-terminated and owned by the
 * handle (valid until shmarray_close). */
typedef struct shmarray_array_info {
  const char *name;
  size_t name_length; /* bytes, without the NUL */
  uint32_t type;      /* SHMARRAY_TYPE_* */
  uint32_t time_unit; /* SHMARRAY_UNIT_*: timestamp and duration */
  uint32_t byte_width;/* fixed_size_binary: bytes per value; else 0 */
  uint32_t ndim;      /* 1 for a plain array */
  const char *timezone; /* timestamp only; "" when none */
  int64_t length;     /* slots = shape[0] */
  int64_t null_count;
  int64_t shape[SHMARRAY_MAX_NDIM]; /* shape[0..ndim) */
  size_t metadata_count;            /* key/value pairs of this array */
} shmarray_array_info;

/* INVALID_ARGUMENT if index >= shmarray_array_count(seg). */
int shmarray_describe(const shmarray_segment *seg, size_t index,
                      shmarray_array_info *out);

/* How an array takes part in lists and dictionaries (format 1.3, spec
 * §6.1); all zero for a plain column. A separate call, so that
 * shmarray_array_info keeps its size for programs built before 1.3. */
typedef struct shmarray_tree_info {
  uint32_t index_type; /* dictionary: SHMARRAY_TYPE_INT8..UINT64 of its indices; else 0 */
  int is_child;        /* 1: the values of another record (list values, a
                          dictionary's values), not a column; its name may be "" */
  size_t child;        /* list, large_list, dictionary: the index of its child
                          record (always after it); else 0 */
  size_t parent;       /* is_child: the index of the record naming it; else 0 */
} shmarray_tree_info;

/* INVALID_ARGUMENT if index >= shmarray_array_count(seg). */
int shmarray_describe_tree(const shmarray_segment *seg, size_t index,
                           shmarray_tree_info *out);

/* Index of the column called `name` (NUL-terminated); NOT_FOUND if none.
 * Children (is_child) are not found by name. */
int shmarray_find_array(const shmarray_segment *seg, const char *name,
                        size_t *index);

/* The buffers of one array, pointing into the read-only mapping (valid until
 * shmarray_close). An absent buffer is NULL with length 0: validity is NULL
 * when the array has no bitmap, offsets is NULL for fixed-width types and
 * may be NULL for an empty variable-length array. Layout: spec §7. */
typedef struct shmarray_view {
  const uint8_t *validity;
  size_t validity_length;
  const void *offsets; /* int32_t[length+1] or int64_t[length+1] */
  size_t offsets_length;
  const void *data;
  size_t data_length;
} shmarray_view;

int shmarray_array_view(const shmarray_segment *seg, size_t index,
                        shmarray_view *out);

/* Format 1.3 (spec §6.1), reading one slot without full validation:
 * shmarray_list_slot gives the child slots [*start, *end) of slot `slot` of
 * the list or large_list array `index`, checked against the child's length
 * (BAD_OFFSETS otherwise; a null slot gives its stored, checked range,
 * normally empty); shmarray_dictionary_slot gives the index into the
 * dictionary (the child) of slot `slot` of a dictionary array, checked
 * against the dictionary's length (OUT_OF_BOUNDS), or -1 for a null slot.
 * INVALID_ARGUMENT for another type or a slot out of range. */
int shmarray_list_slot(const shmarray_segment *seg, size_t index, int64_t slot,
                       int64_t *start, int64_t *end, char *err, size_t err_len);
int shmarray_dictionary_slot(const shmarray_segment *seg, size_t index, int64_t slot,
                             int64_t *value, char *err, size_t err_len);

/* Key/value metadata pair `i` of array `array_index`, or of the segment when
 * array_index is SHMARRAY_SEGMENT_METADATA. Strings are NUL-terminated,
 * owned by the handle. INVALID_ARGUMENT when out of range. */
#define SHMARRAY_SEGMENT_METADATA ((size_t)-1)
size_t shmarray_metadata_count(const shmarray_segment *seg, size_t array_index);
int shmarray_metadata(const shmarray_segment *seg, size_t array_index, size_t i,
                      const char **key, const char **value);

/* Full validation (spec §11.3): null counts, offsets, UTF-8, data checksums,
 * hash indexes. Reads every data page. OK, or the first failing check's code.
 * Like every read of the mapping, it raises SIGBUS if the file's owner
 * truncated the file after attach (spec §15); the library installs no signal
 * handler. */
int shmarray_validate(const shmarray_segment *seg, char *err, size_t err_len);

/* ---- Hash index lookups (format 1.1, spec §7.8) -------------------------
 * An array may carry a hash index over its values (built at create time:
 * shmarray_builder_add_index). Lookups are plain C, allocate nothing and
 * read only the mapped pages, so they work in forked children. */

/* 1 if array `index` has a hash index, else 0. */
int shmarray_has_index(const shmarray_segment *seg, size_t index);

/* Keys to look up, in one of these layouts (`kind`). Strings are compared
 * by their bytes; integers by value, so any integer key type can be looked
 * up with INT64 or UINT64 keys (a key the array's type cannot hold, such
 * as -1 in a uint32 array, is not found). */
#define SHMARRAY_KEYS_STRINGS32 1 /* offsets: int32_t[count + 1], data: the bytes
                                     they index (Arrow utf8/binary); offsets[0]
                                     may be > 0 */
#define SHMARRAY_KEYS_STRINGS64 2 /* the same with int64_t offsets (Arrow large_*) */
#define SHMARRAY_KEYS_FIXED     3 /* data: count keys of `width` bytes each */
#define SHMARRAY_KEYS_UTF32     4 /* data: count keys of `width` UTF-32 code points
                                     each (NumPy 'U'), trailing NULs not part of
                                     the key; compared by their UTF-8 */
#define SHMARRAY_KEYS_INT64     5 /* data: int64_t[count] */
#define SHMARRAY_KEYS_UINT64    6 /* data: uint64_t[count] */

typedef struct shmarray_keys {
  uint32_t kind;            /* SHMARRAY_KEYS_* */
  uint32_t width;           /* FIXED: bytes per key; UTF32: code points per key */
  size_t count;             /* number of keys */
  const void *offsets;      /* STRINGS32/64 */
  const void *data;         /* see kind */
  const uint8_t *validity;  /* NULL, or 1 bit per key from bit validity_offset,
                               LSB first; 0 = a null key, never found */
  uint64_t validity_offset;
  size_t data_length;       /* STRINGS32/64: bytes at data; a key whose offsets
                               leave [0, data_length] is INVALID_ARGUMENT (the
                               offsets are never trusted) */
} shmarray_keys;

/*
 * Look up keys->count keys in the hash index of array `array_index`:
 * rows_out[i] (count entries, caller-allocated) becomes the row holding key
 * i, or -1 if no row does (null keys, keys of the wrong width for a
 * fixed_size_binary array, integers out of the key type's range). Keys are
 * processed in small batches with their memory accesses overlapped; the
 * call reads only the array's buffers and the caller's keys.
 * Errors: INVALID_ARGUMENT (no index; integer keys for a string index or the
 * reverse; a NULL or malformed keys, such as string keys whose offsets leave
 * their data), and, for an index that full
 * validation would reject, OUT_OF_BOUNDS or BAD_OFFSETS — never a read
 * outside the array's checked buffers. On error rows_out is unspecified.
 */
int shmarray_lookup(const shmarray_segment *seg, size_t array_index,
                    const shmarray_keys *keys, int64_t *rows_out,
                    char *err, size_t err_len);

/* The index of one array as plain pointers, for callers that map segments
 * themselves (the Python binding does): lookups then need no handle. */
typedef struct shmarray_index_view {
  uint32_t type;          /* SHMARRAY_TYPE_* of the array */
  uint32_t byte_width;    /* fixed_size_binary */
  int64_t length;         /* rows */
  const void *offsets;    /* variable-length types: the offsets buffer */
  size_t offsets_length;  /* its bytes */
  const void *data;       /* the data buffer */
  size_t data_length;     /* its bytes */
  const void *table;      /* 2^log2 slots of slot_width bytes (spec §7.8.3) */
  uint32_t slot_width;    /* 4 or 8 */
  uint32_t log2;
  const uint8_t *validity; /* NULL when the array has no null, else its
                              validity bitmap (ceil(length/8) bytes): a slot
                              naming a null row never matches (§7.8.4) */
} shmarray_index_view;

/* Fill *out for array `index` (pointers into the mapping, valid until
 * shmarray_close). INVALID_ARGUMENT if the array has no hash index. */
int shmarray_index_view_of(const shmarray_segment *seg, size_t index,
                           shmarray_index_view *out);

/* shmarray_lookup over a view. The view's buffers must be readable for the
 * lengths it gives and the table for 2^log2 * slot_width bytes, and must
 * come from a structurally validated directory record (§11.2); their
 * contents are not trusted, as in shmarray_lookup. */
int shmarray_lookup_view(const shmarray_index_view *view,
                         const shmarray_keys *keys, int64_t *rows_out,
                         char *err, size_t err_len);

/*
 * Export array `index` through the Arrow C Data Interface, zero-copy: the
 * buffers point into the mapping, which stays mapped until both structures
 * are released (even after shmarray_close). N-D arrays are exported as the
 * arrow.fixed_shape_tensor extension (storage fixed_size_list, field
 * metadata ARROW:extension:name/metadata). The caller owns *out_array and
 * *out_schema and must call their release callbacks. Offsets (strings,
 * lists) and dictionary indices are handed out unchecked, as Arrow
 * consumers trust them: shmarray_validate first a segment whose writer you
 * do not trust (spec §11.3).
 */
int shmarray_export_array(shmarray_segment *seg, size_t index,
                          struct ArrowArray *out_array,
                          struct ArrowSchema *out_schema,
                          char *err, size_t err_len);

/*
 * Export every array as one record batch (a struct array) through an
 * ArrowArrayStream yielding that single batch, zero-copy. All arrays must
 * share one length (INVALID_ARGUMENT otherwise). The stream and every batch
 * keep the mapping alive until released.
 */
int shmarray_export_stream(shmarray_segment *seg, struct ArrowArrayStream *out,
                           char *err, size_t err_len);

/* Remove segment `name` from `dir` (NULL or "": $SHMARRAY_DIR, else
 * /dev/shm). Attached processes keep reading it. The directory is opened
 * once, refusing a symbolic link as its last component (INVALID_ARGUMENT:
 * pass the directory itself); the file is opened relative to it and its
 * magic checked (NOT_A_SEGMENT otherwise, nothing removed), and the name is
 * unlinked from that directory only if it still holds the file checked
 * (same st_dev and st_ino): nothing outside the directory is ever removed,
 * whatever happens to its path meanwhile (spec §10.5, §15).
 * Errors: INVALID_ARGUMENT, NOT_FOUND (also when the name changed during
 * the call), NOT_A_SEGMENT, PERMISSION_DENIED, IO_ERROR. */
int shmarray_unlink(const char *name, const char *dir, char *err, size_t err_len);

/* shmarray_unlink of one version: removes `name` only if the name holds
 * the segment whose id is `id` (16 bytes), read from the header of the
 * file opened relative to the directory, and only while the name still
 * holds that file. Otherwise STALE (another version, or no segment has the
 * name now) and nothing is removed: a creator's "unlink when I exit" never
 * removes a version someone else published since. Errors: as
 * shmarray_unlink, with STALE instead of NOT_FOUND for a missing name. */
int shmarray_unlink_version(const char *name, const char *dir, const uint8_t id[16],
                            char *err, size_t err_len);

/* Segments in `dir`, from their headers (no mapping). */
typedef struct shmarray_list_entry {
  char name[256];
  int64_t size;           /* bytes of the file */
  uint32_t array_count;
  uint32_t creator_pid;
  int64_t created_ns;     /* Unix nanoseconds */
  int creator_alive;      /* 1 if the creating process still runs */
  int ephemeral;          /* 1 if the creator asked for unlink on exit */
  int status;             /* SHMARRAY_OK, or why the header is not valid */
  int creator_unknown;    /* 1 if the creator cannot be judged from this
                             process (pid 0, another pid namespace, a /proc
                             that hides it; spec §10.5): never an orphan;
                             creator_alive is then 0 */
  uint8_t id[16];         /* the segment's id (format 1.2); zero for an
                             older file or an unreadable header */
  uint64_t version;       /* its version; 0 for an older file */
  int building;           /* 1: not a segment yet but the hidden file of one
                             being built by creator_pid, which handed out
                             output handles (spec §10.6); name is that hidden
                             name (never attachable), status NOT_SEALED, and
                             the message names the segment */
} shmarray_list_entry;

/* *out is an array of *count entries sorted by name, to free with
 * shmarray_list_free (NULL when count is 0). The directory is opened once
 * (a symbolic link to it is followed) and every file relative to it;
 * symbolic links, non-regular files, names reserved for temporary files
 * (starting with '.') and files without the magic are left out, except the
 * hidden files of segments being built (`building`). */
int shmarray_list(const char *dir, shmarray_list_entry **out, size_t *count,
                  char *err, size_t err_len);
void shmarray_list_free(shmarray_list_entry *entries);

/*
 * Remove the orphans of `dir` (NULL or "": $SHMARRAY_DIR, else /dev/shm):
 * segments created with SHMARRAY_CREATE_EPHEMERAL whose creator is proven
 * gone (creator_pid and its start time, judged across pid namespaces as
 * spec §10.5 says; a creator that cannot be judged from here is never
 * gone). A segment created without that flag, or whose creator may run, is
 * never removed. Also removes the hidden temporary files
 * ".shmarray-tmp-PID-..." that a writer on the fallback publication path
 * left when it died, only those proven to be such leftovers: a regular
 * file with one link whose writer PID is gone, the caller's own holding
 * zeros or the magic in its first 8 bytes, or (for root) anyone's starting
 * with the magic. Files not proven removable, and in a directory with the
 * sticky bit those the caller may not remove, are skipped silently.
 *
 * The directory is opened once, refusing a symbolic link as its last
 * component (INVALID_ARGUMENT); every file is judged from a descriptor
 * opened relative to it and its name unlinked only while it still holds
 * that file, so nothing outside the directory is ever removed. With dry_run
 * non-zero nothing is removed. *removed (may be NULL) is set to the number
 * of files removed (or that would be) even when an error is returned: gc
 * goes on past a file it cannot remove, returns the code of the first such
 * failure and writes every failure's message, each naming its file, one
 * per line, into err.
 */
int shmarray_gc(const char *dir, int dry_run, size_t *removed, char *err, size_t err_len);

/* ==== Writing: enters Go; SHMARRAY_FORKED in a forked child ============== */

/* An unpublished segment being filled. */
typedef struct shmarray_builder shmarray_builder;

#define SHMARRAY_CREATE_EPHEMERAL        1u /* record "unlink when I exit" */
#define SHMARRAY_CREATE_NO_DATA_CHECKSUM 2u /* skip per-array data CRCs */
#define SHMARRAY_CREATE_REPLACE          4u /* publish even if the name is taken,
                                               as its next version */

typedef struct shmarray_create_options {
  uint32_t mode;     /* file mode; 0 means 0600. 0640 and 0660 allowed. */
  uint32_t flags;    /* SHMARRAY_CREATE_* */
  int64_t capacity;  /* bytes to reserve at once (fail early); 0: grow */
  const uint8_t *replace_if; /* NULL, or 16 bytes: publish only while the
                                name holds the segment with this id (implies
                                SHMARRAY_CREATE_REPLACE); else STALE */
} shmarray_create_options;

/* Start segment `name` in `dir` (NULL or "": $SHMARRAY_DIR, else /dev/shm).
 * Nothing is visible under the name until publish. opts may be NULL.
 * Errors: INVALID_ARGUMENT, NOT_FOUND (directory), EXISTS, NO_SPACE,
 * PERMISSION_DENIED, FORKED. */
int shmarray_create(const char *name, const char *dir,
                    const shmarray_create_options *opts,
                    shmarray_builder **out, char *err, size_t err_len);

/* One array from raw buffers, copied into the segment at once (the caller
 * keeps its memory, which must not change during the call: the data
 * checksum is taken as the bytes are copied). Layout of the inputs
 * (spec §7), all little-endian: */
typedef struct shmarray_array_spec {
  uint32_t type;        /* SHMARRAY_TYPE_* */
  uint32_t time_unit;   /* timestamp, duration */
  uint32_t byte_width;  /* fixed_size_binary */
  uint32_t ndim;        /* 0 or 1: plain array; 2..8: N-D, see shape */
  const char *timezone; /* timestamp; NULL or "" for none */
  int64_t length;       /* slots; for N-D must equal shape[0] */
  const int64_t *shape; /* ndim entries when ndim >= 2, C order */
  const uint8_t *validity; /* NULL: no nulls; else ceil(length/8) bytes,
                              LSB first, 1 = valid */
  const void *offsets;  /* var-length: length+1 int32 (utf8, binary) or
                           int64 (large_*) entries; offsets[0] may be > 0 */
  const void *data;     /* fixed width: length*prod(shape[1:])*width bytes;
                           bool: ceil(length/8) bytes, LSB first;
                           var-length: the bytes offsets index into */
  const char *const *metadata_keys;   /* metadata_count NUL-terminated */
  const char *const *metadata_values; /* UTF-8 strings each */
  size_t metadata_count;
} shmarray_array_spec;

/* Errors: INVALID_ARGUMENT (name taken, bad spec, offsets or UTF-8 invalid),
 * NO_SPACE, CLOSED, FORKED. On error nothing is added. */
int shmarray_builder_add(shmarray_builder *b, const char *name,
                         const shmarray_array_spec *spec,
                         char *err, size_t err_len);

/* Format 1.3 (spec §6.1), from raw buffers as shmarray_builder_add takes
 * them. shmarray_builder_add_list: a list column; `list` gives its type
 * (SHMARRAY_TYPE_LIST or LARGE_LIST), length, validity, offsets (length + 1
 * int32 or int64 entries; offsets[0] may be > 0) and metadata, `values` the
 * plain one-dimensional array they index (its length at least the last
 * offset). shmarray_builder_add_dictionary: a dictionary column; `indices`
 * is an integer array (SHMARRAY_TYPE_INT8..UINT64, its validity the
 * column's nulls, its metadata the column's) of indices into `values`, a
 * plain one-dimensional array. Each is stored as its column's record and a
 * child record, copied and fully validated before the call returns (list
 * offsets within the values, indices of non-null slots within the
 * dictionary). Deeper nesting goes through shmarray_builder_add_arrow.
 * Errors: INVALID_ARGUMENT, NO_SPACE, CLOSED, FORKED; nothing is added. */
int shmarray_builder_add_list(shmarray_builder *b, const char *name,
                              const shmarray_array_spec *list,
                              const shmarray_array_spec *values,
                              char *err, size_t err_len);
int shmarray_builder_add_dictionary(shmarray_builder *b, const char *name,
                                    const shmarray_array_spec *indices,
                                    const shmarray_array_spec *values,
                                    char *err, size_t err_len);

/* Space for one array without nulls that the caller fills in place, with
 * no copy: an integer, float, temporal or fixed_size_binary array, N-D
 * allowed (not bool, whose values are bits, nor a variable-length type).
 * spec gives the type, length, shape and metadata; its validity, offsets
 * and data must be NULL. *data receives the array's values, zeroed and
 * 64-byte aligned inside the segment, and *size their byte count (length x
 * prod(shape[1:]) x width). The memory is writable until publish or
 * discard unmaps it: touching it afterwards is a use after free. The array
 * is part of the segment at once; its data checksum is taken at publish,
 * over what was written by then.
 * Errors: INVALID_ARGUMENT (name taken, bad spec, a type that cannot be
 * filled in place), NO_SPACE, CLOSED, FORKED. */
int shmarray_builder_add_empty(shmarray_builder *b, const char *name,
                               const shmarray_array_spec *spec, void **data, size_t *size,
                               char *err, size_t err_len);

/* One array from the Arrow C Data Interface, copied into the segment. The
 * library takes ownership of *array and *schema (moves them): it releases
 * both, on success and on error. The schema's field metadata is kept. */
int shmarray_builder_add_arrow(shmarray_builder *b, const char *name,
                               struct ArrowArray *array,
                               struct ArrowSchema *schema,
                               char *err, size_t err_len);

/* Build a hash index (spec §7.8) over the array called `name`, already
 * added: one pass, in the segment, published with it. Null values are not
 * indexed; the others must be unique: a repeated value fails with
 * INVALID_ARGUMENT naming it and two of its rows. Indexable: one-dimensional
 * integer, utf8, large_utf8, binary, large_binary and fixed_size_binary
 * arrays. An array from shmarray_builder_add_empty is indexed at publish,
 * over its final values (a repeated value then fails publish). A segment
 * with an index is format 1.1. Errors: NOT_FOUND (no such array),
 * INVALID_ARGUMENT, NO_SPACE, CLOSED, FORKED. */
int shmarray_builder_add_index(shmarray_builder *b, const char *name,
                               char *err, size_t err_len);

/* Segment-level key/value metadata (replaces any set before). */
int shmarray_builder_set_metadata(shmarray_builder *b,
                                  const char *const *keys,
                                  const char *const *values, size_t count,
                                  char *err, size_t err_len);

/* Seal and publish atomically: readers see the whole segment or nothing.
 * Without SHMARRAY_CREATE_REPLACE: EXISTS if the name was taken meanwhile
 * (never replaces). With it (spec §10.3): the new segment becomes the
 * name's next version atomically: an attach by name at any moment finds
 * the complete old version or the complete new one, never nothing; readers
 * of the old version keep it until they close it. Concurrent replacers are
 * serialized (each publishes, versions strictly increase). With replace_if:
 * STALE, nothing published, unless the name holds that id. Frees b in
 * every case. */
int shmarray_builder_publish(shmarray_builder *b, char *err, size_t err_len);

/* What shmarray_builder_publish_with tells about the segment it published. */
typedef struct shmarray_published {
  uint8_t id[16];    /* the new segment's id */
  uint64_t version;  /* its version: 1 for a first publish, else the
                        replaced version's + 1 */
} shmarray_published;

/* shmarray_builder_publish that, on success, also fills *out (may be
 * NULL) and sets *fd (may be NULL) to a new descriptor of the very file
 * published, to read only, which the caller closes: attach it with
 * shmarray_attach_fd to read exactly the version published, whatever is
 * published under the name next. (While the name still holds the file,
 * the descriptor is opened through the name, so that a mapping of it
 * shows under its path in /proc/PID/maps.) If the segment was published
 * but no descriptor could be kept (out of descriptors), it still returns
 * SHMARRAY_OK, with *out filled and *fd = -1: attach by name pinned to
 * out's id and version (shmarray_attach_options), which says STALE if the
 * name holds another version by then. Frees b in every case. */
int shmarray_builder_publish_with(shmarray_builder *b, shmarray_published *out, int *fd,
                                  char *err, size_t err_len);

/* Abandon an unpublished segment: nothing is left behind. Frees b. NULL is
 * ignored. */
void shmarray_builder_discard(shmarray_builder *b);

/* ---- Shared outputs (spec §10.6): other processes fill arrays in place ---- */

/* The largest token shmarray_builder_output writes, NUL included: enough
 * for any directory path of PATH_MAX bytes. */
#define SHMARRAY_OUTPUT_TOKEN_MAX 16384

/* The output token of array `name` (from shmarray_builder_add_empty), for a
 * writer in another process (shmarray_output_open; Python's
 * OutputHandle.token; Go's arena.ParseOutputToken): one line of
 * printable ASCII naming the builder's file, its identity and the array's
 * bytes. The first call gives the file a hidden name in the segment's
 * directory (".shmarray-tmp-PID-..."), which attach never opens and gc
 * removes once this process is dead. token needs token_len bytes (at most
 * SHMARRAY_OUTPUT_TOKEN_MAX). Errors: NOT_FOUND (no such array),
 * INVALID_ARGUMENT (copied in, or token_len too small), CLOSED, FORKED. */
int shmarray_builder_output(shmarray_builder *b, const char *name, char *token, size_t token_len,
                            char *err, size_t err_len);

/* Wait, for at most timeout_ms milliseconds, until no other process
 * writes the segment: every output opened from its tokens closed, and no
 * other process mapping the file writable (a child forked from this one
 * that inherited memory of shmarray_builder_add_empty). On success no
 * output can open any more, and publish follows. On timeout: IO_ERROR
 * naming the processes still writing; b stays open and usable (unlike
 * after publish). Publish waits the same way, 60 s, when this was not
 * called first (and frees b even on timeout). Errors also: CLOSED, FORKED. */
int shmarray_builder_wait_writers(shmarray_builder *b, int64_t timeout_ms, char *err,
                                  size_t err_len);

/* An open output: one array of an unpublished segment, mapped writable in
 * this process. Plain C, no Go: works in forked children. */
typedef struct shmarray_output shmarray_output;

/* Open the output a token names (spec §10.6): the builder's file, checked
 * to be the one the token names (a regular file of this effective uid with
 * one link, its device and inode), locked shared so that its segment is not
 * published while this is open, and the array's bytes mapped writable.
 * Errors: INVALID_ARGUMENT (not a token the builder makes: absolute clean
 * directory, the builder's hidden-name form), CLOSED (the segment was
 * published, is being published, or was discarded), PERMISSION_DENIED (the
 * name holds another file), OUT_OF_BOUNDS (the file is shorter than the
 * array), NOT_FOUND (no such directory). */
int shmarray_output_open(const char *token, shmarray_output **out, char *err, size_t err_len);

/* The array's bytes, valid until shmarray_output_close; *len (may be NULL)
 * receives their count. NULL for an empty array. */
void *shmarray_output_data(const shmarray_output *o, size_t *len);

/* End writing but keep reading: the array's pages turn read-only (a write
 * through them faults) and the lock is released, so the segment may be
 * published while the bytes stay readable here until
 * shmarray_output_close. Idempotent. Errors: INVALID_ARGUMENT (NULL),
 * IO_ERROR (mprotect failed; nothing changed). */
int shmarray_output_finish(shmarray_output *o, char *err, size_t err_len);

/* Unmap and unlock: the segment may be published once every output is
 * closed (or finished). Frees o; NULL is ignored. */
void shmarray_output_close(shmarray_output *o);

/* ==== Receiving a segment's file: enters Go; SHMARRAY_FORKED in a forked child ==== */

/* The copy of a published segment's file arriving from elsewhere (another
 * host, a stream), in pieces at any offsets and in any order; published
 * under its name only when every byte has arrived and passes the full
 * validation (header and metadata checksum, every directory record,
 * offsets, null counts, UTF-8 and data checksums), atomically and never
 * replacing (spec §10.3). */
typedef struct shmarray_receiver shmarray_receiver;

/* Start receiving the file of segment `name`, `size` bytes long, into `dir`
 * (NULL or "": $SHMARRAY_DIR, else /dev/shm), with file mode `mode` (0 means
 * 0600; 0640 and 0660 allowed). The whole size is reserved at once. Nothing
 * is visible under the name until publish.
 * Errors: INVALID_ARGUMENT (name, mode, size smaller than a header),
 * NOT_FOUND (directory), EXISTS (the name is taken now), NO_SPACE,
 * PERMISSION_DENIED, FORKED. */
int shmarray_receive(const char *name, const char *dir, int64_t size, uint32_t mode,
                     shmarray_receiver **out, char *err, size_t err_len);

/* Write `len` bytes of `data` at `offset` of the file. Pieces may overlap
 * (a piece sent twice is harmless) but must lie inside the file. The caller
 * keeps its memory. Errors: INVALID_ARGUMENT (outside the file), NO_SPACE,
 * IO_ERROR, CLOSED, FORKED. */
int shmarray_receiver_write(shmarray_receiver *r, int64_t offset, const void *data, size_t len,
                            char *err, size_t err_len);

/* Check and publish: TRUNCATED if a byte never arrived, BAD_SIZE or
 * TRUNCATED if the header gives another size, an invalid-segment code
 * (CHECKSUM_MISMATCH, ...) if validation fails, EXISTS if the name was
 * taken meanwhile. Reads the whole file once. On error nothing is left
 * behind. Frees r in every case. */
int shmarray_receiver_publish(shmarray_receiver *r, char *err, size_t err_len);

/* Abandon the file: nothing is left behind. Frees r. NULL is ignored. */
void shmarray_receiver_discard(shmarray_receiver *r);

#ifdef __cplusplus
}
#endif

#endif /* SHMARRAY_H */
