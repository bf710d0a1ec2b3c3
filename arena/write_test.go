package arena_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// largeWrite is above the size from which copies are written to the file
// with pwrite rather than through the mapping (writeMin, 1 MiB).
const largeWrite = 3<<20 + 8

// TestLargeCopiesLandIntact: copies large enough to be written straight to
// the file, mixed with small ones copied through the mapping, of every kind
// of buffer (plain data, validity with and without nulls, rebased offsets
// of a sliced string array, a size of exactly 1 MiB), and one after a
// rolled-back copy, come back value for value, with the data checksum of
// what was copied; gaps between buffers are zero, as spec §7.1 requires.
// (That a failed copy gives all its space back is in errors_test.go, on a
// tmpfs of its own.)
func TestLargeCopiesLandIntact(t *testing.T) {
	for _, noCRC := range []bool{false, true} {
		name := map[bool]string{false: "checksummed", true: "NoDataChecksum"}[noCRC]
		t.Run(name, func(t *testing.T) {
			dir := shmTempDir(t)
			b, err := arena.Create("large", &arena.CreateOptions{Dir: dir, NoDataChecksum: noCRC})
			require.NoError(t, err)
			defer b.Close()

			small := []int32{1, -2, 3}
			require.NoError(t, arena.AddSlice(b, "small", small))

			big := make([]float64, largeWrite/8)
			for i := range big {
				big[i] = float64(i) * 0.5
			}
			require.NoError(t, arena.AddSlice(b, "big", big))

			exact := make([]byte, 1<<20)
			for i := range exact {
				exact[i] = byte(i * 7)
			}
			require.NoError(t, arena.AddSlice(b, "exact", exact))

			// A copy the full validation refuses (invalid UTF-8) is rolled
			// back; the next large copy reuses its space.
			n := largeWrite / 4
			bad := make([]byte, largeWrite)
			for i := range bad {
				bad[i] = 0xff
			}
			offs := make([]byte, 4*(2))
			putU32(offs[4:], largeWrite)
			err = b.AddBuffers(format.ArrayDesc{Name: "bad", DType: format.DType{Type: format.Utf8}, Length: 1}, nil, offs, bad)
			require.Equal(t, format.InvalidArgument, format.CodeOf(err), "%v", err)
			odd := make([]byte, 2<<20+5) // its padding lies where the refused bytes were
			for i := range odd {
				odd[i] = byte(i)
			}
			require.NoError(t, arena.AddSlice(b, "odd", odd))

			vals := make([]int64, n)
			validity := make([]byte, (n+7)/8)
			for i := range vals {
				vals[i] = int64(i) * 3
				if i%5 != 0 {
					validity[i/8] |= 1 << (i % 8)
				}
			}
			require.NoError(t, b.AddBuffers(format.ArrayDesc{Name: "nulls", DType: format.DType{Type: format.Int64}, Length: int64(n)},
				validity, nil, bytesOf(vals)))
			allValid := make([]byte, (n+7)/8)
			for i := range allValid {
				allValid[i] = 0xff
			}
			require.NoError(t, b.AddBuffers(format.ArrayDesc{Name: "all-valid", DType: format.DType{Type: format.Int64}, Length: int64(n)},
				allValid, nil, bytesOf(vals)))

			sb := array.NewStringBuilder(memory.DefaultAllocator)
			for i := 0; sb.DataLen() < largeWrite; i++ {
				if i%7 == 0 {
					sb.AppendNull()
				} else {
					sb.Append(string(rune('a'+i%26)) + "é-" + string(rune('0'+i%10)))
				}
			}
			strs := sb.NewStringArray()
			defer strs.Release()
			sliced := array.NewSlice(strs, 3, int64(strs.Len())-2).(*array.String)
			defer sliced.Release()
			require.NoError(t, b.AddArray("strings", sliced))
			require.NoError(t, arena.AddSlice(b, "tail", small))
			require.NoError(t, b.Publish())

			seg, err := arena.Attach("large", dir)
			require.NoError(t, err)
			defer seg.Close()
			require.NoError(t, seg.Validate(), "full validation, data checksums included")
			for _, a := range seg.Arrays() {
				assert.Equal(t, !noCRC, a.HasDataCRC, "array %q", a.Name)
				v, o, d, err := seg.Buffers(a.Name)
				require.NoError(t, err)
				if a.HasDataCRC {
					assert.Equal(t, format.DataCRC(v, o, d), a.DataCRC, "array %q", a.Name)
				}
			}
			f64, err := arena.Values[float64](seg, "big")
			require.NoError(t, err)
			assert.Equal(t, big, f64)
			u8, err := arena.Values[uint8](seg, "exact")
			require.NoError(t, err)
			assert.Equal(t, exact, u8)
			desc, err := seg.Desc("all-valid")
			require.NoError(t, err)
			assert.Zero(t, desc.Validity.Length, "a bitmap without nulls is not stored")
			got, err := seg.Array("nulls")
			require.NoError(t, err)
			ints := got.(*array.Int64)
			for i := range vals {
				if i%5 == 0 {
					require.True(t, ints.IsNull(i), "row %d", i)
				} else {
					require.Equal(t, vals[i], ints.Value(i), "row %d", i)
				}
			}
			got.Release()
			got, err = seg.Array("strings")
			require.NoError(t, err)
			require.True(t, array.Equal(sliced, got), "strings differ")
			got.Release()

			raw, err := os.ReadFile(filepath.Join(dir, "large"))
			require.NoError(t, err)
			assert.Equal(t, seg.Header().FileSize, uint64(len(raw)))
			assertGapsZero(t, raw, seg)
		})
	}
}

