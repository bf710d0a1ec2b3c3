package arena

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/shmarray/shmarray/format"
)

// Lists and dictionaries (format 1.3, spec §6.1). An Arrow list or
// dictionary array becomes one record per node: the column, then its child
// (the list's values, the dictionary's values), recursively, each child
// right after its parent's subtree starts (pre-order), so that every child
// comes after its parent. Sliced inputs are rebased: offsets start at 0,
// the child holds exactly the slots they reach, bitmaps start at bit 0.

// addTree copies the list or dictionary arr, described by root, and its
// children, validates every node (spec §11.3) and adds them; on failure
// nothing is added. Called with mu held.
func (b *Builder) addTree(root *format.ArrayDesc, arr arrow.Array) error {
	mark := b.end
	base := len(b.arrays)
	var nodes []format.ArrayDesc
	childLen := map[int]int64{} // node -> length of its child
	var build func(desc *format.ArrayDesc, arr arrow.Array, depth int) error
	build = func(desc *format.ArrayDesc, arr arrow.Array, depth int) error {
		at := len(nodes)
		nodes = append(nodes, format.ArrayDesc{})
		var child arrow.Array
		switch desc.Type {
		case format.List, format.LargeList:
			var err error
			if child, err = b.copyList(desc, arr); err != nil {
				return err
			}
			defer child.Release()
		case format.Dictionary:
			if err := b.copyArrow(desc, arr); err != nil {
				return err
			}
			child = arr.(*array.Dictionary).Dictionary()
		default:
			if err := b.copyArrow(desc, arr); err != nil {
				return err
			}
		}
		b.checksummed(desc)
		if child != nil {
			if depth+1 > format.MaxDepth {
				return fmt.Errorf("%w: array %q: lists and dictionaries nest deeper than %d levels", format.ErrInvalidArgument, root.Name, format.MaxDepth)
			}
			// A list's child keeps its field's name unless it is Arrow's
			// default, "item", which readers give an unnamed child.
			var name string
			if lt, ok := arr.DataType().(arrow.ListLikeType); ok && lt.ElemField().Name != "item" {
				name = lt.ElemField().Name
			}
			cdesc, err := describe(arrow.Field{Name: name}, child)
			if err != nil {
				return format.Wrapf(err, "array %q", root.Name)
			}
			switch {
			case cdesc.NDim() != 1:
				return fmt.Errorf("%w: array %q: lists of fixed-size lists are not stored; the values of a list or dictionary are one-dimensional", format.ErrInvalidArgument, root.Name)
			case desc.Type == format.Dictionary && cdesc.Type.Nested():
				return fmt.Errorf("%w: array %q: a dictionary's values cannot be a %s", format.ErrInvalidArgument, root.Name, cdesc.Type)
			}
			cdesc.IsChild = true
			desc.Child = base + len(nodes)
			childLen[at] = cdesc.Length
			if err := build(cdesc, child, depth+1); err != nil {
				return err
			}
		}
		nodes[at] = *desc
		return nil
	}
	if err := build(root, arr, 0); err != nil {
		b.rollback(mark)
		return err
	}
	for i := range nodes {
		if err := format.ValidateNode(b.mem, &nodes[i], childLen[i]); err != nil {
			b.rollback(mark)
			return fmt.Errorf("%w: segment %q: array %q is not valid: %v", format.ErrInvalidArgument, b.name, root.Name, err)
		}
	}
	for i := range nodes {
		b.add(&nodes[i])
	}
	return nil
}

// copyList copies the validity and the offsets of the list arr, rebased to
// start at 0, and returns the slice of its values they reach (which the
// caller releases). Called with mu held.
func (b *Builder) copyList(desc *format.ArrayDesc, arr arrow.Array) (arrow.Array, error) {
	b.sum = 0
	data := arr.Data()
	n := uint64(desc.Length)
	if desc.NullCount > 0 {
		var err error
		if desc.Validity, err = b.copyBitmap(data.Buffers()[0].Bytes(), uint64(data.Offset()), n); err != nil {
			return nil, err
		}
	}
	// arrow-go's Offsets() are the whole buffer: the slice starts at the
	// array's offset. An empty array may come without offsets at all.
	off := uint64(data.Offset())
	offs := []int64{0}
	var values arrow.Array
	short := func(have int) error {
		return fmt.Errorf("%w: array %q: %d list offsets, a slice at %d of %d slots needs %d", format.ErrInvalidArgument, desc.Name, have, off, n, off+n+1)
	}
	switch l := arr.(type) {
	case *array.List:
		if all := l.Offsets(); uint64(len(all)) >= off+n+1 {
			offs = offs[:0]
			for _, o := range all[off : off+n+1] {
				offs = append(offs, int64(o))
			}
		} else if n > 0 {
			return nil, short(len(all))
		}
		values = l.ListValues()
	case *array.LargeList:
		if all := l.Offsets(); uint64(len(all)) >= off+n+1 {
			offs = append(offs[:0], all[off:off+n+1]...)
		} else if n > 0 {
			return nil, short(len(all))
		}
		values = l.ListValues()
	default:
		return nil, fmt.Errorf("%w: array %q: %T is not a list", format.ErrInvalidArgument, desc.Name, arr)
	}
	first, last := offs[0], offs[n]
	if first < 0 || last < first || last > int64(values.Len()) {
		return nil, fmt.Errorf("%w: array %q: list offsets [%d, %d] leave its %d values", format.ErrInvalidArgument, desc.Name, first, last, values.Len())
	}
	w := desc.Type.ListOffsetWidth()
	raw := make([]byte, len(offs)*w)
	for i, o := range offs {
		if w == 4 {
			binary.LittleEndian.PutUint32(raw[4*i:], uint32(o-first))
		} else {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(o-first))
		}
	}
	var err error
	if desc.Offsets, err = b.copyIn(raw); err != nil {
		return nil, err
	}
	return array.NewSlice(values, first, last), nil
}

