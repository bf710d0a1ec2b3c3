package conformance

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// The canonical dump (README.md, "Canonical dump") is what every reader
// runner prints for an attached and fully validated segment, one line per
// item, tokens separated by one space:
//
//	segment arrays=<N> metadata=<M>
//	identity <id> <version>                      32 lowercase hex digits, decimal (zero id and 0 for minor < 2)
//	metadata <key> <value>                       M lines, stored order
//	array <i> <name> type=<t> [unit=<u>] [tz=<s>] [width=<w>] shape=<d0,d1,...> nulls=<k> metadata=<m>
//	metadata <key> <value>                       m lines
//	v <slot> <value>                             one line per slot
//
// Text is "s:" and the UTF-8 bytes with 0x21-0x7E except '%' as they are
// and every other byte as %XX (upper-case hex); bytes are "b:" and
// lower-case hex; integers are decimal; floats are "0x" and the bit pattern
// in lower-case hex, 4, 8 or 16 digits; bools are true/false; a null slot is
// null; an N-D row is [e0,e1,...] (its elements in C order). tz= appears
// for timestamps only ("s:" when there is none), unit= for timestamps and
// durations, width= for fixed_size_binary.

// Text is the dump token of a string.
func Text(s string) string {
	var b strings.Builder
	b.WriteString("s:")
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x21 && c <= 0x7E && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Bytes is the dump token of a byte string.
func Bytes(p []byte) string { return "b:" + hex.EncodeToString(p) }

func arrayLine(i int, name string, dt format.DType, shape []int64, nulls int64, nmeta int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "array %d %s type=%s", i, Text(name), dt.Type)
	switch dt.Type {
	case format.Timestamp:
		fmt.Fprintf(&b, " unit=%s tz=%s", dt.Unit, Text(dt.TimeZone))
	case format.Duration:
		fmt.Fprintf(&b, " unit=%s", dt.Unit)
	case format.FixedSizeBinary:
		fmt.Fprintf(&b, " width=%d", dt.ByteWidth)
	}
	dims := make([]string, len(shape))
	for k, d := range shape {
		dims[k] = strconv.FormatInt(d, 10)
	}
	fmt.Fprintf(&b, " shape=%s nulls=%d metadata=%d", strings.Join(dims, ","), nulls, nmeta)
	return b.String()
}

// IdentityLine is the dump line of a segment's identity.
func IdentityLine(id format.ID, version uint64) string {
	return fmt.Sprintf("identity %s %d", id, version)
}

// WrittenIdentity is the identity line expected of a segment that a writer
// published from a case: its id is random, so any id but zero matches, and
// its version is 1 (a first publish). WrittenDump puts it in an expected
// dump, Written in a dump read back.
const WrittenIdentity = "identity ? 1"

var writtenIdentity = regexp.MustCompile(`^identity ([0-9a-f]{32}) 1$`)

// WrittenDump is the dump expected of a segment written from c: as
// ExpectedDump, with WrittenIdentity for the identity line.
func WrittenDump(c *Case) ([]string, error) {
	out, err := ExpectedDump(c)
	if err == nil {
		out[1] = WrittenIdentity
	}
	return out, err
}

// Written replaces, in the dump of a written segment, an identity line of a
// first publish with a non-zero id by WrittenIdentity (any other stays, and
// differs from what WrittenDump expects).
func Written(lines []string) []string {
	out := append([]string(nil), lines...)
	if len(out) > 1 {
		if m := writtenIdentity.FindStringSubmatch(out[1]); m != nil && m[1] != strings.Repeat("0", 32) {
			out[1] = WrittenIdentity
		}
	}
	return out
}

