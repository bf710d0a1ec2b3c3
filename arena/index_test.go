package arena_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
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

func TestIndexLookup(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	b, err := arena.Create("idx", &arena.CreateOptions{Dir: dir, Index: []string{"id"}})
	require.NoError(t, err)
	require.NoError(t, b.AddStrings("name", []string{"ada", "grace", "", "émile"}))
	require.NoError(t, arena.AddSlice(b, "id", []int32{-7, 42, 0, 1 << 30}))
	require.NoError(t, arena.AddSlice(b, "price", []float64{1, 2, 3, 4}))
	require.NoError(t, b.AddIndex("name"))
	require.NoError(t, b.AddIndex("name"), "indexing twice does nothing")
	require.NoError(t, b.Publish())

	s, err := arena.Attach("idx", dir)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, uint16(format.Minor), s.Header().Minor)
	assert.True(t, s.HasIndex("name") && s.HasIndex("id"))
	assert.False(t, s.HasIndex("price") || s.HasIndex("nope"))
	require.NoError(t, s.Validate())

	rows, err := arena.Lookup(s, "name", []string{"grace", "x", "", "émile", "ada"})
	require.NoError(t, err)
	assert.Equal(t, []int64{1, -1, 2, 3, 0}, rows)
	rows, err = arena.Lookup(s, "name", [][]byte{[]byte("ada"), nil})
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 2}, rows, "a nil slice is the empty string")
	type label string
	rows, err = arena.Lookup(s, "name", []label{"grace"})
	require.NoError(t, err)
	assert.Equal(t, []int64{1}, rows)

	rows, err = arena.Lookup(s, "id", []int{42, -7, 1 << 30, 5, 1 << 40})
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 0, 3, -1, -1}, rows)
	rows, err = arena.Lookup(s, "id", []uint64{0, 1<<64 - 7})
	require.NoError(t, err)
	assert.Equal(t, []int64{2, -1}, rows, "uint64 2^64-7 is not int32 -7")
	rows, err = arena.Lookup(s, "id", []int8{-7, 0})
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 2}, rows)
	in, err := arena.Contains(s, "id", []int64{42, 43})
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false}, in)

	_, err = arena.Lookup(s, "id", []string{"42"})
	assert.ErrorIs(t, err, format.ErrInvalidArgument)
	_, err = arena.Lookup(s, "name", []int{1})
	assert.ErrorIs(t, err, format.ErrInvalidArgument)
	_, err = arena.Lookup(s, "price", []int{1})
	assert.ErrorIs(t, err, format.ErrInvalidArgument, "no index")
	_, err = arena.Lookup(s, "nope", []int{1})
	assert.ErrorIs(t, err, format.ErrNotFound)
}

func TestIndexLookupArrow(t *testing.T) {
	dir := tempDir(t)
	mem := memory.NewGoAllocator()
	b, err := arena.Create("arrow", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	keys := []struct {
		name string
		arr  arrow.Array
	}{
		{"s", makeFrom(t, mem, arrow.BinaryTypes.String, `["a", null, "b", "c"]`)},
		{"ls", makeFrom(t, mem, arrow.BinaryTypes.LargeString, `["a", "b"]`)},
		{"bin", makeFrom(t, mem, arrow.BinaryTypes.Binary, `["AAE=", "AA=="]`)},
		{"fsb", makeFrom(t, mem, &arrow.FixedSizeBinaryType{ByteWidth: 2}, `["AAE=", "AAI="]`)},
		{"u16", makeFrom(t, mem, arrow.PrimitiveTypes.Uint16, `[65535, null, 1]`)},
		{"i64", makeFrom(t, mem, arrow.PrimitiveTypes.Int64, `[-1, 9007199254740993]`)},
	}
	for _, k := range keys {
		require.NoError(t, b.AddArray(k.name, k.arr))
		require.NoError(t, b.AddIndex(k.name))
	}
	require.NoError(t, b.Publish())
	s, err := arena.Attach("arrow", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Validate())
	for _, tc := range []struct {
		array string
		keys  arrow.Array
		want  []int64
	}{
		{"s", makeFrom(t, mem, arrow.BinaryTypes.String, `["c", null, "a", "zz"]`), []int64{3, -1, 0, -1}},
		{"s", makeFrom(t, mem, arrow.BinaryTypes.LargeBinary, `["Yg=="]`), []int64{2}},
		{"ls", makeFrom(t, mem, arrow.BinaryTypes.String, `["b"]`), []int64{1}},
		{"bin", makeFrom(t, mem, &arrow.FixedSizeBinaryType{ByteWidth: 2}, `["AAE="]`), []int64{0}},
		{"fsb", makeFrom(t, mem, arrow.BinaryTypes.Binary, `["AAI=", "AA=="]`), []int64{1, -1}},
		{"u16", makeFrom(t, mem, arrow.PrimitiveTypes.Int64, `[1, -1, 65535, null]`), []int64{2, -1, 0, -1}},
		{"i64", makeFrom(t, mem, arrow.PrimitiveTypes.Uint64, `[18446744073709551615, 9007199254740993]`), []int64{-1, 1}},
		{"i64", makeFrom(t, mem, arrow.PrimitiveTypes.Int8, `[-1]`), []int64{0}},
	} {
		got, err := arena.LookupArrow(s, tc.array, tc.keys)
		require.NoError(t, err, "%s %s", tc.array, tc.keys)
		assert.Equal(t, tc.want, got, "%s %s", tc.array, tc.keys)
		in, err := arena.ContainsArrow(s, tc.array, tc.keys)
		require.NoError(t, err)
		for i := range in {
			assert.Equal(t, tc.want[i] >= 0, in[i])
		}
	}
	_, err = arena.LookupArrow(s, "i64", makeFrom(t, mem, arrow.BinaryTypes.String, `["1"]`))
	assert.ErrorIs(t, err, format.ErrInvalidArgument)
	_, err = arena.LookupArrow(s, "s", makeFrom(t, mem, arrow.PrimitiveTypes.Float64, `[1]`))
	assert.ErrorIs(t, err, format.ErrInvalidArgument)
}

func makeFrom(t testing.TB, mem memory.Allocator, dt arrow.DataType, js string) arrow.Array {
	t.Helper()
	arr, _, err := array.FromJSON(mem, dt, strings.NewReader(js))
	require.NoError(t, err, js)
	return arr
}

func TestIndexDuplicateKeys(t *testing.T) {
	dir := tempDir(t)
	b, err := arena.Create("dup", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.AddStrings("k", []string{"x", "abc", "y", "abc"}))
	err = b.AddIndex("k")
	require.ErrorIs(t, err, format.ErrInvalidArgument)
	assert.Contains(t, err.Error(), `segment "dup"`)
	assert.Contains(t, err.Error(), `key "abc" appears at rows 1 and 3`)
	require.NoError(t, arena.AddSlice(b, "f", []float64{1}))
	assert.ErrorIs(t, b.AddIndex("f"), format.ErrInvalidArgument)
	assert.ErrorIs(t, b.AddIndex("missing"), format.ErrNotFound)
	require.NoError(t, b.Publish(), "a failed index leaves the segment publishable")
	s, err := arena.Attach("dup", dir)
	require.NoError(t, err)
	defer s.Close()
	assert.False(t, s.HasIndex("k") || s.HasIndex("f"), "no index")
	require.NoError(t, s.Validate())

	// With the option, Publish fails and leaves nothing behind.
	b, err = arena.Create("dup2", &arena.CreateOptions{Dir: dir, Index: []string{"k"}})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "k", []uint8{1, 2, 1}))
	err = b.Publish()
	require.ErrorIs(t, err, format.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "key 1 appears at rows 0 and 2")
	_, err = os.Stat(filepath.Join(dir, "dup2"))
	assert.True(t, os.IsNotExist(err))
	assert.ErrorIs(t, b.AddIndex("k"), format.ErrClosed)
}

