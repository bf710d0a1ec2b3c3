package format

import (
	"strconv"
)

// Hash indexes (spec §7.8, format 1.1): an optional table, in its own
// buffer of the data area, that maps each non-null value of an array to its
// row. Everything here works on the bytes of a segment handed in by the
// caller; nothing allocates in proportion to the data except BuildIndex's
// caller, who provides the table.

// Index kinds: byte 184 of a directory record (spec §5.1).
const (
	IndexNone uint8 = 0
	IndexHash uint8 = 1
)

const (
	// MinorIndex is the first minor version whose records may carry an
	// index; a reader ignores the index fields of files of a lower minor.
	MinorIndex = 1
	// MaxIndexLog2 bounds index_log2 (spec §11.2 step 9.5a).
	MaxIndexLog2 = 59
	// minIndexSlots is the smallest table a writer makes (spec §7.8.3).
	minIndexSlots = 8
)

// Index locates the hash index of an array (spec §5.1, §7.8). The zero
// value means the array has no index (or one of a kind this reader does not
// know, which it ignores).
type Index struct {
	Kind      uint8  // IndexHash, or IndexNone
	SlotWidth int    // bytes per slot: 4 or 8
	Log2      uint8  // the table has 2^Log2 slots
	Buffer    Buffer // the index buffer; the table is its first TableBytes()
}

// Present reports whether the array has a hash index.
func (x *Index) Present() bool { return x.Kind == IndexHash }

// Slots is the number of slots of the table.
func (x *Index) Slots() uint64 { return 1 << x.Log2 }

// TableBytes is the size of the table in bytes (Decode checked that it
// fits in the buffer).
func (x *Index) TableBytes() uint64 { return x.Slots() * uint64(x.SlotWidth) }

// Indexable reports whether a one-dimensional array of type t may carry a
// hash index: the integer types, the variable-length types and
// fixed_size_binary.
func (t Type) Indexable() bool {
	return (t >= Int8 && t <= Uint64) || (t >= Utf8 && t <= FixedSizeBinary)
}

// IndexLayout is the slot width and log2 of the table a writer builds for
// an array of length slots of which nonNull are not null (spec §7.8.3):
// 4-byte slots while rows fit, and the smallest power of two that is at
// least twice the number of keys and at least 8.
func IndexLayout(length, nonNull int64) (width int, log2 uint8) {
	width = 4
	if uint64(length) > 1<<32-1 {
		width = 8
	}
	log2 = 3
	for uint64(1)<<log2 < 2*uint64(nonNull) {
		log2++
	}
	return width, log2
}

const (
	fnvOffset = 0xCBF29CE484222325
	fnvPrime  = 0x00000100000001B3
)

// mix64 is MurmurHash3's 64-bit finalizer.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xFF51AFD7ED558CCD
	h ^= h >> 33
	h *= 0xC4CEB9FE1A85EC53
	h ^= h >> 33
	return h
}

// HashBytes is the hash of spec §7.8.2 over key bytes: FNV-1a, then fmix64.
func HashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return mix64(h)
}

// HashUint64 is HashBytes of the 8 little-endian bytes of v: the hash of an
// integer key whose 64-bit extension (spec §7.8.1) is v.
func HashUint64(v uint64) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < 8; i++ {
		h = (h ^ (v & 0xFF)) * fnvPrime
		v >>= 8
	}
	return mix64(h)
}

// keyView reads the keys of one array inside the bytes of a segment.
type keyView struct {
	name   string
	typ    Type
	length uint64
	valid  []byte // validity bitmap, nil without nulls
	offs   []byte // offsets buffer of a variable-length type
	ow     int    // its entry width
	data   []byte
	width  uint64 // bytes per value: byte_width, or the integer width
}