// ExpectedDump is the canonical dump of the content c describes.
func ExpectedDump(c *Case) ([]string, error) {
	out := []string{fmt.Sprintf("segment arrays=%d metadata=%d", len(c.Arrays), len(c.Metadata))}
	var id format.ID
	var version uint64
	if c.Identity != nil {
		var err error
		if id, version, err = c.Identity.parse(); err != nil {
			return nil, fmt.Errorf("case %q: identity: %w", c.Name, err)
		}
	}
	out = append(out, IdentityLine(id, version))
	for _, kv := range c.Metadata {
		out = append(out, "metadata "+Text(kv[0])+" "+Text(kv[1]))
	}
	for i := range c.Arrays {
		a := &c.Arrays[i]
		dt, err := a.DType()
		if err != nil {
			return nil, err
		}
		nulls := int64(0)
		for _, v := range a.Values {
			if v == nil {
				nulls++
			}
		}
		out = append(out, arrayLine(i, a.Name, dt, a.Shape, nulls, len(a.Metadata)))
		for _, kv := range a.Metadata {
			out = append(out, "metadata "+Text(kv[0])+" "+Text(kv[1]))
		}
		for slot, v := range a.Values {
			tok, err := expectedValue(a, dt, v)
			if err != nil {
				return nil, fmt.Errorf("array %q slot %d: %w", a.Name, slot, err)
			}
			out = append(out, fmt.Sprintf("v %d %s", slot, tok))
		}
	}
	return out, nil
}

func expectedValue(a *Array, dt format.DType, v any) (string, error) {
	if v == nil {
		return "null", nil
	}
	if len(a.Shape) > 1 {
		elems, err := flatten(v, a.Shape[1:])
		if err != nil {
			return "", err
		}
		toks := make([]string, len(elems))
		for k, e := range elems {
			if toks[k], err = expectedScalar(dt, e); err != nil {
				return "", err
			}
		}
		return "[" + strings.Join(toks, ",") + "]", nil
	}
	return expectedScalar(dt, v)
}

func expectedScalar(dt format.DType, v any) (string, error) {
	switch dt.Type {
	case format.Bool:
		b, ok := v.(bool)
		if !ok {
			return "", fmt.Errorf("%v is not a boolean", v)
		}
		return strconv.FormatBool(b), nil
	case format.Utf8, format.LargeUtf8:
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%v is not a string", v)
		}
		return Text(s), nil
	case format.Binary, format.LargeBinary, format.FixedSizeBinary:
		s, _ := v.(string)
		p, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return "", err
		}
		return Bytes(p), nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%v is not a string", v)
	}
	return s, nil // integers are decimal and floats hex in both forms
}

// SegmentDump is the canonical dump of an attached segment read with the Go
// reader: the descriptions from the directory (package format, through
// arena) and the values through the zero-copy Arrow arrays of
// Segment.Array, or, for an N-D array whose rows Arrow Go's fixed-size list
// cannot describe (0 elements per row, which Segment.Array refuses), from
// the raw buffers of Segment.Buffers.
func SegmentDump(s *arena.Segment) ([]string, error) {
	out := []string{fmt.Sprintf("segment arrays=%d metadata=%d", s.Len(), len(s.Metadata())), IdentityLine(s.ID(), s.Version())}
	for _, kv := range s.Metadata() {
		out = append(out, "metadata "+Text(kv.Key)+" "+Text(kv.Value))
	}
	for i, d := range s.Arrays() {
		out = append(out, arrayLine(i, d.Name, d.DType, d.Shape, d.NullCount, len(d.Metadata)))
		for _, kv := range d.Metadata {
			out = append(out, "metadata "+Text(kv.Key)+" "+Text(kv.Value))
		}
		var lines []string
		var err error
		if listable(&d) {
			var arr arrow.Array
			if arr, err = s.Array(d.Name); err != nil {
				return nil, err
			}
			lines, err = arrowValues(&d, arr)
			arr.Release()
		} else {
			lines, err = rawTensorValues(s, &d)
		}
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", d.Name, err)
		}
		out = append(out, lines...)
	}
	return out, nil
}

// listable reports whether Arrow Go's fixed-size list can describe the rows
// of d (1 to 2^31-1 elements; arrow.FixedSizeListOf panics on 0).
func listable(d *format.ArrayDesc) bool {
	return d.NDim() <= 1 || (d.RowElems() >= 1 && d.RowElems() <= math.MaxInt32)
}

