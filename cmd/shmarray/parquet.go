package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet/file"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/apache/arrow/go/v15/parquet/schema"

	"github.com/shmarray/shmarray/arena"
)

// parquetBatchRows is how many rows of one column are decoded at a time.
const parquetBatchRows = 1 << 16

// loadParquet imports a Parquet file one column at a time, which Parquet's
// columnar layout makes cheap: the row count is in the footer, so every
// buffer but the value bytes of a variable-length column has its exact
// size from the start, and those value bytes are the segment's last
// allocation while their column is read, so they grow in place.
func loadParquet(ctx context.Context, b *arena.Builder, in *input) (err error) {
	defer recoverMalformed(&err, "Parquet")
	if in.size == 0 {
		return errors.New("Parquet needs random access: give a file, not a pipe")
	}
	pf, err := file.NewParquetReader(&countingFile{f: in.file, p: in.prog})
	if err != nil {
		return fmt.Errorf("not a readable Parquet file: %w", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: parquetBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("not a readable Parquet file: %w", err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("Parquet schema: %w", err)
	}
	cols, err := startColumns(b, naiveTimestamps(fr, withoutFieldIDs(sc)))
	if err != nil {
		return err
	}
	rows := pf.NumRows()
	for i, c := range cols {
		if err := c.reserve(int(rows), 0, c.kind == kindVar); err != nil {
			return err
		}
		cr, err := fr.GetColumn(ctx, i)
		if err != nil {
			return fmt.Errorf("column %q: %w", c.field.Name, err)
		}
		err = readParquetColumn(ctx, cr, c, rows)
		cr.Release()
		if err != nil {
			return err
		}
		if err := c.add(b); err != nil {
			return err
		}
	}
	return nil
}

// readParquetColumn appends the rows of one column, batch by batch.
func readParquetColumn(ctx context.Context, cr *pqarrow.ColumnReader, c *column, rows int64) error {
	for done := int64(0); done < rows; {
		chunks, err := cr.NextBatch(min(parquetBatchRows, rows-done))
		if err != nil {
			return fmt.Errorf("column %q: %w", c.field.Name, err)
		}
		n := int64(chunks.Len())
		for _, arr := range chunks.Chunks() {
			if err == nil {
				err = c.append(arr)
			}
		}
		chunks.Release()
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("column %q ends after %d of its %d rows", c.field.Name, done, rows)
		}
		done += n
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	return nil
}

// withoutFieldIDs drops the "PARQUET:field_id" metadata pqarrow puts on
// every field, when it is -1 (no id was written): it says nothing.
func withoutFieldIDs(schema *arrow.Schema) *arrow.Schema {
	fields := schema.Fields()
	for i, f := range fields {
		if id, ok := f.Metadata.GetValue(fieldIDKey); ok && id == "-1" {
			keys, vals := []string{}, []string{}
			for j, k := range f.Metadata.Keys() {
				if k != fieldIDKey {
					keys, vals = append(keys, k), append(vals, f.Metadata.Values()[j])
				}
			}
			fields[i].Metadata = arrow.NewMetadata(keys, vals)
		}
	}
	md := schema.Metadata()
	return arrow.NewSchema(fields, &md)
}

const fieldIDKey = "PARQUET:field_id"

// naiveTimestamps works around Arrow Go v15's Parquet reader, which reads
// every timestamp as UTC, also those the file marks as not adjusted to UTC
// and those its stored Arrow schema (ARROW:schema) says have no time zone:
// local wall times, which Arrow calls timestamps without a time zone.
func naiveTimestamps(fr *pqarrow.FileReader, s *arrow.Schema) *arrow.Schema {
	fields := s.Fields()
	origin := fr.Manifest.OriginSchema
	for i, f := range fields {
		ts, ok := f.Type.(*arrow.TimestampType)
		if !ok || ts.TimeZone != "UTC" || i >= len(fr.Manifest.Fields) || !fr.Manifest.Fields[i].IsLeaf() {
			continue
		}
		naive := false
		col := fr.ParquetReader().MetaData().Schema.Column(fr.Manifest.Fields[i].ColIndex)
		if lt, ok := col.LogicalType().(*schema.TimestampLogicalType); ok && !lt.IsAdjustedToUTC() {
			naive = true
		}
		if origin != nil && i < origin.NumFields() {
			if ot, ok := origin.Field(i).Type.(*arrow.TimestampType); ok && ot.TimeZone == "" {
				naive = true
			}
		}
		if naive {
			fields[i].Type = &arrow.TimestampType{Unit: ts.Unit}
		}
	}
	md := s.Metadata()
	return arrow.NewSchema(fields, &md)
}
