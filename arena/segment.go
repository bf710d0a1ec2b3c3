package arena

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/shmarray/shmarray/format"
)

// Segment is a published segment attached read-only: one version of it
// (spec §10.3), which it keeps reading whatever is published under the name
// later. It holds one PROT_READ mapping of the whole file; attaching never
// reads the data pages, and nothing is copied: every array, record, slice and
// buffer it returns points into the mapping. Arrow arrays and records hold a
// reference to the mapping and stay valid until their last Release, even
// after Close; slices (Values, Buffers) are valid only until Close. A Segment
// is safe for concurrent use, except that Close must not race with reads of
// slices.
type Segment struct {
	name, dir, path string
	owner           uint32      // st_uid of the opened file
	mode            os.FileMode // its permission bits
	file            fileID      // the mapped file, which IsCurrent compares the name with
	owners          []uint32    // AttachOptions.Owners, for Refresh
	desc            *format.Segment

	mu  sync.RWMutex
	m   *mapping // shared with the Arrow buffers handed out
	mem []byte   // m's bytes; nil once closed
}

// AttachOptions tune AttachWith. The zero value (or a nil pointer) is what
// Attach does.
type AttachOptions struct {
	// Dir is the directory of the segment; "" means $SHMARRAY_DIR, else
	// /dev/shm.
	Dir string
	// Owners, when not empty, lists the users (uids) whose segments may be
	// attached: a file owned by anyone else is refused with
	// PERMISSION_DENIED before it is mapped. The owner is taken from fstat
	// of the opened descriptor, not from the path, so it is the owner of
	// the very file that would be mapped. The owner of a segment is who can
	// rewrite or truncate it under its readers (spec §15): list only users
	// you trust, typically []uint32{uint32(os.Geteuid())}.
	Owners []uint32
	// Pin, when set, names the version to attach: if the name holds
	// another version, or nothing, the attach fails with STALE instead of
	// reading what the name holds now. A handle sent to another process
	// carries its pin, so that it never switches versions silently.
	Pin *Pin
}

// Pin names one version of a segment: its id and version number.
type Pin struct {
	ID      format.ID
	Version uint64
}

// Attach maps the published segment called name (in dir, resolved as by
// Dir) read-only and checks its header, checksum and every directory
// record, in time proportional to the number of arrays, not their size.
// It is AttachWith without an owner check.
// Errors: INVALID_ARGUMENT (name), NOT_FOUND, PERMISSION_DENIED, and for a
// file that breaks the format one of the invalid-segment codes
// (errors.Is(err, format.ErrInvalidSegment)), TRUNCATED among them when the
// file is truncated while it is being attached.
func Attach(name, dir string) (*Segment, error) {
	return AttachWith(name, &AttachOptions{Dir: dir})
}

