package arena_test

import (
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// TestRoundTripEveryType writes every type with and without nulls, empty,
// sliced (non-zero offset, odd bit offset) and at bitmap-boundary lengths,
// both copied from Go memory and built in place with the segment's
// allocator, then attaches and compares value by value.
func TestRoundTripEveryType(t *testing.T) {
	type variant struct {
		name  string
		n     int
		nulls bool
		slice [2]int // [from, to) of the built array; zero means no slice
	}
	variants := []variant{
		{"plain", 70, false, [2]int{}},
		{"nulls", 70, true, [2]int{}},
		{"empty", 0, false, [2]int{}},
		{"one", 1, true, [2]int{}},
		{"len8", 8, true, [2]int{}},
		{"sliced", 70, true, [2]int{5, 68}},
		{"sliced-aligned", 70, true, [2]int{8, 24}},
		{"sliced-empty", 70, false, [2]int{10, 10}},
	}
	for _, inPlace := range []bool{false, true} {
		t.Run(fmt.Sprintf("inPlace=%v", inPlace), func(t *testing.T) {
			dir := tempDir(t)
			noLeaks(t, dir)
			b, err := arena.Create("every-type", &arena.CreateOptions{Dir: dir})
			require.NoError(t, err)
			defer b.Close()
			mem := memory.Allocator(memory.NewGoAllocator())
			if inPlace {
				mem = b.Allocator()
			}
			want := map[string]arrow.Array{}
			for _, dt := range everyType {
				for _, v := range variants {
					arr := makeArray(t, mem, dt, v.n, v.nulls)
					if v.slice != [2]int{} {
						s := array.NewSlice(arr, int64(v.slice[0]), int64(v.slice[1]))
						arr.Release()
						arr = s
					}
					name := fmt.Sprintf("%s · %s", dt, v.name)
					require.NoError(t, b.AddArray(name, arr), name)
					// Keep a private copy to compare with: arrays built in
					// place die at Publish.
					want[name] = copyToGo(t, arr)
					arr.Release()
				}
			}
			require.NoError(t, b.Publish())

			s, err := arena.Attach("every-type", dir)
			require.NoError(t, err)
			defer s.Close()
			require.Equal(t, len(want), s.Len())
			require.NoError(t, s.Validate())
			for name, w := range want {
				got, err := s.Array(name)
				require.NoError(t, err, name)
				assert.True(t, array.Equal(w, got), "%s:\nwant %v\ngot  %v", name, w, got)
				assert.Equal(t, w.NullN(), got.NullN(), name)
				got.Release()
			}
		})
	}
}

// copyToGo deep-copies arr into Go memory through the IPC-free route of
// concatenation, which allocates fresh buffers.
func copyToGo(t testing.TB, arr arrow.Array) arrow.Array {
	out, err := array.Concatenate([]arrow.Array{arr}, memory.NewGoAllocator())
	require.NoError(t, err)
	return out
}

func TestInPlaceBuildCopiesNothing(t *testing.T) {
	dir := tempDir(t)
	b, err := arena.Create("in-place", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	ib := array.NewInt64Builder(b.Allocator())
	for i := 0; i < 1000; i++ {
		ib.Append(int64(i))
	}
	arr := ib.NewInt64Array()
	ib.Release()
	before := arena.Used(b)
	require.NoError(t, b.AddArray("x", arr))
	assert.Equal(t, before, arena.Used(b), "adding an array built in the segment allocates nothing")
	arr.Release() // must not free the space now backing "x"
	other := array.NewInt64Builder(b.Allocator())
	other.AppendValues([]int64{-1, -1, -1}, nil)
	o := other.NewArray()
	require.NoError(t, b.AddArray("y", o))
	require.NoError(t, b.Publish())
	o.Release()

	s, err := arena.Attach("in-place", dir)
	require.NoError(t, err)
	defer s.Close()
	x, err := arena.Values[int64](s, "x")
	require.NoError(t, err)
	require.Len(t, x, 1000)
	for i, v := range x {
		require.Equal(t, int64(i), v)
	}
	require.NoError(t, s.Validate())
}

func TestSlicesTensorsAndStrings(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	b, err := arena.Create("go-slices", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "i8", []int8{-128, 0, 127}))
	require.NoError(t, arena.AddSlice(b, "u64", []uint64{0, 1<<64 - 1}))
	require.NoError(t, arena.AddSlice(b, "f32", []float32{1.5, -0.0}))
	require.NoError(t, arena.AddSlice(b, "empty", []float64{}))
	cube := make([]int32, 2*3*4)
	for i := range cube {
		cube[i] = int32(i)
	}
	require.NoError(t, arena.AddTensor(b, "cube", cube, 2, 3, 4))
	require.NoError(t, b.AddStrings("words", []string{"a", "", "ünïcode"}))
	require.NoError(t, b.SetMetadata(map[string]string{"b": "2", "a": "1"}))
	err = arena.AddTensor(b, "bad", cube, 5, 5)
	assert.Equal(t, format.InvalidArgument, format.CodeOf(err))
	err = arena.AddSlice(b, "i8", []int8{1})
	assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "duplicate name")
	require.NoError(t, b.Publish())
	assert.Equal(t, format.Closed, format.CodeOf(b.Publish()))
	assert.NoError(t, b.Close())

	s, err := arena.Attach("go-slices", dir)
	require.NoError(t, err)
	defer s.Close()
	i8, err := arena.Values[int8](s, "i8")
	require.NoError(t, err)
	assert.Equal(t, []int8{-128, 0, 127}, i8)
	u64, _ := arena.Values[uint64](s, "u64")
	assert.Equal(t, []uint64{0, 1<<64 - 1}, u64)
	empty, err := arena.Values[float64](s, "empty")
	require.NoError(t, err)
	assert.Empty(t, empty)
	c, err := arena.Values[int32](s, "cube")
	require.NoError(t, err)
	assert.Equal(t, cube, c)
	d, _ := s.Desc("cube")
	assert.Equal(t, []int64{2, 3, 4}, d.Shape)
	_, err = arena.Values[int64](s, "cube")
	assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "wrong element type")
	_, err = arena.Values[int64](s, "nope")
	assert.Equal(t, format.NotFound, format.CodeOf(err))

	words, err := s.Array("words")
	require.NoError(t, err)
	assert.Equal(t, "ünïcode", words.(*array.String).Value(2))
	words.Release()
	tensor, err := s.Array("cube")
	require.NoError(t, err)
	assert.Equal(t, arrow.FixedSizeListOf(12, arrow.PrimitiveTypes.Int32), tensor.DataType())
	tensor.Release()
	assert.Equal(t, []format.KV{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}, s.Metadata())
	_, err = s.Record()
	assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "lengths differ: not a table")
}

