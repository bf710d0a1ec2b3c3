package main

import (
	"context"
	"os"
	"path/filepath"
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
