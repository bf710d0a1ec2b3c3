package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	acsv "github.com/apache/arrow/go/v15/arrow/csv"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/compress"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

const exportAbout = `
Writes a segment to FILE as a table, one column per array: an Arrow IPC
file, a Parquet file (Snappy-compressed, with the Arrow schema stored so
that types round-trip) or a CSV file (with a header; nulls are empty
fields). All arrays must have the same length. N-D arrays become
fixed-size lists with the arrow.fixed_shape_tensor extension in Arrow and
Parquet; CSV cannot hold them. The segment is validated first (checksums
included), and FILE appears only once it is complete: a failed or
interrupted export leaves nothing behind. FILE is created with --mode
(default 0600, like segments) less the umask; --force replaces an existing
FILE (a symbolic link itself, never what it points to) and never widens the
mode of the file it replaces.

The format comes from --format, else FILE's extension (.arrow, .feather,
.ipc, .parquet, .pq, .csv, .tsv).`

const (
	exportCSVRows     = 1 << 16 // rows formatted at a time
	exportRowGroupLen = 1 << 20 // rows per Parquet row group
)

func cmdExport(e *env, args []string) error {
	f := newFlags("export", "NAME --to FILE [--format arrow|parquet|csv] [--mode MODE] [--force]", exportAbout)
	to := f.String("to", "", "the output `FILE`")
	formatName := f.String("format", "", "output `format`: arrow, parquet or csv (default: from FILE's extension)")
	modeText := f.String("mode", "0600", "permission bits of FILE, in octal (`MODE`), less the umask; replacing a file never widens its mode")
	force := f.Bool("force", false, "replace FILE if it exists (a symbolic link is replaced, never followed)")
	pos, err := f.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.fail("expected one segment name, got %d arguments", len(pos))
	}
	if *to == "" {
		return f.fail("--to FILE is required")
	}
	mode, err := strconv.ParseUint(*modeText, 8, 32)
	if err != nil || mode == 0 || mode&^0o777 != 0 {
		return f.fail("--mode %s: give permission bits in octal, such as 0600 or 0640", *modeText)
	}
	name := pos[0]
	what := fmt.Sprintf("export %q", name)
	kind, err := outputFormat(*formatName, *to)
	if err != nil {
		return &cliError{what: what, why: err.Error(), fix: "pass --format arrow, parquet or csv"}
	}
	if _, err := os.Lstat(*to); err == nil && !*force {
		return outputExists(what, *to)
	}
	s, err := arena.Attach(name, f.dir)
	if err != nil {
		return segmentError(what, name, f.dir, err)
	}
	defer s.Close()
	if err := s.Validate(); err != nil {
		return segmentError(what, name, f.dir, err)
	}
	if s.Len() == 0 {
		return &cliError{what: what, why: "the segment has no arrays", fix: "there is nothing to export"}
	}
	rec, err := s.Record()
	if err != nil {
		if format.CodeOf(err) == format.InvalidArgument {
			return &cliError{what: what, why: reason(err), fix: "export writes a table: every array needs the same length"}
		}
		return segmentError(what, name, f.dir, err)
	}
	defer rec.Release()
	if kind == "csv" {
		if err := csvWritable(rec.Schema()); err != nil {
			return &cliError{what: what, why: err.Error(), fix: "export to arrow or parquet instead"}
		}
	}
	if err := exportTo(what, s, rec, kind, *to, os.FileMode(mode), *force); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "exported %q to %s: %d columns, %s rows\n", name, *to, rec.NumCols(), countText(rec.NumRows()))
	return nil
}

// exportTo writes rec, which points into s, to path as kind, through an
// arena.Output: path appears only complete, with mode (less the umask, and
// never wider than the file it replaces), and a failure or an interrupt
// (SIGINT, SIGTERM) leaves nothing behind. The writers run under s.Guard,
// so a segment truncated by its owner meanwhile is a TRUNCATED error, not
// a crash.
func exportTo(what string, s *arena.Segment, rec arrow.Record, kind, path string, mode os.FileMode, force bool) error {
	out, err := arena.CreateOutput(path, mode, force)
	if err != nil {
		return outputError(what, path, err)
	}
	stop := discardOnSignal(out)
	defer stop()
	sink := &firstError{w: out}
	bw := bufio.NewWriterSize(sink, 1<<20)
	err = s.Guard(func() error {
		return recoverWrite(func() error {
			switch kind {
			case "arrow":
				return writeIPC(writerOnly{bw}, rec)
			case "parquet":
				return writeParquet(writerOnly{bw}, rec)
			}
			return writeCSV(writerOnly{bw}, rec, strings.EqualFold(filepath.Ext(path), ".tsv"))
		})
	})
	if err == nil {
		err = bw.Flush()
	}
	switch {
	case err != nil && sink.err != nil:
		out.Discard()
		return &cliError{what: what, why: fmt.Sprintf("writing %s: %s", path, reason(sink.err)), fix: "free some space or choose another directory; nothing was written"}
	case err != nil && format.CodeOf(err) == format.Truncated:
		out.Discard()
		return &cliError{what: what, why: reason(err) + "; nothing was written", fix: "attach only segments whose owner you trust; export again once it is republished"}
	case err != nil:
		out.Discard()
		fix := "nothing was written"
		if kind != "arrow" {
			fix = "export to arrow instead, which stores every type; nothing was written"
		}
		return &cliError{what: what, why: fmt.Sprintf("writing %s as %s: %s", path, kind, reason(err)), fix: fix}
	}
	if err := out.Commit(); err != nil {
		return outputError(what, path, err)
	}
	return nil
}