func TestRecordRoundTrip(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	mem := memory.NewGoAllocator()
	md := arrow.NewMetadata([]string{"origin"}, []string{"sensor 7"})
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true, Metadata: md},
		{Name: "名前", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	rb := array.NewRecordBuilder(mem, schema)
	rb.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, []bool{true, false, true})
	rb.Field(1).(*array.StringBuilder).AppendValues([]string{"ア", "イ", "ウ"}, nil)
	rec := rb.NewRecord()
	rb.Release()
	defer rec.Release()

	b, err := arena.Create("table", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, b.AddRecord(rec))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("table", dir)
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Record()
	require.NoError(t, err)
	defer got.Release()
	assert.True(t, array.RecordEqual(rec, got), "want %v\ngot %v", rec, got)
	v, ok := got.Schema().Field(0).Metadata.GetValue("origin")
	assert.True(t, ok)
	assert.Equal(t, "sensor 7", v)
}

func TestCloseIsIdempotentAndNeverUnlinks(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	b, err := arena.Create("keep", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "x", []int64{1}))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("keep", dir)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	_, err = s.Array("x")
	assert.Equal(t, format.Closed, format.CodeOf(err))
	assert.Equal(t, []string{"keep"}, filesIn(t, dir))
}

func TestAbandonedBuilderLeavesNothing(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	b, err := arena.Create("never", &arena.CreateOptions{Dir: dir, Capacity: 1 << 20})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "x", make([]float64, 1000)))
	require.NoError(t, b.Close())
	assert.Empty(t, filesIn(t, dir))
	_, err = arena.Attach("never", dir)
	assert.Equal(t, format.NotFound, format.CodeOf(err))
}

