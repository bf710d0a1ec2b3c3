package format

import (
	"math/bits"
	"unicode/utf8"
)

// Segment is a decoded segment: its header, its arrays in directory order
// and its segment-level metadata. Strings are copied out of the mapped bytes,
// so a Segment stays valid (as a description) after the mapping is gone;
// the Buffer offsets, of course, refer to the mapping.
type Segment struct {
	Header   Header
	Arrays   []ArrayDesc
	Metadata []KV
	byName   map[string]int
}

// Lookup returns the index of the array called name, or -1.
func (s *Segment) Lookup(name string) int {
	if i, ok := s.byName[name]; ok {
		return i
	}
	return -1
}

// Decode runs the structural validation of spec §11 over b, the whole file
// (its length is the file's length), and returns the decoded segment. It
// reads the header and the metadata area only, never a data page, so its cost
// is O(arrays) whatever the data size. Every offset and length is checked with
// overflow-safe arithmetic before use. The first failed check decides the
// error, in the order the spec gives; every error wraps one Code.
func Decode(b []byte) (*Segment, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return nil, err
	}
	size := uint64(len(b))
	if h.HeaderSize < HeaderSize {
		return nil, errorf(BadSize, "header_size is %d, at least %d expected", h.HeaderSize, HeaderSize)
	}
	if h.Minor >= MinorIdentity && h.HeaderSize < HeaderSizeID {
		return nil, errorf(BadSize, "header_size is %d, at least %d expected in a version 1.%d file", h.HeaderSize, HeaderSizeID, h.Minor)
	}
	if size < uint64(h.HeaderSize) {
		return nil, errorf(Truncated, "file is %d bytes, shorter than its %d-byte header", size, h.HeaderSize)
	}
	if size < h.FileSize {
		return nil, errorf(Truncated, "file is %d bytes but its header says %d", size, h.FileSize)
	}
	if !h.Sealed() {
		return nil, errorf(NotSealed, "the writer did not finish this segment")
	}
	if h.MetaOffset%Alignment != 0 {
		return nil, errorf(Misaligned, "metadata area offset %d is not a multiple of %d", h.MetaOffset, Alignment)
	}
	if !within(h.MetaOffset, h.MetaLength, uint64(h.HeaderSize), h.FileSize) {
		return nil, errorf(OutOfBounds, "metadata area [%d, +%d) is outside [%d, %d)", h.MetaOffset, h.MetaLength, h.HeaderSize, h.FileSize)
	}
	meta := b[h.MetaOffset : h.MetaOffset+h.MetaLength]
	if sum := Checksum(b[:h.HeaderSize], meta); sum != h.Checksum {
		return nil, errorf(ChecksumMismatch, "header and metadata CRC-32 is %08x, the header says %08x", sum, h.Checksum)
	}
	d := decoder{b: b, h: &h, metaEnd: h.MetaOffset + h.MetaLength}
	return d.decode()
}

type decoder struct {
	b       []byte
	h       *Header
	metaEnd uint64
	strtab  []byte
	kvs     []byte
	claimed []bool // key/value records already in some owner's range
	strUsed uint64 // total length of the strings referenced so far
}

