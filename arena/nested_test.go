package arena_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// listOf builds list<int32> (or large_list) rows, nil rows null, null
// elements where an element is -1.
func listOf(t *testing.T, large bool, rows [][]int32) arrow.Array {
	t.Helper()
	mem := memory.NewGoAllocator()
	var b array.ListLikeBuilder
	if large {
		b = array.NewLargeListBuilder(mem, arrow.PrimitiveTypes.Int32)
	} else {
		b = array.NewListBuilder(mem, arrow.PrimitiveTypes.Int32)
	}
	defer b.Release()
	vb := b.ValueBuilder().(*array.Int32Builder)
	for _, r := range rows {
		if r == nil {
			b.AppendNull()
			continue
		}
		b.Append(true)
		for _, v := range r {
			if v == -1 {
				vb.AppendNull()
			} else {
				vb.Append(v)
			}
		}
	}
	return b.NewArray()
}

func dictOf(t *testing.T, vals []string) arrow.Array {
	t.Helper()
	b := array.NewDictionaryBuilder(memory.NewGoAllocator(), &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String})
	defer b.Release()
	sb := b.(*array.BinaryDictionaryBuilder)
	for _, v := range vals {
		if v == "" {
			sb.AppendNull()
		} else {
			require.NoError(t, sb.AppendString(v))
		}
	}
	return b.NewArray()
}

// TestNestedRoundTrip writes lists and dictionaries (format 1.3), whole and
// sliced, through AddArray and AddLists, and reads them back through the
// Go reader: the records, their children, the Arrow arrays and a full
// validation.
func TestNestedRoundTrip(t *testing.T) {
	rows := [][]int32{{1, -1}, nil, {}, {3, 4, 5}, {6}}
	tests := []struct {
		name  string
		add   func(b *arena.Builder) error
		want  string // the column's values as Arrow prints them
		types []format.Type
	}{
		{"list", func(b *arena.Builder) error {
			a := listOf(t, false, rows)
			defer a.Release()
			return b.AddArray("c", a)
		}, "[[1 (null)] (null) [] [3 4 5] [6]]", []format.Type{format.List, format.Int32}},
		{"large_list_sliced", func(b *arena.Builder) error {
			a := listOf(t, true, rows)
			defer a.Release()
			s := array.NewSlice(a, 2, 5)
			defer s.Release()
			return b.AddArray("c", s)
		}, "[[] [3 4 5] [6]]", []format.Type{format.LargeList, format.Int32}},
		{"list_of_list", func(b *arena.Builder) error {
			inner := listOf(t, false, rows)
			defer inner.Release()
			offs := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, 2, 2, 5}))
			data := array.NewData(arrow.ListOf(inner.DataType()), 3, []*memory.Buffer{nil, offs}, []arrow.ArrayData{inner.Data()}, 0, 0)
			defer data.Release()
			a := array.MakeFromData(data)
			defer a.Release()
			return b.AddArray("c", a)
		}, "[[[1 (null)] (null)] [] [[] [3 4 5] [6]]]", []format.Type{format.List, format.List, format.Int32}},
		{"dictionary", func(b *arena.Builder) error {
			a := dictOf(t, []string{"x", "y", "", "x"})
			defer a.Release()
			return b.AddArray("c", a)
		}, "{ dictionary: [\"x\" \"y\"]\n  indices: [0 1 (null) 0] }", []format.Type{format.Dictionary, format.Utf8}},
		{"dictionary_sliced", func(b *arena.Builder) error {
			a := dictOf(t, []string{"x", "y", "", "x"})
			defer a.Release()
			s := array.NewSlice(a, 1, 3)
			defer s.Release()
			return b.AddArray("c", s)
		}, "{ dictionary: [\"x\" \"y\"]\n  indices: [1 (null)] }", []format.Type{format.Dictionary, format.Utf8}},
		{"add_lists", func(b *arena.Builder) error {
			return arena.AddLists(b, "c", [][]float64{{1.5}, nil, {}, {2, 3}})
		}, "[[1.5] (null) [] [2 3]]", []format.Type{format.List, format.Float64}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			b, err := arena.Create("n", &arena.CreateOptions{Dir: dir})
			require.NoError(t, err)
			require.NoError(t, tc.add(b))
			require.NoError(t, arena.AddSlice(b, "after", []int64{7}))
			require.NoError(t, b.Publish())
			s, err := arena.Attach("n", dir)
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.Validate())
			assert.Equal(t, uint16(format.MinorNested), s.Header().Minor)
			assert.Equal(t, []int{0, len(tc.types)}, s.Columns())
			for i, typ := range tc.types {
				d := s.Arrays()[i]
				assert.Equal(t, typ, d.Type, "record %d", i)
				assert.Equal(t, i > 0, d.IsChild, "record %d", i)
			}
			arr, err := s.Array("c")
			require.NoError(t, err)
			defer arr.Release()
			assert.Equal(t, tc.want, fmt.Sprint(arr))
			rec, err := s.Record()
			if err == nil {
				assert.Equal(t, int64(2), rec.NumCols())
				rec.Release()
			}
		})
	}
}

