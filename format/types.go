package format

import "fmt"

// Type is a type code as stored in a directory record (spec §6).
type Type uint8

// Type codes of format v1. Zero is not a type.
const (
	Bool            Type = 1
	Int8            Type = 2
	Uint8           Type = 3
	Int16           Type = 4
	Uint16          Type = 5
	Int32           Type = 6
	Uint32          Type = 7
	Int64           Type = 8
	Uint64          Type = 9
	Float16         Type = 10
	Float32         Type = 11
	Float64         Type = 12
	Utf8            Type = 13
	LargeUtf8       Type = 14
	Binary          Type = 15
	LargeBinary     Type = 16
	FixedSizeBinary Type = 17
	Date32          Type = 18
	Date64          Type = 19
	Timestamp       Type = 20
	Duration        Type = 21
	// Format 1.3 (spec §6.1): arrays whose slots refer to a child record.
	List       Type = 22
	LargeList  Type = 23
	Dictionary Type = 24
)

// MinorNested is the first minor version with lists and dictionaries
// (codes 22-24, the CHILD flag and record bytes 187-191, spec §6.1).
const MinorNested = 3

// MaxDepth is the deepest a record may be under its column (spec §6.1): a
// column has depth 0, and a list or dictionary at most MaxDepth-1.
const MaxDepth = 8

// TimeUnit is the unit of a timestamp or duration (spec §6).
type TimeUnit uint8

const (
	Second      TimeUnit = 0
	Millisecond TimeUnit = 1
	Microsecond TimeUnit = 2
	Nanosecond  TimeUnit = 3
)

var unitSuffix = [...]string{"s", "ms", "us", "ns"}

// Valid reports whether u is one of the four units.
func (u TimeUnit) Valid() bool { return u <= Nanosecond }

func (u TimeUnit) String() string {
	if u.Valid() {
		return unitSuffix[u]
	}
	return fmt.Sprintf("unit(%d)", uint8(u))
}

type typeInfo struct {
	name    string
	width   int    // bytes per element of the data buffer; 0 for bit-packed or variable
	offsets int    // width of an offsets entry (4 or 8); 0 when there is no offsets buffer
	arrow   string // Arrow C Data Interface format string (without parameters)
	numpy   string // NumPy dtype string (without unit)
	numeric bool   // may be an element type of an N-D array
	timed   bool   // carries a time unit
	list    int    // lists: width of an offsets entry (4 or 8), which indexes child slots
}

var types = [...]typeInfo{
	Bool:            {name: "bool", arrow: "b", numpy: "bool"},
	Int8:            {name: "int8", width: 1, arrow: "c", numpy: "int8", numeric: true},
	Uint8:           {name: "uint8", width: 1, arrow: "C", numpy: "uint8", numeric: true},
	Int16:           {name: "int16", width: 2, arrow: "s", numpy: "int16", numeric: true},
	Uint16:          {name: "uint16", width: 2, arrow: "S", numpy: "uint16", numeric: true},
	Int32:           {name: "int32", width: 4, arrow: "i", numpy: "int32", numeric: true},
	Uint32:          {name: "uint32", width: 4, arrow: "I", numpy: "uint32", numeric: true},
	Int64:           {name: "int64", width: 8, arrow: "l", numpy: "int64", numeric: true},
	Uint64:          {name: "uint64", width: 8, arrow: "L", numpy: "uint64", numeric: true},
	Float16:         {name: "float16", width: 2, arrow: "e", numpy: "float16", numeric: true},
	Float32:         {name: "float32", width: 4, arrow: "f", numpy: "float32", numeric: true},
	Float64:         {name: "float64", width: 8, arrow: "g", numpy: "float64", numeric: true},
	Utf8:            {name: "utf8", offsets: 4, arrow: "u", numpy: "object"},
	LargeUtf8:       {name: "large_utf8", offsets: 8, arrow: "U", numpy: "object"},
	Binary:          {name: "binary", offsets: 4, arrow: "z", numpy: "object"},
	LargeBinary:     {name: "large_binary", offsets: 8, arrow: "Z", numpy: "object"},
	FixedSizeBinary: {name: "fixed_size_binary", arrow: "w", numpy: "S"},
	Date32:          {name: "date32", width: 4, arrow: "tdD", numpy: "datetime64[D]"},
	Date64:          {name: "date64", width: 8, arrow: "tdm", numpy: "datetime64[ms]"},
	Timestamp:       {name: "timestamp", width: 8, arrow: "ts", numpy: "datetime64", timed: true},
	Duration:        {name: "duration", width: 8, arrow: "tD", numpy: "timedelta64", timed: true},
	List:            {name: "list", arrow: "+l", numpy: "object", list: 4},
	LargeList:       {name: "large_list", arrow: "+L", numpy: "object", list: 8},
	Dictionary:      {name: "dictionary", numpy: "category"},
}

// Nested reports whether t has a child record (list, large_list,
// dictionary; format 1.3).
func (t Type) Nested() bool { return t >= List && t <= Dictionary }

// ListOffsetWidth is 4 for list, 8 for large_list, else 0: the width of an
// offsets entry that indexes slots of the child record.
func (t Type) ListOffsetWidth() int {
	if t.Known() {
		return types[t].list
	}
	return 0
}

// DictIndexable reports whether t may be the index type of a dictionary
// (the integer types, spec §6.1).
func (t Type) DictIndexable() bool { return t >= Int8 && t <= Uint64 }

// Known reports whether t is a type code of this format version.
func (t Type) Known() bool { return t >= Bool && int(t) < len(types) }

func (t Type) String() string {
	if t.Known() {
		return types[t].name
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Width is the byte width of one element of the data buffer, or 0 for bool
// (bit-packed), the variable-length types and fixed_size_binary (whose width
// is a per-array parameter: see ArrayDesc.ElemWidth).
func (t Type) Width() int {
	if t.Known() {
		return types[t].width
	}
	return 0
}

// OffsetWidth is 4 for utf8/binary, 8 for large_utf8/large_binary, else 0.
func (t Type) OffsetWidth() int {
	if t.Known() {
		return types[t].offsets
	}
	return 0
}

// VarLength reports whether the type has an offsets buffer.
func (t Type) VarLength() bool { return t.OffsetWidth() != 0 }

// Numeric reports whether t may be the element type of an N-D array
// (integers and floats).
func (t Type) Numeric() bool { return t.Known() && types[t].numeric }

// Timed reports whether t carries a time unit (timestamp, duration).
func (t Type) Timed() bool { return t.Known() && types[t].timed }

// ParseType finds a type by its spec name ("int64", "large_utf8", ...).
func ParseType(name string) (Type, error) {
	for i := range types {
		if types[i].name == name && name != "" {
			return Type(i), nil
		}
	}
	return 0, errorf(InvalidArgument, "unknown type name %q", name)
}
