package main

/*
#include <stdlib.h>
#include "sa_write.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/cgo"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/cdata"
	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// The shims below are called only by the C wrappers of sa_fork.c, which
// have already checked that this process may enter Go.

//export shmarraygo_create
func shmarraygo_create(name, dir *C.char, mode, flags C.uint32_t, capacity C.int64_t, replaceIf *C.uint8_t, out *C.uintptr_t, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	opts := &arena.CreateOptions{
		Dir:            goString(dir),
		Mode:           os.FileMode(mode),
		Capacity:       int64(capacity),
		Ephemeral:      flags&C.SHMARRAY_CREATE_EPHEMERAL != 0,
		NoDataChecksum: flags&C.SHMARRAY_CREATE_NO_DATA_CHECKSUM != 0,
		Replace:        flags&C.SHMARRAY_CREATE_REPLACE != 0,
	}
	if replaceIf != nil {
		var id format.ID
		copy(id[:], bytesAt(unsafe.Pointer(replaceIf), uint64(len(id))))
		opts.ReplaceIf = &id
	}
	b, err := arena.Create(goString(name), opts)
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	*out = C.uintptr_t(cgo.NewHandle(b))
	return C.SHMARRAY_OK
}

//export shmarraygo_builder_add
func shmarraygo_builder_add(h C.uintptr_t, name *C.char, spec *C.shmarray_array_spec, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	b := builder(h)
	desc, validity, offsets, data, err := rawArray(goString(name), spec)
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	return fail(b.AddBuffers(desc, validity, offsets, data), errBuf, errLen)
}

//export shmarraygo_builder_add_list
func shmarraygo_builder_add_list(h C.uintptr_t, name *C.char, list, values *C.shmarray_array_spec, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	n := goString(name)
	vdesc, vValidity, vOffsets, vData, err := rawArray(n, values)
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	ldesc, err := specDesc(n, list)
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	w := uint64(ldesc.Type.ListOffsetWidth())
	if w == 0 || list.offsets == nil {
		return fail(fmt.Errorf("%w: array %q: the list spec needs type SHMARRAY_TYPE_LIST or LARGE_LIST and offsets", format.ErrInvalidArgument, n), errBuf, errLen)
	}
	length := uint64(ldesc.Length)
	var validity []byte
	if list.validity != nil {
		validity = bytesAt(unsafe.Pointer(list.validity), (length+7)/8)
	}
	return fail(builder(h).AddListBuffers(ldesc, validity, bytesAt(list.offsets, (length+1)*w), vdesc, vValidity, vOffsets, vData), errBuf, errLen)
}

//export shmarraygo_builder_add_dictionary
func shmarraygo_builder_add_dictionary(h C.uintptr_t, name *C.char, indices, values *C.shmarray_array_spec, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	n := goString(name)
	vdesc, vValidity, vOffsets, vData, err := rawArray(n, values)
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	idesc, validity, _, data, err := rawArray(n, indices)
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	return fail(builder(h).AddDictionaryBuffers(idesc, validity, data, vdesc, vValidity, vOffsets, vData), errBuf, errLen)
}

//export shmarraygo_builder_add_empty
func shmarraygo_builder_add_empty(h C.uintptr_t, name *C.char, spec *C.shmarray_array_spec, data *unsafe.Pointer, size *C.size_t, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	b := builder(h)
	if spec != nil && (spec.validity != nil || spec.offsets != nil || spec.data != nil) {
		return fail(fmt.Errorf("%w: array %q: validity, offsets and data must be NULL: the library hands out the memory", format.ErrInvalidArgument, goString(name)), errBuf, errLen)
	}
	desc, err := specDesc(goString(name), spec)
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	mem, err := b.AddEmpty(desc)
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	// The segment's mapping is not Go-allocated memory: C may keep the
	// pointer (until publish or discard unmaps it).
	*data, *size = unsafe.Pointer(unsafe.SliceData(mem)), C.size_t(len(mem))
	return C.SHMARRAY_OK
}

//export shmarraygo_builder_add_arrow
func shmarraygo_builder_add_arrow(h C.uintptr_t, name *C.char, arr *C.struct_ArrowArray, schema *C.struct_ArrowSchema, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	cArr := (*cdata.CArrowArray)(unsafe.Pointer(arr))
	cSchema := (*cdata.CArrowSchema)(unsafe.Pointer(schema))
	// The library owns both structures now: release them on every path.
	defer func() {
		if schema.release != nil {
			cdata.ReleaseCArrowSchema(cSchema)
		}
		if arr.release != nil {
			cdata.ReleaseCArrowArray(cArr)
		}
	}()
	cFormat := goString(schema.format) // read before the import consumes the schema
	field, imported, err := importArrow(cArr, cSchema, cFormat)
	if err != nil {
		return fail(fmt.Errorf("%w: importing Arrow array %q: %v", format.ErrInvalidArgument, goString(name), err), errBuf, errLen)
	}
	imported = withFullTimeZone(imported, cFormat)
	defer imported.Release()
	field.Name = goString(name)
	field.Type = imported.DataType()
	return fail(builder(h).AddField(field, imported), errBuf, errLen)
}

// importArrow is cdata.ImportCArray with its panics turned into errors:
// arrow-go panics on some inputs instead of returning an error, notably a
// fixed-size list of 0 elements per row ("+w:0", which arrow-go cannot
// represent), and that is a caller's unsupported input, not an internal
// error. The schema is imported before the array is moved, so after a panic
// both structures are still the caller's to release (the deferred release
// of shmarraygo_builder_add_arrow does it).
func importArrow(arr *cdata.CArrowArray, schema *cdata.CArrowSchema, cFormat string) (f arrow.Field, a arrow.Array, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("arrow-go cannot import it: %v", r)
			if cFormat == "+w:0" {
				err = fmt.Errorf("%v (a fixed-size list of 0 elements per row: give such an array as raw buffers, shmarray_builder_add, or from Python as a NumPy array)", err)
			}
		}
	}()
	return cdata.ImportCArray(arr, schema)
}

// withFullTimeZone works around arrow-go v15's C Data import, which splits
// a timestamp's format string "ts<unit>:<tz>" at every ':' and so cuts a
// time zone such as "+07:30" to "+07". The time zone is everything after the
// first ':' (Arrow C Data Interface); if the import got it wrong, arr is
// replaced by the same data under the right type (arr is released).
func withFullTimeZone(arr arrow.Array, cFormat string) arrow.Array {
	ts, ok := arr.DataType().(*arrow.TimestampType)
	if !ok || len(cFormat) < 4 || !strings.HasPrefix(cFormat, "ts") || cFormat[3] != ':' || cFormat[4:] == ts.TimeZone {
		return arr
	}
	d := arr.Data()
	fixed := array.NewData(&arrow.TimestampType{Unit: ts.Unit, TimeZone: cFormat[4:]}, d.Len(), d.Buffers(), d.Children(), d.NullN(), d.Offset())
	defer fixed.Release()
	arr.Release()
	return array.MakeFromData(fixed)
}

//export shmarraygo_builder_add_index
func shmarraygo_builder_add_index(h C.uintptr_t, name *C.char, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	return fail(builder(h).AddIndex(goString(name)), errBuf, errLen)
}

//export shmarraygo_builder_set_metadata
func shmarraygo_builder_set_metadata(h C.uintptr_t, keys, values **C.char, count C.size_t, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	md, err := metadata(keys, values, count)
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	m := make(map[string]string, len(md))
	for _, kv := range md {
		m[kv.Key] = kv.Value
	}
	return fail(builder(h).SetMetadata(m), errBuf, errLen)
}

// shmarraygo_builder_publish publishes and, on success, writes the
// published segment's identity into id (16 bytes) and version.
//
//export shmarraygo_builder_publish
func shmarraygo_builder_publish(h C.uintptr_t, id *C.uint8_t, version *C.uint64_t, fd *C.int, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	handle := cgo.Handle(h)
	defer handle.Delete()
	b := handle.Value().(*arena.Builder)
	// Publish leaves the builder open when its wait for writers times
	// out; the C ABI frees it in every case, so it is closed here.
	defer b.Close()
	if fd == nil {
		if err := b.Publish(); err != nil {
			return fail(err, errBuf, errLen)
		}
	} else {
		// Published without a descriptor (a *NoFileError: out of
		// descriptors, say) is success with *fd = -1: the caller attaches
		// by name, pinned to the identity written below.
		*fd = -1
		f, err := b.PublishFile()
		var noFile *arena.NoFileError
		if err != nil && !errors.As(err, &noFile) {
			return fail(err, errBuf, errLen)
		}
		if f != nil {
			// The descriptor becomes the caller's: os.File must not close it.
			if dup, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0); err == nil {
				*fd = C.int(dup)
			}
			f.Close()
		}
	}
	published := b.ID()
	copy(bytesAt(unsafe.Pointer(id), uint64(len(published))), published[:])
	*version = C.uint64_t(b.Version())
	return C.SHMARRAY_OK
}

// shmarraygo_builder_output writes the output token of array name into
// token (tokenLen bytes, NUL included).
//
//export shmarraygo_builder_output
func shmarraygo_builder_output(h C.uintptr_t, name *C.char, token *C.char, tokenLen C.size_t, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	out, err := builder(h).Output(goString(name))
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	text := out.Token()
	if uint64(len(text)) >= uint64(tokenLen) {
		return fail(fmt.Errorf("%w: the output token of array %q is %d bytes, the buffer holds %d (give SHMARRAY_OUTPUT_TOKEN_MAX)", format.ErrInvalidArgument, goString(name), len(text)+1, tokenLen), errBuf, errLen)
	}
	dst := bytesAt(unsafe.Pointer(token), uint64(len(text))+1)
	copy(dst, text)
	dst[len(text)] = 0
	return C.SHMARRAY_OK
}

//export shmarraygo_builder_wait_writers
func shmarraygo_builder_wait_writers(h C.uintptr_t, timeoutMS C.int64_t, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	wait := time.Duration(math.MaxInt64) // a timeout beyond 292 years is none
	if int64(timeoutMS) < int64(wait/time.Millisecond) {
		wait = time.Duration(timeoutMS) * time.Millisecond
	}
	return fail(builder(h).WaitWriters(wait), errBuf, errLen)
}

//export shmarraygo_builder_discard
func shmarraygo_builder_discard(h C.uintptr_t) {
	defer func() { _ = recover() }()
	handle := cgo.Handle(h)
	_ = handle.Value().(*arena.Builder).Close()
	handle.Delete()
}

func builder(h C.uintptr_t) *arena.Builder { return cgo.Handle(h).Value().(*arena.Builder) }

//export shmarraygo_receive
func shmarraygo_receive(name, dir *C.char, size C.int64_t, mode C.uint32_t, out *C.uintptr_t, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	r, err := arena.Receive(goString(name), int64(size), &arena.ReceiveOptions{Dir: goString(dir), Mode: os.FileMode(mode)})
	if err != nil {
		return fail(err, errBuf, errLen)
	}
	*out = C.uintptr_t(cgo.NewHandle(r))
	return C.SHMARRAY_OK
}

//export shmarraygo_receiver_write
func shmarraygo_receiver_write(h C.uintptr_t, offset C.int64_t, data unsafe.Pointer, n C.size_t, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	_, err := receiver(h).WriteAt(bytesAt(data, uint64(n)), int64(offset))
	return fail(err, errBuf, errLen)
}

//export shmarraygo_receiver_publish
func shmarraygo_receiver_publish(h C.uintptr_t, errBuf *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc, errBuf, errLen)
	handle := cgo.Handle(h)
	defer handle.Delete()
	return fail(handle.Value().(*arena.Receiver).Publish(), errBuf, errLen)
}

//export shmarraygo_receiver_discard
func shmarraygo_receiver_discard(h C.uintptr_t) {
	defer func() { _ = recover() }()
	handle := cgo.Handle(h)
	_ = handle.Value().(*arena.Receiver).Close()
	handle.Delete()
}

func receiver(h C.uintptr_t) *arena.Receiver { return cgo.Handle(h).Value().(*arena.Receiver) }

// rawArray reads a shmarray_array_spec into a description and Go slices
// over the caller's memory (copied by AddBuffers before this call returns).
func rawArray(name string, s *C.shmarray_array_spec) (format.ArrayDesc, []byte, []byte, []byte, error) {
	bad := func(f string, a ...any) (format.ArrayDesc, []byte, []byte, []byte, error) {
		return format.ArrayDesc{}, nil, nil, nil, fmt.Errorf("%w: array %q: "+f, append([]any{format.ErrInvalidArgument, name}, a...)...)
	}
	desc, err := specDesc(name, s)
	if err != nil {
		return format.ArrayDesc{}, nil, nil, nil, err
	}
	n := uint64(desc.Length)
	var validity, offsets, data []byte
	if s.validity != nil {
		validity = bytesAt(unsafe.Pointer(s.validity), (n+7)/8)
	}
	switch {
	case desc.Type == format.Bool:
		data = bytesAt(s.data, (n+7)/8)
	case desc.Type.VarLength():
		if n == 0 {
			break
		}
		if s.offsets == nil || s.data == nil && lastOffset(s.offsets, n, desc.Type.OffsetWidth()) > 0 {
			return bad("a %s array needs offsets and data", desc.Type)
		}
		ow := uint64(desc.Type.OffsetWidth())
		offsets = bytesAt(s.offsets, (n+1)*ow)
		last := lastOffset(s.offsets, n, int(ow))
		if last < 0 {
			return bad("offsets[%d] is negative", n)
		}
		data = bytesAt(s.data, uint64(last))
	default:
		if len(desc.Shape) == 0 {
			desc.Shape = []int64{desc.Length}
		}
		need, ok := dataSize(&desc)
		if !ok {
			return bad("size of %d slots overflows", n)
		}
		data = bytesAt(s.data, need)
	}
	return desc, validity, offsets, data, nil
}

// specDesc reads the description part of a spec: name, type, length,
// shape and metadata, not the buffers.
func specDesc(name string, s *C.shmarray_array_spec) (format.ArrayDesc, error) {
	bad := func(f string, a ...any) (format.ArrayDesc, error) {
		return format.ArrayDesc{}, fmt.Errorf("%w: array %q: "+f, append([]any{format.ErrInvalidArgument, name}, a...)...)
	}
	if s == nil {
		return bad("spec is NULL")
	}
	desc := format.ArrayDesc{
		Name:   name,
		DType:  format.DType{Type: format.Type(s._type), Unit: format.TimeUnit(s.time_unit), ByteWidth: int(s.byte_width), TimeZone: goString(s.timezone)},
		Length: int64(s.length),
	}
	if s.length < 0 || s.length > format.MaxLength {
		return bad("length %d is not in [0, 2^62]", int64(s.length))
	}
	if s.ndim > format.MaxNDim {
		return bad("ndim %d exceeds %d", uint32(s.ndim), format.MaxNDim)
	}
	if s.ndim >= 2 {
		if s.shape == nil {
			return bad("ndim is %d but shape is NULL", uint32(s.ndim))
		}
		desc.Shape = append([]int64(nil), unsafe.Slice((*int64)(unsafe.Pointer(s.shape)), int(s.ndim))...)
	}
	md, err := metadata(s.metadata_keys, s.metadata_values, s.metadata_count)
	if err != nil {
		return bad("%v", err)
	}
	desc.Metadata = md
	if !desc.Type.Known() {
		return bad("unknown type code %d", uint32(s._type))
	}
	return desc, nil
}

// dataSize is the byte size of a fixed-width array's data, if it fits.
func dataSize(d *format.ArrayDesc) (uint64, bool) {
	size := uint64(d.ElemWidth())
	for _, dim := range d.Shape {
		if dim < 0 {
			return 0, false
		}
		if dim != 0 && size > (1<<62)/uint64(dim) {
			return 0, false
		}
		size *= uint64(dim)
	}
	return size, true
}

func lastOffset(offsets unsafe.Pointer, n uint64, width int) int64 {
	if width == 4 {
		return int64(unsafe.Slice((*int32)(offsets), n+1)[n])
	}
	return unsafe.Slice((*int64)(offsets), n+1)[n]
}

// bytesAt views n bytes of C memory; nil for a NULL pointer or n == 0.
func bytesAt(p unsafe.Pointer, n uint64) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

func metadata(keys, values **C.char, count C.size_t) ([]format.KV, error) {
	if count == 0 {
		return nil, nil
	}
	if keys == nil || values == nil {
		return nil, fmt.Errorf("%w: %d metadata pairs but keys or values is NULL", format.ErrInvalidArgument, count)
	}
	ks := unsafe.Slice(keys, int(count))
	vs := unsafe.Slice(values, int(count))
	out := make([]format.KV, count)
	for i := range out {
		if ks[i] == nil || vs[i] == nil {
			return nil, fmt.Errorf("%w: metadata pair %d has a NULL key or value", format.ErrInvalidArgument, i)
		}
		out[i] = format.KV{Key: C.GoString(ks[i]), Value: C.GoString(vs[i])}
	}
	return out, nil
}

func goString(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

// fail writes err's message into the caller's buffer and returns its code.
func fail(err error, buf *C.char, n C.size_t) C.int {
	if err == nil {
		return C.SHMARRAY_OK
	}
	writeMessage(err.Error(), buf, n)
	return C.int(format.CodeOf(err))
}

func writeMessage(msg string, buf *C.char, n C.size_t) {
	if buf == nil || n == 0 {
		return
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	k := copy(dst[:n-1], msg)
	dst[k] = 0
}

// recoverInto turns a Go panic into SHMARRAY_INTERNAL: no panic may cross
// the C boundary.
func recoverInto(rc *C.int, buf *C.char, n C.size_t) {
	if r := recover(); r != nil {
		err, ok := r.(error)
		if !ok || errors.Is(err, format.ErrInternal) || format.CodeOf(err) == format.Internal {
			writeMessage(fmt.Sprintf("shmarray: internal error: %v (please report this)", r), buf, n)
			*rc = C.SHMARRAY_INTERNAL
			return
		}
		*rc = fail(err, buf, n) // a panic carrying a code, e.g. NO_SPACE from the allocator
	}
}
