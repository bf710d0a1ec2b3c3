package arena

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/shmarray/shmarray/format"
)

// AddArray adds arr under name. Its buffers are copied into the segment in
// one pass (sliced arrays are normalized: offsets rebased to 0, bitmaps
// shifted), unless they already live in the segment because a builder used
// Allocator, in which case nothing is copied. The caller keeps its reference
// to arr. A FixedSizeList of an integer or float type whose values have no
// nulls is stored as a 2-D array. A List, LargeList or Dictionary (format
// 1.3) is stored as one record per node: the column, then its values as
// unnamed child records, always copied; the segment is then a 1.3 file.
//
// Errors: INVALID_ARGUMENT (name, duplicate name, unsupported type), NO_SPACE,
// CLOSED.
func (b *Builder) AddArray(name string, arr arrow.Array) error {
	return b.AddField(arrow.Field{Name: name}, arr)
}

// AddField is AddArray with the name and key/value metadata of field; the
// field's type is ignored in favour of arr's.
func (b *Builder) AddField(field arrow.Field, arr arrow.Array) error {
	desc, err := describe(field, arr)
	if err != nil {
		return format.Wrapf(err, "segment %q", b.name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkName(desc.Name); err != nil {
		return err
	}
	if desc.Type.Nested() { // a list or dictionary: records for its children too
		return b.addTree(desc, arr)
	}
	mark := b.end
	copied := !b.reference(desc, arr)
	if copied {
		if err := b.copyArrow(desc, arr); err != nil {
			b.rollback(mark)
			return err
		}
	}
	return b.commit(desc, mark, copied)
}

// AddRecord adds every column of rec under its field's name, with the
// field's metadata. Columns already added stay added if a later one fails.
func (b *Builder) AddRecord(rec arrow.Record) error {
	for i, f := range rec.Schema().Fields() {
		if err := b.AddField(f, rec.Column(i)); err != nil {
			return err
		}
	}
	return nil
}

// Element is a Go type that AddSlice and AddTensor store without nulls.
type Element interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// AddSlice copies values into the segment as a 1-D array of the matching
// type (int64 for []int64, float64 for []float64, ...), in one pass.
func AddSlice[T Element](b *Builder, name string, values []T) error {
	return AddTensor(b, name, values, int64(len(values)))
}

// AddTensor copies values into the segment as an N-D array of the given
// shape in C order: shape[0] rows of prod(shape[1:]) elements each, and
// len(values) must equal the product of shape. 1 to 8 dimensions.
func AddTensor[T Element](b *Builder, name string, values []T, shape ...int64) error {
	t := elementType[T]()
	desc := &format.ArrayDesc{Name: name, DType: format.DType{Type: t}}
	if len(shape) == 0 || len(shape) > format.MaxNDim {
		return fmt.Errorf("%w: array %q: %d dimensions, 1 to %d allowed", format.ErrInvalidArgument, name, len(shape), format.MaxNDim)
	}
	total := int64(1)
	for _, d := range shape {
		if d < 0 || (d > 0 && total > math.MaxInt64/d) {
			return fmt.Errorf("%w: array %q: shape %v is negative or too large", format.ErrInvalidArgument, name, shape)
		}
		total *= d
	}
	if total != int64(len(values)) {
		return fmt.Errorf("%w: array %q: shape %v holds %d elements but %d values were given", format.ErrInvalidArgument, name, shape, total, len(values))
	}
	desc.Length, desc.Shape = shape[0], append([]int64(nil), shape...)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(values))), len(values)*t.Width())
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkName(name); err != nil {
		return err
	}
	b.sum = 0
	var err error
	if desc.Data, err = b.copyIn(raw); err != nil {
		return err
	}
	b.checksummed(desc)
	b.add(desc) // fixed width without nulls: nothing to validate
	return nil
}

