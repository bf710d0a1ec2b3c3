package format

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
)

// Arrow extension names and metadata keys used for N-D arrays (spec §8).
const (
	TensorExtensionName = "arrow.fixed_shape_tensor"
	ExtensionNameKey    = "ARROW:extension:name"
	ExtensionMetaKey    = "ARROW:extension:metadata"
)

var arrowUnits = [...]arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond}

// ArrowType is the Arrow type of one element: the logical type of a plain
// array's values, or the element type of an N-D array. It is nil for a
// list or dictionary, whose type depends on its children
// (Segment.ArrowType).
func (d DType) ArrowType() arrow.DataType {
	switch d.Type {
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	case Int8:
		return arrow.PrimitiveTypes.Int8
	case Uint8:
		return arrow.PrimitiveTypes.Uint8
	case Int16:
		return arrow.PrimitiveTypes.Int16
	case Uint16:
		return arrow.PrimitiveTypes.Uint16
	case Int32:
		return arrow.PrimitiveTypes.Int32
	case Uint32:
		return arrow.PrimitiveTypes.Uint32
	case Int64:
		return arrow.PrimitiveTypes.Int64
	case Uint64:
		return arrow.PrimitiveTypes.Uint64
	case Float16:
		return arrow.FixedWidthTypes.Float16
	case Float32:
		return arrow.PrimitiveTypes.Float32
	case Float64:
		return arrow.PrimitiveTypes.Float64
	case Utf8:
		return arrow.BinaryTypes.String
	case LargeUtf8:
		return arrow.BinaryTypes.LargeString
	case Binary:
		return arrow.BinaryTypes.Binary
	case LargeBinary:
		return arrow.BinaryTypes.LargeBinary
	case FixedSizeBinary:
		return &arrow.FixedSizeBinaryType{ByteWidth: d.ByteWidth}
	case Date32:
		return arrow.FixedWidthTypes.Date32
	case Date64:
		return arrow.FixedWidthTypes.Date64
	case Timestamp:
		return &arrow.TimestampType{Unit: arrowUnits[d.Unit&3], TimeZone: d.TimeZone}
	case Duration:
		return &arrow.DurationType{Unit: arrowUnits[d.Unit&3]}
	}
	return nil
}

// ArrowType is the Arrow type of the array: ArrowType of its element for a
// plain array, and for an N-D array the storage type of
// arrow.fixed_shape_tensor, FixedSizeList<element>[RowElems]. It is nil for
// an N-D array whose rows hold 0 elements (a zero dimension, which the
// format allows) or more than 2^31-1, which Arrow Go's fixed-size list
// cannot describe (its constructor panics on them).
func (a *ArrayDesc) ArrowType() arrow.DataType {
	if a.NDim() > 1 {
		if !a.ArrowListable() {
			return nil
		}
		return arrow.FixedSizeListOf(int32(a.RowElems()), a.DType.ArrowType())
	}
	return a.DType.ArrowType()
}

// ArrowListable reports whether an N-D array's rows fit Arrow Go's
// fixed-size list: 1 to 2^31-1 elements each. Plain arrays always do.
func (a *ArrayDesc) ArrowListable() bool {
	if a.NDim() <= 1 {
		return true
	}
	n := a.RowElems()
	return n >= 1 && n <= math.MaxInt32
}

// ArrowField is the Arrow field for the array, carrying its metadata and,
// for an N-D array, the arrow.fixed_shape_tensor extension name and shape.
func (a *ArrayDesc) ArrowField() arrow.Field {
	keys := make([]string, 0, len(a.Metadata)+2)
	vals := make([]string, 0, len(a.Metadata)+2)
	for _, kv := range a.Metadata {
		keys, vals = append(keys, kv.Key), append(vals, kv.Value)
	}
	if a.NDim() > 1 {
		shape, _ := json.Marshal(map[string][]int64{"shape": a.Shape[1:]})
		keys = append(keys, ExtensionNameKey, ExtensionMetaKey)
		vals = append(vals, TensorExtensionName, string(shape))
	}
	f := arrow.Field{Name: a.Name, Type: a.ArrowType(), Nullable: true}
	if len(keys) > 0 {
		f.Metadata = arrow.NewMetadata(keys, vals)
	}
	return f
}

