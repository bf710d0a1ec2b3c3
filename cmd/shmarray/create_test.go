package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// TestCreateFromArrowAndParquet imports the sample table from an Arrow IPC
// file, an IPC stream (from a file and from stdin) and a Parquet file, each
// in several batches or row groups, attaches from Go and compares every
// column with the source, value by value and type by type.
func TestCreateFromArrowAndParquet(t *testing.T) {
	const rows = 5000
	recs := sampleBatches(t, rows, 1500, true)
	src := t.TempDir()
	writeIPCFile(t, filepath.Join(src, "in.arrow"), recs)
	writeIPCStream(t, filepath.Join(src, "in.arrows"), recs)
	pqRecs := sampleBatches(t, rows, 1500, false)
	writeParquetFile(t, filepath.Join(src, "in.parquet"), pqRecs, 2000)
	cases := []struct {
		name string
		args []string
		recs []arrow.Record
	}{
		{"ipc-file", []string{"--from", filepath.Join(src, "in.arrow")}, recs},
		{"ipc-stream", []string{"--from", filepath.Join(src, "in.arrows")}, recs},
		{"ipc-no-extension", []string{"--from", copyTo(t, filepath.Join(src, "in.arrow"), filepath.Join(src, "in.data"))}, recs},
		{"ipc-format-flag", []string{"--from", filepath.Join(src, "in.arrows"), "--format", "arrow"}, recs},
		{"parquet", []string{"--from", filepath.Join(src, "in.parquet")}, pqRecs},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := segDir(t)
			out := ok(t, append([]string{"create", "table", "--dir", dir}, c.args...)...)
			assert.Contains(t, out, `created "table"`)
			assert.Contains(t, out, "5,000 rows")
			s, err := arena.Attach("table", dir)
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.Validate())
			rec, err := s.Record()
			require.NoError(t, err)
			defer rec.Release()
			require.Equal(t, int64(rows), rec.NumRows())
			schema := sampleSchema()
			require.Equal(t, schema.NumFields(), int(rec.NumCols()))
			for i, f := range schema.Fields() {
				want := concat(t, c.recs, i)
				got := rec.Column(i)
				assert.Equal(t, f.Name, rec.ColumnName(i))
				assert.True(t, arrow.TypeEqual(want.DataType(), got.DataType()), "%s: type %s, want %s", f.Name, got.DataType(), want.DataType())
				assert.True(t, array.Equal(want, got), "%s differs", f.Name)
				want.Release()
			}
			cube, err := s.Desc("cube")
			require.NoError(t, err)
			assert.Equal(t, []int64{rows, 2, 3}, cube.Shape, "the tensor shape comes from the extension metadata")
			assert.Contains(t, cube.Metadata, format.KV{Key: "unit", Value: "m"})
			assert.Contains(t, s.Metadata(), format.KV{Key: "source", Value: "cli-test"})
		})
	}
}

// TestCreateFromStdinPipe streams an IPC stream through stdin, where the
// size is unknown and the columns grow as batches come.
func TestCreateFromStdinPipe(t *testing.T) {
	recs := sampleBatches(t, 3000, 700, true)
	src := t.TempDir()
	path := filepath.Join(src, "in.arrows")
	writeIPCStream(t, path, recs)
	dir := segDir(t)
	in, err := os.Open(path)
	require.NoError(t, err)
	defer in.Close()
	cmd := execCommand(t, "create", "piped", "--from", "-", "--format", "arrow", "--dir", dir)
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	s, err := arena.Attach("piped", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Validate())
	got, err := s.Array("name")
	require.NoError(t, err)
	defer got.Release()
	want := concat(t, recs, 2)
	defer want.Release()
	assert.True(t, array.Equal(want, got))
}