// TestNestedRefused: what the writer refuses, with INVALID_ARGUMENT and a
// message naming the fix.
func TestNestedRefused(t *testing.T) {
	dir := tempDir(t)
	b, err := arena.Create("r", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	d := dictOf(t, []string{"a", "b"})
	defer d.Release()
	require.NoError(t, b.AddArray("sym", d))
	err = b.AddIndex("sym")
	require.ErrorIs(t, err, format.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "dictionary-encoded")
	assert.Contains(t, err.Error(), "dictionary_decode")

	err = b.AddBuffers(format.ArrayDesc{Name: "raw", DType: format.DType{Type: format.List}, Length: 0}, nil, nil, nil)
	require.ErrorIs(t, err, format.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "Arrow array")

	// Nine levels of lists: one more than spec §6.1 allows.
	var a arrow.Array = listOf(t, false, [][]int32{{1}})
	for i := 0; i < format.MaxDepth; i++ {
		offs := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, 1}))
		data := array.NewData(arrow.ListOf(a.DataType()), 1, []*memory.Buffer{nil, offs}, []arrow.ArrayData{a.Data()}, 0, 0)
		a.Release()
		a = array.MakeFromData(data)
		data.Release()
	}
	defer a.Release()
	err = b.AddArray("deep", a)
	require.ErrorIs(t, err, format.ErrInvalidArgument)
	assert.True(t, strings.Contains(err.Error(), "deeper than 8"), err.Error())
	require.NoError(t, b.Publish()) // the refusals left nothing half-added
	s, err := arena.Attach("r", dir)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, 2, s.Len())
	require.NoError(t, s.Validate())
}

// TestNestedFromBuffers: AddListBuffers and AddDictionaryBuffers (the C
// ABI's raw path) rebase offsets that start above 0 and refuse short or
// inconsistent buffers with INVALID_ARGUMENT.
func TestNestedFromBuffers(t *testing.T) {
	dir := tempDir(t)
	b, err := arena.Create("raw", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	i64 := func(v ...int64) []byte { return arrow.Int64Traits.CastToBytes(v) }
	i32 := func(v ...int32) []byte { return arrow.Int32Traits.CastToBytes(v) }
	values := format.ArrayDesc{DType: format.DType{Type: format.Int64}, Length: 4}
	list := format.ArrayDesc{Name: "l", DType: format.DType{Type: format.List}, Length: 2}
	// Offsets from 1: rows [20, 30] and [40].
	require.NoError(t, b.AddListBuffers(list, nil, i32(1, 3, 4), values, nil, nil, i64(10, 20, 30, 40)))
	idx := format.ArrayDesc{Name: "d", DType: format.DType{Type: format.Uint8}, Length: 3}
	words := format.ArrayDesc{DType: format.DType{Type: format.Utf8}, Length: 2}
	require.NoError(t, b.AddDictionaryBuffers(idx, []byte{0b101}, []byte{1, 9, 0}, words, nil, i32(0, 1, 3), []byte("xyz")))
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"offsets past the values", b.AddListBuffers(format.ArrayDesc{Name: "x", DType: format.DType{Type: format.List}, Length: 1}, nil, i32(0, 5), values, nil, nil, i64(1, 2, 3, 4))},
		{"short offsets", b.AddListBuffers(format.ArrayDesc{Name: "y", DType: format.DType{Type: format.List}, Length: 2}, nil, i32(0, 1), values, nil, nil, i64(1, 2, 3, 4))},
		{"short bitmap", b.AddListBuffers(format.ArrayDesc{Name: "z", DType: format.DType{Type: format.LargeList}, Length: 9}, []byte{1}, i64(0, 0, 0, 0, 0, 0, 0, 0, 0, 0), values, nil, nil, i64(1, 2, 3, 4))},
		{"index past the dictionary", b.AddDictionaryBuffers(format.ArrayDesc{Name: "w", DType: format.DType{Type: format.Int8}, Length: 1}, nil, []byte{2}, words, nil, i32(0, 1, 3), []byte("xyz"))},
		{"float indices", b.AddDictionaryBuffers(format.ArrayDesc{Name: "v", DType: format.DType{Type: format.Float32}, Length: 0}, nil, nil, words, nil, i32(0, 1, 3), []byte("xyz"))},
	} {
		assert.ErrorIs(t, tc.err, format.ErrInvalidArgument, tc.name)
	}
	require.NoError(t, b.Publish())
	s, err := arena.Attach("raw", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Validate())
	l, err := s.Array("l")
	require.NoError(t, err)
	defer l.Release()
	assert.Equal(t, "[[20 30] [40]]", fmt.Sprint(l))
	d, err := s.Array("d")
	require.NoError(t, err)
	defer d.Release()
	assert.Equal(t, `{ dictionary: ["x" "yz"]
  indices: [1 (null) 0] }`, fmt.Sprint(d))
	assert.Equal(t, 4, s.Len(), "two columns and their children, nothing of the refused ones")
}
