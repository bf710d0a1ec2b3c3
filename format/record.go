package format

// Buffer locates one buffer of an array: an absolute file offset and a
// length in bytes. A zero-length buffer is absent; its offset means nothing.
type Buffer struct {
	Offset uint64
	Length uint64
}

// End is Offset+Length; callers use it only after Decode checked it cannot
// overflow.
func (b Buffer) End() uint64 { return b.Offset + b.Length }

// KV is one key/value metadata pair. Keys are unique per owner (the segment,
// or one array); order is preserved.
type KV struct {
	Key, Value string
}

// DType is an array's element type with its parameters.
type DType struct {
	Type      Type
	Unit      TimeUnit // timestamp and duration only
	TimeZone  string   // timestamp only; "" for none
	ByteWidth int      // fixed_size_binary only: bytes per value
	IndexType Type     // dictionary only: the type of its indices (Int8..Uint64)
}

// Record flags.
const (
	recordFlagDataCRC = 1 << 0
	recordFlagChild   = 1 << 1 // format 1.3: the record is another record's child
)

// ArrayDesc describes one array of a segment: the decoded directory record
// (spec §5). A writer fills one per array; Decode returns one per record,
// each already checked against the file it came from.
type ArrayDesc struct {
	Name string
	DType
	Length    int64 // slots (rows); equals Shape[0]
	NullCount int64
	// Shape has ndim entries; Shape[0] == Length. A plain array has ndim 1.
	Shape    []int64
	Validity Buffer
	Offsets  Buffer
	Data     Buffer
	Metadata []KV
	// DataCRC is the CRC-32 of the validity, offsets and data bytes, in that
	// order; meaningful only when HasDataCRC.
	DataCRC    uint32
	HasDataCRC bool
	// Index locates the array's hash index (spec §7.8, format 1.1); the
	// zero value means none.
	Index Index
	// Child is the directory index of the record holding a list's values or
	// a dictionary's values (format 1.3, spec §6.1), 0 for other types: a
	// child always comes after its parent, so 0 names none.
	Child int
	// IsChild marks a record that is another record's child (flag CHILD),
	// not a column of the segment; Parent is that record (set by Decode;
	// writers set IsChild only).
	IsChild bool
	Parent  int
}

// NDim is the number of dimensions (1 for a plain array).
func (a *ArrayDesc) NDim() int { return len(a.Shape) }

// ElemWidth is the byte width of one element of the data buffer: the type's
// width, or ByteWidth for fixed_size_binary; 0 for bool and variable-length
// types.
func (a *ArrayDesc) ElemWidth() int {
	if a.Type == FixedSizeBinary {
		return a.ByteWidth
	}
	if a.Type == Dictionary {
		return a.IndexType.Width()
	}
	return a.Type.Width()
}

// RowElems is the number of elements in one slot: the product of Shape[1:]
// (1 for a plain array). Decode guarantees it does not overflow.
func (a *ArrayDesc) RowElems() int64 {
	n := int64(1)
	for _, d := range a.Shape[1:] {
		n *= d
	}
	return n
}

// putRecord writes a's directory record into b[0:RecordSize]; the string
// offsets are relative to the string table.
func putRecord(b []byte, a *ArrayDesc, nameOff, tzOff uint32, kvFirst uint32) {
	clear(b[:RecordSize])
	le.PutUint32(b[0:], nameOff)
	le.PutUint32(b[4:], uint32(len(a.Name)))
	b[8] = byte(a.Type)
	b[9] = byte(len(a.Shape))
	b[10] = byte(a.Unit)
	if a.HasDataCRC {
		b[11] = recordFlagDataCRC
	}
	if a.IsChild {
		b[11] |= recordFlagChild
	}
	if a.Type == Dictionary {
		b[187] = byte(a.IndexType)
	}
	if a.Type.Nested() {
		le.PutUint32(b[188:], uint32(a.Child))
	}
	le.PutUint32(b[12:], uint32(a.ByteWidth))
	if a.TimeZone != "" {
		le.PutUint32(b[16:], tzOff)
		le.PutUint32(b[20:], uint32(len(a.TimeZone)))
	}
	le.PutUint64(b[24:], uint64(a.Length))
	le.PutUint64(b[32:], uint64(a.NullCount))
	putBuffer(b[40:], a.Validity)
	putBuffer(b[56:], a.Offsets)
	putBuffer(b[72:], a.Data)
	if len(a.Metadata) > 0 {
		le.PutUint32(b[88:], kvFirst)
		le.PutUint32(b[92:], uint32(len(a.Metadata)))
	}
	le.PutUint32(b[96:], a.DataCRC)
	for i, d := range a.Shape {
		le.PutUint64(b[104+8*i:], uint64(d))
	}
	if a.Index.Present() {
		putBuffer(b[168:], a.Index.Buffer)
		b[184] = a.Index.Kind
		b[185] = uint8(a.Index.SlotWidth)
		b[186] = a.Index.Log2
	}
}

func putBuffer(b []byte, buf Buffer) {
	if buf.Length == 0 {
		buf.Offset = 0
	}
	le.PutUint64(b[0:], buf.Offset)
	le.PutUint64(b[8:], buf.Length)
}

// rawRecord is a directory record as stored, before any check.
type rawRecord struct {
	nameOff, nameLen  uint32
	typ               Type
	ndim              uint8
	unit              uint8
	flags             uint8
	byteWidth         uint32
	tzOff, tzLen      uint32
	length, nullCount int64
	validity          Buffer
	offsets           Buffer
	data              Buffer
	kvFirst, kvCount  uint32
	dataCRC           uint32
	shape             [MaxNDim]int64
	// Index fields (format 1.1), meaningful only in files of minor >= 1.
	index      Buffer
	indexKind  uint8
	indexWidth uint8
	indexLog2  uint8
	// Format 1.3, meaningful only in files of minor >= 3.
	dictIndex uint8
	child     uint32
}

func readRecord(b []byte) rawRecord {
	r := rawRecord{
		nameOff:   le.Uint32(b[0:]),
		nameLen:   le.Uint32(b[4:]),
		typ:       Type(b[8]),
		ndim:      b[9],
		unit:      b[10],
		flags:     b[11],
		byteWidth: le.Uint32(b[12:]),
		tzOff:     le.Uint32(b[16:]),
		tzLen:     le.Uint32(b[20:]),
		length:    int64(le.Uint64(b[24:])),
		nullCount: int64(le.Uint64(b[32:])),
		validity:  Buffer{le.Uint64(b[40:]), le.Uint64(b[48:])},
		offsets:   Buffer{le.Uint64(b[56:]), le.Uint64(b[64:])},
		data:      Buffer{le.Uint64(b[72:]), le.Uint64(b[80:])},
		kvFirst:   le.Uint32(b[88:]),
		kvCount:   le.Uint32(b[92:]),
		dataCRC:   le.Uint32(b[96:]),
		index:     Buffer{le.Uint64(b[168:]), le.Uint64(b[176:])},
		indexKind: b[184], indexWidth: b[185], indexLog2: b[186],
		dictIndex: b[187], child: le.Uint32(b[188:]),
	}
	for i := range r.shape {
		r.shape[i] = int64(le.Uint64(b[104+8*i:]))
	}
	return r
}
