package format

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeSample(t *testing.T) {
	b := sampleSegment(t)
	s, err := Decode(b)
	require.NoError(t, err)
	require.Len(t, s.Arrays, 5)
	assert.Equal(t, []KV{{"source", "test"}}, s.Metadata)

	ints := s.Arrays[s.Lookup("ints")]
	assert.Equal(t, Int64, ints.Type)
	assert.Equal(t, int64(3), ints.Length)
	assert.Equal(t, int64(1), ints.NullCount)
	assert.Equal(t, []KV{{"unit", "cm"}}, ints.Metadata)
	assert.Equal(t, uint64(HeaderSizeID), ints.Validity.Offset)

	cube := s.Arrays[s.Lookup("cube")]
	assert.Equal(t, []int64{2, 2, 3}, cube.Shape)
	assert.Equal(t, int64(6), cube.RowElems())

	when := s.Arrays[s.Lookup("when")]
	assert.Equal(t, "UTC", when.TimeZone)
	assert.Equal(t, "tsu:UTC", when.CFormat())
	assert.Equal(t, "datetime64[us]", when.NumPy())

	assert.Equal(t, -1, s.Lookup("missing"))
	assert.Equal(t, uint32(2), s.Header.CreatorPID)
	require.NoError(t, s.Validate(b))
}

func TestDecodeEmptySegment(t *testing.T) {
	b := buildSegment(t, nil, nil)
	s, err := Decode(b)
	require.NoError(t, err)
	assert.Empty(t, s.Arrays)
	assert.Equal(t, HeaderSizeID, len(b), "zero arrays and no metadata: the header is the whole file")
}

// corruption edits a valid sample segment; resealed corruptions fix the
// checksum afterwards so that the intended check is the one that fails.
type corruption struct {
	name   string
	edit   func(b []byte) []byte
	reseal bool
	want   Code
}

func setRec(i, field int, size int, v uint64) func([]byte) []byte {
	return func(b []byte) []byte {
		r := recordAt(b, i)
		switch size {
		case 1:
			r[field] = byte(v)
		case 4:
			binary.LittleEndian.PutUint32(r[field:], uint32(v))
		case 8:
			binary.LittleEndian.PutUint64(r[field:], v)
		}
		return b
	}
}

func setHeader(field, size int, v uint64) func([]byte) []byte {
	return func(b []byte) []byte {
		switch size {
		case 2:
			binary.LittleEndian.PutUint16(b[field:], uint16(v))
		case 4:
			binary.LittleEndian.PutUint32(b[field:], uint32(v))
		case 8:
			binary.LittleEndian.PutUint64(b[field:], v)
		}
		return b
	}
}

var structuralCases = []corruption{
	{"empty file", func(b []byte) []byte { return nil }, false, NotASegment},
	{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, false, NotASegment},
	{"future major", setHeader(8, 2, 2), false, UnsupportedVersion},
	{"major zero", setHeader(8, 2, 0), false, UnsupportedVersion},
	{"truncated header", func(b []byte) []byte { return b[:100] }, false, Truncated},
	{"truncated file", func(b []byte) []byte { return b[:len(b)-1] }, false, Truncated},
	{"header_size too small", setHeader(12, 4, 64), true, BadSize},
	{"not sealed", setHeader(24, 4, 0), true, NotSealed},
	{"meta misaligned", func(b []byte) []byte { return setHeader(32, 8, le.Uint64(b[32:])+8)(b) }, false, Misaligned},
	{"meta past end", setHeader(40, 8, 1<<40), false, OutOfBounds},
	{"meta length overflows", setHeader(40, 8, ^uint64(0)), false, OutOfBounds},
	{"checksum mismatch", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, false, ChecksumMismatch},
	{"record_size too small", setHeader(56, 4, 100), true, BadSize},
	{"too many arrays", setHeader(28, 4, MaxArrays+1), true, BadSize},
	{"directory out of bounds", setHeader(28, 4, 1000), true, OutOfBounds},
	{"strtab out of bounds", setHeader(80, 8, 1<<20), true, OutOfBounds},
	{"kv table out of bounds", setHeader(60, 4, 5000), true, OutOfBounds},
	{"name out of bounds", setRec(0, 0, 4, 1<<30), true, OutOfBounds},
	{"empty name", setRec(0, 4, 4, 0), true, BadSize},
	{"name not UTF-8", func(b []byte) []byte {
		h, _ := ReadHeader(b)
		b[h.StrtabOffset+uint64(le32at(recordAt(b, 0), 0))] = 0xff
		return b
	}, true, BadUTF8},
	{"duplicate names", func(b []byte) []byte {
		copy(recordAt(b, 1)[0:8], recordAt(b, 0)[0:8])
		return b
	}, true, DuplicateName},
	{"unknown type", setRec(0, 8, 1, 99), true, BadType},
	{"type zero", setRec(0, 8, 1, 0), true, BadType},
	{"bad time unit", setRec(4, 10, 1, 4), true, BadType},
	{"unit on int", setRec(0, 10, 1, 1), true, BadType},
	{"width on int", setRec(0, 12, 4, 8), true, BadType},
	{"tz on int", setRec(0, 20, 4, 3), true, BadType},
	{"ndim zero", setRec(0, 9, 1, 0), true, BadShape},
	{"ndim too large", setRec(3, 9, 1, MaxNDim+1), true, BadShape},
	{"N-D strings", setRec(1, 9, 1, 2), true, BadShape},
	{"shape0 differs", setRec(0, 104, 8, 4), true, BadShape},
	{"negative dim", setRec(3, 112, 8, ^uint64(0)), true, BadShape},
	{"junk past ndim", setRec(0, 120, 8, 1), true, BadShape},
	{"negative length", func(b []byte) []byte {
		setRec(0, 24, 8, ^uint64(0))(b)
		return setRec(0, 104, 8, ^uint64(0))(b)
	}, true, BadSize},
	{"null count above length", setRec(0, 32, 8, 4), true, BadSize},
	{"nulls without bitmap", setRec(0, 48, 8, 0), true, BadSize},
	{"bitmap too short", func(b []byte) []byte {
		setRec(2, 24, 8, 9)(b)
		setRec(2, 104, 8, 9)(b)
		setRec(2, 32, 8, 1)(b)
		setRec(2, 40, 8, HeaderSizeID)(b)
		return setRec(2, 48, 8, 1)(b)
	}, true, BadSize},
	{"data too short", setRec(0, 80, 8, 23), true, BadSize},
	{"length times width overflows", func(b []byte) []byte {
		setRec(0, 24, 8, 1<<62)(b)
		setRec(0, 104, 8, 1<<62)(b)
		return setRec(0, 32, 8, 0)(b)
	}, true, BadSize},
	{"shape product overflows", setRec(3, 112, 8, 1<<62), true, BadSize},
	{"offsets too short", setRec(1, 64, 8, 12), true, BadSize},
	{"offsets on int", func(b []byte) []byte {
		setRec(0, 56, 8, HeaderSizeID)(b)
		return setRec(0, 64, 8, 8)(b)
	}, true, BadSize},
	{"misaligned buffer", setRec(0, 72, 8, 200), true, Misaligned},
	{"buffer past data area", setRec(0, 72, 8, 1<<40), true, OutOfBounds},
	{"buffer in header", setRec(0, 72, 8, 0), true, OutOfBounds},
	{"buffer offset overflow", func(b []byte) []byte {
		return setRec(0, 72, 8, ^uint64(0)&^63)(b)
	}, true, OutOfBounds},
	{"kv range past table", setRec(0, 92, 4, 100), true, OutOfBounds},
	{"duplicate metadata key", func(b []byte) []byte {
		h, _ := ReadHeader(b)
		// Make the segment's pair a second pair of array 0.
		setRec(0, 92, 4, 2)(b)
		kv := b[h.KVOffset:]
		copy(kv[16:24], kv[0:8])
		return b
	}, true, DuplicateName},
}