func TestIndexNullsNotIndexed(t *testing.T) {
	dir := tempDir(t)
	mem := memory.NewGoAllocator()
	b, err := arena.Create("nulls", &arena.CreateOptions{Dir: dir, Index: []string{"k", "n"}})
	require.NoError(t, err)
	require.NoError(t, b.AddArray("k", makeFrom(t, mem, arrow.BinaryTypes.String, `[null, "", null, "a"]`)))
	require.NoError(t, b.AddArray("n", makeFrom(t, mem, arrow.PrimitiveTypes.Int64, `[null, null, 0]`)))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("nulls", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Validate())
	rows, err := arena.Lookup(s, "k", []string{"", "a"})
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 3}, rows, "two nulls are not duplicates, and the empty string is a key")
	rows, err = arena.Lookup(s, "n", []int64{0})
	require.NoError(t, err)
	assert.Equal(t, []int64{2}, rows)
}

func TestIndexManyKeys(t *testing.T) {
	// Many keys against a Go map, through a table with real collisions.
	dir := tempDir(t)
	rng := rand.New(rand.NewSource(1))
	n := 20_000
	keys := make([]string, n)
	ints := make([]int64, n)
	seen := map[int64]bool{}
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%x", rng.Uint64())
		for {
			ints[i] = rng.Int63n(1<<40) - 1<<39
			if !seen[ints[i]] {
				seen[ints[i]] = true
				break
			}
		}
	}
	b, err := arena.Create("many", &arena.CreateOptions{Dir: dir, Index: []string{"s", "i"}})
	require.NoError(t, err)
	require.NoError(t, b.AddStrings("s", keys))
	require.NoError(t, arena.AddSlice(b, "i", ints))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("many", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Validate())

	queries := make([]string, 0, 2*n)
	iq := make([]int64, 0, 2*n)
	for i := 0; i < n; i++ {
		queries = append(queries, keys[i], fmt.Sprintf("miss-%d", i))
		iq = append(iq, ints[i], 1<<41+int64(i))
	}
	rows, err := arena.Lookup(s, "s", queries)
	require.NoError(t, err)
	irows, err := arena.Lookup(s, "i", iq)
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		require.Equal(t, int64(i), rows[2*i])
		require.Equal(t, int64(-1), rows[2*i+1])
		require.Equal(t, int64(i), irows[2*i])
		require.Equal(t, int64(-1), irows[2*i+1])
	}
}

func TestIndexClosedSegment(t *testing.T) {
	dir := tempDir(t)
	b, err := arena.Create("closed", &arena.CreateOptions{Dir: dir, Index: []string{"k"}})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "k", []int64{1}))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("closed", dir)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = arena.Lookup(s, "k", []int64{1})
	assert.ErrorIs(t, err, format.ErrClosed)
}
