package creader

/*
#cgo CFLAGS: -std=gnu99 -Wall -Wextra -Werror -O1 -g
#include <stdlib.h>
#include <string.h>
#include "sa_internal.h"

enum { SA_QUOTE_LEN_NAME = SA_QUOTE_LEN(SA_QUOTE_NAME) }; // for Go, which cannot expand the macro


// The exported Arrow structures of every array and of the stream, made and
// released, for the sanitizers to watch the export's own allocations and
// metadata encoding (the buffers' bytes are the validated arrays').
static void cr_export_all(shmarray_segment *seg) {
	for (size_t i = 0; i < seg->h.array_count; i++) {
		// Format 1.3: read list and dictionary slots without full validation
		// (the checks of spec §6.1 keep every read inside the buffers).
		int64_t n = seg->arrays[i].length < 256 ? seg->arrays[i].length : 256, x, y;
		for (int64_t k = 0; k < n; k++) {
			shmarray_list_slot(seg, i, k, &x, &y, NULL, 0);
			shmarray_dictionary_slot(seg, i, k, &x, NULL, 0);
		}
		struct ArrowArray a;
		struct ArrowSchema s;
		if (shmarray_export_array(seg, i, &a, &s, NULL, 0) == SHMARRAY_OK) {
			a.release(&a);
			s.release(&s);
		}
	}
	struct ArrowArrayStream st;
	if (shmarray_export_stream(seg, &st, NULL, 0) == SHMARRAY_OK) {
		struct ArrowSchema s;
		struct ArrowArray a;
		if (st.get_schema(&st, &s) == 0) s.release(&s);
		if (st.get_next(&st, &a) == 0 && a.release) a.release(&a);
		st.release(&st);
	}
}

// One batch through the interleaved prober (shmarray_lookup).
static int cr_batch(shmarray_segment *seg, size_t i, uint32_t kind, const void *data,
                    size_t data_length, const int64_t *offsets, size_t n, int64_t *rows, char *err,
                    size_t len) {
	shmarray_keys k;
	memset(&k, 0, sizeof k);
	k.kind = kind;
	k.count = n;
	k.data = data;
	k.data_length = data_length;
	k.offsets = offsets;
	return shmarray_lookup(seg, i, &k, rows, err, len);
}
*/
import "C"

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

const errLen = 8192

// Segment is a segment decoded by the C core over a private C copy of the
// bytes (so that the sanitizers see every read past them).
type Segment struct {
	seg *C.shmarray_segment
	mem unsafe.Pointer
}

// Decode runs the C structural validation (spec §11.2) over a copy of b. It
// returns the code and message; seg is non-nil only on success, and must be
// closed.
func Decode(b []byte) (seg *Segment, code int, msg string) {
	mem := C.malloc(C.size_t(len(b) + 1))
	if len(b) > 0 {
		C.memcpy(mem, unsafe.Pointer(&b[0]), C.size_t(len(b)))
	}
	s := C.sa_segment_new()
	errBuf := (*C.char)(C.malloc(errLen))
	defer C.free(unsafe.Pointer(errBuf))
	*errBuf = 0
	rc := C.sa_decode(s, (*C.uint8_t)(mem), C.size_t(len(b)), errBuf, errLen)
	if rc != 0 {
		C.sa_segment_unref(s)
		C.free(mem)
		return nil, int(rc), C.GoString(errBuf)
	}
	seg = &Segment{seg: s, mem: mem}
	runtime.SetFinalizer(seg, (*Segment).Close)
	return seg, 0, ""
}

// DecodeFD runs the C structural validation as attach does: from a file
// descriptor (a memfd holding b), claimed to be size bytes long, read with
// pread into private memory. It returns the code and message; nothing is
// mapped and no segment is kept.
func DecodeFD(b []byte, size int64) (code int, msg string) {
	fd, err := unix.MemfdCreate("creader", unix.MFD_CLOEXEC)
	if err != nil {
		panic(err)
	}
	defer unix.Close(fd)
	for off := 0; off < len(b); {
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err != nil {
			panic(err)
		}
		off += n
	}
	s := C.sa_segment_new()
	defer C.sa_segment_unref(s)
	errBuf := (*C.char)(C.malloc(errLen))
	defer C.free(unsafe.Pointer(errBuf))
	*errBuf = 0
	rc := C.sa_decode_fd(s, C.int(fd), C.uint64_t(size), errBuf, errLen)
	return int(rc), C.GoString(errBuf)
}

// Close frees the decoded segment and the copy of the bytes.
func (s *Segment) Close() {
	if s.seg == nil {
		return
	}
	C.sa_segment_unref(s.seg)
	C.free(s.mem)
	s.seg, s.mem = nil, nil
	runtime.SetFinalizer(s, nil)
}

// Arrays is the number of arrays.
func (s *Segment) Arrays() int { return int(s.seg.h.array_count) }

