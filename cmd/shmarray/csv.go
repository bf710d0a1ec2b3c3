package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v15/arrow"
	acsv "github.com/apache/arrow/go/v15/arrow/csv"

	"github.com/shmarray/shmarray/arena"
)

// CSV import: the first csvSampleBytes (at most csvSampleRows rows) are
// read ahead to infer the column types and the size of a row; then Arrow's
// CSV reader parses the whole input, sample included, in batches of
// csvChunkRows rows, each appended to the columns in the segment.
const (
	csvSampleBytes = 4 << 20
	csvSampleRows  = 100_000
	csvChunkRows   = 1 << 16
	csvProbeBytes  = 1 << 20
	csvHeadroom    = 1.02 // capacity over the estimated size, against underestimates
)

// csvNulls are the values read as null in non-text columns (Arrow's
// defaults); in utf8 columns they are text.
var csvNulls = acsv.DefaultNullValues

type csvOptions struct {
	used   bool
	delim  rune
	header bool
	types  map[string]arrow.DataType // --type overrides, by column name
	order  []string                  // the overridden columns, as given
}

// csvOptionsFrom checks the CSV flags.
func csvOptionsFrom(delim string, header bool, types []string, path string) (csvOptions, error) {
	o := csvOptions{delim: ',', header: header, types: map[string]arrow.DataType{}}
	switch {
	case delim == "" && strings.EqualFold(filepath.Ext(path), ".tsv"), delim == "tab", delim == `\t`:
		o.delim = '\t'
	case delim == "":
	case utf8.RuneCountInString(delim) == 1:
		o.delim, _ = utf8.DecodeRuneInString(delim)
	default:
		return o, fmt.Errorf("--delimiter %q: give one character, or \"tab\"", delim)
	}
	if o.delim == '"' || o.delim == '\n' || o.delim == '\r' {
		return o, fmt.Errorf("--delimiter %q cannot separate fields", delim)
	}
	for _, t := range types {
		col, name, ok := strings.Cut(t, "=")
		if !ok || col == "" {
			return o, fmt.Errorf("--type %q: write COL=TYPE, e.g. --type id=int32", t)
		}
		dt, err := csvType(name)
		if err != nil {
			return o, fmt.Errorf("--type %s: %v", t, err)
		}
		if _, dup := o.types[col]; dup {
			return o, fmt.Errorf("--type names column %q twice", col)
		}
		o.types[col] = dt
		o.order = append(o.order, col)
	}
	return o, nil
}

// csvType parses a type name of --type.
func csvType(name string) (arrow.DataType, error) {
	n := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	simple := map[string]arrow.DataType{
		"bool": arrow.FixedWidthTypes.Boolean,
		"int8": arrow.PrimitiveTypes.Int8, "int16": arrow.PrimitiveTypes.Int16,
		"int32": arrow.PrimitiveTypes.Int32, "int64": arrow.PrimitiveTypes.Int64,
		"uint8": arrow.PrimitiveTypes.Uint8, "uint16": arrow.PrimitiveTypes.Uint16,
		"uint32": arrow.PrimitiveTypes.Uint32, "uint64": arrow.PrimitiveTypes.Uint64,
		"float16": arrow.FixedWidthTypes.Float16, "float32": arrow.PrimitiveTypes.Float32,
		"float64": arrow.PrimitiveTypes.Float64,
		"utf8":    arrow.BinaryTypes.String, "string": arrow.BinaryTypes.String,
		"large_utf8": arrow.BinaryTypes.LargeString,
		"binary":     arrow.BinaryTypes.Binary,
		"date32":     arrow.FixedWidthTypes.Date32,
		"timestamp":  &arrow.TimestampType{Unit: arrow.Microsecond},
	}
	if dt, ok := simple[n]; ok {
		return dt, nil
	}
	if t := strings.TrimSpace(name); strings.HasPrefix(n, "timestamp[") && strings.HasSuffix(t, "]") {
		unit, zone, _ := strings.Cut(t[len("timestamp["):len(t)-1], ",")
		unit, zone = strings.ToLower(strings.TrimSpace(unit)), strings.TrimSpace(zone)
		units := map[string]arrow.TimeUnit{"s": arrow.Second, "ms": arrow.Millisecond, "us": arrow.Microsecond, "ns": arrow.Nanosecond}
		u, ok := units[unit]
		switch {
		case !ok:
			return nil, fmt.Errorf("unknown time unit %q in %q: use s, ms, us or ns", unit, name)
		case strings.EqualFold(zone, "utc"):
			zone = "UTC"
		case zone != "":
			if _, err := time.LoadLocation(zone); err != nil {
				return nil, fmt.Errorf("unknown time zone %q", zone)
			}
		}
		return &arrow.TimestampType{Unit: u, TimeZone: zone}, nil
	}
	return nil, fmt.Errorf("unknown type %q (see shmarray create --help)", name)
}

