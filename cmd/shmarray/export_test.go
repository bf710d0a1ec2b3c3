package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	acsv "github.com/apache/arrow/go/v15/arrow/csv"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet/file"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
)

// TestExportRoundTrip imports the sample table, exports it to each format
// and reads the file back with Arrow Go: every column comes back equal (CSV:
// the columns CSV can hold, read with the source's types).
func TestExportRoundTrip(t *testing.T) {
	recs := sampleBatches(t, 2500, 1000, false)
	src := t.TempDir()
	in := filepath.Join(src, "in.arrow")
	writeIPCFile(t, in, recs)
	dir := segDir(t)
	ok(t, "create", "table", "--from", in, "--dir", dir)
	schema := sampleSchema()

	t.Run("arrow", func(t *testing.T) {
		out := filepath.Join(src, "out.arrow")
		ok(t, "export", "table", "--to", out, "--dir", dir)
		f, err := os.Open(out)
		require.NoError(t, err)
		defer f.Close()
		r, err := ipc.NewFileReader(f)
		require.NoError(t, err)
		defer r.Close()
		var back []arrow.Record
		for i := 0; i < r.NumRecords(); i++ {
			rec, err := r.RecordAt(i)
			require.NoError(t, err)
			defer rec.Release()
			back = append(back, rec)
		}
		compareTables(t, recs, back, schema.Fields())
		assert.Equal(t, "cli-test", mdValue(r.Schema().Metadata(), "source"), "schema metadata round-trips")
	})
	t.Run("parquet", func(t *testing.T) {
		out := filepath.Join(src, "out.parquet")
		ok(t, "export", "table", "--to", out, "--dir", dir)
		pf, err := file.OpenParquetFile(out, false)
		require.NoError(t, err)
		defer pf.Close()
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		require.NoError(t, err)
		tbl, err := fr.ReadTable(context.Background())
		require.NoError(t, err)
		defer tbl.Release()
		tr := array.NewTableReader(tbl, -1)
		defer tr.Release()
		require.True(t, tr.Next())
		// Arrow Go v15 reads a Parquet timestamp without a time zone as
		// UTC whatever the file says (pyarrow reads it right: test_cli.py);
		// compare that column's values.
		fields := schema.Fields()
		compareTables(t, recs, []arrow.Record{tr.Record()}, fields[:len(fields)-1])
		local := tr.Record().Column(len(fields) - 1).(*array.Timestamp)
		want := concat(t, recs, len(fields)-1).(*array.Timestamp)
		defer want.Release()
		assert.Equal(t, want.TimestampValues(), local.TimestampValues())
	})
	t.Run("csv", func(t *testing.T) {
		dir2 := segDir(t)
		// CSV holds no N-D arrays: export the table without cube.
		flat := make([]arrow.Record, len(recs))
		for i, r := range recs {
			fields := append(append([]arrow.Field{}, r.Schema().Fields()[:11]...), r.Schema().Field(12))
			cols := append(append([]arrow.Array{}, r.Columns()[:11]...), r.Column(12))
			flat[i] = array.NewRecord(arrow.NewSchema(fields, nil), cols, r.NumRows())
			defer flat[i].Release()
		}
		in := filepath.Join(src, "flat.arrow")
		writeIPCFile(t, in, flat)
		ok(t, "create", "flat", "--from", in, "--dir", dir2)
		out := filepath.Join(src, "out.csv")
		ok(t, "export", "flat", "--to", out, "--dir", dir2)
		f, err := os.Open(out)
		require.NoError(t, err)
		defer f.Close()
		r := acsv.NewReader(f, flat[0].Schema(), acsv.WithHeader(true), acsv.WithNullReader(true, ""), acsv.WithChunk(-1))
		defer r.Release()
		require.True(t, r.Next(), "%v", r.Err())
		back := r.Record()
		// Text columns: CSV cannot tell an empty string from a null.
		fields := flat[0].Schema().Fields()
		var comparable []arrow.Field
		for _, f := range fields {
			if f.Name != "name" && f.Name != "note" && f.Name != "blob" {
				comparable = append(comparable, f)
			}
		}
		compareTables(t, flat, []arrow.Record{back}, comparable)
	})
}