// TestCreateFromCSV checks type inference, the --type overrides, nulls,
// quoting, --no-header, --delimiter and .tsv.
func TestCreateFromCSV(t *testing.T) {
	src := t.TempDir()
	text := "id,price,name,flag,day,at,code\n" +
		"1,1.5,ACME,true,2024-01-01,2024-01-01 10:00:00,007\n" +
		"2,,\"INIT, Inc\",false,2024-02-29,2024-01-01T10:00:01.250Z,008\n" +
		"3,-2e3,,TRUE,,,\n" +
		"4,NaN,\"say \"\"hi\"\"\",false,1999-12-31,2000-01-01 00:00:00,010\n"
	path := filepath.Join(src, "t.csv")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	tsv := filepath.Join(src, "t.tsv")
	require.NoError(t, os.WriteFile(tsv, []byte("a\tb\n1\tx y\n2\tz\n"), 0o600))
	bom := filepath.Join(src, "bom.csv")
	require.NoError(t, os.WriteFile(bom, []byte("\xef\xbb\xbfa,b\r\n1,2\r\n"), 0o600))
	semi := filepath.Join(src, "semi.txt")
	require.NoError(t, os.WriteFile(semi, []byte("5;6\n7;8\n"), 0o600))

	dir := segDir(t)
	ok(t, "create", "inferred", "--from", path, "--dir", dir)
	ok(t, "create", "typed", "--from", path, "--dir", dir, "--type", "id=int32", "--type", "code=utf8", "--type", "price=float32", "--type", "at=timestamp[ms, UTC]")
	ok(t, "create", "tabs", "--from", tsv, "--dir", dir)
	ok(t, "create", "semi", "--from", semi, "--format", "csv", "--delimiter", ";", "--no-header", "--dir", dir)
	ok(t, "create", "bom", "--from", bom, "--dir", dir)

	s, err := arena.Attach("inferred", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Validate())
	types := map[string]string{}
	for _, a := range s.Arrays() {
		types[a.Name] = a.DType.String()
	}
	assert.Equal(t, map[string]string{"id": "int64", "price": "float64", "name": "utf8", "flag": "bool",
		"day": "date32", "at": "timestamp[ms, UTC]", "code": "int64"}, types)
	ids, err := arena.Values[int64](s, "id")
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 3, 4}, ids)
	price := arrayOf(t, s, "price").(*array.Float64)
	assert.Equal(t, 1.5, price.Value(0))
	assert.True(t, price.IsNull(1), "an empty field is null in a number column")
	assert.Equal(t, -2000.0, price.Value(2))
	assert.True(t, math.IsNaN(price.Value(3)))
	name := arrayOf(t, s, "name").(*array.String)
	assert.Equal(t, []string{"ACME", "INIT, Inc", "", `say "hi"`}, []string{name.Value(0), name.Value(1), name.Value(2), name.Value(3)})
	assert.Zero(t, name.NullN(), "an empty field is an empty string in a text column")
	flag := arrayOf(t, s, "flag").(*array.Boolean)
	assert.Equal(t, []bool{true, false, true, false}, []bool{flag.Value(0), flag.Value(1), flag.Value(2), flag.Value(3)})
	day := arrayOf(t, s, "day").(*array.Date32)
	assert.Equal(t, "2024-02-29", day.Value(1).FormattedString())
	assert.True(t, day.IsNull(2))
	at := arrayOf(t, s, "at").(*array.Timestamp)
	assert.Equal(t, arrow.Timestamp(1704103201250), at.Value(1))

	typed, err := arena.Attach("typed", dir)
	require.NoError(t, err)
	defer typed.Close()
	for name, want := range map[string]string{"id": "int32", "code": "utf8", "price": "float32", "at": "timestamp[ms, UTC]"} {
		d, err := typed.Desc(name)
		require.NoError(t, err)
		assert.Equal(t, want, d.DType.String(), name)
	}
	codes := arrayOf(t, typed, "code").(*array.String)
	assert.Equal(t, "007", codes.Value(0), "a text column keeps leading zeros")

	tabs, err := arena.Attach("tabs", dir)
	require.NoError(t, err)
	defer tabs.Close()
	assert.Equal(t, "x y", arrayOf(t, tabs, "b").(*array.String).Value(0))
	semis, err := arena.Attach("semi", dir)
	require.NoError(t, err)
	defer semis.Close()
	f1, err := arena.Values[int64](semis, "f1")
	require.NoError(t, err)
	assert.Equal(t, []int64{6, 8}, f1)
	boms, err := arena.Attach("bom", dir)
	require.NoError(t, err)
	defer boms.Close()
	a, err := arena.Values[int64](boms, "a")
	require.NoError(t, err, "the byte order mark is not part of the first column's name")
	assert.Equal(t, []int64{1}, a)
}

// TestCreateLargeCSV imports a CSV larger than the inference sample, whose
// later rows are longer than the first (growing ids), and checks the
// values and that the estimate-based sizing wasted little space.
func TestCreateLargeCSV(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 10 MB file")
	}
	src := t.TempDir()
	path := filepath.Join(src, "big.csv")
	const rows = 400_000
	writeBigCSV(t, path, rows)
	dir := segDir(t)
	ok(t, "create", "big", "--from", path, "--dir", dir)
	s, err := arena.Attach("big", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Validate())
	ids, err := arena.Values[int64](s, "id")
	require.NoError(t, err)
	require.Len(t, ids, rows)
	for i, v := range ids {
		if v != int64(i) {
			t.Fatalf("id %d is %d", i, v)
		}
	}
	sym := arrayOf(t, s, "sym").(*array.String)
	assert.Equal(t, "ZETA", sym.Value(rows-3))
	var data int64
	for _, a := range s.Arrays() {
		data += int64(a.Validity.Length + a.Offsets.Length + a.Data.Length)
	}
	st, err := os.Stat(s.Path())
	require.NoError(t, err)
	assert.Less(t, float64(st.Size()), 1.10*float64(data), "segment %d bytes for %d bytes of buffers", st.Size(), data)
}