func newKeyView(file []byte, a *ArrayDesc) (keyView, error) {
	k := keyView{name: a.Name, typ: a.Type, length: uint64(a.Length), ow: a.Type.OffsetWidth()}
	for _, buf := range []Buffer{a.Validity, a.Offsets, a.Data, a.Index.Buffer} {
		if buf.Length != 0 && !within(buf.Offset, buf.Length, 0, uint64(len(file))) {
			return k, errorf(OutOfBounds, "array %s: buffer [%d, +%d) is outside the %d-byte file", Quote(a.Name), buf.Offset, buf.Length, len(file))
		}
	}
	if a.Validity.Length != 0 && a.NullCount > 0 {
		k.valid = slice(file, a.Validity)
	}
	k.offs, k.data = slice(file, a.Offsets), slice(file, a.Data)
	k.width = uint64(a.ElemWidth())
	if k.ow != 0 && k.length > 0 && uint64(len(k.offs)) < (k.length+1)*uint64(k.ow) {
		return k, errorf(BadSize, "array %s: offsets buffer is %d bytes, %d slots need %d", Quote(a.Name), len(k.offs), k.length, (k.length+1)*uint64(k.ow))
	}
	if k.ow == 0 {
		if need, ok := mulCap(k.length, k.width); !ok || uint64(len(k.data)) < need {
			return k, errorf(BadSize, "array %s: data buffer is %d bytes, %d slots need more", Quote(a.Name), len(k.data), k.length)
		}
	}
	return k, nil
}

func (k *keyView) isNull(r uint64) bool {
	return k.valid != nil && k.valid[r>>3]&(1<<(r&7)) == 0
}

func (k *keyView) intKeys() bool { return k.typ >= Int8 && k.typ <= Uint64 }

func (k *keyView) signed() bool {
	switch k.typ {
	case Int8, Int16, Int32, Int64:
		return true
	}
	return false
}

// offsetAt is offsets entry i, sign-extended (a negative entry reads as at
// least 2^63, beyond any data length).
func (k *keyView) offsetAt(i uint64) uint64 {
	if k.ow == 4 {
		return uint64(int64(int32(le.Uint32(k.offs[i*4:]))))
	}
	return le.Uint64(k.offs[i*8:])
}

// bytesAt is the key bytes of row r (r < length) of a byte-keyed array,
// with the per-slot offsets check of spec §7.3.
func (k *keyView) bytesAt(r uint64) ([]byte, error) {
	if k.ow == 0 {
		return k.data[r*k.width : (r+1)*k.width], nil
	}
	start, end := k.offsetAt(r), k.offsetAt(r+1)
	if start > end || end > uint64(len(k.data)) {
		return nil, errorf(BadOffsets, "array %s: slot %d has offsets [%d, %d), outside the %d-byte data buffer", Quote(k.name), r, int64(start), int64(end), len(k.data))
	}
	return k.data[start:end], nil
}

// intAt is the 64-bit extension of the integer of row r (spec §7.8.1).
func (k *keyView) intAt(r uint64) uint64 {
	switch k.typ {
	case Int8:
		return uint64(int64(int8(k.data[r])))
	case Uint8:
		return uint64(k.data[r])
	case Int16:
		return uint64(int64(int16(le.Uint16(k.data[r*2:]))))
	case Uint16:
		return uint64(le.Uint16(k.data[r*2:]))
	case Int32:
		return uint64(int64(int32(le.Uint32(k.data[r*4:]))))
	case Uint32:
		return uint64(le.Uint32(k.data[r*4:]))
	}
	return le.Uint64(k.data[r*8:])
}

// representable converts a query integer (v as int64 when neg is possible,
// i.e. signedQuery, else as uint64) to the 64-bit extension used by the key
// type, or reports that no key of the type can equal it.
func (k *keyView) representable(v uint64, signedQuery bool) (uint64, bool) {
	negative := signedQuery && int64(v) < 0
	if k.signed() {
		bitsW := k.width * 8
		if negative {
			return v, bitsW == 64 || int64(v) >= -(int64(1)<<(bitsW-1))
		}
		return v, v <= uint64(1)<<(bitsW-1)-1
	}
	if negative {
		return 0, false
	}
	if k.width == 8 {
		return v, true
	}
	return v, v <= uint64(1)<<(k.width*8)-1
}

