package arena

import (
	"fmt"
	"reflect"
	"slices"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/shmarray/shmarray/format"
)

// Hash indexes (spec §7.8, format 1.1): a Builder builds one in the segment
// over an array's values; every process that attaches looks keys up in it
// straight from the shared pages. The hash, layout and probe live in
// package format; this file allocates tables and reads keys from Go values.

// AddIndex builds a hash index over the array called name, already added to
// the segment, in one pass: the table is allocated in the segment and
// filled in place, and published with it. Rows whose value is null are not
// indexed. The values must be unique; a repeated value fails with
// INVALID_ARGUMENT naming it and two of its rows (`key "abc" appears at rows
// 3 and 17`). Indexing an array twice does nothing.
//
// An array from AddEmpty, whose values may still change, is indexed at
// Publish instead, over its final values: a repeated value then fails
// Publish, and nothing is published.
//
// Indexable: one-dimensional integer, utf8, large_utf8, binary,
// large_binary and fixed_size_binary arrays. Errors: NOT_FOUND (no such
// array), INVALID_ARGUMENT (type, duplicate key), NO_SPACE, CLOSED.
func (b *Builder) AddIndex(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, later := b.inPlace[name]; later {
		a, err := b.indexTarget(name)
		if err == nil && a != nil {
			b.indexAtSeal = append(b.indexAtSeal, name)
		}
		return err
	}
	return b.addIndex(name)
}

// indexTarget finds the array called name and checks that it can be
// indexed; nil without error if it already is. Called with mu held.
func (b *Builder) indexTarget(name string) (*format.ArrayDesc, error) {
	if b.done {
		return nil, b.closedError()
	}
	i := b.column(name)
	if i < 0 {
		return nil, fmt.Errorf("%w: segment %s has no array called %s to index (add it before indexing it)", format.ErrNotFound, format.Quote(b.name), format.Quote(name))
	}
	a := &b.arrays[i]
	if a.Index.Present() {
		return nil, nil
	}
	if a.Type == format.Dictionary {
		// Spec §7.8 indexes values, and a dictionary's slots hold indices
		// into its values: refused rather than indexed by a code that
		// readers would have to decode on every probe.
		return nil, fmt.Errorf("%w: segment %q: array %q is dictionary-encoded (%s indices into its values); a hash index needs the values themselves: store the column decoded to index it (pyarrow: arr.dictionary_decode(); pandas: series.astype(str))", format.ErrInvalidArgument, b.name, name, a.IndexType)
	}
	if !a.Type.Indexable() || a.NDim() != 1 {
		return nil, fmt.Errorf("%w: segment %q: array %q is %s of %d dimensions; only one-dimensional integer, string, binary and fixed-size binary arrays can be indexed", format.ErrInvalidArgument, b.name, name, a.DType, a.NDim())
	}
	return a, nil
}

// addIndex builds the index of AddIndex now. Called with mu held.
func (b *Builder) addIndex(name string) error {
	a, err := b.indexTarget(name)
	if a == nil {
		return err
	}
	width, log2 := format.IndexLayout(a.Length, a.Length-a.NullCount)
	ix := format.Index{Kind: format.IndexHash, SlotWidth: width, Log2: log2}
	size := ix.TableBytes()
	mark := b.end
	off, err := b.alloc(size)
	if err != nil {
		return err
	}
	if err := format.BuildIndex(b.mem, a, ix, b.mem[off:off+size]); err != nil {
		b.rollback(mark)
		return format.Wrapf(err, "segment %q", b.name)
	}
	ix.Buffer = format.Buffer{Offset: off, Length: size}
	a.Index = ix
	b.pinned = max(b.pinned, alignUp(off+size))
	return nil
}