// outputExists is the refusal to replace path without --force.
func outputExists(what, path string) error {
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSymlink != 0 {
		return &cliError{what: what, why: path + " already exists and is a symbolic link, which export never writes through", fix: "remove the link or choose another file; --force replaces the link itself, not what it points to"}
	}
	return &cliError{what: what, why: path + " already exists", fix: "pass --force to replace it, or choose another file"}
}

// outputError explains an error of arena.Output about the file path.
func outputError(what, path string, err error) error {
	if format.CodeOf(err) == format.Exists {
		return outputExists(what, path)
	}
	return &cliError{what: what, why: reason(err)}
}

// discardOnSignal makes SIGINT and SIGTERM discard out and exit with
// statusInterrupted, until the returned stop is called.
func discardOnSignal(out *arena.Output) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			out.Discard()
			fmt.Fprintln(os.Stderr, "shmarray: export: interrupted; no file was written")
			os.Exit(statusInterrupted)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// firstError passes writes to w and keeps the first error w returned, so
// that a failure of the output file is told apart from one of the writer.
type firstError struct {
	w   io.Writer
	err error
}

func (f *firstError) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err != nil && f.err == nil {
		f.err = err
	}
	return n, err
}

// outputFormat is the format named by --format, else by path's extension.
func outputFormat(given, path string) (string, error) {
	g := strings.ToLower(given)
	if g == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".arrow", ".feather", ".ipc":
			g = "arrow"
		case ".parquet", ".pq":
			g = "parquet"
		case ".csv", ".tsv":
			g = "csv"
		default:
			return "", fmt.Errorf("cannot tell the output format from the name %s", path)
		}
	}
	switch g {
	case "ipc", "feather":
		g = "arrow"
	case "arrow", "parquet", "csv":
	default:
		return "", fmt.Errorf("unknown output format %q", given)
	}
	return g, nil
}

// recoverWrite runs write, turning a panic of an Arrow writer into an
// error. A memory fault (a segment truncated under its mapping, turned
// into a panic by Segment.Guard) is passed on for Guard to report.
func recoverWrite(write func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, isFault := r.(interface{ Addr() uintptr }); isFault {
				panic(r)
			}
			err = fmt.Errorf("%v", r)
		}
	}()
	return write()
}

// tellWriter is a writer that knows its position, which is all the Seek
// Arrow's IPC file writer asks for (its Seek(0, io.SeekCurrent)).
type tellWriter struct {
	w   io.Writer
	pos int64
}

func (t *tellWriter) Write(b []byte) (int, error) {
	n, err := t.w.Write(b)
	t.pos += int64(n)
	return n, err
}

func (t *tellWriter) Seek(off int64, whence int) (int64, error) {
	if off != 0 || whence != io.SeekCurrent {
		return t.pos, errors.New("the output is written in order and cannot seek")
	}
	return t.pos, nil
}

// writerOnly hides Close from writers that would close their sink.
type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(b []byte) (int, error) { return w.w.Write(b) }

func writeIPC(w io.Writer, rec arrow.Record) error {
	fw, err := ipc.NewFileWriter(&tellWriter{w: w}, ipc.WithSchema(rec.Schema()))
	if err != nil {
		return err
	}
	if err := fw.Write(rec); err != nil {
		return err
	}
	return fw.Close()
}

func writeParquet(w io.Writer, rec arrow.Record) error {
	tagged, err := parquetTimestamps(rec)
	if err != nil {
		return err
	}
	defer tagged.Release()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithMaxRowGroupLength(exportRowGroupLen))
	fw, err := pqarrow.NewFileWriter(tagged.Schema(), w, props, pqarrow.NewArrowWriterProperties())
	if err != nil {
		return err
	}
	rec = tagged
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return err
	}
	return fw.Close()
}

