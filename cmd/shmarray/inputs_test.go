package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/format"
)

// Input files for the tests, written with Arrow Go (IPC, Parquet), as
// text (CSV) and by hand (.npy).

// sampleSchema has one column of most stored types, an N-D column (a
// fixed-size list with the fixed_shape_tensor extension metadata) and
// schema metadata.
func sampleSchema() *arrow.Schema {
	cube := arrow.NewMetadata([]string{format.ExtensionNameKey, format.ExtensionMetaKey, "unit"},
		[]string{format.TensorExtensionName, `{"shape":[2,3]}`, "m"})
	md := arrow.NewMetadata([]string{"source"}, []string{"cli-test"})
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "qty", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "small", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "when", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "code", Type: &arrow.FixedSizeBinaryType{ByteWidth: 3}, Nullable: true},
		{Name: "blob", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "cube", Type: arrow.FixedSizeListOf(6, arrow.PrimitiveTypes.Float32), Nullable: true, Metadata: cube},
		{Name: "local", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
	}, &md)
}

// sampleBatches builds batches of the sample schema holding rows rows in
// all, numbered from 0; every 7th value is null, and with cubeNulls every
// 11th row of cube (Arrow Go's Parquet writer refuses null rows of a
// fixed-size list).
func sampleBatches(t testing.TB, rows, batch int, cubeNulls bool) []arrow.Record {
	t.Helper()
	schema := sampleSchema()
	var out []arrow.Record
	for start := 0; start < rows; start += batch {
		rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for r := start; r < min(start+batch, rows); r++ {
			null := r%7 == 3
			appendOrNull := func(i int, f func(array.Builder)) {
				if null {
					rb.Field(i).AppendNull()
				} else {
					f(rb.Field(i))
				}
			}
			appendOrNull(0, func(b array.Builder) { b.(*array.Int64Builder).Append(int64(r) * 1000003) })
			appendOrNull(1, func(b array.Builder) { b.(*array.Float64Builder).Append(float64(r) / 8) })
			appendOrNull(2, func(b array.Builder) { b.(*array.StringBuilder).Append(fmt.Sprintf("name %d ü", r)) })
			appendOrNull(3, func(b array.Builder) { b.(*array.BooleanBuilder).Append(r%3 == 0) })
			appendOrNull(4, func(b array.Builder) { b.(*array.Uint32Builder).Append(uint32(r * 7)) })
			appendOrNull(5, func(b array.Builder) { b.(*array.Int8Builder).Append(int8(r%200 - 100)) })
			appendOrNull(6, func(b array.Builder) {
				b.(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000 + int64(r)*1_000_001))
			})
			appendOrNull(7, func(b array.Builder) { b.(*array.Date32Builder).Append(arrow.Date32(19000 + r)) })
			appendOrNull(8, func(b array.Builder) { b.(*array.FixedSizeBinaryBuilder).Append([]byte{byte(r), 'x', byte(r >> 8)}) })
			appendOrNull(9, func(b array.Builder) { b.(*array.BinaryBuilder).Append(bytes.Repeat([]byte{byte(r)}, r%4)) })
			appendOrNull(10, func(b array.Builder) { b.(*array.LargeStringBuilder).Append(strings.Repeat("n", r%5)) })
			appendOrNull(12, func(b array.Builder) {
				b.(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000 + int64(r)*60_000))
			})
			lb := rb.Field(11).(*array.FixedSizeListBuilder)
			if cubeNulls && r%11 == 5 {
				lb.AppendNull()
			} else {
				lb.Append(true)
				for j := 0; j < 6; j++ {
					lb.ValueBuilder().(*array.Float32Builder).Append(float32(r*6+j) / 2)
				}
			}
		}
		out = append(out, rb.NewRecord())
		rb.Release()
	}
	return out
}

func writeIPCFile(t testing.TB, path string, recs []arrow.Record) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(recs[0].Schema()))
	require.NoError(t, err)
	for _, r := range recs {
		require.NoError(t, w.Write(r))
	}
	require.NoError(t, w.Close())
}

func writeIPCStream(t testing.TB, path string, recs []arrow.Record) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	w := ipc.NewWriter(f, ipc.WithSchema(recs[0].Schema()))
	for _, r := range recs {
		require.NoError(t, w.Write(r))
	}
	require.NoError(t, w.Close())
}

func writeParquetFile(t testing.TB, path string, recs []arrow.Record, rowGroup int64) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(rowGroup))
	w, err := pqarrow.NewFileWriter(recs[0].Schema(), f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	require.NoError(t, err)
	for _, r := range recs {
		require.NoError(t, w.Write(r))
	}
	require.NoError(t, w.Close())
}

// concat joins the column i of recs into one array.
func concat(t testing.TB, recs []arrow.Record, i int) arrow.Array {
	t.Helper()
	parts := make([]arrow.Array, len(recs))
	for j, r := range recs {
		parts[j] = r.Column(i)
	}
	arr, err := array.Concatenate(parts, memory.DefaultAllocator)
	require.NoError(t, err)
	return arr
}

// npyFile is a .npy file in the given header version (1, 2 or 3) holding
// data, written by hand after NEP 1.
func npyFile(version byte, descr string, fortran bool, shape []int, data []byte) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = fmt.Sprintf("(%d,)", shape[0])
	}
	fo := "False"
	if fortran {
		fo = "True"
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, fo, tuple)
	lenBytes := 2
	if version > 1 {
		lenBytes = 4
	}
	pre := 6 + 2 + lenBytes
	pad := 64 - (pre+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.Write([]byte{version, 0})
	if lenBytes == 2 {
		_ = binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	} else {
		_ = binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	}
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

// le is the little-endian bytes of values.
func le[T any](values []T) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, values)
	return b.Bytes()
}
