package conformance

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shmarray/shmarray/format"
)

// Buffers are the raw buffers of one array in the layout of spec §7, as a
// writer hands them over: validity nil when there is no bitmap, offsets nil
// for fixed-width types (and for an empty array stored without offsets).
type Buffers struct {
	Validity, Offsets, Data []byte
	NullCount               int64
}

// Encode turns the JSON values of a into buffers. With hints, the array's
// Layout is applied (bitmap without nulls, garbage under nulls, padding...);
// without, the buffers are the plain form a writer is given: a bitmap only
// when some slot is null, zeros under null slots.
func (a *Array) Encode(hints bool) (Buffers, error) {
	var out Buffers
	dt, err := a.DType()
	if err != nil {
		return out, err
	}
	var lay ArrayLayout
	if hints && a.Layout != nil {
		lay = *a.Layout
	}
	n := a.Length()
	if int64(len(a.Values)) != n {
		return out, fmt.Errorf("array %q: %d values for shape %v", a.Name, len(a.Values), a.Shape)
	}
	if len(a.Shape) > 1 && !dt.Type.Numeric() {
		return out, fmt.Errorf("array %q: only integer and float arrays are N-D", a.Name)
	}
	rowElems := int64(1)
	for _, d := range a.Shape[1:] {
		rowElems *= d
	}
	garbage := lay.NullFill == "garbage"
	valid := make([]bool, n)
	for i, v := range a.Values {
		valid[i] = v != nil
		if v == nil {
			out.NullCount++
		}
	}
	if out.NullCount > 0 || lay.Validity == "always" {
		out.Validity = packBits(valid, lay.BitmapTail)
	}

	switch t := dt.Type; {
	case t.ListOffsetWidth() != 0:
		// A list slot's value is its number of elements (a decimal string):
		// the child's slots follow one another (spec §6.1).
		ow := t.ListOffsetWidth()
		offs := []int64{0}
		for i, v := range a.Values {
			at := offs[len(offs)-1]
			if v != nil {
				s, _ := v.(string)
				k, err := strconv.ParseInt(s, 10, 64)
				if err != nil || k < 0 {
					return out, fmt.Errorf("array %q: slot %d: %v is not a decimal element count", a.Name, i, v)
				}
				at += k
			}
			offs = append(offs, at)
		}
		if n > 0 || lay.Offsets != "empty" {
			out.Offsets = putOffsets(offs, ow)
		}
	case t == format.Bool:
		bits := make([]bool, n)
		for i, v := range a.Values {
			if v == nil {
				bits[i] = garbage && i%2 == 0
				continue
			}
			b, ok := v.(bool)
			if !ok {
				return out, fmt.Errorf("array %q: slot %d: %v is not a JSON boolean", a.Name, i, v)
			}
			bits[i] = b
		}
		out.Data = packBits(bits, lay.BitmapTail)
	case t.VarLength():
		ow := t.OffsetWidth()
		var data []byte
		offs := []int64{0}
		for i, v := range a.Values {
			switch {
			case v == nil && garbage:
				data = append(data, "xx"...)
			case v == nil:
			default:
				b, err := scalarBytes(a, dt, v)
				if err != nil {
					return out, fmt.Errorf("array %q: slot %d: %w", a.Name, i, err)
				}
				data = append(data, b...)
			}
			offs = append(offs, int64(len(data)))
		}
		if n > 0 || lay.Offsets != "empty" {
			out.Offsets = make([]byte, len(offs)*ow)
			for i, o := range offs {
				if ow == 4 {
					if o > math.MaxInt32 {
						return out, fmt.Errorf("array %q: %d bytes of data need large offsets", a.Name, o)
					}
					binary.LittleEndian.PutUint32(out.Offsets[4*i:], uint32(o))
				} else {
					binary.LittleEndian.PutUint64(out.Offsets[8*i:], uint64(o))
				}
			}
		}
		out.Data = data
	default:
		w := dt.Type.Width()
		if dt.Type == format.FixedSizeBinary {
			w = dt.ByteWidth
		}
		if dt.Type == format.Dictionary { // the indices, decimal strings
			w = dt.IndexType.Width()
			dt = format.DType{Type: dt.IndexType}
		}
		rowBytes := int(rowElems) * w
		data := make([]byte, 0, int(n)*rowBytes)
		for i, v := range a.Values {
			if v == nil {
				fill := byte(0)
				if garbage {
					fill = 0xA5
				}
				for k := 0; k < rowBytes; k++ {
					data = append(data, fill)
				}
				continue
			}
			elems, err := flatten(v, a.Shape[1:])
			if err != nil {
				return out, fmt.Errorf("array %q: row %d: %w", a.Name, i, err)
			}
			for _, e := range elems {
				b, err := scalarBytes(a, dt, e)
				if err != nil {
					return out, fmt.Errorf("array %q: slot %d: %w", a.Name, i, err)
				}
				data = append(data, b...)
			}
		}
		out.Data = data
	}
	if lay.Padding > 0 {
		pad := func(b []byte) []byte {
			if len(b) == 0 {
				return b
			}
			return append(b, make([]byte, lay.Padding)...)
		}
		out.Validity, out.Offsets, out.Data = pad(out.Validity), pad(out.Offsets), pad(out.Data)
	}
	return out, nil
}