// assertGapsZero checks that every byte of the data area outside the
// arrays' buffers is zero.
func assertGapsZero(t *testing.T, raw []byte, seg *arena.Segment) {
	t.Helper()
	h := seg.Header()
	used := make([]bool, h.MetaOffset)
	for _, a := range seg.Arrays() {
		for _, buf := range []format.Buffer{a.Validity, a.Offsets, a.Data, a.Index.Buffer} {
			for i := buf.Offset; i < buf.End(); i++ {
				used[i] = true
			}
		}
	}
	for i := uint64(h.HeaderSize); i < h.MetaOffset; i++ {
		if !used[i] && raw[i] != 0 {
			t.Fatalf("byte %d, in a gap of the data area, is %#x", i, raw[i])
		}
	}
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func bytesOf(v []int64) []byte {
	out := make([]byte, 0, 8*len(v))
	for _, x := range v {
		for k := 0; k < 8; k++ {
			out = append(out, byte(uint64(x)>>(8*k)))
		}
	}
	return out
}

// TestAddEmptyFilledInPlace: arrays handed out by AddEmpty and written
// afterwards (N-D, large, fixed_size_binary, empty) are published with what
// was written, data checksums included; types that cannot be filled in
// place and taken names are refused, and a closed builder says CLOSED.
func TestAddEmptyFilledInPlace(t *testing.T) {
	dir := shmTempDir(t)
	b, err := arena.Create("in-place", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()

	grid, err := b.AddEmpty(format.ArrayDesc{Name: "grid", DType: format.DType{Type: format.Float64}, Length: 3, Shape: []int64{3, 4}})
	require.NoError(t, err)
	require.Len(t, grid, 3*4*8)
	big, err := b.AddEmpty(format.ArrayDesc{Name: "big", DType: format.DType{Type: format.Int64}, Length: largeWrite / 8})
	require.NoError(t, err)
	ids, err := b.AddEmpty(format.ArrayDesc{Name: "ids", DType: format.DType{Type: format.FixedSizeBinary, ByteWidth: 3}, Length: 2})
	require.NoError(t, err)
	none, err := b.AddEmpty(format.ArrayDesc{Name: "none", DType: format.DType{Type: format.Int32}, Length: 0})
	require.NoError(t, err)
	assert.Empty(t, none)

	for _, typ := range []format.Type{format.Bool, format.Utf8, format.LargeBinary} {
		_, err = b.AddEmpty(format.ArrayDesc{Name: "no-" + typ.String(), DType: format.DType{Type: typ}, Length: 8})
		assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "%s: %v", typ, err)
		assert.Contains(t, err.Error(), "cannot be filled in place")
	}
	_, err = b.AddEmpty(format.ArrayDesc{Name: "grid", DType: format.DType{Type: format.Int8}, Length: 1})
	assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "a taken name: %v", err)

	assert.Equal(t, make([]byte, len(big)), big, "handed out zeroed")
	want := make([]int64, largeWrite/8)
	for i := range want {
		want[i] = int64(i) * 7
		putU64(big[i*8:], uint64(want[i]))
	}
	for i := 0; i < 12; i++ {
		putU64(grid[i*8:], math.Float64bits(float64(i)/2))
	}
	copy(ids, "abcxyz")
	require.NoError(t, b.Publish())
	_, err = b.AddEmpty(format.ArrayDesc{Name: "late", DType: format.DType{Type: format.Int8}, Length: 1})
	assert.Equal(t, format.Closed, format.CodeOf(err), "%v", err)

	seg, err := arena.Attach("in-place", dir)
	require.NoError(t, err)
	defer seg.Close()
	require.NoError(t, seg.Validate())
	for _, a := range seg.Arrays() {
		assert.True(t, a.HasDataCRC, "array %q", a.Name)
	}
	got, err := arena.Values[int64](seg, "big")
	require.NoError(t, err)
	assert.Equal(t, want, got)
	g, err := arena.Values[float64](seg, "grid")
	require.NoError(t, err)
	assert.Equal(t, []float64{0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5}, g)
	desc, err := seg.Desc("grid")
	require.NoError(t, err)
	assert.Equal(t, []int64{3, 4}, desc.Shape)
	_, _, d, err := seg.Buffers("ids")
	require.NoError(t, err)
	assert.Equal(t, "abcxyz", string(d))
	desc, err = seg.Desc("none")
	require.NoError(t, err)
	assert.Zero(t, desc.Length)
}

