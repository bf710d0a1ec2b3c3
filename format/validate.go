package format

import (
	"hash/crc32"
	"math/bits"
	"unicode/utf8"
)

// Validate runs the full validation of spec §11.3 over every array of s. b
// must be the bytes s was decoded from. Unlike Decode it reads every data
// page, so it costs O(data) and is never run implicitly at attach.
func (s *Segment) Validate(b []byte) error {
	for i := range s.Arrays {
		a := &s.Arrays[i]
		var childLen int64
		if a.Type.Nested() {
			childLen = s.Arrays[a.Child].Length
		}
		if err := ValidateNode(b, a, childLen); err != nil {
			return err
		}
	}
	return nil
}

// ValidateArray is the full validation of one array: the null count matches
// the bitmap (BAD_SIZE), offsets start at 0, never decrease and stay inside
// the data buffer (BAD_OFFSETS), utf8 values are UTF-8 (BAD_UTF8), the
// data CRC matches when the record carries one (CHECKSUM_MISMATCH), and a
// hash index finds every key at its row (spec §11.3 step 5: OUT_OF_BOUNDS,
// BAD_SIZE, DUPLICATE_NAME, CHECKSUM_MISMATCH). A list or dictionary is
// checked against an empty child here: use ValidateNode with its child's
// length.
func ValidateArray(b []byte, a *ArrayDesc) error { return ValidateNode(b, a, 0) }

// ValidateNode is ValidateArray for any record, a list or dictionary
// (format 1.3) included, whose child has childLen slots: a list's offsets
// stay within the child (BAD_OFFSETS), a dictionary's indices of non-null
// slots name a slot of it (OUT_OF_BOUNDS) (spec §11.3 steps 2, 2a).
func ValidateNode(b []byte, a *ArrayDesc, childLen int64) error {
	if childLen < 0 { // a negative length would read as a limit of about 2^64
		return errorf(InvalidArgument, "array %s: child length %d is negative", Quote(a.Name), childLen)
	}
	for _, buf := range []Buffer{a.Validity, a.Offsets, a.Data, a.Index.Buffer} {
		if buf.Length != 0 && !within(buf.Offset, buf.Length, 0, uint64(len(b))) {
			return errorf(OutOfBounds, "array %s: buffer [%d, +%d) is outside the %d-byte file", Quote(a.Name), buf.Offset, buf.Length, len(b))
		}
	}
	if a.Validity.Length != 0 {
		nulls := int64(a.Length) - CountSet(slice(b, a.Validity), uint64(a.Length))
		if nulls != a.NullCount {
			return errorf(BadSize, "array %s: null_count is %d but the bitmap has %d nulls", Quote(a.Name), a.NullCount, nulls)
		}
	}
	if a.Type.VarLength() {
		if err := validateOffsets(b, a); err != nil {
			return err
		}
	}
	if w := a.Type.ListOffsetWidth(); w != 0 {
		if _, err := checkOffsets(b, a, uint64(w), uint64(childLen), "the child's %d slots"); err != nil {
			return err
		}
	}
	if a.Type == Dictionary {
		if err := validateIndices(b, a, childLen); err != nil {
			return err
		}
	}
	if a.HasDataCRC {
		if sum := DataCRC(slice(b, a.Validity), slice(b, a.Offsets), slice(b, a.Data)); sum != a.DataCRC {
			return errorf(ChecksumMismatch, "array %s: data CRC-32 is %08x, the record says %08x", Quote(a.Name), sum, a.DataCRC)
		}
	}
	if a.Index.Present() {
		return validateIndex(b, a)
	}
	return nil
}

// DataCRC is the per-array data checksum of spec §9: CRC-32 over the
// validity, offsets and data bytes, in that order.
func DataCRC(validity, offsets, data []byte) uint32 {
	c := crc32.ChecksumIEEE(validity)
	c = crc32.Update(c, crc32.IEEETable, offsets)
	return crc32.Update(c, crc32.IEEETable, data)
}

func slice(b []byte, buf Buffer) []byte {
	if buf.Length == 0 {
		return nil
	}
	return b[buf.Offset:buf.End()]
}

// CountSet counts the set bits among the first n bits of bm (LSB first):
// the valid slots of a validity bitmap. bm must hold at least ceil(n/8) bytes.
func CountSet(bm []byte, n uint64) int64 {
	var total int
	full := n / 8
	i := uint64(0)
	for ; i+8 <= full; i += 8 {
		total += bits.OnesCount64(le.Uint64(bm[i:]))
	}
	for ; i < full; i++ {
		total += bits.OnesCount8(bm[i])
	}
	if rem := n % 8; rem != 0 {
		total += bits.OnesCount8(bm[full] & (1<<rem - 1))
	}
	return int64(total)
}