func TestPublishNeverReplaces(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	first, err := arena.Create("race", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	second, err := arena.Create("race", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err, "the name is free until one publishes")
	require.NoError(t, arena.AddSlice(first, "who", []int64{1}))
	require.NoError(t, arena.AddSlice(second, "who", []int64{2}))
	require.NoError(t, first.Publish())
	err = second.Publish()
	assert.Equal(t, format.Exists, format.CodeOf(err), "%v", err)
	_, err = arena.Create("race", &arena.CreateOptions{Dir: dir})
	assert.Equal(t, format.Exists, format.CodeOf(err))

	s, err := arena.Attach("race", dir)
	require.NoError(t, err)
	defer s.Close()
	who, _ := arena.Values[int64](s, "who")
	assert.Equal(t, []int64{1}, who, "the first segment is intact")
	assert.Equal(t, []string{"race"}, filesIn(t, dir))
}

func TestListAndUnlink(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	for _, name := range []string{"b-seg", "a-seg"} {
		b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Ephemeral: name == "b-seg"})
		require.NoError(t, err)
		require.NoError(t, arena.AddSlice(b, "x", []int16{1, 2}))
		require.NoError(t, b.Publish())
	}
	writeFile(t, dir, "not-a-segment", []byte("hello world, not ours"))
	infos, err := arena.List(dir)
	require.NoError(t, err)
	require.Len(t, infos, 2)
	assert.Equal(t, "a-seg", infos[0].Name)
	assert.Equal(t, 1, infos[0].Arrays)
	assert.True(t, infos[0].CreatorAlive, "this process created it")
	assert.False(t, infos[0].Orphan())
	assert.True(t, infos[1].Ephemeral)
	assert.NoError(t, infos[0].Err)

	err = arena.Unlink("not-a-segment", dir)
	assert.Equal(t, format.NotASegment, format.CodeOf(err), "never removes a file that is not ours")
	require.NoError(t, arena.Unlink("a-seg", dir))
	err = arena.Unlink("a-seg", dir)
	assert.Equal(t, format.NotFound, format.CodeOf(err))
	infos, err = arena.List(dir)
	require.NoError(t, err)
	assert.Len(t, infos, 1)
}

func TestFileModes(t *testing.T) {
	dir := tempDir(t)
	for _, tc := range []struct {
		mode   uint32
		wantOK bool
	}{{0, true}, {0o600, true}, {0o640, true}, {0o660, true}, {0o644, false}, {0o666, false}, {0o400, false}, {0o700, false}} {
		name := fmt.Sprintf("mode-%o", tc.mode)
		b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Mode: osMode(tc.mode)})
		if !tc.wantOK {
			assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "%o", tc.mode)
			continue
		}
		require.NoError(t, err)
		require.NoError(t, b.Publish())
		want := tc.mode
		if want == 0 {
			want = 0o600
		}
		assert.Equal(t, want, fileMode(t, dir, name), "%o", tc.mode)
	}
}

// A tensor written as Arrow's fixed_shape_tensor storage with the extension
// metadata keeps its shape, and reads back with the same field.
func TestTensorExtensionField(t *testing.T) {
	dir := tempDir(t)
	b, err := arena.Create("tensor-field", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	arr := makeArray(t, memory.DefaultAllocator, arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float64), 4, false)
	defer arr.Release()
	md := arrow.NewMetadata([]string{format.ExtensionNameKey, format.ExtensionMetaKey, "note"}, []string{format.TensorExtensionName, `{"shape":[3,1]}`, "x"})
	require.NoError(t, b.AddField(arrow.Field{Name: "t", Metadata: md}, arr))
	bad := arrow.NewMetadata([]string{format.ExtensionNameKey, format.ExtensionMetaKey}, []string{format.TensorExtensionName, `{"shape":[2,2]}`})
	err = b.AddField(arrow.Field{Name: "bad", Metadata: bad}, arr)
	assert.Equal(t, format.InvalidArgument, format.CodeOf(err))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("tensor-field", dir)
	require.NoError(t, err)
	defer s.Close()
	d, _ := s.Desc("t")
	assert.Equal(t, []int64{4, 3, 1}, d.Shape)
	assert.Equal(t, []format.KV{{Key: "note", Value: "x"}}, d.Metadata)
	rec, err := s.Record()
	require.NoError(t, err)
	defer rec.Release()
	v, _ := rec.Schema().Field(0).Metadata.GetValue(format.ExtensionMetaKey)
	assert.JSONEq(t, `{"shape":[3,1]}`, v)
}

// TestZeroElementRows: an N-D array with a zero dimension is valid; Arrow
// Go cannot describe its rows (a fixed-size list of size 0), so Array and
// Record refuse it with INVALID_ARGUMENT instead of panicking (found by
// FuzzDecodeDirectory), and Values reads it.
func TestZeroElementRows(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	b, err := arena.Create("zero-rows", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, arena.AddTensor(b, "t", []float32{}, 4, 0))
	require.NoError(t, arena.AddTensor(b, "u", []float32{}, 4, 3, 0, 2))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("zero-rows", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Validate())
	for _, name := range []string{"t", "u"} {
		_, err = s.Array(name)
		assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "%v", err)
		v, err := arena.Values[float32](s, name)
		require.NoError(t, err)
		assert.Empty(t, v)
	}
	_, err = s.Record()
	assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "%v", err)
	d, _ := s.Desc("u")
	assert.Nil(t, d.ArrowType())
}