// TestExportRefusals: the command refuses what the format cannot hold.
func TestExportRefusals(t *testing.T) {
	recs := sampleBatches(t, 10, 10, true)
	src := t.TempDir()
	in := filepath.Join(src, "in.arrow")
	writeIPCFile(t, in, recs)
	dir := segDir(t)
	ok(t, "create", "table", "--from", in, "--dir", dir)
	existing := filepath.Join(src, "exists.arrow")
	require.NoError(t, os.WriteFile(existing, []byte("x"), 0o600))

	msg := failsWith(t, 1, "export", "table", "--to", filepath.Join(src, "t.csv"), "--dir", dir)
	assert.Contains(t, msg, `column "cube" is an N-D array`)
	msg = failsWith(t, 1, "export", "table", "--to", existing, "--dir", dir)
	assert.Contains(t, msg, "already exists")
	assert.Contains(t, msg, "--force")
	ok(t, "export", "table", "--to", existing, "--force", "--dir", dir)
	msg = failsWith(t, 1, "export", "table", "--to", filepath.Join(src, "t.xyz"), "--dir", dir)
	assert.Contains(t, msg, "--format")

	// Arrays of different lengths are not a table.
	ragged := filepath.Join(src, "a.npy")
	require.NoError(t, os.WriteFile(ragged, npyFile(1, "<i8", false, []int{3}, le([]int64{1, 2, 3})), 0o600))
	ok(t, "create", "one", "--from", ragged, "--dir", dir)
	ragDir := segDir(t)
	raggedSegment(t, ragDir)
	msg = failsWith(t, 1, "export", "ragged", "--to", filepath.Join(src, "r.arrow"), "--dir", ragDir)
	assert.Contains(t, msg, "every array needs the same length")
	assert.NotContains(t, entries(t, src), "r.arrow")
	for _, name := range entries(t, src) {
		assert.NotContains(t, name, ".tmp-", "no temporary file is left")
	}
}

// compareTables requires the fields of want (batches) and got (batches) to
// hold equal values.
func compareTables(t *testing.T, want, got []arrow.Record, fields []arrow.Field) {
	t.Helper()
	for _, f := range fields {
		wi := want[0].Schema().FieldIndices(f.Name)
		gi := got[0].Schema().FieldIndices(f.Name)
		require.Len(t, wi, 1, f.Name)
		require.Len(t, gi, 1, f.Name)
		w := concat(t, want, wi[0])
		g := concat(t, got, gi[0])
		assert.True(t, arrow.TypeEqual(w.DataType(), g.DataType()), "%s: type %s, want %s", f.Name, g.DataType(), w.DataType())
		assert.True(t, array.Equal(w, g), "%s differs:\nwant %v\ngot  %v", f.Name, w, g)
		w.Release()
		g.Release()
	}
}

func mdValue(md arrow.Metadata, key string) string {
	v, _ := md.GetValue(key)
	return v
}

// numbersSegment publishes, from this process, a segment "numbers" of one
// int64 array of n values in dir, and returns its path.
func numbersSegment(t *testing.T, dir string, n int) string {
	t.Helper()
	b, err := arena.Create("numbers", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	vals := make([]int64, n)
	for i := range vals {
		vals[i] = int64(i) * 1000003
	}
	require.NoError(t, arena.AddSlice(b, "v", vals))
	require.NoError(t, b.Publish())
	return filepath.Join(dir, "numbers")
}

func permOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(path)
	require.NoError(t, err)
	require.True(t, st.Mode().IsRegular(), "%s is a regular file", path)
	return st.Mode().Perm()
}