// AddLists adds rows as a list<T> column (format 1.3): row i holds the
// values rows[i], a nil row is a null slot (an empty, non-nil row is an
// empty list). The values are gathered into one child record of the
// matching type (int64 for [][]int64, ...), without nulls. Errors as
// AddArray.
func AddLists[T Element](b *Builder, name string, rows [][]T) error {
	total, nulls := 0, 0
	for _, r := range rows {
		total += len(r)
		if r == nil {
			nulls++
		}
	}
	values := make([]T, 0, total)
	offsets := make([]int64, 1, len(rows)+1)
	var validity []byte
	if nulls > 0 {
		validity = make([]byte, (len(rows)+7)/8)
	}
	for i, r := range rows {
		values = append(values, r...)
		offsets = append(offsets, int64(len(values)))
		if r != nil && validity != nil {
			validity[i/8] |= 1 << (i % 8)
		}
	}
	large := total > math.MaxInt32
	elem := format.DType{Type: elementType[T]()}.ArrowType()
	vdata := array.NewData(elem, total, []*memory.Buffer{nil, memory.NewBufferBytes(rawBytes(values))}, nil, 0, 0)
	defer vdata.Release()
	typ := arrow.DataType(arrow.ListOf(elem))
	offs := make([]byte, 0, 8*len(offsets))
	for _, o := range offsets {
		if large {
			offs = binary.LittleEndian.AppendUint64(offs, uint64(o))
		} else {
			offs = binary.LittleEndian.AppendUint32(offs, uint32(o))
		}
	}
	if large {
		typ = arrow.LargeListOf(elem)
	}
	var vbuf *memory.Buffer
	if validity != nil {
		vbuf = memory.NewBufferBytes(validity)
	}
	data := array.NewData(typ, len(rows), []*memory.Buffer{vbuf, memory.NewBufferBytes(offs)}, []arrow.ArrayData{vdata}, nulls, 0)
	defer data.Release()
	arr := array.MakeFromData(data)
	defer arr.Release()
	return b.AddArray(name, arr)
}

// rawBytes is the memory of values (a little-endian host: spec §1.2).
func rawBytes[T Element](values []T) []byte {
	if len(values) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(values))), len(values)*int(unsafe.Sizeof(values[0])))
}

// AddListBuffers adds a list or large_list column (list.Type) from raw
// buffers, as AddBuffers takes them (the C ABI's shmarray_builder_add_list
// and Python without pyarrow use it): the list's validity (nil: no nulls)
// and offsets (Length+1 entries of 4 or 8 bytes, which may start above 0),
// and its values, a plain one-dimensional array described by values and
// its buffers, that the offsets index. Everything is copied and validated
// before the call returns; list.Metadata goes on the column. Errors as
// AddArray.
func (b *Builder) AddListBuffers(list format.ArrayDesc, validity, offsets []byte, values format.ArrayDesc, vValidity, vOffsets, vData []byte) error {
	w := list.Type.ListOffsetWidth()
	if w == 0 {
		return fmt.Errorf("%w: array %q: a %s is not a list", format.ErrInvalidArgument, list.Name, list.Type)
	}
	child, err := rawNode(values, vValidity, vOffsets, vData)
	if err != nil {
		return format.Wrapf(err, "array %q: values", list.Name)
	}
	defer child.Release()
	n := int(list.Length)
	if err := shortBitmap(validity, n); err != nil {
		return format.Wrapf(err, "array %q", list.Name)
	}
	if uint64(len(offsets)) < uint64(n+1)*uint64(w) {
		return fmt.Errorf("%w: array %q: %d bytes of offsets, %d slots need %d", format.ErrInvalidArgument, list.Name, len(offsets), n, (n+1)*w)
	}
	typ := arrow.DataType(arrow.ListOf(child.DataType()))
	if w == 8 {
		typ = arrow.LargeListOf(child.DataType())
	}
	data := array.NewData(typ, n, []*memory.Buffer{bitmap(validity, n), memory.NewBufferBytes(offsets)}, []arrow.ArrayData{child}, nulls(validity, n), 0)
	defer data.Release()
	arr := array.MakeFromData(data)
	defer arr.Release()
	return b.AddField(arrow.Field{Name: list.Name, Metadata: fieldMetadata(list.Metadata)}, arr)
}