// keyText names a key in messages: quoted text (shortened), or a number.
func (k *keyView) keyText(r uint64) string {
	if k.intKeys() {
		if k.signed() {
			return strconv.FormatInt(int64(k.intAt(r)), 10)
		}
		return strconv.FormatUint(k.intAt(r), 10)
	}
	b, err := k.bytesAt(r)
	if err != nil {
		return "?"
	}
	return quote(string(b), quoteKey)
}

// Probe looks keys up in the hash index of one array, inside the bytes of
// a segment (spec §7.8.4). The bytes must stay valid while the Probe is
// used; a Probe is safe for concurrent use. It trusts nothing it reads from
// the table: every probe stops after Slots() steps and every row and
// offset is checked before use, so a corrupt index (one that was not fully
// validated) gives OUT_OF_BOUNDS or BAD_OFFSETS, never an out-of-range read.
type Probe struct {
	k     keyView
	table []byte
	w     int
	mask  uint64
}

// NewProbe prepares lookups in the index of a, whose buffers lie in file.
// Errors: INVALID_ARGUMENT if a has no hash index; OUT_OF_BOUNDS or
// BAD_SIZE if a's description does not fit file.
func NewProbe(file []byte, a *ArrayDesc) (*Probe, error) {
	if !a.Index.Present() {
		return nil, errorf(InvalidArgument, "array %s has no hash index (build one when creating the segment)", Quote(a.Name))
	}
	k, err := newKeyView(file, a)
	if err != nil {
		return nil, err
	}
	ix := &a.Index
	if (ix.SlotWidth != 4 && ix.SlotWidth != 8) || ix.Log2 > MaxIndexLog2 || ix.Buffer.Length < ix.TableBytes() {
		return nil, errorf(BadSize, "array %s: index of %d-byte slots, 2^%d slots, does not fit its %d-byte buffer", Quote(a.Name), ix.SlotWidth, ix.Log2, ix.Buffer.Length)
	}
	return &Probe{k: k, table: slice(file, ix.Buffer)[:ix.TableBytes()], w: ix.SlotWidth, mask: ix.Slots() - 1}, nil
}

// IntKeys reports whether the index is over integers (LookupInt,
// LookupUint) rather than byte strings (LookupBytes).
func (p *Probe) IntKeys() bool { return p.k.intKeys() }

// Len is the number of rows of the array.
func (p *Probe) Len() int64 { return int64(p.k.length) }

func (p *Probe) slot(s uint64) uint64 {
	if p.w == 4 {
		return uint64(le.Uint32(p.table[s*4:]))
	}
	return le.Uint64(p.table[s*8:])
}

// find walks the probe sequence of hash h (spec §7.8.4) and returns the
// first row whose key eq accepts, or -1.
func (p *Probe) find(h uint64, eq func(r uint64) (bool, error)) (int64, error) {
	s := h & p.mask
	for i := uint64(0); i <= p.mask; i++ {
		v := p.slot(s)
		if v == 0 {
			return -1, nil
		}
		r := v - 1
		if r >= p.k.length {
			return -1, errorf(OutOfBounds, "array %s: index slot %d names row %d of %d", Quote(p.k.name), s, r, p.k.length)
		}
		if p.k.isNull(r) { // null rows are not keys: never a match (spec §7.8.4)
			s = (s + 1) & p.mask
			continue
		}
		ok, err := eq(r)
		if err != nil {
			return -1, err
		}
		if ok {
			return int64(r), nil
		}
		s = (s + 1) & p.mask
	}
	return -1, nil
}

func (p *Probe) findBytes(q []byte) (int64, error) {
	if p.k.ow == 0 && uint64(len(q)) != p.k.width {
		return -1, nil // fixed_size_binary: another length is never a key
	}
	return p.find(HashBytes(q), func(r uint64) (bool, error) {
		b, err := p.k.bytesAt(r)
		return err == nil && string(b) == string(q), err
	})
}

func (p *Probe) findInt(v uint64) (int64, error) {
	return p.find(HashUint64(v), func(r uint64) (bool, error) { return p.k.intAt(r) == v, nil })
}

