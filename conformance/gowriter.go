package conformance

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// GoWriterAPI names the arena call WriteGo uses for a, so that the writer
// matrix exercises each entry point of the Go API where it fits:
//
//   - AddBuffers (raw buffers, as the C ABI hands them over) for arrays with
//     metadata, the only call besides AddField that takes metadata;
//   - AddSlice for 1-D integer and float arrays (except float16) without nulls;
//   - AddTensor for N-D arrays of those types without null rows;
//   - AddStrings for utf8 arrays without nulls;
//   - AddArray (an Arrow array over the buffers) for everything else: nulls,
//     bool, float16, binary types, temporal types; AddField with the
//     arrow.fixed_shape_tensor extension metadata for N-D arrays with nulls.
//
// Lists and dictionaries (format 1.3) go through AddArray as one Arrow
// array built from the column's record and its children's (which WriteGo
// then skips: "child"), except a list<integer or float> without nulls at
// either level, which goes through AddLists.
func GoWriterAPI(a *Array) string { return goWriterAPI(nil, a) }

func goWriterAPI(c *Case, a *Array) string {
	nulls := false
	for _, v := range a.Values {
		nulls = nulls || v == nil
	}
	t, _ := format.ParseType(a.Type)
	switch {
	case a.IsChild:
		return "child"
	case t == format.List && c != nil && !nulls && len(a.Metadata) == 0:
		ch := &c.Arrays[a.Child]
		if ch.Name == "" && GoWriterAPI(&Array{Type: ch.Type, Values: ch.Values, Shape: ch.Shape}) == "AddSlice" {
			return "AddLists"
		}
		return "AddArray"
	case t.Nested():
		return "AddArray"
	case len(a.Metadata) > 0:
		return "AddBuffers"
	case t.Numeric() && t != format.Float16 && !nulls && len(a.Shape) == 1:
		return "AddSlice"
	case t.Numeric() && t != format.Float16 && !nulls:
		return "AddTensor"
	case t == format.Utf8 && !nulls:
		return "AddStrings"
	case len(a.Shape) > 1:
		return "AddField"
	}
	return "AddArray"
}

// WriteGo writes c as segment name in dir through the Go API (package
// arena), choosing the call for each array as GoWriterAPI says, and
// publishes it.
func WriteGo(c *Case, dir, name string) error {
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir})
	if err != nil {
		return err
	}
	defer b.Close()
	for i := range c.Arrays {
		a := &c.Arrays[i]
		if err := addGo(b, c, a); err != nil {
			return fmt.Errorf("array %q (%s): %w", a.Name, goWriterAPI(c, a), err)
		}
	}
	if len(c.Metadata) > 0 {
		md := make(map[string]string, len(c.Metadata))
		for _, kv := range c.Metadata {
			md[kv[0]] = kv[1]
		}
		if err := b.SetMetadata(md); err != nil {
			return err
		}
	}
	return b.Publish()
}

func addGo(b *arena.Builder, c *Case, a *Array) error {
	dt, err := a.DType()
	if err != nil {
		return err
	}
	bufs, err := a.Encode(false)
	if err != nil {
		return err
	}
	switch goWriterAPI(c, a) {
	case "child":
		return nil // added with its parent
	case "AddLists":
		return addLists(b, c, a)
	case "AddBuffers":
		desc := format.ArrayDesc{Name: a.Name, DType: dt, Length: a.Length(), Shape: a.Shape, Metadata: kvs(a.Metadata)}
		return b.AddBuffers(desc, bufs.Validity, bufs.Offsets, bufs.Data)
	case "AddSlice", "AddTensor":
		return addTensor(b, a.Name, dt.Type, bufs.Data, a.Shape)
	case "AddStrings":
		vals := make([]string, len(a.Values))
		for i, v := range a.Values {
			vals[i] = v.(string)
		}
		return b.AddStrings(a.Name, vals)
	}
	var arr arrow.Array
	if dt.Type.Nested() {
		data, err := arrowTree(c, a)
		if err != nil {
			return err
		}
		arr = array.MakeFromData(data)
		data.Release()
	} else {
		arr = arrowArray(a, dt, bufs)
	}
	defer arr.Release()
	field := arrow.Field{Name: a.Name, Type: arr.DataType(), Nullable: true}
	if len(a.Shape) > 1 {
		shape, _ := json.Marshal(map[string][]int64{"shape": a.Shape[1:]})
		field.Metadata = arrow.NewMetadata([]string{format.ExtensionNameKey, format.ExtensionMetaKey},
			[]string{format.TensorExtensionName, string(shape)})
		return b.AddField(field, arr)
	}
	return b.AddArray(a.Name, arr)
}

// addTensor hands raw little-endian elements to AddSlice / AddTensor as the
// Go slice of the matching type.
func addTensor(b *arena.Builder, name string, t format.Type, raw []byte, shape []int64) error {
	switch t {
	case format.Int8:
		return tensorOf[int8](b, name, raw, shape)
	case format.Uint8:
		return tensorOf[uint8](b, name, raw, shape)
	case format.Int16:
		return tensorOf[int16](b, name, raw, shape)
	case format.Uint16:
		return tensorOf[uint16](b, name, raw, shape)
	case format.Int32:
		return tensorOf[int32](b, name, raw, shape)
	case format.Uint32:
		return tensorOf[uint32](b, name, raw, shape)
	case format.Int64:
		return tensorOf[int64](b, name, raw, shape)
	case format.Uint64:
		return tensorOf[uint64](b, name, raw, shape)
	case format.Float32:
		return tensorOf[float32](b, name, raw, shape)
	case format.Float64:
		return tensorOf[float64](b, name, raw, shape)
	}
	return fmt.Errorf("no Go slice type for %s", t)
}