// AddStrings copies values into the segment as a utf8 array without nulls
// (large_utf8 when the bytes exceed 2 GiB). Values must be valid UTF-8;
// full validation checks it. Use AddArray for nulls.
func (b *Builder) AddStrings(name string, values []string) error {
	total := 0
	for _, s := range values {
		total += len(s)
	}
	typ, ow := format.Utf8, 4
	if total > math.MaxInt32 {
		typ, ow = format.LargeUtf8, 8
	}
	desc := &format.ArrayDesc{Name: name, DType: format.DType{Type: typ}, Length: int64(len(values)), Shape: []int64{int64(len(values))}}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkName(name); err != nil {
		return err
	}
	offOff, err := b.alloc(uint64((len(values) + 1) * ow))
	if err != nil {
		return err
	}
	dataOff, err := b.alloc(uint64(total))
	if err != nil {
		return err
	}
	offs, data := b.mem[offOff:], b.mem[dataOff:dataOff+uint64(total)]
	pos := 0
	for i, s := range values {
		putOffset(offs, i, ow, int64(pos))
		pos += copy(data[pos:], s)
	}
	putOffset(offs, len(values), ow, int64(pos))
	desc.Offsets = format.Buffer{Offset: offOff, Length: uint64((len(values) + 1) * ow)}
	desc.Data = format.Buffer{Offset: dataOff, Length: uint64(total)}
	return b.commit(desc, offOff, false)
}

func putOffset(b []byte, i, width int, v int64) {
	if width == 4 {
		*(*int32)(unsafe.Pointer(&b[i*4])) = int32(v)
	} else {
		*(*int64)(unsafe.Pointer(&b[i*8])) = v
	}
}

func elementType[T Element]() format.Type {
	switch reflect.TypeFor[T]().Kind() {
	case reflect.Int8:
		return format.Int8
	case reflect.Int16:
		return format.Int16
	case reflect.Int32:
		return format.Int32
	case reflect.Int64:
		return format.Int64
	case reflect.Uint8:
		return format.Uint8
	case reflect.Uint16:
		return format.Uint16
	case reflect.Uint32:
		return format.Uint32
	case reflect.Uint64:
		return format.Uint64
	case reflect.Float32:
		return format.Float32
	default:
		return format.Float64
	}
}

// checkName refuses a bad or repeated array name, and a finished builder.
// Called with mu held.
func (b *Builder) checkName(name string) error {
	if b.done {
		return b.closedError()
	}
	if err := format.ValidArrayName(name); err != nil {
		return format.Wrapf(err, "segment %q", b.name)
	}
	if _, dup := b.names[name]; dup {
		return fmt.Errorf("%w: segment %q already has an array called %q", format.ErrInvalidArgument, b.name, name)
	}
	return nil
}

// commit runs the full validation of spec §11.3 over the array just written
// (so that nothing this writer publishes fails a reader's full validation)
// and adds it; on failure it returns the space allocated since mark.
// copied says the array's buffers were copied in, so b.sum is their data
// checksum. Called with mu held.
func (b *Builder) commit(desc *format.ArrayDesc, mark uint64, copied bool) error {
	if err := format.ValidateArray(b.mem, desc); err != nil {
		b.rollback(mark)
		return fmt.Errorf("%w: segment %q: array %q is not valid: %v", format.ErrInvalidArgument, b.name, desc.Name, err)
	}
	if copied {
		b.checksummed(desc)
	}
	b.add(desc)
	return nil
}

// checksummed records b.sum, the checksum taken while desc's buffers were
// copied, as its data checksum. Called with mu held.
func (b *Builder) checksummed(desc *format.ArrayDesc) {
	if !b.opts.NoDataChecksum {
		desc.DataCRC, desc.HasDataCRC = b.sum, true
	}
}

// rollback returns the space allocated since mark, which no array uses.
func (b *Builder) rollback(mark uint64) {
	if mark >= b.pinned && mark <= b.end {
		b.end = mark
	}
}

// add appends a finished array and pins everything allocated so far.
// Called with mu held.
func (b *Builder) add(desc *format.ArrayDesc) {
	b.arrays = append(b.arrays, *desc)
	if !desc.IsChild { // children's names are not the segment's (spec §6.1)
		b.names[desc.Name] = struct{}{}
	}
	for _, buf := range []format.Buffer{desc.Validity, desc.Offsets, desc.Data} {
		if buf.Length != 0 {
			b.pinned = max(b.pinned, alignUp(buf.End()))
		}
	}
}

