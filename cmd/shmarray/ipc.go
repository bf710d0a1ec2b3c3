package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/shmarray/shmarray/arena"
)

// loadIPC imports an Arrow IPC file (random access, "ARROW1" magic) or
// stream. A file is read twice: once for the row count and the bytes of
// every variable-length column, so that each column is allocated once at
// its exact size, then for the values. A stream is read once; its columns
// are sized from the first batch when the stream's size is known (a
// regular file), else grow as batches arrive.
func loadIPC(ctx context.Context, b *arena.Builder, in *input) (err error) {
	defer recoverMalformed(&err, "Arrow IPC")
	if in.size > 0 {
		head := make([]byte, 6)
		if n, _ := in.file.ReadAt(head, 0); n == 6 && string(head) == "ARROW1" {
			return loadIPCFile(ctx, b, in)
		}
	}
	return loadIPCStream(ctx, b, in)
}

func loadIPCFile(ctx context.Context, b *arena.Builder, in *input) error {
	r, err := ipc.NewFileReader(&countingFile{f: in.file, p: in.prog}, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return fmt.Errorf("not a readable Arrow IPC file: %w", err)
	}
	defer r.Close()
	cols, err := startColumns(b, r.Schema())
	if err != nil {
		return err
	}
	rows, sizes := 0, make([]int, len(cols))
	err = eachRecord(ctx, r, func(rec arrow.Record) error {
		rows += int(rec.NumRows())
		for i, c := range cols {
			sizes[i] += c.measure(rec.Column(i))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, c := range cols {
		if err := c.reserve(rows, sizes[i], false); err != nil {
			return err
		}
	}
	if err := eachRecord(ctx, r, func(rec arrow.Record) error { return appendRecord(cols, rec) }); err != nil {
		return err
	}
	return addColumns(ctx, b, cols)
}

// eachRecord calls f on every record batch of an IPC file, in order.
func eachRecord(ctx context.Context, r *ipc.FileReader, f func(arrow.Record) error) error {
	for i := 0; i < r.NumRecords(); i++ {
		rec, err := r.RecordAt(i)
		if err != nil {
			return err
		}
		err = f(rec)
		rec.Release()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	return nil
}

func loadIPCStream(ctx context.Context, b *arena.Builder, in *input) error {
	// Counted after buffering: the count is what the reader consumed, which
	// sizes the columns from the first batch below.
	r, err := ipc.NewReader(&countingReader{r: bufio.NewReaderSize(in.file, 1<<20), p: in.prog}, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return fmt.Errorf("not a readable Arrow IPC file or stream: %w", err)
	}
	defer r.Release()
	cols, err := startColumns(b, r.Schema())
	if err != nil {
		return err
	}
	first := true
	for r.Next() {
		rec := r.Record()
		if first && in.size > 0 {
			// Size the columns from the first batch and the share of the
			// file it took, as the CSV reader does from its sample.
			if err := reserveFromFirst(cols, rec, float64(in.size)/float64(max(in.prog.done.Load(), 1))); err != nil {
				return err
			}
		}
		first = false
		if err := appendRecord(cols, rec); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	return addColumns(ctx, b, cols)
}

// startColumns makes one column per field of schema (failing on the first
// unsupported type, before any data is read) and sets the segment metadata
// from the schema's.
func startColumns(b *arena.Builder, schema *arrow.Schema) ([]*column, error) {
	cols := make([]*column, schema.NumFields())
	for i, f := range schema.Fields() {
		c, err := newColumn(f, b.Allocator())
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	md := map[string]string{}
	for i, k := range schema.Metadata().Keys() {
		// Arrow's own keys (the serialized schema of a Parquet file) are
		// not the data's metadata.
		if !strings.HasPrefix(k, "ARROW:") {
			md[k] = schema.Metadata().Values()[i]
		}
	}
	if len(md) > 0 {
		if err := b.SetMetadata(md); err != nil {
			return nil, err
		}
	}
	return cols, nil
}

// reserveFromFirst reserves for scale times the rows and value bytes of
// the first record batch.
func reserveFromFirst(cols []*column, rec arrow.Record, scale float64) error {
	scale *= csvHeadroom
	rows := int(float64(rec.NumRows())*scale) + 16
	for i, c := range cols {
		if err := c.reserve(rows, int(float64(c.measure(rec.Column(i)))*scale), false); err != nil {
			return err
		}
	}
	return nil
}

func appendRecord(cols []*column, rec arrow.Record) error {
	for i, c := range cols {
		if err := c.append(rec.Column(i)); err != nil {
			return err
		}
	}
	return nil
}

// addColumns adds every finished column to the segment, in order.
func addColumns(ctx context.Context, b *arena.Builder, cols []*column) error {
	for _, c := range cols {
		if err := c.add(b); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	return nil
}

// recoverMalformed turns a panic of an Arrow reader (which panics on some
// malformed inputs) into an error; panics of other kinds, and errors of
// the segment, go on.
func recoverMalformed(err *error, what string) {
	r := recover()
	if r == nil {
		return
	}
	e, ok := r.(error)
	if !ok {
		e = fmt.Errorf("%v", r)
	}
	*err = fmt.Errorf("malformed %s input: %v", what, e)
}