func writeCSV(w io.Writer, rec arrow.Record, tabs bool) error {
	opts := []acsv.Option{acsv.WithHeader(true), acsv.WithNullWriter("")}
	if tabs {
		opts = append(opts, acsv.WithComma('\t'))
	}
	schema := csvSchema(rec.Schema())
	cw := acsv.NewWriter(w, schema, opts...)
	rows := rec.NumRows()
	for at := int64(0); at < rows || at == 0; at += exportCSVRows {
		part := rec.NewSlice(at, min(at+exportCSVRows, rows))
		text := csvZonedTimes(part, schema)
		err := cw.Write(text)
		text.Release()
		part.Release()
		if err != nil {
			return err
		}
		if rows == 0 {
			break
		}
	}
	return cw.Flush()
}

// csvWritable refuses the columns CSV cannot hold, naming the first.
func csvWritable(schema *arrow.Schema) error {
	for _, f := range schema.Fields() {
		switch f.Type.(type) {
		case *arrow.FixedSizeListType:
			return fmt.Errorf("column %q is an N-D array, which CSV cannot hold", f.Name)
		case *arrow.DurationType:
			return fmt.Errorf("column %q is a duration, which the CSV writer cannot format", f.Name)
		}
	}
	return nil
}

// zonedLayout writes a timestamp with its offset, which Arrow's CSV writer
// leaves out (it prints the UTC wall time, which readers would take for
// local time).
const zonedLayout = "2006-01-02 15:04:05.999999999Z07:00"

// csvSchema is schema with the timestamps that have a time zone as text.
func csvSchema(schema *arrow.Schema) *arrow.Schema {
	fields := schema.Fields()
	for i, f := range fields {
		if ts, ok := f.Type.(*arrow.TimestampType); ok && ts.TimeZone != "" {
			fields[i].Type = arrow.BinaryTypes.String
		}
	}
	md := schema.Metadata()
	return arrow.NewSchema(fields, &md)
}

// csvZonedTimes is rec with its zoned timestamps formatted with their
// offsets, as the text columns of schema (from csvSchema).
func csvZonedTimes(rec arrow.Record, schema *arrow.Schema) arrow.Record {
	cols := make([]arrow.Array, rec.NumCols())
	for i, col := range rec.Columns() {
		ts, ok := col.DataType().(*arrow.TimestampType)
		if !ok || ts.TimeZone == "" {
			col.Retain()
			cols[i] = col
			continue
		}
		loc, err := time.LoadLocation(ts.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		b := array.NewStringBuilder(memory.DefaultAllocator)
		vals := col.(*array.Timestamp)
		for j := 0; j < vals.Len(); j++ {
			if vals.IsNull(j) {
				b.AppendNull()
			} else {
				b.Append(vals.Value(j).ToTime(ts.Unit).In(loc).Format(zonedLayout))
			}
		}
		cols[i] = b.NewArray()
		b.Release()
	}
	out := array.NewRecord(schema, cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}

// parquetTimestamps works around Arrow Go v15's Parquet writer, which marks
// a timestamp "adjusted to UTC" exactly when it has no time zone or "UTC",
// the reverse of the rule for zones other than UTC (readers then take a
// zoned column for local wall times and a naive one for UTC). It returns rec
// with zoned timestamps tagged "UTC" and naive ones tagged with the zone
// "+00:00" (same instants, same buffers), so that the flag comes out right,
// and with the original schema stored under ARROW:schema, as
// pqarrow.WithStoreSchema would store it, so that Arrow readers restore the
// original zones.
func parquetTimestamps(rec arrow.Record) (arrow.Record, error) {
	var stored bytes.Buffer
	sw := ipc.NewWriter(&stored, ipc.WithSchema(rec.Schema()))
	if err := sw.Close(); err != nil {
		return nil, err
	}
	in := rec.Schema()
	fields := in.Fields()
	cols := make([]arrow.Array, len(fields))
	for i, col := range rec.Columns() {
		ts, ok := fields[i].Type.(*arrow.TimestampType)
		if !ok {
			col.Retain()
			cols[i] = col
			continue
		}
		tag := &arrow.TimestampType{Unit: ts.Unit, TimeZone: "UTC"}
		if ts.TimeZone == "" {
			tag.TimeZone = "+00:00"
		}
		fields[i].Type = tag
		d := col.Data()
		nd := array.NewData(tag, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
		cols[i] = array.MakeFromData(nd)
		nd.Release()
	}
	keys := append([]string{}, in.Metadata().Keys()...)
	vals := append([]string{}, in.Metadata().Values()...)
	md := arrow.NewMetadata(append(keys, "ARROW:schema"), append(vals, base64.StdEncoding.EncodeToString(stored.Bytes())))
	out := array.NewRecord(arrow.NewSchema(fields, &md), cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out, nil
}
