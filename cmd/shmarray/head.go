package main

import (
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

const headAbout = `
Prints the first N rows of every array of a segment as an aligned table.
Nulls print as null, text is quoted only when it holds spaces (or is empty),
binary values print as hex (the first 16 bytes), and a row of an N-D array
prints as nested brackets, e.g. [1 2 3]. Only the rows shown are read.`

const (
	headTextMax  = 40 // runes of a text value shown
	headBytesMax = 16 // bytes of a binary value shown
	headElemsMax = 6  // elements per dimension of an N-D row shown
)

func cmdHead(e *env, args []string) error {
	f := newFlags("head", "NAME [-n N]", headAbout)
	n := f.Int("n", 10, "print the first `N` rows")
	pos, err := f.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.fail("expected one segment name, got %d arguments", len(pos))
	}
	if *n < 0 {
		return f.fail("-n must not be negative")
	}
	name := pos[0]
	what := fmt.Sprintf("head %q", name)
	s, err := arena.Attach(name, f.dir)
	if err != nil {
		return segmentError(what, name, f.dir, err)
	}
	defer s.Close()
	descs := columns(s) // children of lists and dictionaries show inside their column
	if len(descs) == 0 {
		fmt.Fprintf(e.stdout, "segment %q has no arrays\n", name)
		return nil
	}
	longest := int64(0)
	for _, a := range descs {
		longest = max(longest, a.Length)
	}
	rows := int(min(int64(*n), longest))
	t := &table{right: make([]bool, len(descs))}
	cells := make([][]string, len(descs))
	err = readSafely(func() error {
		for i := range descs {
			a := &descs[i]
			t.header = append(t.header, a.Name)
			t.right[i] = a.Type.Numeric() && a.NDim() == 1
			arr, err := s.Array(a.Name)
			if err != nil {
				return err
			}
			cells[i] = formatRows(arr, a, min(rows, int(a.Length)))
			arr.Release()
		}
		return nil
	})
	if err != nil {
		return segmentError(what, name, f.dir, err)
	}
	for r := 0; r < rows; r++ {
		row := make([]string, len(descs))
		for i := range descs {
			if r < len(cells[i]) {
				row[i] = cells[i][r]
			}
		}
		t.add(row...)
	}
	if err := t.write(e.stdout); err != nil {
		return err
	}
	if longest > int64(rows) {
		fmt.Fprintf(e.stdout, "(%s of %s rows)\n", countText(int64(rows)), countText(longest))
	}
	return nil
}

// columns describes the segment's columns: its records but the children of
// lists and dictionaries (format 1.3), which belong to their column.
func columns(s *arena.Segment) []format.ArrayDesc {
	var out []format.ArrayDesc
	for _, i := range s.Columns() {
		out = append(out, s.Arrays()[i])
	}
	return out
}

// readSafely runs f, which reads a segment's pages through Arrow without
// the full validation: offsets that break the format make Arrow panic, and
// a file truncated under the mapping faults. Both come back as errors.
func readSafely(f func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: the segment cannot be read (%v)", format.ErrBadOffsets, r)
		}
	}()
	return f()
}

// formatRows prints the first n values of arr, described by a.
func formatRows(arr arrow.Array, a *format.ArrayDesc, n int) []string {
	out := make([]string, n)
	for i := 0; i < n; i++ {
		if arr.IsNull(i) {
			out[i] = "null"
			continue
		}
		if l, ok := arr.(*array.FixedSizeList); ok {
			row := int(a.RowElems())
			out[i] = formatTensor(l.ListValues(), (l.Data().Offset()+i)*row, a.Shape[1:])
			continue
		}
		out[i] = formatValue(arr, i)
	}
	return out
}

// formatTensor prints the elements of one N-D row starting at element at,
// of the given row shape, as nested brackets, eliding long dimensions.
func formatTensor(vals arrow.Array, at int, shape []int64) string {
	if len(shape) == 0 {
		return formatValue(vals, at)
	}
	inner := int64(1)
	for _, d := range shape[1:] {
		inner *= d
	}
	var parts []string
	for j := int64(0); j < shape[0]; j++ {
		if j == headElemsMax-1 && shape[0] > headElemsMax {
			parts = append(parts, "…", formatTensor(vals, at+int((shape[0]-1)*inner), shape[1:]))
			break
		}
		parts = append(parts, formatTensor(vals, at+int(j*inner), shape[1:]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// formatValue prints value i of a plain array.
func formatValue(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return "null"
	}
	switch a := arr.(type) {
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10)
	case *array.Float16:
		return strconv.FormatFloat(float64(a.Value(i).Float32()), 'g', -1, 32)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.String:
		return formatText(a.Value(i))
	case *array.LargeString:
		return formatText(a.Value(i))
	case *array.Binary:
		return formatBytes(a.Value(i))
	case *array.LargeBinary:
		return formatBytes(a.Value(i))
	case *array.FixedSizeBinary:
		return formatBytes(a.Value(i))
	case *array.Date32:
		return a.Value(i).FormattedString()
	case *array.Date64:
		return a.Value(i).FormattedString()
	case *array.Timestamp:
		t := a.DataType().(*arrow.TimestampType)
		return formatTime(a.Value(i).ToTime(t.Unit), t)
	case *array.Duration:
		unit := a.DataType().(*arrow.DurationType).Unit
		return (time.Duration(a.Value(i)) * unit.Multiplier()).String()
	case array.ListLike: // list, large_list (format 1.3)
		start, end := a.ValueOffsets(i)
		var parts []string
		for j := start; j < end; j++ {
			if len(parts) == headElemsMax-1 && end-start > headElemsMax {
				parts = append(parts, "…", formatValue(a.ListValues(), int(end-1)))
				break
			}
			parts = append(parts, formatValue(a.ListValues(), int(j)))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case *array.Dictionary:
		return formatValue(a.Dictionary(), a.GetValueIndex(i))
	}
	return arr.ValueStr(i)
}

// formatText quotes s only when it holds spaces or other characters that
// would make the table ambiguous, and shortens long values.
func formatText(s string) string {
	s = shorten(s, headTextMax)
	plain := s != "" && s != "null"
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"' {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return strconv.Quote(s)
}

func formatBytes(b []byte) string {
	if len(b) > headBytesMax {
		return "0x" + hex.EncodeToString(b[:headBytesMax]) + "…"
	}
	return "0x" + hex.EncodeToString(b)
}

func formatTime(t time.Time, typ *arrow.TimestampType) string {
	layout := "2006-01-02 15:04:05.999999999"
	if typ.TimeZone == "" {
		return t.UTC().Format(layout)
	}
	if loc, err := time.LoadLocation(typ.TimeZone); err == nil {
		t = t.In(loc)
	}
	return t.Format(layout + " MST")
}