// Identity is the segment's id and version (shmarray_identity): zero for a
// file of minor < 2.
func (s *Segment) Identity() (id [16]byte, version uint64) {
	var v C.uint64_t
	C.shmarray_identity(s.seg, (*C.uint8_t)(unsafe.Pointer(&id[0])), &v)
	return id, uint64(v)
}

// Validate is shmarray_validate (spec §11.3).
func (s *Segment) Validate() (code int, msg string) {
	errBuf := (*C.char)(C.malloc(errLen))
	defer C.free(unsafe.Pointer(errBuf))
	*errBuf = 0
	rc := C.shmarray_validate(s.seg, errBuf, errLen)
	return int(rc), C.GoString(errBuf)
}

// ExportAll exports every array and the stream through the Arrow C Data
// Interface and releases them.
func (s *Segment) ExportAll() { C.cr_export_all(s.seg) }

// HasIndex reports whether array i has a hash index.
func (s *Segment) HasIndex(i int) bool { return C.shmarray_has_index(s.seg, C.size_t(i)) != 0 }

// FindBytes looks one byte-string key up in the index of array i: the row
// or -1, and the code and message of an error.
func (s *Segment) FindBytes(i int, q []byte) (row int64, code int, msg string) {
	var x C.sa_ix
	errBuf := (*C.char)(C.malloc(errLen))
	defer C.free(unsafe.Pointer(errBuf))
	*errBuf = 0
	if rc := C.sa_ix_open(s.seg, C.size_t(i), &x, errBuf, errLen); rc != 0 {
		return -1, int(rc), C.GoString(errBuf)
	}
	qm := C.malloc(C.size_t(len(q) + 1))
	defer C.free(qm)
	if len(q) > 0 {
		C.memcpy(qm, unsafe.Pointer(&q[0]), C.size_t(len(q)))
	}
	var r C.int64_t
	rc := C.sa_ix_find_bytes(&x, (*C.uint8_t)(qm), C.size_t(len(q)), &r, errBuf, errLen)
	return int64(r), int(rc), C.GoString(errBuf)
}

// FindInt looks one integer key up in the index of array i.
func (s *Segment) FindInt(i int, v uint64, signed bool) (row int64, code int, msg string) {
	var x C.sa_ix
	errBuf := (*C.char)(C.malloc(errLen))
	defer C.free(unsafe.Pointer(errBuf))
	*errBuf = 0
	if rc := C.sa_ix_open(s.seg, C.size_t(i), &x, errBuf, errLen); rc != 0 {
		return -1, int(rc), C.GoString(errBuf)
	}
	sq := C.int(0)
	if signed {
		sq = 1
	}
	var r C.int64_t
	rc := C.sa_ix_find_int(&x, C.uint64_t(v), sq, &r, errBuf, errLen)
	return int64(r), int(rc), C.GoString(errBuf)
}

// Batch looks keys up in the index of array i with the batch prober:
// byte strings (ints nil), or integers as int64 (signed) or uint64.
func (s *Segment) Batch(i int, strs [][]byte, ints []uint64, signed bool) (rows []int64, code int, msg string) {
	n := len(strs) + len(ints)
	offs := (*[1 << 28]int64)(C.malloc(C.size_t(8 * (n + 1))))[: n+1 : n+1]
	defer C.free(unsafe.Pointer(&offs[0]))
	total := 8 * len(ints)
	for _, q := range strs {
		total += len(q)
	}
	data := (*[1 << 30]byte)(C.malloc(C.size_t(total + 1)))[: total+1 : total+1]
	defer C.free(unsafe.Pointer(&data[0]))
	kind := C.uint32_t(C.SHMARRAY_KEYS_STRINGS64)
	if strs == nil {
		kind = C.SHMARRAY_KEYS_UINT64
		if signed {
			kind = C.SHMARRAY_KEYS_INT64
		}
		for j, v := range ints {
			for b := 0; b < 8; b++ {
				data[8*j+b] = byte(v >> (8 * b))
			}
		}
	}
	at := 0
	for j, q := range strs {
		offs[j] = int64(at)
		at += copy(data[at:], q)
	}
	offs[len(strs)] = int64(at)
	out := (*[1 << 28]int64)(C.malloc(C.size_t(8 * (n + 1))))[: n+1 : n+1]
	defer C.free(unsafe.Pointer(&out[0]))
	errBuf := (*C.char)(C.malloc(errLen))
	defer C.free(unsafe.Pointer(errBuf))
	*errBuf = 0
	rc := C.cr_batch(s.seg, C.size_t(i), kind, unsafe.Pointer(&data[0]), C.size_t(at), (*C.int64_t)(unsafe.Pointer(&offs[0])),
		C.size_t(n), (*C.int64_t)(unsafe.Pointer(&out[0])), errBuf, errLen)
	return append([]int64(nil), out[:n]...), int(rc), C.GoString(errBuf)
}

// Quote is sa_quote with the limit for names.
func Quote(s string) string {
	buf := make([]byte, C.SA_QUOTE_LEN_NAME)
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	C.sa_quote(unsafe.Pointer(cs), C.size_t(len(s)), C.SA_QUOTE_NAME, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}
