package arena

import (
	"fmt"
	"math/bits"

	"github.com/shmarray/shmarray/format"
)

// AddBuffers copies one array given as raw buffers in the layout of spec §7
// (the form the C ABI and the Python writer hand over). desc gives the name,
// type, length, shape (nil for a plain array) and metadata; its buffer
// fields and null count are ignored and computed here. validity is nil for
// no nulls, else at least ceil(length/8) bytes, LSB first. offsets (for
// variable-length types) holds length+1 entries and may start above 0: it
// is rebased. data holds the values (for variable-length types, at least
// offsets[length] bytes).
//
// The copy is checked with the reader's full validation before it is
// added. Errors: INVALID_ARGUMENT (naming what is wrong), NO_SPACE, CLOSED.
func (b *Builder) AddBuffers(desc format.ArrayDesc, validity, offsets, data []byte) error {
	if err := checkDesc(&desc); err != nil {
		return fmt.Errorf("segment %q: array %q: %w", b.name, desc.Name, err)
	}
	n := uint64(desc.Length)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkName(desc.Name); err != nil {
		return err
	}
	desc.Validity, desc.Offsets, desc.Data = format.Buffer{}, format.Buffer{}, format.Buffer{}
	desc.NullCount, desc.HasDataCRC = 0, false
	if validity != nil {
		if uint64(len(validity)) < bitmapBytes(n) {
			return fmt.Errorf("%w: segment %q: array %q: validity buffer has %d bytes, %d slots need %d", format.ErrInvalidArgument, b.name, desc.Name, len(validity), n, bitmapBytes(n))
		}
		// Counted before the copy, so that a bitmap without nulls is not
		// stored; the full validation at commit checks the count against
		// the copy.
		if desc.NullCount = int64(n) - format.CountSet(validity, n); desc.NullCount == 0 {
			validity = nil
		}
	}
	mark := b.end
	err := b.copyBuffers(&desc, validity, offsets, data)
	if err != nil {
		b.rollback(mark)
		return fmt.Errorf("segment %q: array %q: %w", b.name, desc.Name, err)
	}
	return b.commit(&desc, mark, true)
}

// checkDesc checks the type, unit, width, time zone and shape a writer gave.
func checkDesc(d *format.ArrayDesc) error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: "+f, append([]any{format.ErrInvalidArgument}, a...)...)
	}
	switch t := d.Type; {
	case !t.Known():
		return bad("unknown type code %d", uint8(t))
	case t.Nested():
		return bad("a %s has child records, which raw buffers cannot give; add it as an Arrow array (AddArray, shmarray_builder_add_arrow)", t)
	case t.Timed() && !d.Unit.Valid():
		return bad("time unit %d is not 0 (s), 1 (ms), 2 (us) or 3 (ns)", d.Unit)
	case !t.Timed() && d.Unit != 0:
		return bad("type %s takes no time unit", t)
	case t == format.FixedSizeBinary && d.ByteWidth < 1:
		return bad("fixed_size_binary needs a byte width of at least 1")
	case t != format.FixedSizeBinary && d.ByteWidth != 0:
		return bad("type %s takes no byte width", t)
	case t != format.Timestamp && d.TimeZone != "":
		return bad("only timestamp takes a time zone")
	case d.Length < 0 || d.Length > format.MaxLength:
		return bad("length %d is not in [0, 2^62]", d.Length)
	}
	if len(d.Shape) == 0 {
		d.Shape = []int64{d.Length}
	}
	if len(d.Shape) > format.MaxNDim || d.Shape[0] != d.Length {
		return bad("shape %v must have 1 to %d dimensions, the first equal to the length %d", d.Shape, format.MaxNDim, d.Length)
	}
	if len(d.Shape) > 1 && !d.Type.Numeric() {
		return bad("only integer and float arrays may have %d dimensions", len(d.Shape))
	}
	elems := uint64(1)
	for _, dim := range d.Shape {
		hi, lo := bits.Mul64(elems, uint64(dim))
		if dim < 0 || hi != 0 || lo > 1<<62 {
			return bad("shape %v is negative or too large", d.Shape)
		}
		elems = lo
	}
	return nil
}