func putU64(b []byte, v uint64) {
	putU32(b, uint32(v))
	putU32(b[4:], uint32(v>>32))
}

// TestIndexOfAnArrayFilledInPlace: AddIndex on an array from AddEmpty
// indexes its values as they are at Publish (before filling, the zeros would
// be duplicates); a repeated value then fails Publish, publishing nothing.
func TestIndexOfAnArrayFilledInPlace(t *testing.T) {
	dir := shmTempDir(t)
	for _, dup := range []bool{false, true} {
		b, err := arena.Create("keys", &arena.CreateOptions{Dir: dir})
		require.NoError(t, err)
		mem, err := b.AddEmpty(format.ArrayDesc{Name: "k", DType: format.DType{Type: format.Int64}, Length: 4})
		require.NoError(t, err)
		require.NoError(t, b.AddIndex("k"), "indexed at Publish, not over the zeros")
		for i, v := range []uint64{10, 20, 30, 40} {
			putU64(mem[i*8:], v)
		}
		if dup {
			putU64(mem[24:], 10)
			err = b.Publish()
			assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "%v", err)
			assert.Contains(t, err.Error(), "key 10 appears at rows 0 and 3")
			_, err = arena.Attach("keys", dir)
			assert.Equal(t, format.NotFound, format.CodeOf(err), "nothing published")
			continue
		}
		require.NoError(t, b.Publish())
		seg, err := arena.Attach("keys", dir)
		require.NoError(t, err)
		require.NoError(t, seg.Validate())
		rows, err := arena.Lookup(seg, "k", []int64{30, 10, 99})
		require.NoError(t, err)
		assert.Equal(t, []int64{2, 0, -1}, rows)
		require.NoError(t, seg.Close())
		require.NoError(t, arena.Unlink("keys", dir))
	}
}