// Key is a Go type whose values Lookup and Contains look up: strings and
// byte slices in a string, binary or fixed-size binary index, integers in
// an integer index.
type Key interface {
	~string | ~[]byte | ~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// HasIndex reports whether the array called name has a hash index.
func (s *Segment) HasIndex(name string) bool {
	a, err := s.Desc(name)
	return err == nil && a.Index.Present()
}

// Lookup finds each key in the hash index of the array called name and
// returns the row holding it, or -1 when no row does (also for an integer
// the array's type cannot hold, or bytes of the wrong width for a
// fixed-size binary array). Strings are compared by their bytes. Nothing is
// copied or built: each key costs a hash and, on average, one or two reads
// of the shared pages. Safe for concurrent use, and reads nothing outside
// the array's buffers even in a segment that was not fully validated.
//
// Errors: NOT_FOUND (no such array), INVALID_ARGUMENT (no index, or
// strings against an integer index and the reverse), CLOSED, and for an
// index that full validation would reject OUT_OF_BOUNDS or BAD_OFFSETS.
func Lookup[K Key](s *Segment, name string, keys []K) ([]int64, error) {
	rows := make([]int64, len(keys))
	err := s.probe(name, func(p *format.Probe) error {
		kind := reflect.TypeFor[K]().Kind()
		text := kind == reflect.String || kind == reflect.Slice
		if text == p.IntKeys() {
			return keyMismatch(p, name, reflect.TypeFor[K]().String())
		}
		for i := range keys {
			var err error
			if rows[i], err = lookupOne(p, kind, unsafe.Pointer(&keys[i])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// Contains reports for each key whether the hash index of the array called
// name holds it; see Lookup.
func Contains[K Key](s *Segment, name string, keys []K) ([]bool, error) {
	rows, err := Lookup(s, name, keys)
	return found(rows), err
}

// LookupArrow is Lookup for keys held in an Arrow array: String,
// LargeString, Binary, LargeBinary or FixedSizeBinary keys for a string,
// binary or fixed-size binary index, any integer type for an integer
// index. A null key is never found (-1).
func LookupArrow(s *Segment, name string, keys arrow.Array) ([]int64, error) {
	rows := make([]int64, keys.Len())
	err := s.probe(name, func(p *format.Probe) error {
		var one func(i int) (int64, error)
		intKeys := true
		switch k := keys.(type) {
		case interface{ Value(int) string }: // String, LargeString
			one, intKeys = func(i int) (int64, error) { return p.LookupBytes(stringBytes(k.Value(i))) }, false
		case interface{ Value(int) []byte }: // Binary, LargeBinary, FixedSizeBinary
			one, intKeys = func(i int) (int64, error) { return p.LookupBytes(k.Value(i)) }, false
		case *array.Int8:
			one = func(i int) (int64, error) { return p.LookupInt(int64(k.Value(i))) }
		case *array.Int16:
			one = func(i int) (int64, error) { return p.LookupInt(int64(k.Value(i))) }
		case *array.Int32:
			one = func(i int) (int64, error) { return p.LookupInt(int64(k.Value(i))) }
		case *array.Int64:
			one = func(i int) (int64, error) { return p.LookupInt(k.Value(i)) }
		case *array.Uint8:
			one = func(i int) (int64, error) { return p.LookupUint(uint64(k.Value(i))) }
		case *array.Uint16:
			one = func(i int) (int64, error) { return p.LookupUint(uint64(k.Value(i))) }
		case *array.Uint32:
			one = func(i int) (int64, error) { return p.LookupUint(uint64(k.Value(i))) }
		case *array.Uint64:
			one = func(i int) (int64, error) { return p.LookupUint(k.Value(i)) }
		default:
			return fmt.Errorf("%w: segment %q: keys of Arrow type %s cannot be looked up; give strings, binary or integers", format.ErrInvalidArgument, s.name, keys.DataType())
		}
		if intKeys != p.IntKeys() {
			return keyMismatch(p, name, keys.DataType().String())
		}
		for i := range rows {
			if keys.IsNull(i) {
				rows[i] = -1
				continue
			}
			var err error
			if rows[i], err = one(i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// ContainsArrow is Contains for keys held in an Arrow array; see LookupArrow.
func ContainsArrow(s *Segment, name string, keys arrow.Array) ([]bool, error) {
	rows, err := LookupArrow(s, name, keys)
	return found(rows), err
}

// probe runs f with a Probe over the index of the array called name, with
// the mapping held (Close waits) and faults turned into TRUNCATED.
func (s *Segment) probe(name string, f func(p *format.Probe) error) error {
	a, err := s.Desc(name)
	if err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mem == nil {
		return fmt.Errorf("%w: segment %q was closed", format.ErrClosed, s.name)
	}
	p, err := format.NewProbe(s.mem, a)
	if err == nil {
		err = guard(func() error { return f(p) })
	}
	if err != nil {
		return format.Wrapf(err, "segment %q", s.name)
	}
	return nil
}

func keyMismatch(p *format.Probe, name, keyType string) error {
	want := "strings or bytes"
	if p.IntKeys() {
		want = "integers"
	}
	return fmt.Errorf("%w: array %q is indexed by %s, not %s keys", format.ErrInvalidArgument, name, want, keyType)
}

// lookupOne looks up the key at k, of the kind given (a Key type's kind).
func lookupOne(p *format.Probe, kind reflect.Kind, k unsafe.Pointer) (int64, error) {
	switch kind {
	case reflect.String:
		return p.LookupBytes(stringBytes(*(*string)(k)))
	case reflect.Slice:
		return p.LookupBytes(*(*[]byte)(k))
	case reflect.Int:
		return p.LookupInt(int64(*(*int)(k)))
	case reflect.Int8:
		return p.LookupInt(int64(*(*int8)(k)))
	case reflect.Int16:
		return p.LookupInt(int64(*(*int16)(k)))
	case reflect.Int32:
		return p.LookupInt(int64(*(*int32)(k)))
	case reflect.Int64:
		return p.LookupInt(*(*int64)(k))
	case reflect.Uint:
		return p.LookupUint(uint64(*(*uint)(k)))
	case reflect.Uint8:
		return p.LookupUint(uint64(*(*uint8)(k)))
	case reflect.Uint16:
		return p.LookupUint(uint64(*(*uint16)(k)))
	case reflect.Uint32:
		return p.LookupUint(uint64(*(*uint32)(k)))
	}
	return p.LookupUint(*(*uint64)(k))
}

// stringBytes views s as bytes without copying; the probe only reads them.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func found(rows []int64) []bool {
	if rows == nil {
		return nil
	}
	out := make([]bool, len(rows))
	for i, r := range rows {
		out[i] = r >= 0
	}
	return out
}

// column is the directory index of the top-level array called name, or -1:
// children of lists and dictionaries may carry names too (format 1.3), and
// are no column of their own.
func (b *Builder) column(name string) int {
	return slices.IndexFunc(b.arrays, func(a format.ArrayDesc) bool { return a.Name == name && !a.IsChild })
}
