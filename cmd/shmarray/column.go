package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/bitutil"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// A column is one array being streamed into an unpublished segment: the
// record batches of an input are appended to it one at a time, and its
// buffers live in the segment from the start (Builder.Allocator), so that
// finishing it and adding it with Builder.AddField copies nothing and no
// whole column is ever held on the Go heap.
//
// Why not Arrow's builders over the segment allocator: the allocator is a
// bump allocator in which only the most recent allocation grows in place.
// An Arrow builder doubles its buffers (a copy and a dead hole in the
// segment each time once another column allocated after it) and trims them
// in NewArray (another copy). A column instead takes a capacity computed
// from what the input says about its size (Parquet's row count, an IPC
// file's batches, a CSV's size and a sample of its rows), grows only when
// that falls short, and hands the buffers over untrimmed; unused capacity
// stays in the segment as slack.
type column struct {
	field arrow.Field // name, metadata and stored type
	kind  colKind
	width int // bytes per row of the data buffer: kindFixed, kindTensor
	ow    int // bytes per offset: kindVar
	mem   memory.Allocator
	// kindNested: the input's batches, retained until add concatenates them.
	chunks []arrow.Array

	// Buffers in the segment; len is the capacity.
	valid, offs, data []byte
	capRows           int
	rows, nulls       int
	dataLen           int  // kindVar: bytes of values so far
	sized             bool // reserve gave a size: grow by a quarter past it, not double
}

type colKind int

const (
	kindFixed  colKind = iota // width bytes per value: numbers, dates, times, fixed_size_binary
	kindBool                  // one bit per value
	kindVar                   // offsets and data: utf8, binary and their large forms
	kindTensor                // fixed-size list of numbers: an N-D array
	// kindNested: a list, large_list or dictionary (format 1.3), stored as
	// one record per Arrow node. Its batches are held as Arrow arrays on
	// the Go heap and copied into the segment once, at add; unlike the
	// other kinds, such a column is held whole in memory while it is read.
	kindNested
)

// errUnsupported marks a column whose type the format cannot store.
var errUnsupported = errors.New("unsupported type")

// newColumn prepares a column for values of field's type, with buffers
// from mem (a Builder's allocator). The type is checked here, before any
// data is read: unsupported types fail with errUnsupported in the chain.
func newColumn(field arrow.Field, mem memory.Allocator) (*column, error) {
	c := &column{field: field, mem: mem}
	dt := field.Type
	if ext, ok := dt.(arrow.ExtensionType); ok {
		// The format stores the storage type and records the extension in
		// the field metadata, the way Arrow IPC does for unknown extensions.
		dt = ext.StorageType()
		md := field.Metadata
		if _, ok := md.GetValue(format.ExtensionNameKey); !ok {
			md = arrow.MetadataFrom(map[string]string{format.ExtensionNameKey: ext.ExtensionName(), format.ExtensionMetaKey: ext.Serialize()})
			c.field.Metadata = mergeMetadata(field.Metadata, md)
		}
	}
	c.field.Type = dt
	switch dt.(type) {
	case *arrow.ListType, *arrow.LargeListType, *arrow.DictionaryType:
		if _, err := format.FromArrow(dt); err != nil {
			return nil, fmt.Errorf("%w: column %q: %s", errUnsupported, field.Name, reason(err))
		}
		c.kind = kindNested
		return c, nil
	}
	if l, ok := dt.(*arrow.FixedSizeListType); ok {
		elem, err := format.FromArrow(l.Elem())
		if err != nil || !elem.Type.Numeric() {
			return nil, fmt.Errorf("%w: column %q is a fixed-size list of %s; N-D arrays hold integers or floats", errUnsupported, field.Name, l.Elem())
		}
		c.kind, c.width = kindTensor, int(l.Len())*elem.Type.Width()
		return c, nil
	}
	t, err := format.FromArrow(dt)
	if err != nil {
		return nil, fmt.Errorf("%w: column %q: %s", errUnsupported, field.Name, reason(err))
	}
	switch {
	case t.Type == format.Bool:
		c.kind = kindBool
	case t.Type.VarLength():
		c.kind, c.ow = kindVar, t.Type.OffsetWidth()
	case t.Type == format.FixedSizeBinary:
		c.kind, c.width = kindFixed, t.ByteWidth
	default:
		c.kind, c.width = kindFixed, t.Type.Width()
	}
	return c, nil
}