// FromArrow maps an Arrow type to the format type that stores it, or
// INVALID_ARGUMENT naming the unsupported type.
func FromArrow(dt arrow.DataType) (DType, error) {
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return DType{Type: Bool}, nil
	case *arrow.Int8Type:
		return DType{Type: Int8}, nil
	case *arrow.Uint8Type:
		return DType{Type: Uint8}, nil
	case *arrow.Int16Type:
		return DType{Type: Int16}, nil
	case *arrow.Uint16Type:
		return DType{Type: Uint16}, nil
	case *arrow.Int32Type:
		return DType{Type: Int32}, nil
	case *arrow.Uint32Type:
		return DType{Type: Uint32}, nil
	case *arrow.Int64Type:
		return DType{Type: Int64}, nil
	case *arrow.Uint64Type:
		return DType{Type: Uint64}, nil
	case *arrow.Float16Type:
		return DType{Type: Float16}, nil
	case *arrow.Float32Type:
		return DType{Type: Float32}, nil
	case *arrow.Float64Type:
		return DType{Type: Float64}, nil
	case *arrow.StringType:
		return DType{Type: Utf8}, nil
	case *arrow.LargeStringType:
		return DType{Type: LargeUtf8}, nil
	case *arrow.BinaryType:
		return DType{Type: Binary}, nil
	case *arrow.LargeBinaryType:
		return DType{Type: LargeBinary}, nil
	case *arrow.FixedSizeBinaryType:
		if t.ByteWidth < 1 {
			return DType{}, errorf(InvalidArgument, "fixed_size_binary width %d must be at least 1", t.ByteWidth)
		}
		return DType{Type: FixedSizeBinary, ByteWidth: t.ByteWidth}, nil
	case *arrow.Date32Type:
		return DType{Type: Date32}, nil
	case *arrow.Date64Type:
		return DType{Type: Date64}, nil
	case *arrow.TimestampType:
		return DType{Type: Timestamp, Unit: unitFromArrow(t.Unit), TimeZone: t.TimeZone}, nil
	case *arrow.DurationType:
		return DType{Type: Duration, Unit: unitFromArrow(t.Unit)}, nil
	case *arrow.ListType:
		return DType{Type: List}, nil
	case *arrow.LargeListType:
		return DType{Type: LargeList}, nil
	case *arrow.DictionaryType:
		ix, err := FromArrow(t.IndexType)
		if err != nil || !ix.Type.DictIndexable() {
			return DType{}, errorf(InvalidArgument, "dictionary index type %s is not an integer type", t.IndexType)
		}
		return DType{Type: Dictionary, IndexType: ix.Type}, nil
	}
	return DType{}, errorf(InvalidArgument, "Arrow type %s is not supported by format v1 (supported: bool, integers, floats, utf8, binary and their large and fixed-size forms, date32/64, timestamp, duration, list, large_list, dictionary)", dt)
}

func unitFromArrow(u arrow.TimeUnit) TimeUnit {
	for i, v := range arrowUnits {
		if v == u {
			return TimeUnit(i)
		}
	}
	return Nanosecond
}

// CFormat is the Arrow C Data Interface format string of one element, e.g.
// "l", "w:16", "tsu:UTC", "tDn".
func (d DType) CFormat() string {
	base := types[d.Type].arrow
	switch d.Type {
	case FixedSizeBinary:
		return fmt.Sprintf("w:%d", d.ByteWidth)
	case Timestamp:
		return base + string("smun"[d.Unit&3]) + ":" + d.TimeZone
	case Duration:
		return base + string("smun"[d.Unit&3])
	case Dictionary:
		return DType{Type: d.IndexType}.CFormat()
	}
	return base
}

// NumPy is the NumPy dtype string of one element, e.g. "int64", "S16",
// "datetime64[us]". For bool the data is bit-packed and must be unpacked;
// for the variable-length types it is "object" (values are copied).
func (d DType) NumPy() string {
	switch d.Type {
	case FixedSizeBinary:
		return fmt.Sprintf("S%d", d.ByteWidth)
	case Timestamp, Duration:
		return types[d.Type].numpy + "[" + d.Unit.String() + "]"
	}
	return types[d.Type].numpy
}

// String describes the type for messages: "timestamp[us, UTC]", "w:16"...
func (d DType) String() string {
	var b strings.Builder
	b.WriteString(d.Type.String())
	switch d.Type {
	case FixedSizeBinary:
		fmt.Fprintf(&b, "[%d]", d.ByteWidth)
	case Timestamp:
		fmt.Fprintf(&b, "[%s", d.Unit)
		if d.TimeZone != "" {
			fmt.Fprintf(&b, ", %s", d.TimeZone)
		}
		b.WriteString("]")
	case Duration:
		fmt.Fprintf(&b, "[%s]", d.Unit)
	}
	return b.String()
}