func (d *decoder) decode() (*Segment, error) {
	h := d.h
	if h.RecordSize < RecordSize {
		return nil, errorf(BadSize, "record_size is %d, at least %d expected", h.RecordSize, RecordSize)
	}
	if h.ArrayCount > MaxArrays {
		return nil, errorf(BadSize, "array_count %d exceeds the limit %d", h.ArrayCount, MaxArrays)
	}
	if h.KVCount > MaxKV {
		return nil, errorf(BadSize, "kv_count %d exceeds the limit %d", h.KVCount, MaxKV)
	}
	dirLen := uint64(h.ArrayCount) * uint64(h.RecordSize) // both < 2^32: no overflow
	if !within(h.DirectoryOffset, dirLen, h.MetaOffset, d.metaEnd) {
		return nil, errorf(OutOfBounds, "directory [%d, +%d) is outside the metadata area", h.DirectoryOffset, dirLen)
	}
	kvLen := uint64(h.KVCount) * KVRecordSize
	if !within(h.KVOffset, kvLen, h.MetaOffset, d.metaEnd) {
		return nil, errorf(OutOfBounds, "key/value table [%d, +%d) is outside the metadata area", h.KVOffset, kvLen)
	}
	if !within(h.StrtabOffset, h.StrtabLength, h.MetaOffset, d.metaEnd) {
		return nil, errorf(OutOfBounds, "string table [%d, +%d) is outside the metadata area", h.StrtabOffset, h.StrtabLength)
	}
	d.strtab = d.b[h.StrtabOffset : h.StrtabOffset+h.StrtabLength]
	d.kvs = d.b[h.KVOffset : h.KVOffset+kvLen]

	s := &Segment{Header: *h, Arrays: make([]ArrayDesc, h.ArrayCount), byName: make(map[string]int, h.ArrayCount)}
	for i := range s.Arrays {
		off := h.DirectoryOffset + uint64(i)*uint64(h.RecordSize)
		a := &s.Arrays[i]
		if err := d.array(readRecord(d.b[off:off+RecordSize]), a); err != nil {
			return nil, wrapf(err, "array %d", i)
		}
		if j, dup := s.byName[a.Name]; dup {
			return nil, errorf(DuplicateName, "arrays %d and %d are both called %s", j, i, Quote(a.Name))
		}
		s.byName[a.Name] = i
	}
	md, err := d.kvRange(h.SegKVFirst, h.SegKVCount)
	if err != nil {
		return nil, wrapf(err, "segment metadata")
	}
	s.Metadata = md
	return s, nil
}

// array checks one raw record and fills a.
func (d *decoder) array(r rawRecord, a *ArrayDesc) error {
	name, err := d.text("name", r.nameOff, r.nameLen, 1, MaxNameLen)
	if err != nil {
		return err
	}
	a.Name = name
	if err := d.arrayType(r, a); err != nil {
		return wrapf(err, "%s", Quote(name))
	}
	if err := checkShape(r, a); err != nil {
		return wrapf(err, "%s", Quote(name))
	}
	if err := d.buffers(r, a); err != nil {
		return wrapf(err, "%s", Quote(name))
	}
	if d.h.Minor >= MinorIndex && r.indexKind == IndexHash {
		if err := checkIndex(&r, a, uint64(d.h.HeaderSize), d.h.MetaOffset); err != nil {
			return wrapf(err, "%s", Quote(name))
		}
	}
	md, err := d.kvRange(r.kvFirst, r.kvCount)
	if err != nil {
		return wrapf(err, "%s metadata", Quote(name))
	}
	a.Metadata = md
	a.HasDataCRC = r.flags&recordFlagDataCRC != 0
	a.DataCRC = r.dataCRC
	return nil
}

func (d *decoder) arrayType(r rawRecord, a *ArrayDesc) error {
	t := r.typ
	if !t.Known() {
		return errorf(BadType, "unknown type code %d", uint8(t))
	}
	a.Type = t
	unit := TimeUnit(r.unit)
	switch {
	case t.Timed() && !unit.Valid():
		return errorf(BadType, "time unit %d is not one of 0 (s), 1 (ms), 2 (us), 3 (ns)", r.unit)
	case !t.Timed() && r.unit != 0:
		return errorf(BadType, "type %s has time unit %d, expected 0", t, r.unit)
	case t == FixedSizeBinary && (r.byteWidth == 0 || r.byteWidth > 1<<31-1):
		return errorf(BadType, "fixed_size_binary byte width %d is not in [1, 2^31)", r.byteWidth)
	case t != FixedSizeBinary && r.byteWidth != 0:
		return errorf(BadType, "type %s has byte width %d, expected 0", t, r.byteWidth)
	case t != Timestamp && r.tzLen != 0:
		return errorf(BadType, "type %s carries a time zone; only timestamp may", t)
	}
	a.Unit = unit
	a.ByteWidth = int(r.byteWidth)
	if r.tzLen != 0 {
		tz, err := d.text("time zone", r.tzOff, r.tzLen, 1, MaxTZLen)
		if err != nil {
			return err
		}
		a.TimeZone = tz
	}
	return nil
}