// LookupBytes is the row holding key q in a byte-keyed index (utf8,
// binary and their large and fixed-size forms), or -1. INVALID_ARGUMENT
// for an integer index.
func (p *Probe) LookupBytes(q []byte) (int64, error) {
	if p.k.intKeys() {
		return -1, errorf(InvalidArgument, "array %s is indexed by %s integers, not byte strings", Quote(p.k.name), p.k.typ)
	}
	return p.findBytes(q)
}

// LookupInt is the row holding the integer v in an integer index, or -1
// (also for a v the key type cannot hold). INVALID_ARGUMENT for a
// byte-keyed index.
func (p *Probe) LookupInt(v int64) (int64, error) {
	return p.lookupInt(uint64(v), true)
}

// LookupUint is LookupInt for an unsigned query.
func (p *Probe) LookupUint(v uint64) (int64, error) {
	return p.lookupInt(v, false)
}

func (p *Probe) lookupInt(v uint64, signedQuery bool) (int64, error) {
	if !p.k.intKeys() {
		return -1, errorf(InvalidArgument, "array %s is indexed by %s values, not integers", Quote(p.k.name), p.k.typ)
	}
	key, ok := p.k.representable(v, signedQuery)
	if !ok {
		return -1, nil
	}
	return p.findInt(key)
}

// findRow is the lookup of the key of row r itself.
func (p *Probe) findRow(r uint64) (int64, error) {
	if p.k.intKeys() {
		return p.findInt(p.k.intAt(r))
	}
	b, err := p.k.bytesAt(r)
	if err != nil {
		return -1, err
	}
	return p.findBytes(b)
}

// BuildIndex writes the hash index of a into table, which must be zeroed
// and exactly ix.TableBytes() long, as a conforming writer does (spec
// §7.8.3): non-null rows in increasing order, each in the first empty slot
// of its probe sequence. a's buffers lie in file (validated: offsets in
// order); ix is the layout from IndexLayout. Keys must be unique: a repeated
// key is INVALID_ARGUMENT naming it and both rows, and leaves the table
// partly filled.
func BuildIndex(file []byte, a *ArrayDesc, ix Index, table []byte) error {
	if !a.Type.Indexable() || a.NDim() != 1 {
		return errorf(InvalidArgument, "array %s: a %s array of %d dimensions cannot have a hash index; index integer, string, binary or fixed-size binary arrays", Quote(a.Name), a.Type, a.NDim())
	}
	if ix.SlotWidth != 4 && ix.SlotWidth != 8 || uint64(len(table)) != ix.TableBytes() {
		return errorf(InvalidArgument, "array %s: index table of %d bytes for 2^%d slots of %d bytes", Quote(a.Name), len(table), ix.Log2, ix.SlotWidth)
	}
	desc := *a
	desc.Index = Index{}
	k, err := newKeyView(file, &desc)
	if err != nil {
		return err
	}
	n := k.length - uint64(a.NullCount)
	if ix.Slots() < 2*n || (ix.SlotWidth == 4 && k.length > 1<<32-1) {
		return errorf(InvalidArgument, "array %s: 2^%d slots of %d bytes cannot index %d keys of %d rows", Quote(a.Name), ix.Log2, ix.SlotWidth, n, k.length)
	}
	p := &Probe{k: k, table: table, w: ix.SlotWidth, mask: ix.Slots() - 1}
	for r := uint64(0); r < k.length; r++ {
		if k.isNull(r) {
			continue
		}
		var h uint64
		var eq func(j uint64) bool
		if k.intKeys() {
			v := k.intAt(r)
			h, eq = HashUint64(v), func(j uint64) bool { return k.intAt(j) == v }
		} else {
			q, err := k.bytesAt(r)
			if err != nil {
				return err
			}
			h = HashBytes(q)
			eq = func(j uint64) bool { b, _ := k.bytesAt(j); return string(b) == string(q) }
		}
		s := h & p.mask
		for {
			v := p.slot(s)
			if v == 0 {
				break
			}
			if eq(v - 1) {
				return errorf(InvalidArgument, "array %s: keys must be unique, but key %s appears at rows %d and %d", Quote(a.Name), k.keyText(r), v-1, r)
			}
			s = (s + 1) & p.mask
		}
		if p.w == 4 {
			le.PutUint32(table[s*4:], uint32(r+1))
		} else {
			le.PutUint64(table[s*8:], r+1)
		}
	}
	return nil
}