// AttachWith is Attach with options. The directory is opened once and the
// segment relative to it (openat with O_NOFOLLOW|O_NONBLOCK); the file must
// be a regular file and, when opts.Owners is set, owned by one of them
// (PERMISSION_DENIED otherwise). The header and directory are decoded from
// the mapping under a fault guard, so a file truncated meanwhile gives
// TRUNCATED, never a crash. Errors: as Attach.
func AttachWith(name string, opts *AttachOptions) (*Segment, error) {
	var o AttachOptions
	if opts != nil {
		o = *opts
	}
	if err := format.ValidSegmentName(name); err != nil {
		return nil, err
	}
	d, err := openDir(Dir(o.Dir), followDirLink)
	if err != nil {
		return nil, osError("attach", name, Dir(o.Dir), err)
	}
	defer d.close()
	path := d.join(name)
	fd, st, err := d.open(name)
	if err == errNotRegular {
		return nil, fmt.Errorf("%w: segment %q: %s is not a regular file", format.ErrNotASegment, name, path)
	}
	if err != nil {
		if o.Pin != nil && errors.Is(err, errNoEntry) {
			return nil, fmt.Errorf("%w: segment %q: wanted version %d (id %s), no segment has that name now", format.ErrStale, name, o.Pin.Version, o.Pin.ID)
		}
		return nil, osError("attach", name, path, err)
	}
	defer closeFD(fd)
	if len(o.Owners) > 0 && !slices.Contains(o.Owners, st.Uid) {
		return nil, fmt.Errorf("%w: segment %q: %s is owned by uid %d, who is not among the trusted owners %v; not attached (its owner could change or truncate it under you: attach it only if you trust uid %d, by adding it to AttachOptions.Owners)", format.ErrPermissionDenied, name, path, st.Uid, o.Owners, st.Uid)
	}
	size := st.Size
	if size < int64(len(format.Magic)) {
		return nil, fmt.Errorf("%w: segment %q: %s is %d bytes, too short to be a segment", format.ErrNotASegment, name, path, size)
	}
	if uint64(size) > uint64(^uint(0)>>1) {
		return nil, fmt.Errorf("%w: segment %q: %d bytes cannot be mapped", format.ErrInvalidArgument, name, size)
	}
	mem, err := mapShared(fd, int(size), false)
	if err != nil {
		return nil, osError("map", name, path, err)
	}
	var desc *format.Segment
	err = guard(func() error {
		var derr error
		desc, derr = format.Decode(mem)
		return derr
	})
	if err != nil {
		_ = unmap(mem)
		return nil, format.Wrapf(err, "segment %q (%s)", name, path)
	}
	if p := o.Pin; p != nil && (desc.Header.ID != p.ID || desc.Header.Version != p.Version) {
		_ = unmap(mem)
		return nil, fmt.Errorf("%w: segment %q: wanted version %d (id %s), the name holds version %d (id %s) now (attach by name to follow the latest)", format.ErrStale, name, p.Version, p.ID, desc.Header.Version, desc.Header.ID)
	}
	return &Segment{name: name, dir: d.path, path: path, owner: st.Uid, mode: os.FileMode(st.Mode & 0o777),
		file: idOf(&st), owners: slices.Clone(o.Owners), desc: desc, m: newMapping(mem), mem: mem}, nil
}

// ID is the segment's id (spec §4): 16 random bytes its writer chose when it
// published this version. The zero ID for a file of format 1.0 or 1.1.
func (s *Segment) ID() format.ID { return s.desc.Header.ID }

// Version is the segment's version number: 1 for the first publish under
// its name, one more at each replace; 0 for a file of format 1.0 or 1.1.
func (s *Segment) Version() uint64 { return s.desc.Header.Version }

// IsCurrent reports whether the name still holds the version this Segment
// has mapped: one fstatat of the path, without following a link, compared
// with the mapped file's device and inode. A name that holds nothing now is
// false, not an error. After Close it is CLOSED: once no mapping holds the
// file, a disk file system may give its inode number to a new file, so the
// comparison would no longer mean anything.
func (s *Segment) IsCurrent() (bool, error) {
	if _, err := s.mapping(); err != nil {
		return false, err
	}
	st, err := lstatPath(s.path)
	if errors.Is(err, errNoEntry) {
		return false, nil
	}
	if err != nil {
		return false, osError("check", s.name, s.path, err)
	}
	return idOf(&st) == s.file, nil
}

// Refresh returns s itself if the name still holds its version (IsCurrent),
// else the version the name holds now, attached anew from the same
// directory with the same owners (without a pin). s is left open either
// way: close it when done with it. Errors: those of IsCurrent and Attach
// (CLOSED after Close), NOT_FOUND when the name holds nothing.
func (s *Segment) Refresh() (*Segment, error) {
	cur, err := s.IsCurrent()
	if err != nil {
		return nil, err
	}
	if cur {
		return s, nil
	}
	return AttachWith(s.name, &AttachOptions{Dir: s.dir, Owners: s.owners})
}

// Name is the segment's name.
func (s *Segment) Name() string { return s.name }

// Dir is the segment's directory as an absolute, cleaned path: resolved
// against the working directory at attach, so that it names the same
// directory in any other process (a handle sent elsewhere carries it).
func (s *Segment) Dir() string { return s.dir }

// Path is the segment's file path, Dir joined with Name.
func (s *Segment) Path() string { return s.path }

// OwnerUID is the uid that owned the file when it was attached (fstat of
// the descriptor that was mapped): the user who can rewrite or truncate it.
func (s *Segment) OwnerUID() uint32 { return s.owner }

// Mode is the file's permission bits when it was attached (fstat of the
// descriptor that was mapped).
func (s *Segment) Mode() os.FileMode { return s.mode }

// Header is the decoded header.
func (s *Segment) Header() format.Header { return s.desc.Header }

// Len is the number of arrays: every directory record, the children of
// lists and dictionaries (format 1.3) included.
func (s *Segment) Len() int { return len(s.desc.Arrays) }