func loadCSV(ctx context.Context, b *arena.Builder, in *input) error {
	o := in.csv
	src := &countingReader{r: in.file, p: in.prog}
	sample, whole, err := readSample(src, csvSampleBytes)
	if err != nil {
		return err
	}
	sample = bytes.TrimPrefix(sample, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark is not part of the first name
	s, err := sampleCSV(sample, whole, o)
	if err != nil {
		return err
	}
	fields := make([]arrow.Field, len(s.names))
	cols := make([]*column, len(s.names))
	for i, name := range s.names {
		dt := o.types[name]
		if dt == nil {
			dt = s.guesses[i].typ()
		}
		fields[i] = arrow.Field{Name: name, Type: dt, Nullable: true}
		if cols[i], err = newColumn(fields[i], b.Allocator()); err != nil {
			return err
		}
	}
	for _, col := range o.order {
		if s.index(col) < 0 {
			return &cliError{why: fmt.Sprintf("--type names column %q, which %s does not have", col, in.path), fix: "columns: " + strings.Join(s.names, ", ")}
		}
	}
	// Reserve what the sample predicts for the whole file.
	if in.size > 4*csvSampleBytes {
		s.probe(in.file, in.size)
	}
	rows := s.estimateRows(in.size, whole)
	for i, c := range cols {
		if err := c.reserve(rows, int(float64(s.guesses[i].textBytes)*float64(rows)/float64(max(s.rows, 1))*csvHeadroom), false); err != nil {
			return err
		}
	}
	rest := bufio.NewReaderSize(src, 1<<20) // encoding/csv reads 4 KiB at a time
	rd := acsv.NewReader(io.MultiReader(bytes.NewReader(sample[s.dataStart:]), rest), arrow.NewSchema(fields, nil),
		acsv.WithChunk(csvChunkRows), acsv.WithComma(o.delim), acsv.WithNullReader(false, csvNulls...))
	defer rd.Release()
	done := 0
	for rd.Next() {
		rec := rd.Record()
		if err := rd.Err(); err != nil {
			return s.explain(in.path, err, done, int(rec.NumRows()), fields)
		}
		for i, c := range cols {
			if err := c.append(rec.Column(i)); err != nil {
				return err
			}
		}
		done += int(rec.NumRows())
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	if err := rd.Err(); err != nil {
		return s.explain(in.path, err, done, 0, fields)
	}
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

// readSample reads up to n bytes; whole reports that they are all of r.
func readSample(r io.Reader, n int) ([]byte, bool, error) {
	buf := make([]byte, n)
	got, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF, err == io.ErrUnexpectedEOF:
		return buf[:got], true, nil
	case err != nil:
		return nil, false, err
	}
	return buf, false, nil
}

// csvSample is what the first rows of a CSV say about it.
type csvSample struct {
	names       []string
	guesses     []*guess
	rows        int       // data rows sampled
	dataStart   int       // byte offset of the first data row
	dataBytes   int       // bytes of the sampled data rows
	headerLines int       // lines before the first data row
	perRow      []float64 // bytes per line measured elsewhere in the file
}

func (s *csvSample) index(name string) int {
	for i, n := range s.names {
		if n == name {
			return i
		}
	}
	return -1
}

// sampleCSV reads the header and the sample rows. A row cut by the end of
// a partial sample is left out.
func sampleCSV(sample []byte, whole bool, o csvOptions) (*csvSample, error) {
	cr := csv.NewReader(bytes.NewReader(sample))
	cr.Comma = o.delim
	cr.ReuseRecord = true
	s := &csvSample{}
	first, err := cr.Read()
	switch {
	case err == io.EOF:
		return nil, errors.New("the file is empty: it has no header line and no rows")
	case err != nil:
		return nil, &cliError{why: fmt.Sprintf("line 1: %v", csvCause(err)), fix: "fix that line of the file"}
	}
	if o.header {
		seen := map[string]bool{}
		for i, n := range first {
			if n == "" {
				n = fmt.Sprintf("f%d", i)
			}
			if seen[n] {
				return nil, &cliError{why: fmt.Sprintf("column name %q appears twice in the header", n), fix: "rename one of them, or pass --no-header"}
			}
			seen[n] = true
			s.names = append(s.names, n)
		}
		s.dataStart = int(cr.InputOffset())
		s.headerLines = bytes.Count(sample[:s.dataStart], []byte("\n"))
	} else {
		for i := range first {
			s.names = append(s.names, fmt.Sprintf("f%d", i))
		}
		cr = csv.NewReader(bytes.NewReader(sample))
		cr.Comma = o.delim
		cr.ReuseRecord = true
	}
	s.guesses = make([]*guess, len(s.names))
	for i := range s.guesses {
		s.guesses[i] = &guess{}
	}
	end := s.dataStart
	for s.rows < csvSampleRows {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if !whole && int(cr.InputOffset()) >= len(sample) {
			break // possibly cut by the end of the sample
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &cliError{why: fmt.Sprintf("line %d: %v", pe.Line, pe.Err), fix: "fix that line of the file"}
			}
			return nil, err
		}
		for i, v := range rec {
			s.guesses[i].see(v)
		}
		s.rows++
		end = int(cr.InputOffset())
	}
	s.dataBytes = end - s.dataStart
	return s, nil
}

// probe measures the length of lines in the middle and at the end of a
// large file, so that a file whose rows grow longer (increasing ids, say)
// is not judged by its first rows alone.
func (s *csvSample) probe(f io.ReaderAt, size int64) {
	buf := make([]byte, csvProbeBytes)
	for _, at := range []int64{size / 2, size - csvProbeBytes} {
		n, _ := f.ReadAt(buf, at)
		if lines := bytes.Count(buf[:n], []byte("\n")); lines > 1 {
			s.perRow = append(s.perRow, float64(n)/float64(lines))
		}
	}
}

// estimateRows predicts the number of data rows of a file of size bytes
// from the sample (0 when the size is unknown: the columns then grow).
func (s *csvSample) estimateRows(size int64, whole bool) int {
	switch {
	case whole && s.rows < csvSampleRows:
		return s.rows // the sample is the file
	case size <= 0 || s.rows == 0 || s.dataBytes == 0:
		return 0
	}
	// Each place measured counts the same, however many rows it held.
	perRow := float64(s.dataBytes) / float64(s.rows)
	for _, p := range s.perRow {
		perRow += p
	}
	perRow /= float64(1 + len(s.perRow))
	return int(float64(size-int64(s.dataStart))/perRow*csvHeadroom) + 16
}

// explain turns an error of Arrow's CSV reader into a message naming the
// line or rows, the value and the column where it can, and the fix.
func (s *csvSample) explain(path string, err error, before, n int, fields []arrow.Field) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		fix := "fix that line of the file"
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			fix = fmt.Sprintf("every line needs the %d fields of the header", len(s.names))
		}
		return &cliError{why: fmt.Sprintf("%s: line %d: %v", path, pe.Line+s.headerLines, pe.Err), fix: fix}
	}
	if errors.Is(err, acsv.ErrMismatchFields) {
		return &cliError{why: fmt.Sprintf("%s: a row after line %d has a different number of fields than the header", path, before+s.headerLines), fix: fmt.Sprintf("every line needs the %d fields of the header", len(s.names))}
	}
	rows := fmt.Sprintf("rows %d-%d", before+1, before+max(n, 1))
	value, kinds := "", ""
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		value = strconv.Quote(ne.Num)
		kinds = map[string]string{"ParseInt": "int", "ParseUint": "uint", "ParseFloat": "float", "ParseBool": "bool"}[ne.Func]
	} else {
		kinds = "time"
	}
	var cands []string
	for _, f := range fields {
		if typeKind(f.Type) == kinds {
			cands = append(cands, f.Name)
		}
	}
	col := "COL"
	where := ""
	if len(cands) == 1 {
		col = cands[0]
		where = fmt.Sprintf(" in column %q", col)
	}
	why := fmt.Sprintf("%s: %s: %v", path, rows, err)
	if value != "" {
		why = fmt.Sprintf("%s: %s: %s%s does not parse as the column's type (%v)", path, rows, value, where, ne.Err)
	}
	return &cliError{why: why, fix: fmt.Sprintf("the type was inferred from the first rows; set it with --type %s=TYPE, e.g. %s=utf8", col, col)}
}