// validateIndex is step 5 of full validation (spec §11.3) for an indexed
// array whose offsets passed step 2.
func validateIndex(file []byte, a *ArrayDesc) error {
	p, err := NewProbe(file, a)
	if err != nil {
		return err
	}
	k := &p.k
	used := uint64(0)
	for s := uint64(0); s <= p.mask; s++ {
		v := p.slot(s)
		if v > k.length {
			return errorf(OutOfBounds, "array %s: index slot %d names row %d, past the array's %d rows", Quote(a.Name), s, v-1, k.length)
		}
		if v != 0 && k.isNull(v-1) {
			return errorf(ChecksumMismatch, "array %s: index slot %d names row %d, which is null (null rows are not indexed)", Quote(a.Name), s, v-1)
		}
		if v != 0 {
			used++
		}
	}
	if n := k.length - uint64(a.NullCount); used != n {
		return errorf(BadSize, "array %s: the index has %d entries for %d non-null keys", Quote(a.Name), used, n)
	}
	for r := uint64(0); r < k.length; r++ {
		if k.isNull(r) {
			continue
		}
		got, err := p.findRow(r)
		if err != nil {
			return err
		}
		switch {
		case got < 0:
			return errorf(ChecksumMismatch, "array %s: the index does not find the key %s of row %d", Quote(a.Name), k.keyText(r), r)
		case uint64(got) != r:
			return errorf(DuplicateName, "array %s: key %s appears at rows %d and %d (indexed keys must be unique)", Quote(a.Name), k.keyText(r), min(uint64(got), r), max(uint64(got), r))
		}
	}
	return nil
}

// checkIndex is step 9.5a of structural validation (spec §11.2) for a
// record whose index_kind is IndexHash in a file of minor >= 1. lo and hi
// bound the data area.
func checkIndex(r *rawRecord, a *ArrayDesc, lo, hi uint64) error {
	if !a.Type.Indexable() || len(a.Shape) != 1 {
		return errorf(BadType, "a %s array of %d dimensions cannot have a hash index", a.Type, len(a.Shape))
	}
	if a.IsChild {
		return errorf(BadType, "a child record cannot have a hash index")
	}
	if r.index.Length != 0 {
		if r.index.Offset%Alignment != 0 {
			return errorf(Misaligned, "index buffer offset %d is not a multiple of %d", r.index.Offset, Alignment)
		}
		if !within(r.index.Offset, r.index.Length, lo, hi) {
			return errorf(OutOfBounds, "index buffer [%d, +%d) is outside the data area [%d, %d)", r.index.Offset, r.index.Length, lo, hi)
		}
	}
	w := uint64(r.indexWidth)
	n := uint64(a.Length - a.NullCount)
	switch {
	case w != 4 && w != 8:
		return errorf(BadSize, "index slot width is %d, must be 4 or 8", w)
	case r.indexLog2 > MaxIndexLog2:
		return errorf(BadSize, "index_log2 is %d, at most %d", r.indexLog2, MaxIndexLog2)
	case w == 4 && uint64(a.Length) > 1<<32-1:
		return errorf(BadSize, "index slots of 4 bytes cannot name the rows of a %d-row array", a.Length)
	case uint64(1)<<r.indexLog2 < 2*n:
		return errorf(BadSize, "index of 2^%d slots is more than half full with %d keys", r.indexLog2, n)
	case r.index.Length < (uint64(1)<<r.indexLog2)*w:
		return errorf(BadSize, "index buffer is %d bytes, 2^%d slots of %d bytes need %d", r.index.Length, r.indexLog2, w, (uint64(1)<<r.indexLog2)*w)
	}
	a.Index = Index{Kind: IndexHash, SlotWidth: int(w), Log2: r.indexLog2, Buffer: r.index}
	return nil
}
