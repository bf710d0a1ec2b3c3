package arena_test

import (
	"encoding/binary"
	"testing"

	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

func i32s(v ...int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func TestAddBuffers(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	b, err := arena.Create("raw", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	desc := func(name string, typ format.Type, n int64) format.ArrayDesc {
		return format.ArrayDesc{Name: name, DType: format.DType{Type: typ}, Length: n}
	}
	// Offsets starting above zero are rebased; the bitmap's spare bits and
	// a fully-valid bitmap are normalized away.
	require.NoError(t, b.AddBuffers(desc("s", format.Utf8, 3), []byte{0b11111101}, i32s(2, 4, 4, 9), []byte("xxabcdefg")))
	require.NoError(t, b.AddBuffers(desc("all-valid", format.Int32, 2), []byte{0xff}, nil, i32s(7, 8)))
	require.NoError(t, b.AddBuffers(desc("flags", format.Bool, 3), nil, nil, []byte{0b101}))
	m := desc("m", format.Float32, 2)
	m.Shape = []int64{2, 2}
	m.Metadata = []format.KV{{Key: "k", Value: "v"}}
	require.NoError(t, b.AddBuffers(m, nil, nil, make([]byte, 16)))

	for _, tc := range []struct {
		name  string
		desc  format.ArrayDesc
		v, o  []byte
		d     []byte
		wants string
	}{
		{"bad utf8", desc("u", format.Utf8, 1), nil, i32s(0, 2), []byte{0xc3, 0x28}, "invalid UTF-8"},
		{"offsets backwards", desc("o", format.Binary, 2), nil, i32s(0, 3, 1), []byte("abc"), "bad offsets"},
		{"offsets past data", desc("p", format.Binary, 1), nil, i32s(0, 9), []byte("abc"), "outside"},
		{"short data", desc("d", format.Int64, 3), nil, nil, make([]byte, 16), "data buffer"},
		{"short bitmap", desc("v", format.Int8, 9), []byte{1}, nil, make([]byte, 9), "validity buffer"},
		{"unknown type", desc("t", format.Type(99), 1), nil, nil, nil, "unknown type"},
		{"tz on int", format.ArrayDesc{Name: "z", DType: format.DType{Type: format.Int64, TimeZone: "UTC"}, Length: 0}, nil, nil, nil, "time zone"},
		{"N-D strings", format.ArrayDesc{Name: "n", DType: format.DType{Type: format.Utf8}, Length: 1, Shape: []int64{1, 1}}, nil, nil, nil, "dimensions"},
		{"duplicate", desc("s", format.Int8, 0), nil, nil, nil, "already has"},
	} {
		before := arena.Used(b)
		err := b.AddBuffers(tc.desc, tc.v, tc.o, tc.d)
		assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "%s: %v", tc.name, err)
		assert.ErrorContains(t, err, tc.wants, tc.name)
		assert.Equal(t, before, arena.Used(b), "%s: a refused array leaves no space used", tc.name)
	}
	require.NoError(t, b.Publish())

	s, err := arena.Attach("raw", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Validate())
	arr, err := s.Array("s")
	require.NoError(t, err)
	assert.Equal(t, `["ab" (null) "cdefg"]`, arr.String())
	arr.Release()
	d, _ := s.Desc("all-valid")
	assert.Zero(t, d.NullCount)
	assert.Zero(t, d.Validity.Length, "no bitmap stored when nothing is null")
	flags, _ := s.Array("flags")
	assert.Equal(t, []bool{true, false, true}, []bool{flags.(*array.Boolean).Value(0), flags.(*array.Boolean).Value(1), flags.(*array.Boolean).Value(2)})
	flags.Release()
	md, _ := s.Desc("m")
	assert.Equal(t, []int64{2, 2}, md.Shape)
	assert.Equal(t, []format.KV{{Key: "k", Value: "v"}}, md.Metadata)
}
