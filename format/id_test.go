package format

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseID(t *testing.T) {
	id := ID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0, 0xff}
	for _, tc := range []struct {
		in   string
		want ID
		ok   bool
	}{
		{"0123456789abcdef00000000000000ff", id, true},
		{"00000000000000000000000000000000", ID{}, true},
		{"0123456789ABCDEF00000000000000ff", ID{}, false}, // uppercase: not the text form
		{"0123456789abcdef00000000000000f", ID{}, false},
		{"0123456789abcdef00000000000000fff", ID{}, false},
		{"0123456789abcdef00000000000000fg", ID{}, false},
		{"", ID{}, false},
		{" 123456789abcdef00000000000000ff", ID{}, false},
	} {
		got, err := ParseID(tc.in)
		if !tc.ok {
			assert.Equal(t, InvalidArgument, CodeOf(err), "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, got)
		assert.Equal(t, tc.in, got.String(), "String is the text ParseID reads")
	}
	assert.True(t, ID{}.IsZero())
	assert.False(t, id.IsZero())
}

func TestEncodeWritesIdentity(t *testing.T) {
	id := ID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	b, err := layoutSegment([]testArray{{desc: ArrayDesc{Name: "x", DType: DType{Type: Int64}, Length: 1}, data: le64(5)}},
		Seal{ID: id, Version: 7}, nil)
	require.NoError(t, err)
	s, err := Decode(b)
	require.NoError(t, err)
	assert.Equal(t, uint16(2), s.Header.Minor)
	assert.Equal(t, uint32(HeaderSizeID), s.Header.HeaderSize)
	assert.Equal(t, id, s.Header.ID)
	assert.Equal(t, uint64(7), s.Header.Version)
	assert.Equal(t, make([]byte, 40), b[152:192], "reserved bytes are zero")

	// SetIdentity rewrites both and the checksum that covers them.
	h := s.Header
	meta := b[h.MetaOffset : h.MetaOffset+h.MetaLength]
	require.NoError(t, SetIdentity(b[:h.HeaderSize], meta, ID{9}, 8))
	s, err = Decode(b)
	require.NoError(t, err)
	assert.Equal(t, ID{9}, s.Header.ID)
	assert.Equal(t, uint64(8), s.Header.Version)

	// A header as written by a 1.0 writer has no room for one.
	legacy, err := layoutSegment(nil, Seal{ID: id, Version: 7, Legacy: true}, nil)
	require.NoError(t, err)
	s, err = Decode(legacy)
	require.NoError(t, err)
	assert.Equal(t, uint16(0), s.Header.Minor)
	assert.Equal(t, uint32(HeaderSize), s.Header.HeaderSize)
	assert.True(t, s.Header.ID.IsZero(), "a 1.0 file has no identity")
	assert.Zero(t, s.Header.Version)
	assert.Equal(t, InvalidArgument, CodeOf(SetIdentity(legacy, nil, id, 1)))
}

func TestIdentityNeedsTheLongerHeader(t *testing.T) {
	// A 1.0 file (header 128) relabelled minor 2: too short a header for
	// the identity it must have.
	b, err := layoutSegment(nil, Seal{Legacy: true}, nil)
	require.NoError(t, err)
	le.PutUint16(b[10:], 2)
	reseal(b)
	_, err = Decode(b)
	assert.Equal(t, BadSize, CodeOf(err))
	assert.EqualError(t, err, "shmarray: bad size: header_size is 128, at least 192 expected in a version 1.2 file")

	// Minor 1 with the same header is a valid 1.1 file; ReadHeader reads
	// no identity from a minor < 2 header whatever its bytes.
	le.PutUint16(b[10:], 1)
	reseal(b)
	_, err = Decode(b)
	require.NoError(t, err)
	full, err := layoutSegment(nil, Seal{ID: ID{7}, Version: 3}, nil)
	require.NoError(t, err)
	le.PutUint16(full[10:], 1)
	h, err := ReadHeader(full)
	require.NoError(t, err)
	assert.True(t, h.ID.IsZero())
	assert.Zero(t, h.Version)
}