// AddDictionaryBuffers adds a dictionary column from raw buffers: its
// indices, an integer array (indices.Type, int8 to uint64; nil validity: no
// nulls), and its values, a plain one-dimensional array (the dictionary).
// Copied and validated (every index of a non-null slot inside the
// dictionary) before the call returns. Errors as AddArray.
func (b *Builder) AddDictionaryBuffers(indices format.ArrayDesc, validity, data []byte, values format.ArrayDesc, vValidity, vOffsets, vData []byte) error {
	if !indices.Type.DictIndexable() {
		return fmt.Errorf("%w: array %q: dictionary indices of type %s; use an integer type", format.ErrInvalidArgument, indices.Name, indices.Type)
	}
	dict, err := rawNode(values, vValidity, vOffsets, vData)
	if err != nil {
		return format.Wrapf(err, "array %q: dictionary", indices.Name)
	}
	defer dict.Release()
	n := int(indices.Length)
	if err := shortBitmap(validity, n); err != nil {
		return format.Wrapf(err, "array %q", indices.Name)
	}
	if need := uint64(n) * uint64(indices.Type.Width()); uint64(len(data)) < need {
		return fmt.Errorf("%w: array %q: %d bytes of indices, %d slots need %d", format.ErrInvalidArgument, indices.Name, len(data), n, need)
	}
	typ := &arrow.DictionaryType{IndexType: format.DType{Type: indices.Type}.ArrowType(), ValueType: dict.DataType()}
	ad := array.NewDataWithDictionary(typ, n, []*memory.Buffer{bitmap(validity, n), memory.NewBufferBytes(data)}, nulls(validity, n), 0, dict.(*array.Data))
	defer ad.Release()
	arr := array.MakeFromData(ad)
	defer arr.Release()
	return b.AddField(arrow.Field{Name: indices.Name, Metadata: fieldMetadata(indices.Metadata)}, arr)
}

// rawNode is Arrow array data over raw buffers of a plain one-dimensional
// array (no copy: the caller's memory), for AddField to copy. The offsets
// of a variable-length array are checked enough for Arrow to slice them.
func rawNode(d format.ArrayDesc, validity, offsets, data []byte) (arrow.ArrayData, error) {
	if err := checkDesc(&d); err != nil {
		return nil, err
	}
	if len(d.Shape) > 1 || d.Type.Nested() {
		return nil, fmt.Errorf("%w: a %s of %d dimensions cannot be the values of a list or dictionary here", format.ErrInvalidArgument, d.Type, len(d.Shape))
	}
	n := int(d.Length)
	if err := shortBitmap(validity, n); err != nil {
		return nil, err
	}
	bufs := []*memory.Buffer{bitmap(validity, n), memory.NewBufferBytes(data)}
	if ow := d.Type.OffsetWidth(); ow != 0 {
		if n == 0 && len(offsets) == 0 {
			offsets = make([]byte, ow) // an empty array may come without offsets
		}
		if uint64(len(offsets)) < uint64(n+1)*uint64(ow) {
			return nil, fmt.Errorf("%w: %d bytes of offsets, %d values need %d", format.ErrInvalidArgument, len(offsets), n, (n+1)*ow)
		}
		bufs = []*memory.Buffer{bufs[0], memory.NewBufferBytes(offsets), bufs[1]}
	} else if need, ok := rawDataBytes(&d); !ok || uint64(len(data)) < need {
		return nil, fmt.Errorf("%w: %d bytes of data, %d values need %d", format.ErrInvalidArgument, len(data), n, need)
	}
	return array.NewData(d.DType.ArrowType(), n, bufs, nil, nulls(validity, n), 0), nil
}

// rawDataBytes is the data size of a fixed-width or bool array.
func rawDataBytes(d *format.ArrayDesc) (uint64, bool) {
	if d.Type == format.Bool {
		return bitmapBytes(uint64(d.Length)), true
	}
	hi, lo := bits.Mul64(uint64(d.Length), uint64(d.ElemWidth()))
	return lo, hi == 0
}

// shortBitmap refuses a validity bitmap too short for n slots.
func shortBitmap(validity []byte, n int) error {
	if validity != nil && uint64(len(validity)) < bitmapBytes(uint64(n)) {
		return fmt.Errorf("%w: validity buffer has %d bytes, %d slots need %d", format.ErrInvalidArgument, len(validity), n, bitmapBytes(uint64(n)))
	}
	return nil
}

func bitmap(validity []byte, n int) *memory.Buffer {
	if validity == nil {
		return nil
	}
	return memory.NewBufferBytes(validity[:bitmapBytes(uint64(n))])
}

func nulls(validity []byte, n int) int {
	if validity == nil {
		return 0
	}
	return n - int(format.CountSet(validity, uint64(n)))
}

func fieldMetadata(md []format.KV) arrow.Metadata {
	keys, vals := make([]string, len(md)), make([]string, len(md))
	for i, kv := range md {
		keys[i], vals[i] = kv.Key, kv.Value
	}
	return arrow.NewMetadata(keys, vals)
}