// Arrays describes every array in directory order, children of lists and
// dictionaries included (ArrayDesc.IsChild; Columns lists the others). The
// slice is shared: do not modify it.
func (s *Segment) Arrays() []format.ArrayDesc { return s.desc.Arrays }

// TypeName describes the type of record i for people: "int64",
// "timestamp[us, UTC]", "list<int32>", "dictionary<int8, utf8>".
func (s *Segment) TypeName(i int) string { return s.desc.TypeName(i) }

// Columns are the indexes of the arrays that are no list's or dictionary's
// child, in directory order: the segment's columns (spec §6.1).
func (s *Segment) Columns() []int { return s.desc.Columns() }

// Metadata is the segment-level key/value metadata, in stored order.
func (s *Segment) Metadata() []format.KV { return s.desc.Metadata }

// Desc describes the array called name; NOT_FOUND if there is none.
func (s *Segment) Desc(name string) (*format.ArrayDesc, error) {
	i := s.desc.Lookup(name)
	if i < 0 {
		return nil, fmt.Errorf("%w: segment %s has no array called %s", format.ErrNotFound, format.Quote(s.name), format.Quote(name))
	}
	return &s.desc.Arrays[i], nil
}

// Buffers returns the validity, offsets and data bytes of the array called
// name, inside the mapping (nil for an absent buffer). Valid until Close.
func (s *Segment) Buffers(name string) (validity, offsets, data []byte, err error) {
	a, err := s.Desc(name)
	if err != nil {
		return nil, nil, nil, err
	}
	mem, err := s.mapping()
	if err != nil {
		return nil, nil, nil, err
	}
	return window(mem, a.Validity), window(mem, a.Offsets), window(mem, a.Data), nil
}

// Array returns the array called name as an arrow.Array over the mapped
// pages, without copying. It holds a reference to the mapping: it stays
// valid after Close, until its last Release, which the caller owes. An N-D
// array comes back as its FixedSizeList storage.
//
// Attach checks only the structure: for a segment from an untrusted writer,
// call Validate first, or bad string offsets make Arrow accessors panic.
func (s *Segment) Array(name string) (arrow.Array, error) {
	i := s.desc.Lookup(name)
	if i < 0 {
		_, err := s.Desc(name) // its NOT_FOUND message
		return nil, err
	}
	return s.ArrayAt(i)
}

// ArrayAt is Array for the record at directory index i, a child of a list
// or dictionary included (INVALID_ARGUMENT when i is out of range). A list
// comes back as an arrow List or LargeList over its child, a dictionary as
// an arrow Dictionary over its values, all zero-copy.
func (s *Segment) ArrayAt(i int) (arrow.Array, error) {
	if i < 0 || i >= len(s.desc.Arrays) {
		return nil, fmt.Errorf("%w: segment %q has %d arrays, no array %d", format.ErrInvalidArgument, s.name, len(s.desc.Arrays), i)
	}
	if err := s.arrowable(&s.desc.Arrays[i]); err != nil {
		return nil, err
	}
	m, err := s.shared()
	if err != nil {
		return nil, err
	}
	defer m.release()
	return makeArray(arrowData(m, s.desc, i)), nil
}

// BuffersAt is Buffers for the record at directory index i.
func (s *Segment) BuffersAt(i int) (validity, offsets, data []byte, err error) {
	if i < 0 || i >= len(s.desc.Arrays) {
		return nil, nil, nil, fmt.Errorf("%w: segment %q has %d arrays, no array %d", format.ErrInvalidArgument, s.name, len(s.desc.Arrays), i)
	}
	mem, err := s.mapping()
	if err != nil {
		return nil, nil, nil, err
	}
	a := &s.desc.Arrays[i]
	return window(mem, a.Validity), window(mem, a.Offsets), window(mem, a.Data), nil
}

// arrowable refuses an N-D array whose rows Arrow Go's fixed-size list
// cannot describe: more than 2^31-1 elements (an int32 width), or none (a
// zero dimension; arrow-go refuses a list size of 0). The format allows both.
func (s *Segment) arrowable(a *format.ArrayDesc) error {
	if !a.ArrowListable() {
		return fmt.Errorf("%w: array %q of segment %q has %d elements per row; Arrow Go's fixed-size list holds 1 to 2^31-1; read it with Values", format.ErrInvalidArgument, a.Name, s.name, a.RowElems())
	}
	return nil
}