// putOffsets encodes offsets as entries of w bytes.
func putOffsets(offs []int64, w int) []byte {
	b := make([]byte, len(offs)*w)
	for i, o := range offs {
		if w == 4 {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(o))
		} else {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(o))
		}
	}
	return b
}

// flatten checks that v is nested lists of the given shape and returns its
// elements in C order. With an empty shape v itself is the one element.
func flatten(v any, shape []int64) ([]any, error) {
	if len(shape) == 0 {
		return []any{v}, nil
	}
	list, ok := v.([]any)
	if !ok || int64(len(list)) != shape[0] {
		return nil, fmt.Errorf("expected a list of %d for shape %v, got %v", shape[0], shape, v)
	}
	var out []any
	for _, e := range list {
		sub, err := flatten(e, shape[1:])
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// scalarBytes encodes one non-null element as stored (little-endian).
func scalarBytes(a *Array, dt format.DType, v any) ([]byte, error) {
	s, isString := v.(string)
	if !isString {
		return nil, fmt.Errorf("%v is not a JSON string (numbers are written as strings)", v)
	}
	le := binary.LittleEndian
	switch t := dt.Type; t {
	case format.Int8, format.Int16, format.Int32, format.Int64, format.Date32, format.Date64, format.Timestamp, format.Duration:
		w := t.Width()
		x, err := strconv.ParseInt(s, 10, 8*w)
		if err != nil {
			return nil, fmt.Errorf("%q is not a decimal %d-bit integer", s, 8*w)
		}
		b := make([]byte, 8)
		le.PutUint64(b, uint64(x))
		return b[:w], nil
	case format.Uint8, format.Uint16, format.Uint32, format.Uint64:
		w := t.Width()
		x, err := strconv.ParseUint(s, 10, 8*w)
		if err != nil {
			return nil, fmt.Errorf("%q is not a decimal unsigned %d-bit integer", s, 8*w)
		}
		b := make([]byte, 8)
		le.PutUint64(b, x)
		return b[:w], nil
	case format.Float16, format.Float32, format.Float64:
		w := t.Width()
		if !strings.HasPrefix(s, "0x") || len(s) != 2+2*w {
			return nil, fmt.Errorf("%q is not a %d-digit hex bit pattern 0x...", s, 2*w)
		}
		x, err := strconv.ParseUint(s[2:], 16, 8*w)
		if err != nil || strings.ToLower(s) != s {
			return nil, fmt.Errorf("%q is not a lower-case %d-digit hex bit pattern", s, 2*w)
		}
		b := make([]byte, 8)
		le.PutUint64(b, x)
		return b[:w], nil
	case format.Utf8, format.LargeUtf8:
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("%q is not valid UTF-8", s)
		}
		return []byte(s), nil
	case format.Binary, format.LargeBinary, format.FixedSizeBinary:
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not standard base64: %v", s, err)
		}
		if t == format.FixedSizeBinary && len(b) != dt.ByteWidth {
			return nil, fmt.Errorf("%q is %d bytes, the width is %d", s, len(b), dt.ByteWidth)
		}
		return b, nil
	}
	return nil, fmt.Errorf("array %q: no scalar encoding for %s", a.Name, dt.Type)
}

// packBits packs b LSB first; with tail, the unused bits of the last byte are 1.
func packBits(b []bool, tail bool) []byte {
	out := make([]byte, (len(b)+7)/8)
	for i, v := range b {
		if v {
			out[i/8] |= 1 << (i % 8)
		}
	}
	if tail && len(b)%8 != 0 {
		out[len(out)-1] |= ^byte(0) << (len(b) % 8)
	}
	return out
}