func typeKind(dt arrow.DataType) string {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return "int"
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return "uint"
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return "float"
	case arrow.BOOL:
		return "bool"
	case arrow.DATE32, arrow.TIMESTAMP:
		return "time"
	}
	return ""
}

func csvCause(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// guess infers one column's type from the values seen: the first of int64,
// float64, bool, date32, timestamp that reads every non-null value, else
// utf8.
type guess struct {
	seen                                      bool
	notInt, notFloat, notBool, notDate, notTS bool
	tsDigits                                  int  // most fractional-second digits seen
	tsZone                                    bool // some timestamp carried a zone
	textBytes                                 int  // bytes of all values, for utf8 sizing
}

func (g *guess) see(v string) {
	g.textBytes += len(v)
	for _, n := range csvNulls {
		if v == n {
			return
		}
	}
	g.seen = true
	if !g.notInt {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			g.notInt = true
		}
	}
	if !g.notFloat {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			g.notFloat = true
		}
	}
	if !g.notBool {
		switch v {
		case "true", "false", "True", "False", "TRUE", "FALSE":
		default:
			g.notBool = true
		}
	}
	if !g.notDate {
		if _, err := time.Parse("2006-01-02", v); err != nil || len(v) != 10 {
			g.notDate = true
		}
	}
	if !g.notTS {
		if _, zone, err := arrow.TimestampFromStringInLocation(v, arrow.Nanosecond, time.UTC); err != nil {
			g.notTS = true
		} else {
			g.tsZone = g.tsZone || zone
			if dot := strings.IndexByte(v, '.'); dot >= 0 {
				digits := 0
				for _, c := range v[dot+1:] {
					if c < '0' || c > '9' {
						break
					}
					digits++
				}
				g.tsDigits = max(g.tsDigits, digits)
			}
		}
	}
}

func (g *guess) typ() arrow.DataType {
	switch {
	case !g.seen:
		return arrow.BinaryTypes.String
	case !g.notInt:
		return arrow.PrimitiveTypes.Int64
	case !g.notFloat:
		return arrow.PrimitiveTypes.Float64
	case !g.notBool:
		return arrow.FixedWidthTypes.Boolean
	case !g.notDate:
		return arrow.FixedWidthTypes.Date32
	case !g.notTS:
		t := &arrow.TimestampType{Unit: arrow.Second}
		switch {
		case g.tsDigits > 6:
			t.Unit = arrow.Nanosecond
		case g.tsDigits > 3:
			t.Unit = arrow.Microsecond
		case g.tsDigits > 0:
			t.Unit = arrow.Millisecond
		}
		if g.tsZone {
			t.TimeZone = "UTC"
		}
		return t
	}
	return arrow.BinaryTypes.String
}