// TestExportModes: the output gets --mode (default 0600) less the umask,
// under umasks 000, 022 and 077; --force never widens the mode of the file
// it replaces.
func TestExportModes(t *testing.T) {
	dir := segDir(t)
	numbersSegment(t, dir, 10)
	out := t.TempDir()
	for _, umask := range []int{0, 0o022, 0o077} {
		for _, mode := range []string{"", "0640", "0644"} {
			to := filepath.Join(out, fmt.Sprintf("u%03o-m%s.arrow", umask, mode))
			args := []string{"export", "numbers", "--to", to, "--dir", dir}
			want := os.FileMode(0o600)
			if mode != "" {
				args = append(args, "--mode", mode)
				m, _ := strconv.ParseUint(mode, 8, 32)
				want = os.FileMode(m)
			}
			r := runCmd(t, umasked(execCommand(t, args...), umask))
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, want&^os.FileMode(umask), permOf(t, to), "umask %03o, --mode %q", umask, mode)
		}
	}
	for _, tc := range []struct {
		old  os.FileMode
		mode string
		want os.FileMode
	}{
		{0o600, "0644", 0o600},
		{0o640, "", 0o600},
		{0o644, "0660", 0o640},
		{0o666, "0644", 0o644},
	} {
		to := filepath.Join(out, fmt.Sprintf("old%o-m%s.arrow", tc.old, tc.mode))
		require.NoError(t, os.WriteFile(to, []byte("old"), 0o600))
		require.NoError(t, os.Chmod(to, tc.old))
		args := []string{"export", "numbers", "--to", to, "--force", "--dir", dir}
		if tc.mode != "" {
			args = append(args, "--mode", tc.mode)
		}
		r := runCmd(t, umasked(execCommand(t, args...), 0))
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, tc.want, permOf(t, to), "replacing a %o file with --mode %q", tc.old, tc.mode)
	}
	r := runCLI(t, "export", "numbers", "--to", filepath.Join(out, "x.arrow"), "--mode", "999", "--dir", dir)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "--mode 999: give permission bits in octal")
	assert.NotContains(t, strings.Join(entries(t, out), " "), ".tmp-", "no temporary file is left")
}

// TestExportOverASymlink: a symbolic link at FILE is never written through:
// without --force the message says it is a link (and never suggests another
// format); with --force the link itself is replaced.
func TestExportOverASymlink(t *testing.T) {
	dir := segDir(t)
	numbersSegment(t, dir, 10)
	out := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	to := filepath.Join(out, "planted.csv")
	require.NoError(t, os.Symlink(target, to))

	msg := failsWith(t, 1, "export", "numbers", "--to", to, "--dir", dir)
	assert.Contains(t, msg, "symbolic link")
	assert.NotContains(t, msg, "arrow instead")
	assert.NoFileExists(t, target)

	ok(t, "export", "numbers", "--to", to, "--force", "--dir", dir)
	assert.NoFileExists(t, target, "the link was not followed")
	assert.Equal(t, os.FileMode(0o600), permOf(t, to), "the link was replaced by the export")
}

// TestExportOfASegmentTruncatedMidway: the segment's owner truncates it
// after export has validated it and while the table is being written: the
// export fails with TRUNCATED instead of crashing, and leaves no file,
// temporary or not.
func TestExportOfASegmentTruncatedMidway(t *testing.T) {
	dir := segDir(t)
	path := numbersSegment(t, dir, 1<<18)
	s, err := arena.Attach("numbers", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Validate())
	rec, err := s.Record()
	require.NoError(t, err)
	defer rec.Release()
	require.NoError(t, os.Truncate(path, 4096))

	out := t.TempDir()
	for _, kind := range []string{"csv", "arrow", "parquet"} {
		err := exportTo(`export "numbers"`, s, rec, kind, filepath.Join(out, "numbers."+kind), 0o600, false)
		require.Error(t, err, kind)
		assert.Contains(t, err.Error(), "the file shrank while it was being read", kind)
		assert.NotContains(t, err.Error(), "arrow instead", kind)
	}
	assert.Empty(t, entries(t, out), "nothing is left behind")
}