// describe works out the format description of arr, without buffers.
func describe(field arrow.Field, arr arrow.Array) (*format.ArrayDesc, error) {
	n := int64(arr.Len())
	desc := &format.ArrayDesc{Name: field.Name, Length: n, NullCount: int64(arr.NullN()), Shape: []int64{n}}
	if field.HasMetadata() {
		for i, k := range field.Metadata.Keys() {
			desc.Metadata = append(desc.Metadata, format.KV{Key: k, Value: field.Metadata.Values()[i]})
		}
	}
	dt := arr.DataType()
	if fsl, ok := dt.(*arrow.FixedSizeListType); ok {
		elem, err := format.FromArrow(fsl.Elem())
		if err != nil || !elem.Type.Numeric() {
			return nil, fmt.Errorf("%w: array %q: a fixed-size list is stored only over integers or floats, not %s", format.ErrInvalidArgument, field.Name, fsl.Elem())
		}
		if nullElement(arr.(*array.FixedSizeList), fsl.Len()) {
			return nil, fmt.Errorf("%w: array %q: a fixed-size list stored as an N-D array may have null rows but not null elements inside a valid row", format.ErrInvalidArgument, field.Name)
		}
		desc.DType = elem
		shape, err := tensorShape(field, int64(fsl.Len()))
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", field.Name, err)
		}
		desc.Shape = append(desc.Shape, shape...)
		desc.Metadata = withoutExtensionKeys(desc.Metadata)
		return desc, nil
	}
	t, err := format.FromArrow(dt)
	if err != nil {
		return nil, fmt.Errorf("array %q: %w", field.Name, err)
	}
	desc.DType = t
	return desc, nil
}

// nullElement reports whether a valid row of l holds a null element. Arrow
// builders put null elements under null rows; those are fine.
func nullElement(l *array.FixedSizeList, width int32) bool {
	values := l.ListValues()
	if values.NullN() == 0 {
		return false
	}
	base := (l.Data().Offset()) * int(width)
	for row := 0; row < l.Len(); row++ {
		if l.IsNull(row) {
			continue
		}
		for j := 0; j < int(width); j++ {
			if values.IsNull(base + row*int(width) + j) {
				return true
			}
		}
	}
	return false
}

// tensorShape is the shape of one row of a fixed-size list of width
// elements: [width], or the "shape" of the arrow.fixed_shape_tensor
// extension metadata when field carries it (its product must be width).
func tensorShape(field arrow.Field, width int64) ([]int64, error) {
	name, _ := field.Metadata.GetValue(format.ExtensionNameKey)
	if name != format.TensorExtensionName {
		return []int64{width}, nil
	}
	raw, _ := field.Metadata.GetValue(format.ExtensionMetaKey)
	var meta struct {
		Shape []int64 `json:"shape"`
	}
	if err := json.Unmarshal([]byte(raw), &meta); err != nil {
		return nil, fmt.Errorf("%w: %s metadata %q is not JSON with a \"shape\": %v", format.ErrInvalidArgument, format.TensorExtensionName, raw, err)
	}
	prod := int64(1)
	for _, d := range meta.Shape {
		if d < 0 || (d > 0 && prod > math.MaxInt64/d) {
			prod = -1
			break
		}
		prod *= d
	}
	if prod != width || len(meta.Shape)+1 > format.MaxNDim {
		return nil, fmt.Errorf("%w: tensor shape %v does not match rows of %d elements (at most %d dimensions)", format.ErrInvalidArgument, meta.Shape, width, format.MaxNDim-1)
	}
	return meta.Shape, nil
}

// withoutExtensionKeys drops the Arrow extension keys: the format records
// the shape itself and readers add the keys back.
func withoutExtensionKeys(md []format.KV) []format.KV {
	out := md[:0:0]
	for _, kv := range md {
		if kv.Key != format.ExtensionNameKey && kv.Key != format.ExtensionMetaKey {
			out = append(out, kv)
		}
	}
	return out
}