// copyBuffers allocates and fills desc's buffers. Called with mu held.
func (b *Builder) copyBuffers(desc *format.ArrayDesc, validity, offsets, data []byte) error {
	n := uint64(desc.Length)
	short := func(what string, have, need uint64) error {
		return fmt.Errorf("%w: %s buffer has %d bytes, %d slots need %d", format.ErrInvalidArgument, what, have, n, need)
	}
	b.sum = 0
	var err error
	if validity != nil {
		if desc.Validity, err = b.copyBitmap(validity, 0, n); err != nil {
			return err
		}
	}
	switch {
	case desc.Type == format.Bool:
		if uint64(len(data)) < bitmapBytes(n) {
			return short("data", uint64(len(data)), bitmapBytes(n))
		}
		desc.Data, err = b.copyBitmap(data, 0, n)
	case desc.Type.VarLength():
		err = b.copyRawVarLength(desc, offsets, data)
	default:
		need := n * uint64(desc.RowElems()) * uint64(desc.ElemWidth())
		if uint64(len(data)) < need {
			return short("data", uint64(len(data)), need)
		}
		desc.Data, err = b.copyIn(data[:need])
	}
	return err
}

// copyRawVarLength copies offsets (rebased to 0) and the data they cover.
// Called with mu held.
func (b *Builder) copyRawVarLength(desc *format.ArrayDesc, offsets, data []byte) error {
	n := uint64(desc.Length)
	if n == 0 {
		return nil
	}
	ow := uint64(desc.Type.OffsetWidth())
	if uint64(len(offsets)) < (n+1)*ow {
		return fmt.Errorf("%w: offsets buffer has %d bytes, %d slots need %d", format.ErrInvalidArgument, len(offsets), n, (n+1)*ow)
	}
	base, last := readOffset(offsets, 0, ow), readOffset(offsets, n, ow)
	if int64(base) < 0 || base > last || last > uint64(len(data)) {
		return fmt.Errorf("%w: offsets run from %d to %d, outside the %d-byte data buffer", format.ErrInvalidArgument, int64(base), int64(last), len(data))
	}
	return b.copyVarLengthFrom(desc, offsets[:(n+1)*ow], data, base, last)
}

// AddEmpty adds a fixed-width array without nulls whose values the caller
// then writes in place, and returns its data bytes: zeroed, 64-byte
// aligned, inside the segment, length × prod(shape[1:]) × width of them.
// They stay writable until Publish or Close, which unmap them: touching
// them afterwards is a use after free. The data checksum is taken at
// Publish, over what was written by then, and so is an index (AddIndex).
// desc gives the name, type
// (integer, float, temporal or fixed_size_binary; bool, whose values are
// bits, and variable-length types are refused), length, shape and
// metadata; its buffer fields and null count are ignored.
//
// Errors: INVALID_ARGUMENT, NO_SPACE, CLOSED.
func (b *Builder) AddEmpty(desc format.ArrayDesc) ([]byte, error) {
	if err := checkDesc(&desc); err != nil {
		return nil, fmt.Errorf("segment %q: array %q: %w", b.name, desc.Name, err)
	}
	if desc.Type == format.Bool || desc.Type.VarLength() {
		return nil, fmt.Errorf("%w: segment %q: array %q: a %s array cannot be filled in place; copy it in (AddBuffers, AddArray)",
			format.ErrInvalidArgument, b.name, desc.Name, desc.Type)
	}
	hi, size := bits.Mul64(uint64(desc.Length)*uint64(desc.RowElems()), uint64(desc.ElemWidth()))
	if hi != 0 || size > 1<<62 {
		return nil, fmt.Errorf("%w: segment %q: array %q: shape %v of %s is too large", format.ErrInvalidArgument, b.name, desc.Name, desc.Shape, desc.Type)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkName(desc.Name); err != nil {
		return nil, err
	}
	desc.Validity, desc.Offsets, desc.Data = format.Buffer{}, format.Buffer{}, format.Buffer{}
	desc.NullCount, desc.HasDataCRC = 0, false
	b.inPlace[desc.Name] = struct{}{}
	if size == 0 {
		b.add(&desc)
		return []byte{}, nil
	}
	off, err := b.alloc(size)
	if err != nil {
		delete(b.inPlace, desc.Name)
		return nil, err
	}
	desc.Data = format.Buffer{Offset: off, Length: size}
	b.add(&desc) // nothing to validate: fixed width, no nulls, any bytes
	return b.mem[off : off+size : off+size], nil
}