// reserve sets the capacity to rows values and, for variable-length types,
// dataBytes bytes of values, exactly (no growth factor): callers that know
// the size of the input say so here and nothing is copied later. With
// validity, the bitmap is allocated now rather than at the first null, so
// that a column whose value bytes grow later stays the segment's last
// allocation and grows in place.
func (c *column) reserve(rows, dataBytes int, validity bool) error {
	if c.kind == kindNested {
		return nil // held as Arrow arrays until add
	}
	if validity && c.valid == nil {
		if err := c.resize(&c.valid, bitmapBytes(max(rows, c.capRows))); err != nil {
			return err
		}
		bitutil.SetBitsTo(c.valid, 0, int64(c.rows), true)
	}
	if rows > 0 {
		c.sized = true
	}
	if err := c.growRows(rows, true); err != nil {
		return err
	}
	if c.kind == kindVar {
		return c.growData(dataBytes, true)
	}
	return nil
}

// measure is the number of value bytes appending arr needs (variable-length
// types; 0 for the others).
func (c *column) measure(arr arrow.Array) int {
	if c.kind != kindVar {
		return 0
	}
	data := storage(arr).Data()
	w := offsetWidth(data.DataType())
	if data.Len() == 0 {
		return 0
	}
	offs := data.Buffers()[1].Bytes()
	return int(readOffset(offs, w, data.Offset()+data.Len()) - readOffset(offs, w, data.Offset()))
}

// append adds the values of arr, whose type must be the column's input
// type. Errors: NO_SPACE from the segment, or a value the format cannot
// store (a null element inside an N-D row).
func (c *column) append(arr arrow.Array) error {
	arr = storage(arr)
	n := arr.Len()
	if n == 0 {
		return nil
	}
	if c.kind == kindNested {
		arr.Retain()
		c.chunks = append(c.chunks, arr)
		c.rows += n
		return nil
	}
	if err := c.growRows(c.rows+n, false); err != nil {
		return err
	}
	data := arr.Data()
	off := data.Offset()
	if nn := arr.NullN(); nn > 0 {
		if err := c.ensureValidity(); err != nil {
			return err
		}
		bitutil.CopyBitmap(data.Buffers()[0].Bytes(), off, n, c.valid, c.rows)
		c.nulls += nn
	} else if c.valid != nil {
		bitutil.SetBitsTo(c.valid, int64(c.rows), int64(n), true)
	}
	var err error
	switch {
	case c.kind == kindFixed:
		copy(c.data[c.rows*c.width:], data.Buffers()[1].Bytes()[off*c.width:(off+n)*c.width])
	case c.kind == kindBool:
		bitutil.CopyBitmap(data.Buffers()[1].Bytes(), off, n, c.data, c.rows)
	case c.kind == kindTensor:
		err = c.appendTensor(arr.(*array.FixedSizeList))
	default:
		err = c.appendVar(data)
	}
	if err != nil {
		return err
	}
	c.rows += n
	return nil
}

// appendVar copies the values and rebased offsets of a utf8/binary batch.
func (c *column) appendVar(data arrow.ArrayData) error {
	n, off := data.Len(), data.Offset()
	inW := offsetWidth(data.DataType())
	offs := data.Buffers()[1].Bytes()
	start := int(readOffset(offs, inW, off))
	end := int(readOffset(offs, inW, off+n))
	if err := c.reserveValues(end - start); err != nil {
		return err
	}
	if end > start {
		copy(c.data[c.dataLen:], data.Buffers()[2].Bytes()[start:end])
	}
	base := int64(c.dataLen - start)
	switch {
	case inW == 4 && c.ow == 4:
		in := arrow.Int32Traits.CastFromBytes(offs)[off+1 : off+n+1]
		out := arrow.Int32Traits.CastFromBytes(c.offs)[c.rows+1 : c.rows+n+1]
		for i, v := range in {
			out[i] = int32(int64(v) + base)
		}
	default:
		for i := 1; i <= n; i++ {
			writeOffset(c.offs, c.ow, c.rows+i, readOffset(offs, inW, off+i)+base)
		}
	}
	c.dataLen += end - start
	return nil
}

// appendTensor copies the elements of a fixed-size list batch.
func (c *column) appendTensor(l *array.FixedSizeList) error {
	width := int(l.DataType().(*arrow.FixedSizeListType).Len())
	n, off := l.Len(), l.Data().Offset()
	child := l.ListValues().Data()
	if child.NullN() > 0 {
		vals := l.ListValues()
		for i := 0; i < n; i++ {
			if l.IsNull(i) {
				continue
			}
			for j := 0; j < width; j++ {
				if vals.IsNull((off+i)*width + j) {
					return fmt.Errorf("%w: column %q has a null element inside row %d; N-D arrays may have null rows but not null elements", errUnsupported, c.field.Name, c.rows+i)
				}
			}
		}
	}
	if c.width == 0 {
		return nil
	}
	elem := c.width / width
	from := (child.Offset() + off*width) * elem
	copy(c.data[c.rows*c.width:], child.Buffers()[1].Bytes()[from:from+n*c.width])
	return nil
}