// Record returns every array as one arrow.Record, zero-copy, with the
// segment metadata on its schema. All arrays must share one length
// (INVALID_ARGUMENT otherwise: use Array for each). Like Array, it holds a
// reference to the mapping until its last Release, which the caller owes.
func (s *Segment) Record() (arrow.Record, error) {
	m, err := s.shared()
	if err != nil {
		return nil, err
	}
	defer m.release()
	columns := s.desc.Columns()
	fields := make([]arrow.Field, len(columns))
	rows := int64(0)
	for k, i := range columns {
		a := &s.desc.Arrays[i]
		if k == 0 {
			rows = a.Length
		} else if a.Length != rows {
			return nil, fmt.Errorf("%w: segment %q is not a table: array %q has %d rows, %q has %d", format.ErrInvalidArgument, s.name, s.desc.Arrays[0].Name, rows, a.Name, a.Length)
		}
		if err := s.arrowable(a); err != nil {
			return nil, err
		}
		fields[k] = s.desc.ArrowField(i)
	}
	cols := make([]arrow.Array, 0, len(columns))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, i := range columns {
		cols = append(cols, makeArray(arrowData(m, s.desc, i)))
	}
	var md *arrow.Metadata
	if len(s.desc.Metadata) > 0 {
		keys := make([]string, len(s.desc.Metadata))
		vals := make([]string, len(s.desc.Metadata))
		for i, kv := range s.desc.Metadata {
			keys[i], vals[i] = kv.Key, kv.Value
		}
		m := arrow.NewMetadata(keys, vals)
		md = &m
	}
	return array.NewRecord(arrow.NewSchema(fields, md), cols, rows), nil
}

// Values returns the data of the array called name as a []T over the
// mapped pages (for an N-D array, all elements in C order). T must have
// the array's width and kind: int64 for int64, date64, timestamp and
// duration; int32 for int32 and date32; float64 for float64; and so on.
// Null slots hold unspecified values: check the validity bitmap (Buffers).
// Errors: NOT_FOUND, INVALID_ARGUMENT (type mismatch), CLOSED.
func Values[T Element](s *Segment, name string) ([]T, error) {
	a, err := s.Desc(name)
	if err != nil {
		return nil, err
	}
	want := elementType[T]()
	if physical(a.Type) != want {
		return nil, fmt.Errorf("%w: array %q of segment %q is %s, not readable as %s", format.ErrInvalidArgument, name, s.name, a.DType, reflect.TypeFor[T]())
	}
	mem, err := s.mapping()
	if err != nil {
		return nil, err
	}
	n := int(a.Length * a.RowElems())
	if n == 0 {
		return []T{}, nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[a.Data.Offset])), n), nil
}

// physical is the integer or float type whose Go slice reads t's data.
func physical(t format.Type) format.Type {
	switch t {
	case format.Date32:
		return format.Int32
	case format.Date64, format.Timestamp, format.Duration:
		return format.Int64
	}
	return t
}

// Validate runs the full validation (spec §11.3): offsets, null counts,
// UTF-8 and data checksums. It reads every data page. A file truncated
// under the mapping gives TRUNCATED instead of crashing the process.
func (s *Segment) Validate() error {
	mem, err := s.mapping()
	if err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := guard(func() error { return s.desc.Validate(mem) }); err != nil {
		return format.Wrapf(err, "segment %q", s.name)
	}
	return nil
}

// Guard runs read, a function that reads this segment's mapped memory
// (through Values, Buffers, Array, Record...), with memory faults turned
// into an error: if the file was truncated under the mapping (spec §15),
// the access to a page that no longer exists returns TRUNCATED from Guard
// instead of killing the process with SIGBUS. Only accesses made by read
// itself, on the calling goroutine, are protected; after a fault read has
// stopped part-way, so discard whatever it produced. Other panics pass
// through. Errors: CLOSED, TRUNCATED, or read's own error.
func (s *Segment) Guard(read func() error) error {
	if _, err := s.mapping(); err != nil {
		return err
	}
	if err := guard(read); err != nil {
		if format.CodeOf(err) == format.Truncated {
			return format.Wrapf(err, "segment %q", s.name)
		}
		return err
	}
	return nil
}