func le32at(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

func TestDecodeRejects(t *testing.T) {
	for _, tc := range structuralCases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(sampleSegment(t))
			if tc.reseal {
				reseal(b)
			}
			_, err := Decode(b)
			require.Error(t, err)
			assert.Equal(t, tc.want.Name(), CodeOf(err).Name(), "error: %v", err)
			assert.True(t, errors.Is(err, tc.want))
			assert.True(t, errors.Is(err, ErrInvalidSegment), "every structural failure is an invalid-segment error")
		})
	}
}

func TestReadHeaderNeedsOnlyTheHeader(t *testing.T) {
	b := sampleSegment(t)
	h, err := ReadHeader(b[:HeaderSize])
	require.NoError(t, err)
	assert.True(t, h.Sealed())
	assert.False(t, h.Ephemeral())
	assert.Equal(t, uint64(len(b)), h.FileSize)
}

func TestChecksumIsZlibCRC32(t *testing.T) {
	// The spec's check value: CRC-32 of "123456789" is 0xCBF43926. Checksum
	// continues the CRC over its two parts with bytes 120..124 as zero.
	hdr := make([]byte, HeaderSize)
	copy(hdr, "123456789")
	hdr[121] = 0xAA // inside the checksum field: ignored
	a := Checksum(hdr, []byte("x"))
	hdr[121] = 0
	assert.Equal(t, a, Checksum(hdr, []byte("x")))
	assert.Equal(t, uint32(0xCBF43926), DataCRC([]byte("1234"), []byte("5"), []byte("6789")))
}

func TestDecodeRejectsSharedMetadataRecords(t *testing.T) {
	b := sampleSegment(t)
	// Point array 1 at array 0's metadata record: one record, two owners.
	copy(recordAt(b, 1)[88:96], recordAt(b, 0)[88:96])
	reseal(b)
	_, err := Decode(b)
	assert.Equal(t, OutOfBounds, CodeOf(err), "%v", err)
}

func TestDecodeHugeVarLengthArray(t *testing.T) {
	// length 2^62 of large_utf8: (length+1) × 8 overflows; the offsets
	// buffer is far too short either way.
	b := buildSegment(t, []testArray{{desc: ArrayDesc{Name: "s", DType: DType{Type: LargeUtf8}, Length: 1},
		offsets: le64(0, 1), data: []byte("a")}}, nil)
	setRec(0, 24, 8, 1<<62)(b)
	setRec(0, 104, 8, 1<<62)(b)
	reseal(b)
	_, err := Decode(b)
	assert.Equal(t, BadSize, CodeOf(err), "%v", err)
}

func TestDecodeBoundsReferencedStrings(t *testing.T) {
	b := sampleSegment(t)
	// Every array name points at the whole string table: each reference is
	// in range, but from array 1 on they add up to more than the table
	// (array 0's metadata is dropped so that it does not get there first).
	h, _ := ReadHeader(b)
	setRec(0, 92, 4, 0)(b)
	for i := 0; i < int(h.ArrayCount); i++ {
		r := recordAt(b, i)
		binary.LittleEndian.PutUint32(r[0:], 0)
		binary.LittleEndian.PutUint32(r[4:], uint32(h.StrtabLength))
	}
	reseal(b)
	_, err := Decode(b)
	assert.Equal(t, BadSize, CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "array 1: name takes the referenced strings")
}