// offsetAt reads entry i of an offsets buffer of w-byte entries,
// sign-extending i32 entries: a negative entry reads as at least 2^63.
func offsetAt(offs []byte, w, i uint64) uint64 {
	if w == 4 {
		return uint64(int64(int32(le.Uint32(offs[i*4:]))))
	}
	return le.Uint64(offs[i*8:])
}

// checkOffsets is step 2 of full validation (spec §11.3) over an offsets
// buffer of w-byte entries bounded by limit (the data length of a string
// array, the child's length of a list; what names it in messages). It
// returns offsets[length].
func checkOffsets(b []byte, a *ArrayDesc, w, limit uint64, what string) (uint64, error) {
	n := uint64(a.Length)
	if n == 0 && a.Offsets.Length == 0 {
		return 0, nil
	}
	offs := slice(b, a.Offsets)
	if first := offsetAt(offs, w, 0); first != 0 {
		return 0, errorf(BadOffsets, "array %s: offsets[0] is %d, must be 0", Quote(a.Name), int64(first))
	}
	prev := uint64(0)
	for i := uint64(1); i <= n; i++ {
		cur := offsetAt(offs, w, i)
		// A negative offset reads as a huge uint64, so one comparison against
		// the limit catches both "beyond the data" and "negative".
		if cur > limit {
			return 0, errorf(BadOffsets, "array %s: offsets[%d] is %d, beyond "+what, Quote(a.Name), i, int64(cur), limit)
		}
		if cur < prev {
			return 0, errorf(BadOffsets, "array %s: offsets[%d] = %d is less than offsets[%d] = %d", Quote(a.Name), i, cur, i-1, prev)
		}
		prev = cur
	}
	return prev, nil
}

// validateIndices is step 2a of full validation (spec §11.3, format 1.3):
// the index of every non-null slot of a dictionary names a slot of its
// dictionary of dictLen slots.
func validateIndices(b []byte, a *ArrayDesc, dictLen int64) error {
	data, validity := slice(b, a.Data), slice(b, a.Validity)
	w := a.IndexType.Width()
	signed := a.IndexType == Int8 || a.IndexType == Int16 || a.IndexType == Int32 || a.IndexType == Int64
	for i := int64(0); i < a.Length; i++ {
		if validity != nil && validity[i>>3]>>(i&7)&1 == 0 {
			continue
		}
		var v uint64
		switch w {
		case 1:
			v = uint64(data[i])
			if signed {
				v = uint64(int64(int8(data[i])))
			}
		case 2:
			v = uint64(le.Uint16(data[2*i:]))
			if signed {
				v = uint64(int64(int16(v)))
			}
		case 4:
			v = uint64(le.Uint32(data[4*i:]))
			if signed {
				v = uint64(int64(int32(v)))
			}
		default:
			v = le.Uint64(data[8*i:])
		}
		// A negative index reads as at least 2^63 unless unsigned: both fail.
		if v >= uint64(dictLen) || (signed && int64(v) < 0) {
			if signed {
				return errorf(OutOfBounds, "array %s: slot %d has index %d, outside its %d-value dictionary", Quote(a.Name), i, int64(v), dictLen)
			}
			return errorf(OutOfBounds, "array %s: slot %d has index %d, outside its %d-value dictionary", Quote(a.Name), i, v, dictLen)
		}
	}
	return nil
}

func validateOffsets(b []byte, a *ArrayDesc) error {
	n := uint64(a.Length)
	w := uint64(a.Type.OffsetWidth())
	prev, err := checkOffsets(b, a, w, a.Data.Length, "the %d-byte data buffer")
	if err != nil || prev == 0 {
		return err
	}
	offs := slice(b, a.Offsets)
	at := func(i uint64) uint64 { return offsetAt(offs, w, i) }
	if a.Type != Utf8 && a.Type != LargeUtf8 {
		return nil
	}
	data := slice(b, a.Data)[:prev]
	if isASCII(data) {
		return nil
	}
	// Check value by value: a sequence valid as a whole may still split a
	// character across two values. The offsets are read again, so they are
	// checked again: the file's owner may have changed them meanwhile
	// (spec §15), and an unchecked slice would panic.
	start := uint64(0)
	for i := uint64(1); i <= n; i++ {
		end := at(i)
		if end < start || end > prev {
			return errorf(BadOffsets, "array %s: offsets[%d] changed during validation (the file was modified)", Quote(a.Name), i)
		}
		if !utf8.Valid(data[start:end]) {
			return errorf(BadUTF8, "array %s: value %d is not valid UTF-8", Quote(a.Name), i-1)
		}
		start = end
	}
	return nil
}

func isASCII(p []byte) bool {
	i := 0
	for ; i+8 <= len(p); i += 8 {
		if le.Uint64(p[i:])&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(p); i++ {
		if p[i] >= 0x80 {
			return false
		}
	}
	return true
}