func checkShape(r rawRecord, a *ArrayDesc) error {
	switch {
	case r.ndim == 0 || r.ndim > MaxNDim:
		return errorf(BadShape, "ndim %d is not in [1, %d]", r.ndim, MaxNDim)
	case r.ndim > 1 && !a.Type.Numeric():
		return errorf(BadShape, "type %s cannot have %d dimensions; only integer and float arrays are N-D", a.Type, r.ndim)
	case r.length < 0 || r.length > MaxLength:
		return errorf(BadSize, "length %d is not in [0, 2^62]", r.length)
	case r.nullCount < 0 || r.nullCount > r.length:
		return errorf(BadSize, "null_count %d is not in [0, length %d]", r.nullCount, r.length)
	case r.shape[0] != r.length:
		return errorf(BadShape, "shape[0] is %d but length is %d", r.shape[0], r.length)
	}
	for i := int(r.ndim); i < MaxNDim; i++ {
		if r.shape[i] != 0 {
			return errorf(BadShape, "shape[%d] is %d past ndim %d; unused entries must be zero", i, r.shape[i], r.ndim)
		}
	}
	a.Length, a.NullCount = r.length, r.nullCount
	a.Shape = make([]int64, r.ndim)
	copy(a.Shape, r.shape[:r.ndim])
	for i, dim := range a.Shape {
		if dim < 0 {
			return errorf(BadShape, "shape[%d] is %d", i, dim)
		}
	}
	return nil
}

// buffers checks that each buffer lies in the data area, is aligned, and is
// long enough for the array's length (spec §7), all overflow-safe.
func (d *decoder) buffers(r rawRecord, a *ArrayDesc) error {
	lo, hi := uint64(d.h.HeaderSize), d.h.MetaOffset
	for _, nb := range []struct {
		what string
		buf  Buffer
	}{{"validity", r.validity}, {"offsets", r.offsets}, {"data", r.data}} {
		if nb.buf.Length == 0 {
			continue
		}
		if nb.buf.Offset%Alignment != 0 {
			return errorf(Misaligned, "%s buffer offset %d is not a multiple of %d", nb.what, nb.buf.Offset, Alignment)
		}
		if !within(nb.buf.Offset, nb.buf.Length, lo, hi) {
			return errorf(OutOfBounds, "%s buffer [%d, +%d) is outside the data area [%d, %d)", nb.what, nb.buf.Offset, nb.buf.Length, lo, hi)
		}
	}
	n := uint64(a.Length)
	if r.nullCount > 0 && r.validity.Length == 0 {
		return errorf(BadSize, "null_count is %d but there is no validity bitmap", r.nullCount)
	}
	if r.validity.Length != 0 && r.validity.Length < bitmapBytes(n) {
		return errorf(BadSize, "validity bitmap is %d bytes, %d slots need %d", r.validity.Length, n, bitmapBytes(n))
	}
	need, ok := dataBytes(a)
	if !ok {
		return errorf(BadSize, "length %d x shape x width overflows", a.Length)
	}
	if r.data.Length < need {
		return errorf(BadSize, "data buffer is %d bytes, %d slots need %d", r.data.Length, n, need)
	}
	if ow := uint64(a.Type.OffsetWidth()); ow != 0 {
		needOff, fits := mulCap(n+1, ow)
		if !(n == 0 && r.offsets.Length == 0) && (!fits || r.offsets.Length < needOff) {
			if !fits {
				return errorf(BadSize, "offsets buffer is %d bytes, %d slots need more than 2^63 - 1", r.offsets.Length, n)
			}
			return errorf(BadSize, "offsets buffer is %d bytes, %d slots need %d", r.offsets.Length, n, needOff)
		}
	} else if r.offsets.Length != 0 {
		return errorf(BadSize, "type %s has no offsets but the offsets buffer is %d bytes", a.Type, r.offsets.Length)
	}
	a.Validity, a.Offsets, a.Data = r.validity, r.offsets, r.data
	return nil
}

