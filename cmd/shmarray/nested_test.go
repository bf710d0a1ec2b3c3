package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// nestedBatches are batches of a list<int64> column with nulls at both
// levels and a dictionary<int32, utf8> column whose dictionary differs from
// batch to batch (the import unifies them).
func nestedBatches(t *testing.T, batches, rows int) []arrow.Record {
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "sym", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	}, nil)
	var recs []arrow.Record
	for batch := 0; batch < batches; batch++ {
		b := array.NewRecordBuilder(mem, schema)
		lb := b.Field(0).(*array.ListBuilder)
		vb := lb.ValueBuilder().(*array.Int64Builder)
		db := b.Field(1).(*array.BinaryDictionaryBuilder)
		for r := 0; r < rows; r++ {
			row := batch*rows + r
			i, batch := row%5, row/5
			switch i {
			case 1:
				lb.AppendNull()
				db.AppendNull()
				continue
			case 2:
				lb.Append(true) // an empty list
			default:
				lb.Append(true)
				vb.Append(int64(batch*10 + i))
				vb.AppendNull()
			}
			require.NoError(t, db.AppendString(fmt.Sprintf("s%d", (batch+i)%4)))
		}
		recs = append(recs, b.NewRecord())
		b.Release()
	}
	return recs
}

// TestCreateNested imports lists and dictionaries from Arrow IPC and Parquet
// (format 1.3) and reads them back value by value; head and info show them
// as columns with their children inside.
func TestCreateNested(t *testing.T) {
	recs := nestedBatches(t, 3, 5)
	src := t.TempDir()
	writeIPCStream(t, filepath.Join(src, "in.arrows"), recs) // a file holds one dictionary per field
	// Parquet: the list column alone (arrow-go v15's Parquet writer panics
	// on these dictionaries; bindings/python/tests/test_cli.py imports a
	// Parquet dictionary written by pyarrow), in row groups of 4.
	pq := nestedBatches(t, 1, 15)[0]
	defer pq.Release()
	tags := array.NewRecord(arrow.NewSchema(pq.Schema().Fields()[:1], nil), pq.Columns()[:1], 15)
	defer tags.Release()
	writeParquetFile(t, filepath.Join(src, "in.parquet"), []arrow.Record{tags}, 4)
	for _, in := range []string{"in.arrows", "in.parquet"} {
		t.Run(in, func(t *testing.T) {
			dir := segDir(t)
			out := ok(t, "create", "n", "--dir", dir, "--from", filepath.Join(src, in))
			cols := []string{"tags", "sym"}
			if in == "in.parquet" {
				cols = cols[:1]
			}
			assert.Contains(t, out, fmt.Sprintf("%d arrays, 15 rows", len(cols)))
			s, err := arena.Attach("n", dir)
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.Validate())
			assert.Equal(t, uint16(format.MinorNested), s.Header().Minor)
			for i, name := range cols {
				want := concat(t, recs, i)
				got, err := s.Array(name)
				require.NoError(t, err)
				// Compare values: a Parquet round trip may rename the list's
				// child ("element") and unify dictionaries differently.
				require.Equal(t, want.Len(), got.Len())
				for r := 0; r < want.Len(); r++ {
					assert.Equal(t, want.ValueStr(r), got.ValueStr(r), "%s row %d", name, r)
				}
				got.Release()
				want.Release()
			}
			head := ok(t, "head", "n", "--dir", dir, "-n", "3")
			assert.Contains(t, head, "[0 null]")
			info := ok(t, "info", "n", "--dir", dir)
			assert.Contains(t, info, "list<int64>")
			if len(cols) == 2 {
				assert.Contains(t, info, "dictionary<int32, utf8>")
			}
		})
	}
}