// Close drops the segment's own reference to its mapping: slices and
// buffers from Values, Buffers and Guard become invalid, and the mapping
// goes as soon as no Arrow array or record from Array or Record holds it
// any more (each holds it until its last Release). Close never unlinks. It
// is idempotent.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mem == nil {
		return nil
	}
	err := s.m.release()
	s.mem = nil
	if err != nil {
		return osError("unmap", s.name, s.path, err)
	}
	return nil
}

// shared returns the mapping with a reference the caller releases, so that
// it outlives a Close that races with building Arrow buffers over it.
func (s *Segment) shared() (*mapping, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mem == nil {
		return nil, fmt.Errorf("%w: segment %q was closed", format.ErrClosed, s.name)
	}
	s.m.retain()
	return s.m, nil
}

func (s *Segment) mapping() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mem == nil {
		return nil, fmt.Errorf("%w: segment %q was closed", format.ErrClosed, s.name)
	}
	return s.mem, nil
}

func window(mem []byte, b format.Buffer) []byte {
	if b.Length == 0 {
		return nil
	}
	return mem[b.Offset:b.End():b.End()]
}

// arrowBuffer is an Arrow buffer over the bytes of b in m, holding a
// reference to m; nil for an absent buffer.
func arrowBuffer(m *mapping, b format.Buffer) *memory.Buffer {
	if b.Length == 0 {
		return nil
	}
	return m.buffer(window(m.mem, b))
}

// arrowData builds Arrow array data over the mapped buffers of record i of
// seg, and of its children for a list or dictionary (recursion at most
// format.MaxDepth deep); each buffer holds a reference to m until its last
// Release. The caller releases the data.
func arrowData(m *mapping, seg *format.Segment, i int) arrow.ArrayData {
	a := &seg.Arrays[i]
	n := int(a.Length)
	validity := arrowBuffer(m, a.Validity)
	var bufs []*memory.Buffer
	var children []arrow.ArrayData
	switch {
	case a.Type.ListOffsetWidth() != 0:
		offs := arrowBuffer(m, a.Offsets)
		if offs == nil {
			offs = memory.NewBufferBytes(make([]byte, a.Type.ListOffsetWidth()))
		}
		child := arrowData(m, seg, a.Child)
		defer child.Release()
		bufs, children = []*memory.Buffer{validity, offs}, []arrow.ArrayData{child}
	case a.Type == format.Dictionary:
		dict := arrowData(m, seg, a.Child)
		defer dict.Release()
		bufs = []*memory.Buffer{validity, arrowBuffer(m, a.Data)}
		defer releaseAll(bufs...)
		return array.NewDataWithDictionary(seg.ArrowType(i), n, bufs, int(a.NullCount), 0, dict.(*array.Data))
	case a.NDim() > 1:
		data := arrowBuffer(m, a.Data)
		child := array.NewData(a.DType.ArrowType(), n*int(a.RowElems()), []*memory.Buffer{nil, data}, nil, 0, 0)
		releaseAll(data)
		defer child.Release()
		bufs, children = []*memory.Buffer{validity}, []arrow.ArrayData{child}
	case a.Type.VarLength():
		offs := arrowBuffer(m, a.Offsets)
		if offs == nil {
			// An empty array may store no offsets; Arrow wants one entry.
			offs = memory.NewBufferBytes(make([]byte, a.Type.OffsetWidth()))
		}
		bufs = []*memory.Buffer{validity, offs, arrowBuffer(m, a.Data)}
	default:
		bufs = []*memory.Buffer{validity, arrowBuffer(m, a.Data)}
	}
	// NewData retains the buffers: the references taken here are dropped.
	defer releaseAll(bufs...)
	return array.NewData(seg.ArrowType(i), n, bufs, children, int(a.NullCount), 0)
}

// makeArray is array.MakeFromData over data, which it releases. Arrow's
// string and binary arrays read their last offset as they are made: if the
// file shrank under the mapping, that read faults, a panic that Guard turns
// into TRUNCATED. The half-made array has retained data by then (every
// arrow-go v15 setData retains first), so that reference is dropped too;
// otherwise the mapping would stay mapped for good.
func makeArray(data arrow.ArrayData) arrow.Array {
	made := false
	defer func() {
		if !made {
			data.Release()
		}
		data.Release()
	}()
	arr := array.MakeFromData(data)
	made = true
	return arr
}

func releaseAll(bufs ...*memory.Buffer) {
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
}