func tensorOf[T arena.Element](b *arena.Builder, name string, raw []byte, shape []int64) error {
	var zero T
	n := len(raw) / int(unsafe.Sizeof(zero))
	vals := make([]T, n)
	if n > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&vals[0])), len(raw)), raw) // little-endian host
	}
	if len(shape) == 1 {
		return arena.AddSlice(b, name, vals)
	}
	return arena.AddTensor(b, name, vals, shape...)
}

// arrowTree builds the Arrow data of record a of c with its children
// (format 1.3), each node over its own buffers. The caller releases it.
func arrowTree(c *Case, a *Array) (arrow.ArrayData, error) {
	dt, err := a.DType()
	if err != nil {
		return nil, err
	}
	bufs, err := a.Encode(false)
	if err != nil {
		return nil, err
	}
	if !dt.Type.Nested() {
		arr := arrowArray(a, dt, bufs)
		defer arr.Release()
		data := arr.Data()
		data.Retain()
		return data, nil
	}
	child, err := arrowTree(c, &c.Arrays[a.Child])
	if err != nil {
		return nil, err
	}
	defer child.Release()
	n := int(a.Length())
	var validity *memory.Buffer
	if bufs.Validity != nil {
		validity = memory.NewBufferBytes(bufs.Validity)
	}
	if dt.Type == format.Dictionary {
		typ := &arrow.DictionaryType{IndexType: format.DType{Type: dt.IndexType}.ArrowType(), ValueType: child.DataType()}
		return array.NewDataWithDictionary(typ, n, []*memory.Buffer{validity, memory.NewBufferBytes(bufs.Data)}, int(bufs.NullCount), 0, child.(*array.Data)), nil
	}
	offs := bufs.Offsets
	if offs == nil {
		offs = make([]byte, dt.Type.ListOffsetWidth())
	}
	name := c.Arrays[a.Child].Name
	if name == "" {
		name = "item"
	}
	field := arrow.Field{Name: name, Type: child.DataType(), Nullable: true}
	typ := arrow.DataType(arrow.ListOfField(field))
	if dt.Type == format.LargeList {
		typ = arrow.LargeListOfField(field)
	}
	return array.NewData(typ, n, []*memory.Buffer{validity, memory.NewBufferBytes(offs)}, []arrow.ArrayData{child}, int(bufs.NullCount), 0), nil
}

// addLists writes a list column without nulls through arena.AddLists.
func addLists(b *arena.Builder, c *Case, a *Array) error {
	ch := &c.Arrays[a.Child]
	dt, err := ch.DType()
	if err != nil {
		return err
	}
	bufs, err := ch.Encode(false)
	if err != nil {
		return err
	}
	w := dt.Type.Width()
	rows := make([][]byte, 0, len(a.Values))
	at := 0
	for _, v := range a.Values {
		k, _ := strconv.Atoi(fmt.Sprint(v))
		rows = append(rows, bufs.Data[at*w:(at+k)*w])
		at += k
	}
	switch dt.Type {
	case format.Int8:
		return listsOf[int8](b, a.Name, rows)
	case format.Uint8:
		return listsOf[uint8](b, a.Name, rows)
	case format.Int16:
		return listsOf[int16](b, a.Name, rows)
	case format.Uint16:
		return listsOf[uint16](b, a.Name, rows)
	case format.Int32:
		return listsOf[int32](b, a.Name, rows)
	case format.Uint32:
		return listsOf[uint32](b, a.Name, rows)
	case format.Int64:
		return listsOf[int64](b, a.Name, rows)
	case format.Uint64:
		return listsOf[uint64](b, a.Name, rows)
	case format.Float32:
		return listsOf[float32](b, a.Name, rows)
	case format.Float64:
		return listsOf[float64](b, a.Name, rows)
	}
	return fmt.Errorf("no Go slice type for %s", dt.Type)
}

func listsOf[T arena.Element](b *arena.Builder, name string, raw [][]byte) error {
	rows := make([][]T, len(raw))
	var zero T
	for i, r := range raw {
		rows[i] = make([]T, len(r)/int(unsafe.Sizeof(zero)))
		if len(r) > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&rows[i][0])), len(r)), r)
		}
	}
	return arena.AddLists(b, name, rows)
}

// arrowArray builds an Arrow array over the buffers (Go memory).
func arrowArray(a *Array, dt format.DType, bufs Buffers) arrow.Array {
	n := int(a.Length())
	mk := func(p []byte) *memory.Buffer {
		if p == nil {
			return nil
		}
		return memory.NewBufferBytes(p)
	}
	validity := mk(bufs.Validity)
	if len(a.Shape) > 1 {
		e := 1
		for _, d := range a.Shape[1:] {
			e *= int(d)
		}
		child := array.NewData(dt.ArrowType(), n*e, []*memory.Buffer{nil, mk(bufs.Data)}, nil, 0, 0)
		defer child.Release()
		typ := arrow.FixedSizeListOf(int32(e), dt.ArrowType())
		data := array.NewData(typ, n, []*memory.Buffer{validity}, []arrow.ArrayData{child}, int(bufs.NullCount), 0)
		defer data.Release()
		return array.MakeFromData(data)
	}
	buffers := []*memory.Buffer{validity, mk(bufs.Data)}
	if dt.Type.VarLength() {
		offs := bufs.Offsets
		if offs == nil {
			offs = make([]byte, dt.Type.OffsetWidth())
		}
		buffers = []*memory.Buffer{validity, mk(offs), mk(bufs.Data)}
	}
	data := array.NewData(dt.ArrowType(), n, buffers, nil, int(bufs.NullCount), 0)
	defer data.Release()
	return array.MakeFromData(data)
}
