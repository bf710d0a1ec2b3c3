package conformance

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
)

// Helpers that build the JSON values of the case definitions. A nil
// argument is a null slot.

// ints encodes integers (int, int64, uint64) as decimal strings.
func ints(vs ...any) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		switch x := v.(type) {
		case nil:
		case int:
			out[i] = strconv.FormatInt(int64(x), 10)
		case int64:
			out[i] = strconv.FormatInt(x, 10)
		case uint64:
			out[i] = strconv.FormatUint(x, 10)
		default:
			panic(fmt.Sprintf("ints: %T", v))
		}
	}
	return out
}

// f16 encodes float16 bit patterns.
func f16(vs ...any) []any {
	return bitsList(vs, 4, func(v any) uint64 { return uint64(v.(int)) })
}

// f32 encodes float32 values (float64 arguments are converted, uint32
// arguments are bit patterns).
func f32(vs ...any) []any {
	return bitsList(vs, 8, func(v any) uint64 {
		switch x := v.(type) {
		case float64:
			return uint64(math.Float32bits(float32(x)))
		case uint32:
			return uint64(x)
		}
		panic(fmt.Sprintf("f32: %T", v))
	})
}

// f64 encodes float64 values (uint64 arguments are bit patterns).
func f64(vs ...any) []any {
	return bitsList(vs, 16, func(v any) uint64 {
		switch x := v.(type) {
		case float64:
			return math.Float64bits(x)
		case uint64:
			return x
		}
		panic(fmt.Sprintf("f64: %T", v))
	})
}

func bitsList(vs []any, digits int, bits func(any) uint64) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		if v != nil {
			out[i] = fmt.Sprintf("0x%0*x", digits, bits(v))
		}
	}
	return out
}

// strs passes strings (utf8 values) through; nil is null.
func strs(vs ...any) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		if v != nil {
			out[i] = v.(string)
		}
	}
	return out
}

// bins encodes byte strings (given as Go strings) in base64.
func bins(vs ...any) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		if v != nil {
			out[i] = base64.StdEncoding.EncodeToString([]byte(v.(string)))
		}
	}
	return out
}

// bools passes booleans through; nil is null.
func bools(vs ...any) []any {
	out := make([]any, len(vs))
	copy(out, vs)
	return out
}

// rows groups flat elements into nested rows of shape[1:]; a nil entry of
// nullRows marks a null row (its elements are skipped).
func rows(shape []int64, elems []any, nullRows ...int) []any {
	per := int64(1)
	for _, d := range shape[1:] {
		per *= d
	}
	isNull := map[int]bool{}
	for _, r := range nullRows {
		isNull[r] = true
	}
	out := make([]any, shape[0])
	k := 0
	for r := range out {
		if isNull[r] {
			continue
		}
		row := elems[k : k+int(per)]
		k += int(per)
		out[r] = nest(row, shape[1:])
	}
	if k != len(elems) {
		panic(fmt.Sprintf("rows: %d elements for shape %v with %d null rows", len(elems), shape, len(nullRows)))
	}
	return out
}

func nest(elems []any, shape []int64) any {
	if len(shape) == 0 {
		return elems[0]
	}
	per := len(elems) / int(max(shape[0], 1))
	out := make([]any, shape[0])
	for i := range out {
		out[i] = nest(elems[i*per:(i+1)*per], shape[1:])
	}
	if shape[0] == 0 {
		return []any{}
	}
	return out
}

// col is an array of the given type whose shape is [len(values)].
func col(name, typ string, values []any) Array {
	return Array{Name: name, Type: typ, Shape: []int64{int64(len(values))}, Values: values}
}

// tensor is an N-D array.
func tensor(name, typ string, shape []int64, values []any) Array {
	return Array{Name: name, Type: typ, Shape: shape, Values: values}
}

func (a Array) unit(u string) Array        { a.Unit = u; return a }
func (a Array) tz(z string) Array          { a.Timezone = z; return a }
func (a Array) width(w int) Array          { a.ByteWidth = w; return a }
func (a Array) meta(kv ...KV) Array        { a.Metadata = kv; return a }
func (a Array) layout(l ArrayLayout) Array { a.Layout = &l; return a }

// withNulls is a copy of vs with the given slots null.
func withNulls(vs []any, slots ...int) []any {
	out := append([]any(nil), vs...)
	for _, s := range slots {
		out[s] = nil
	}
	return out
}

// seq is n integers as decimal strings: start+i, or start+i%mod when mod > 0.
func seq(n, start, mod int) []any {
	out := make([]any, n)
	for i := range out {
		v := start + i
		if mod > 0 {
			v = start + i%mod
		}
		out[i] = strconv.Itoa(v)
	}
	return out
}