// reserveValues makes room for size more value bytes, switching utf8 and
// binary to their large forms when the values outgrow 32-bit offsets.
func (c *column) reserveValues(size int) error {
	if c.ow == 4 && c.dataLen+size > math.MaxInt32 {
		if err := c.widen(); err != nil {
			return err
		}
	}
	return c.growData(c.dataLen+size, false)
}

// widen rewrites 32-bit offsets as 64-bit ones and the type as large_utf8
// or large_binary. The old offsets stay behind as slack in the segment.
func (c *column) widen() error {
	var wide []byte
	if err := c.resize(&wide, (c.capRows+1)*8); err != nil {
		return err
	}
	for i := 0; i <= c.rows; i++ {
		writeOffset(wide, 8, i, readOffset(c.offs, 4, i))
	}
	c.offs, c.ow = wide, 8
	if _, ok := c.field.Type.(*arrow.StringType); ok {
		c.field.Type = arrow.BinaryTypes.LargeString
	} else {
		c.field.Type = arrow.BinaryTypes.LargeBinary
	}
	return nil
}

// growRows makes room for need values: exactly need when exact, else with
// headroom, since growing a buffer that is not the segment's last
// allocation copies it and leaves the old one behind as a hole.
func (c *column) growRows(need int, exact bool) error {
	if need <= c.capRows {
		return nil
	}
	n := need
	if !exact {
		n = max(need, c.grown(c.capRows), 1024)
	}
	if c.valid != nil {
		if err := c.resize(&c.valid, bitmapBytes(n)); err != nil {
			return err
		}
	}
	var err error
	switch c.kind {
	case kindFixed, kindTensor:
		err = c.resize(&c.data, n*c.width)
	case kindBool:
		err = c.resize(&c.data, bitmapBytes(n))
	case kindVar:
		err = c.resize(&c.offs, (n+1)*c.ow)
	}
	if err != nil {
		return err
	}
	c.capRows = n
	return nil
}

// growData makes room for need value bytes (kindVar).
func (c *column) growData(need int, exact bool) error {
	if need <= len(c.data) {
		return nil
	}
	n := need
	if !exact {
		n = max(need, c.grown(len(c.data)), 64<<10)
	}
	return c.resize(&c.data, n)
}

// grown is the next capacity after n: double when the input's size is
// unknown (fewer moves, so fewer holes), a quarter more when a reserved
// estimate fell short.
func (c *column) grown(n int) int {
	if c.sized {
		return n + n/4
	}
	return 2 * n
}

// trim returns the unused capacity of the column's buffers to the segment
// where the allocator can take it back: only the segment's last
// allocation can shrink (Free of its tail), and the others keep their
// slack. Called once the column is complete.
func (c *column) trim() {
	used := func(buf []byte, n int) {
		if cap(buf) > 0 {
			from := alignUp(n)
			if from < cap(buf) {
				c.mem.Free(buf[from:cap(buf)])
			}
		}
	}
	used(c.data, c.dataBytes())
	if c.kind == kindVar {
		used(c.offs, (c.rows+1)*c.ow)
	}
	used(c.valid, bitmapBytes(c.rows))
}

// dataBytes is the used length of the data buffer.
func (c *column) dataBytes() int {
	switch c.kind {
	case kindVar:
		return c.dataLen
	case kindBool:
		return bitmapBytes(c.rows)
	}
	return c.rows * c.width
}

// ensureValidity allocates the bitmap at the first null, all rows so far valid.
func (c *column) ensureValidity() error {
	if c.valid != nil {
		return nil
	}
	if err := c.resize(&c.valid, bitmapBytes(c.capRows)); err != nil {
		return err
	}
	bitutil.SetBitsTo(c.valid, 0, int64(c.rows), true)
	return nil
}

// resize grows *buf to size bytes in the segment, keeping its contents; new
// bytes are zero. The segment allocator panics when the segment cannot grow
// (NO_SPACE); that comes back as an error.
func (c *column) resize(buf *[]byte, size int) (err error) {
	if size <= len(*buf) {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if !ok {
				panic(r)
			}
			err = e
		}
	}()
	if *buf == nil {
		*buf = c.mem.Allocate(size)
	} else {
		*buf = c.mem.Reallocate(size, *buf)
	}
	return nil
}