// dataBytes is the minimum data buffer size for a fixed-width array (0 for a
// variable-length one, whose data size the offsets decide). It reports false
// when the size, or the elements per row, does not fit in an int64.
func dataBytes(a *ArrayDesc) (uint64, bool) {
	n := uint64(a.Length)
	switch {
	case a.Type == Bool:
		return bitmapBytes(n), true
	case a.Type.VarLength():
		return 0, true
	}
	row := uint64(1)
	for _, dim := range a.Shape[1:] {
		var ok bool
		if row, ok = mulCap(row, uint64(dim)); !ok {
			return 0, false
		}
	}
	elems, ok := mulCap(n, row)
	if !ok {
		return 0, false
	}
	return mulCap(elems, uint64(a.ElemWidth()))
}

// mulCap multiplies without overflow, refusing results above 2^63-1.
func mulCap(x, y uint64) (uint64, bool) {
	hi, lo := bits.Mul64(x, y)
	return lo, hi == 0 && lo <= 1<<63-1
}

func bitmapBytes(n uint64) uint64 { return n/8 + (n%8+7)/8 }

// kvRange decodes records [first, first+count) of the key/value table.
func (d *decoder) kvRange(first, count uint32) ([]KV, error) {
	if count == 0 {
		return nil, nil
	}
	if uint64(first)+uint64(count) > uint64(d.h.KVCount) {
		return nil, errorf(OutOfBounds, "key/value records [%d, +%d) exceed kv_count %d", first, count, d.h.KVCount)
	}
	// Each record belongs to one owner at most, so the work of attach stays
	// proportional to the metadata area even for a hostile file.
	if d.claimed == nil {
		d.claimed = make([]bool, d.h.KVCount)
	}
	for i := first; i < first+count; i++ {
		if d.claimed[i] {
			return nil, errorf(OutOfBounds, "key/value record %d already belongs to another array or the segment", i)
		}
		d.claimed[i] = true
	}
	out := make([]KV, count)
	seen := make(map[string]struct{}, count)
	for i := range out {
		rec := d.kvs[(uint64(first)+uint64(i))*KVRecordSize:]
		k, err := d.text("metadata key", le.Uint32(rec[0:]), le.Uint32(rec[4:]), 1, MaxKeyLen)
		if err != nil {
			return nil, err
		}
		v, err := d.text("metadata value", le.Uint32(rec[8:]), le.Uint32(rec[12:]), 0, MaxValueLen)
		if err != nil {
			return nil, err
		}
		if _, dup := seen[k]; dup {
			return nil, errorf(DuplicateName, "metadata key %s appears twice", Quote(k))
		}
		seen[k] = struct{}{}
		out[i] = KV{k, v}
	}
	return out, nil
}

// text reads a string from the string table and checks its length and that
// it is UTF-8 without NUL.
func (d *decoder) text(what string, off, n uint32, minLen, maxLen int) (string, error) {
	if !within(uint64(off), uint64(n), 0, uint64(len(d.strtab))) {
		return "", errorf(OutOfBounds, "%s [%d, +%d) is outside the %d-byte string table", what, off, n, len(d.strtab))
	}
	// References may overlap, but not add up to more than the table: the
	// work of copying and checking strings stays bounded by the file.
	d.strUsed += uint64(n)
	if d.strUsed > uint64(len(d.strtab)) {
		return "", errorf(BadSize, "%s takes the referenced strings to %d bytes, more than the %d-byte string table", what, d.strUsed, len(d.strtab))
	}
	if int(n) < minLen || int(n) > maxLen {
		return "", errorf(BadSize, "%s is %d bytes, expected %d to %d", what, n, minLen, maxLen)
	}
	raw := d.strtab[off : off+n]
	if !utf8.Valid(raw) || indexZero(raw) {
		return "", errorf(BadUTF8, "%s is not UTF-8 text without NUL", what)
	}
	return string(raw), nil
}

func indexZero(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return true
		}
	}
	return false
}

// within reports whether [off, off+n) lies inside [lo, hi), without overflow.
func within(off, n, lo, hi uint64) bool {
	return off >= lo && off <= hi && n <= hi-off
}

// wrapf is Wrapf, for this package's own errors.
func wrapf(err error, format string, args ...any) error { return Wrapf(err, format, args...) }