// writeBigCSV writes rows rows of id, price, qty, sym.
func writeBigCSV(t testing.TB, path string, rows int) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	var b strings.Builder
	b.WriteString("id,price,qty,sym\n")
	syms := []string{"ACME", "INIT", "ZETA", "OMEGA", "BETA"}
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "%d,%d.%02d,%d,%s\n", i, i%1000, i%100, (i*7)%1001, syms[i%5])
		if b.Len() > 1<<20 {
			_, err := f.WriteString(b.String())
			require.NoError(t, err)
			b.Reset()
		}
	}
	_, err = f.WriteString(b.String())
	require.NoError(t, err)
}

// TestCreateFromNPY imports .npy files of every header version, the
// supported dtypes and 0-d to 3-d shapes.
func TestCreateFromNPY(t *testing.T) {
	src := t.TempDir()
	cube := make([]int32, 2*3*4)
	for i := range cube {
		cube[i] = int32(i) - 5
	}
	cases := []struct {
		file    string
		data    []byte
		name    string // array name
		typ     string
		shape   []int64
		check   func(t *testing.T, s *arena.Segment)
		extraFn []string
	}{
		{file: "ints.npy", data: npyFile(1, "<i8", false, []int{4}, le([]int64{1, -2, 3, 1 << 40})), name: "ints", typ: "int64", shape: []int64{4},
			check: func(t *testing.T, s *arena.Segment) {
				v, err := arena.Values[int64](s, "ints")
				require.NoError(t, err)
				assert.Equal(t, []int64{1, -2, 3, 1 << 40}, v)
			}},
		{file: "cube.npy", data: npyFile(2, "<i4", false, []int{2, 3, 4}, le(cube)), name: "cube", typ: "int32", shape: []int64{2, 3, 4},
			check: func(t *testing.T, s *arena.Segment) {
				v, err := arena.Values[int32](s, "cube")
				require.NoError(t, err)
				assert.Equal(t, cube, v)
			}},
		{file: "m.npy", data: npyFile(3, "<f4", false, []int{3, 2}, le([]float32{1, 2, 3, 4, 5, 6.5})), name: "matrix", typ: "float32", shape: []int64{3, 2},
			extraFn: []string{"--name", "matrix"},
			check: func(t *testing.T, s *arena.Segment) {
				v, err := arena.Values[float32](s, "matrix")
				require.NoError(t, err)
				assert.Equal(t, []float32{1, 2, 3, 4, 5, 6.5}, v)
			}},
		{file: "flags.npy", data: npyFile(1, "|b1", false, []int{10}, []byte{1, 0, 1, 1, 0, 0, 0, 1, 1, 0}), name: "flags", typ: "bool", shape: []int64{10},
			check: func(t *testing.T, s *arena.Segment) {
				b := arrayOf(t, s, "flags").(*array.Boolean)
				var got []bool
				for i := 0; i < b.Len(); i++ {
					got = append(got, b.Value(i))
				}
				assert.Equal(t, []bool{true, false, true, true, false, false, false, true, true, false}, got)
			}},
		{file: "bytes.npy", data: npyFile(1, "|u1", false, []int{3}, []byte{0, 128, 255}), name: "bytes", typ: "uint8", shape: []int64{3}},
		{file: "u16.npy", data: npyFile(1, "<u2", false, []int{2}, le([]uint16{1, 65535})), name: "u16", typ: "uint16", shape: []int64{2}},
		{file: "half.npy", data: npyFile(1, "<f2", false, []int{1}, []byte{0x00, 0x3c}), name: "half", typ: "float16", shape: []int64{1}},
		{file: "scalar.npy", data: npyFile(1, "<f8", false, []int{}, le([]float64{2.5})), name: "scalar", typ: "float64", shape: []int64{1}},
		{file: "empty.npy", data: npyFile(1, "<i2", false, []int{0}, nil), name: "empty", typ: "int16", shape: []int64{0}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(src, c.file)
			require.NoError(t, os.WriteFile(path, c.data, 0o600))
			dir := segDir(t)
			ok(t, append([]string{"create", "n", "--from", path, "--dir", dir}, c.extraFn...)...)
			s, err := arena.Attach("n", dir)
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.Validate())
			require.Equal(t, 1, s.Len())
			d := s.Arrays()[0]
			assert.Equal(t, c.name, d.Name)
			assert.Equal(t, c.typ, d.DType.String())
			assert.Equal(t, c.shape, d.Shape)
			if c.check != nil {
				c.check(t, s)
			}
		})
	}
}

// arrayOf is the array called name of s (released with the test).
func arrayOf(t *testing.T, s *arena.Segment, name string) arrow.Array {
	t.Helper()
	arr, err := s.Array(name)
	require.NoError(t, err)
	t.Cleanup(arr.Release)
	return arr
}

func copyTo(t testing.TB, from, to string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
	return to
}