// finish returns the column as an Arrow array over its segment buffers,
// ready for Builder.AddField, which then copies nothing. Release it after.
func (c *column) finish() arrow.Array {
	var valid *memory.Buffer
	if c.nulls > 0 {
		valid = memory.NewBufferBytes(c.valid[:bitmapBytes(c.rows)])
	}
	var d arrow.ArrayData
	switch c.kind {
	case kindFixed:
		d = array.NewData(c.field.Type, c.rows, []*memory.Buffer{valid, bufferOf(c.data, c.rows*c.width)}, nil, c.nulls, 0)
	case kindBool:
		d = array.NewData(c.field.Type, c.rows, []*memory.Buffer{valid, bufferOf(c.data, bitmapBytes(c.rows))}, nil, c.nulls, 0)
	case kindTensor:
		l := c.field.Type.(*arrow.FixedSizeListType)
		child := array.NewData(l.Elem(), c.rows*int(l.Len()), []*memory.Buffer{nil, bufferOf(c.data, c.rows*c.width)}, nil, 0, 0)
		defer child.Release()
		d = array.NewData(l, c.rows, []*memory.Buffer{valid}, []arrow.ArrayData{child}, c.nulls, 0)
	case kindVar:
		offs := c.offs
		if offs == nil {
			offs = make([]byte, c.ow) // no rows: one zero offset, which the segment does not store
		}
		d = array.NewData(c.field.Type, c.rows, []*memory.Buffer{valid, bufferOf(offs, (c.rows+1)*c.ow), bufferOf(c.data, c.dataLen)}, nil, c.nulls, 0)
	}
	defer d.Release()
	return array.MakeFromData(d)
}

// add finishes the column and adds it to b; the column must not be used
// after.
func (c *column) add(b *arena.Builder) error {
	if c.kind == kindNested {
		return c.addNested(b)
	}
	c.trim()
	arr := c.finish()
	defer arr.Release()
	return b.AddField(c.field, arr)
}

func bufferOf(b []byte, n int) *memory.Buffer {
	if b == nil {
		return memory.NewBufferBytes([]byte{})
	}
	return memory.NewBufferBytes(b[:n])
}

// storage unwraps an extension array.
func storage(arr arrow.Array) arrow.Array {
	if ea, ok := arr.(array.ExtensionArray); ok {
		return ea.Storage()
	}
	return arr
}

func offsetWidth(dt arrow.DataType) int {
	switch dt.(type) {
	case *arrow.LargeStringType, *arrow.LargeBinaryType:
		return 8
	}
	return 4
}

func readOffset(b []byte, w, i int) int64 {
	if w == 4 {
		return int64(arrow.Int32Traits.CastFromBytes(b)[i])
	}
	return arrow.Int64Traits.CastFromBytes(b)[i]
}

func writeOffset(b []byte, w, i int, v int64) {
	if w == 4 {
		arrow.Int32Traits.CastFromBytes(b)[i] = int32(v)
	} else {
		arrow.Int64Traits.CastFromBytes(b)[i] = v
	}
}

func bitmapBytes(n int) int { return (n + 7) / 8 }

func alignUp(n int) int { return (n + format.Alignment - 1) &^ (format.Alignment - 1) }

// mergeMetadata is a with the keys of b added (b wins).
func mergeMetadata(a, b arrow.Metadata) arrow.Metadata {
	m := map[string]string{}
	for i, k := range a.Keys() {
		m[k] = a.Values()[i]
	}
	for i, k := range b.Keys() {
		m[k] = b.Values()[i]
	}
	return arrow.MetadataFrom(m)
}

// addNested concatenates the batches of a list or dictionary column (a
// dictionary's batches are unified into one dictionary) and adds the result
// to b, one record per Arrow node (format 1.3).
func (c *column) addNested(b *arena.Builder) error {
	defer func() {
		for _, a := range c.chunks {
			a.Release()
		}
		c.chunks = nil
	}()
	var arr arrow.Array
	switch len(c.chunks) {
	case 0:
		arr = array.MakeArrayOfNull(memory.DefaultAllocator, c.field.Type, 0)
	case 1:
		arr = c.chunks[0]
		arr.Retain()
	default:
		var err error
		if arr, err = array.Concatenate(c.chunks, memory.DefaultAllocator); err != nil {
			return fmt.Errorf("column %q: %w", c.field.Name, err)
		}
	}
	defer arr.Release()
	return b.AddField(c.field, arr)
}
