package format

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fullCases pass Decode and fail only full validation.
var fullCases = []struct {
	name  string
	array testArray
	noCRC bool
	want  Code
}{
	{"offsets not monotone", testArray{desc: ArrayDesc{Name: "s", DType: DType{Type: Utf8}, Length: 2},
		offsets: le32(0, 3, 1), data: []byte("abc")}, false, BadOffsets},
	{"first offset not zero", testArray{desc: ArrayDesc{Name: "s", DType: DType{Type: Binary}, Length: 1},
		offsets: le32(1, 2), data: []byte("ab")}, false, BadOffsets},
	{"last offset beyond data", testArray{desc: ArrayDesc{Name: "s", DType: DType{Type: LargeUtf8}, Length: 1},
		offsets: le64(0, 9), data: []byte("abc")}, false, BadOffsets},
	{"negative offset", testArray{desc: ArrayDesc{Name: "s", DType: DType{Type: Utf8}, Length: 2},
		offsets: le32(0, -1, 2), data: []byte("ab")}, false, BadOffsets},
	{"invalid UTF-8", testArray{desc: ArrayDesc{Name: "s", DType: DType{Type: Utf8}, Length: 1},
		offsets: le32(0, 2), data: []byte{0xc3, 0x28}}, false, BadUTF8},
	{"character split across values", testArray{desc: ArrayDesc{Name: "s", DType: DType{Type: Utf8}, Length: 2},
		offsets: le32(0, 1, 2), data: []byte("ü")}, false, BadUTF8},
	{"null count disagrees with bitmap", testArray{desc: ArrayDesc{Name: "x", DType: DType{Type: Int32}, Length: 3, NullCount: 2},
		validity: []byte{0b011}, data: le32(1, 2, 3)}, false, BadSize},
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range fullCases {
		t.Run(tc.name, func(t *testing.T) {
			b := buildSegment(t, []testArray{tc.array}, nil)
			s, err := Decode(b)
			require.NoError(t, err, "structurally valid")
			err = s.Validate(b)
			require.Error(t, err)
			assert.Equal(t, tc.want.Name(), CodeOf(err).Name(), "error: %v", err)
		})
	}
}

func TestValidateDataCRC(t *testing.T) {
	b := sampleSegment(t)
	s, err := Decode(b)
	require.NoError(t, err)
	require.NoError(t, s.Validate(b))
	b[s.Arrays[0].Data.Offset] ^= 0x10 // a data byte: Decode never looks
	_, err = Decode(b)
	require.NoError(t, err)
	err = s.Validate(b)
	assert.Equal(t, ChecksumMismatch, CodeOf(err), "error: %v", err)
}

func TestValidateBinaryNeedNotBeUTF8(t *testing.T) {
	b := buildSegment(t, []testArray{{desc: ArrayDesc{Name: "b", DType: DType{Type: Binary}, Length: 1},
		offsets: le32(0, 2), data: []byte{0xff, 0xfe}}}, nil)
	s, err := Decode(b)
	require.NoError(t, err)
	assert.NoError(t, s.Validate(b))
}

func TestCountSet(t *testing.T) {
	bm := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0b0000_0101, 0xff}
	for _, tc := range []struct {
		n    uint64
		want int64
	}{{0, 0}, {3, 3}, {64, 64}, {65, 65}, {66, 65}, {67, 66}, {72, 66}, {73, 67}} {
		assert.Equal(t, tc.want, CountSet(bm, tc.n), "n=%d", tc.n)
	}
}