// rawTensorValues dumps an N-D array from its raw buffers (spec §7.4, §8).
func rawTensorValues(s *arena.Segment, d *format.ArrayDesc) ([]string, error) {
	validity, _, data, err := s.Buffers(d.Name)
	if err != nil {
		return nil, err
	}
	w, e := d.ElemWidth(), int(d.RowElems())
	out := make([]string, 0, d.Length)
	for i := 0; i < int(d.Length); i++ {
		if validity != nil && validity[i/8]>>(i%8)&1 == 0 {
			out = append(out, fmt.Sprintf("v %d null", i))
			continue
		}
		toks := make([]string, e)
		for k := range toks {
			p := data[(i*e+k)*w:]
			var u uint64
			for b := w - 1; b >= 0; b-- {
				u = u<<8 | uint64(p[b])
			}
			switch d.Type {
			case format.Float16, format.Float32, format.Float64:
				toks[k] = fmt.Sprintf("0x%0*x", 2*w, u)
			case format.Uint8, format.Uint16, format.Uint32, format.Uint64:
				toks[k] = strconv.FormatUint(u, 10)
			default: // signed: sign-extend
				shift := 64 - 8*w
				toks[k] = strconv.FormatInt(int64(u<<shift)>>shift, 10)
			}
		}
		out = append(out, fmt.Sprintf("v %d [%s]", i, strings.Join(toks, ",")))
	}
	return out, nil
}

func arrowValues(d *format.ArrayDesc, arr arrow.Array) ([]string, error) {
	if arr.Len() != int(d.Length) {
		return nil, fmt.Errorf("Arrow array has %d slots, the directory says %d", arr.Len(), d.Length)
	}
	if arr.NullN() != int(d.NullCount) {
		return nil, fmt.Errorf("Arrow array has %d nulls, the directory says %d", arr.NullN(), d.NullCount)
	}
	out := make([]string, 0, arr.Len())
	if d.NDim() > 1 {
		l, ok := arr.(*array.FixedSizeList)
		if !ok {
			return nil, fmt.Errorf("an N-D array is %T, not a fixed-size list", arr)
		}
		e := int(d.RowElems())
		child := l.ListValues()
		for i := 0; i < l.Len(); i++ {
			if l.IsNull(i) {
				out = append(out, fmt.Sprintf("v %d null", i))
				continue
			}
			toks := make([]string, e)
			for k := 0; k < e; k++ {
				t, err := arrowScalar(child, i*e+k)
				if err != nil {
					return nil, err
				}
				toks[k] = t
			}
			out = append(out, fmt.Sprintf("v %d [%s]", i, strings.Join(toks, ",")))
		}
		return out, nil
	}
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			out = append(out, fmt.Sprintf("v %d null", i))
			continue
		}
		t, err := arrowScalar(arr, i)
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("v %d %s", i, t))
	}
	return out, nil
}

func arrowScalar(arr arrow.Array, i int) (string, error) {
	switch a := arr.(type) {
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i)), nil
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10), nil
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10), nil
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10), nil
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10), nil
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10), nil
	case *array.Float16:
		return fmt.Sprintf("0x%04x", a.Value(i).Uint16()), nil
	case *array.Float32:
		return fmt.Sprintf("0x%08x", math.Float32bits(a.Value(i))), nil
	case *array.Float64:
		return fmt.Sprintf("0x%016x", math.Float64bits(a.Value(i))), nil
	case *array.String:
		return Text(a.Value(i)), nil
	case *array.LargeString:
		return Text(a.Value(i)), nil
	case *array.Binary:
		return Bytes(a.Value(i)), nil
	case *array.LargeBinary:
		return Bytes(a.Value(i)), nil
	case *array.FixedSizeBinary:
		return Bytes(a.Value(i)), nil
	case *array.Date32:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Date64:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Timestamp:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Duration:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	}
	return "", fmt.Errorf("unexpected Arrow array %T", arr)
}

// le is used by the invalid cases' patches.
var le = binary.LittleEndian
