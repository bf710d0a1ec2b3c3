// Package index generates the conformance vectors of format 1.1 hash
// indexes (spec §7.8): valid segments whose arrays carry indexes, invalid
// ones that break a structural check of an index (§11.2 step 9.5a) or its
// full validation (§11.3 step 5), and a table of lookups with their
// expected rows, which every implementation's lookup must reproduce.
//
// Files returns them by path relative to the vectors directory, in the
// layout of package conformance (valid/<case>.shm and .json in its JSON
// form, invalid/<case>.shm and .json), plus index_lookups.json. It is
// self-contained (it does not import package conformance, so that package
// can merge these files into its own Golden) and deterministic: the bytes
// depend on the definitions below alone. Every vector is checked with the
// Go reference reader when it is generated.
package index

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/shmarray/shmarray/format"
)

// FormatID is the "format" of the case files, as package conformance's.
const FormatID = "shmarray-conformance/1"

// LookupsFile is the table of lookups, relative to the vectors directory.
const LookupsFile = "index_lookups.json"

// LookupsFormat names the JSON form of LookupsFile.
const LookupsFormat = "shmarray-index-lookups/1"

var le = binary.LittleEndian

// column is one array of a vector: its values as Go values (nil: a null
// slot; int64/uint64 for integers, string for text and bytes), whether it
// gets an index, and the lookups to check in it.
type column struct {
	name    string
	typ     format.Type
	width   int // fixed_size_binary
	values  []any
	indexed bool
	lookups []lookup
	// slotWidth and log2 override the reference layout (a valid but unusual
	// index: 8-byte slots, a sparser table); pad makes the buffer longer.
	slotWidth int
	log2      uint8
	pad       int
}

type lookup struct {
	key any // int64, uint64 or string; a key of another width for fixed_size_binary
	row int64
}

type vector struct {
	name, description string
	cols              []column
	minor0            bool // write minor 0 (index fields then ignored) with garbage in them
	kind              uint8
}

func ints(vs ...int64) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

func strs(vs ...any) []any { return vs }

// validVectors are the valid index vectors.
func validVectors() []vector {
	return []vector{
		{name: "index_spec_example", description: "The example of spec §7.8.5: utf8 \"b\", \"a\", null, \"c\", \"\" with a hash index; \"\" collides with \"c\" at slot 6 and sits in slot 7.",
			cols: []column{{name: "k", typ: format.Utf8, values: strs("b", "a", nil, "c", ""), indexed: true,
				lookups: []lookup{{"b", 0}, {"a", 1}, {"c", 3}, {"", 4}, {"abc", -1}, {"d", -1}}}}},
		{name: "index_integer_types", description: "One indexed array of each integer type, extremes and sign included: key bytes are the value sign- or zero-extended to 64 bits, so -1 in int8 and 255 in uint8 differ, and a key the type cannot hold is not found.",
			cols: []column{
				{name: "i8", typ: format.Int8, values: ints(-128, 127, -1, 0), indexed: true,
					lookups: []lookup{{int64(-1), 2}, {int64(127), 1}, {int64(-128), 0}, {int64(255), -1}, {int64(300), -1}, {int64(0), 3}}},
				{name: "u8", typ: format.Uint8, values: ints(255, 0, 1), indexed: true,
					lookups: []lookup{{int64(255), 0}, {int64(-1), -1}, {int64(1), 2}, {int64(256), -1}}},
				{name: "i16", typ: format.Int16, values: ints(-32768, 32767, 300), indexed: true,
					lookups: []lookup{{int64(300), 2}, {int64(-32768), 0}, {int64(-300), -1}}},
				{name: "u16", typ: format.Uint16, values: ints(65535, 7), indexed: true,
					lookups: []lookup{{int64(65535), 0}, {int64(7), 1}, {int64(-1), -1}}},
				{name: "i32", typ: format.Int32, values: ints(-1, 1<<31-1, -1<<31), indexed: true,
					lookups: []lookup{{int64(-1), 0}, {int64(1<<31 - 1), 1}, {int64(1 << 31), -1}, {int64(-1 << 31), 2}}},
				{name: "u32", typ: format.Uint32, values: ints(1<<32-1, 5), indexed: true,
					lookups: []lookup{{int64(1<<32 - 1), 0}, {int64(-1), -1}, {int64(5), 1}}},
				{name: "i64", typ: format.Int64, values: ints(-1, 1<<62, -1<<63, 1<<63-1), indexed: true,
					lookups: []lookup{{int64(-1), 0}, {int64(-1 << 63), 2}, {int64(1<<63 - 1), 3}, {uint64(1<<64 - 1), -1}}},
				{name: "u64", typ: format.Uint64, values: []any{uint64(1<<64 - 1), uint64(5), uint64(1 << 63)}, indexed: true,
					lookups: []lookup{{uint64(1<<64 - 1), 0}, {int64(-1), -1}, {int64(5), 1}, {uint64(1 << 63), 2}}},
			}},
		{name: "index_byte_types", description: "Indexed large_utf8, binary, large_binary and fixed_size_binary arrays, with empty values, non-UTF-8 bytes, NUL bytes and a null; fixed_size_binary keys of another width are not found.",
			cols: []column{
				{name: "ls", typ: format.LargeUtf8, values: strs("é", "e", "", "日本語"), indexed: true,
					lookups: []lookup{{"e", 1}, {"é", 0}, {"", 2}, {"日本語", 3}, {"日本", -1}}},
				{name: "bin", typ: format.Binary, values: strs("\xff\x00", "\xff", nil, "\x00"), indexed: true,
					lookups: []lookup{{"\xff", 1}, {"\xff\x00", 0}, {"\x00", 3}, {"", -1}}},
				{name: "lbin", typ: format.LargeBinary, values: strs("", "q"), indexed: true,
					lookups: []lookup{{"", 0}, {"q", 1}, {"Q", -1}}},
				{name: "fsb", typ: format.FixedSizeBinary, width: 3, values: strs("abc", "de\x00", nil, "xyz"), indexed: true,
					lookups: []lookup{{"de\x00", 1}, {"de", -1}, {"abc", 0}, {"abcd", -1}, {"xyz", 3}, {"\x00\x00\x00", -1}}},
			}},
		{name: "index_collisions", description: "302 utf8 keys in a table of 1024 slots (a sparser table than the reference writer makes, valid): \"w0\" … \"w299\" with probe runs of several slots, then two keys whose start slot is the last one, 1023, so that the second wraps around to the start of the table.",
			cols: []column{collisionColumn()}},
		{name: "index_nulls_and_empty", description: "An indexed int64 array that is mostly null, one that is all null (no key: an empty table of 8 slots), and an empty one.",
			cols: []column{
				{name: "sparse", typ: format.Int64, values: []any{nil, int64(5), nil, nil, int64(-5), nil}, indexed: true,
					lookups: []lookup{{int64(5), 1}, {int64(-5), 4}, {int64(0), -1}}},
				{name: "all_null", typ: format.Utf8, values: strs(nil, nil), indexed: true,
					lookups: []lookup{{"", -1}}},
				{name: "empty", typ: format.Binary, values: strs(), indexed: true,
					lookups: []lookup{{"", -1}}},
			}},
		{name: "index_unusual_layout", description: "Valid but not what the reference writer makes: 8-byte slots for a small array, a table of 64 slots for 5 keys, and an index buffer 100 bytes longer than its table; a plain array and metadata around it.",
			cols: []column{
				{name: "plain", typ: format.Float64, values: []any{1.5, 2.5}},
				{name: "k", typ: format.Utf8, values: strs("one", "two", "three", "four", "five"), indexed: true,
					slotWidth: 8, log2: 6, pad: 100,
					lookups: []lookup{{"three", 2}, {"five", 4}, {"six", -1}}},
			}},
		{name: "index_fields_in_minor0", description: "A minor-0 file whose records carry index fields (index_kind 1, slot width 3): in a 1.0 file bytes 168-191 are reserved, so readers ignore them and see no index.",
			minor0: true,
			cols:   []column{{name: "k", typ: format.Int32, values: ints(1, 2, 3)}}},
		{name: "index_unknown_kind", description: "A minor-1 file with index_kind 7, a kind this version does not define, on a float array: readers ignore the index fields and see no index.",
			kind: 7,
			cols: []column{{name: "x", typ: format.Float32, values: []any{1.0, 2.0}}, {name: "k", typ: format.Utf8, values: strs("a"), indexed: true}}},
	}
}

// collisionColumn is the array of index_collisions: w0..w299 in a table of
// 1024 slots, then the first two keys z<i> whose start slot is the last one
// (1023), so that the second wraps around to slot 0 or beyond.
func collisionColumn() column {
	c := column{name: "w", typ: format.Utf8, indexed: true, log2: 10}
	for i := 0; i < 300; i++ {
		c.values = append(c.values, "w"+strconv.Itoa(i))
	}
	var last []string
	for i := 0; len(last) < 2; i++ {
		if k := "z" + strconv.Itoa(i); format.HashBytes([]byte(k))&1023 == 1023 {
			last = append(last, k)
		}
	}
	c.values = append(c.values, last[0], last[1])
	c.lookups = []lookup{{"w0", 0}, {"w150", 150}, {"w299", 299}, {last[0], 300}, {last[1], 301},
		{"w300", -1}, {"x", -1}}
	return c
}

func floatBits64(f float64) uint64 { return math.Float64bits(f) }
func floatBits32(f float64) uint32 { return math.Float32bits(float32(f)) }

// --- Encoding ---------------------------------------------------------------

func (c *column) dtype() format.DType {
	return format.DType{Type: c.typ, ByteWidth: c.width}
}

// buffers encodes the column as a writer hands it over.
func (c *column) buffers() (validity, offsets, data []byte, nulls int64) {
	n := len(c.values)
	bm := make([]byte, (n+7)/8)
	for i, v := range c.values {
		if v == nil {
			nulls++
		} else {
			bm[i/8] |= 1 << (i % 8)
		}
	}
	if nulls > 0 {
		validity = bm
	}
	switch {
	case c.typ.VarLength():
		ow := c.typ.OffsetWidth()
		offsets = make([]byte, ow*(n+1))
		for i, v := range c.values {
			if v != nil {
				data = append(data, v.(string)...)
			}
			if ow == 4 {
				le.PutUint32(offsets[4*(i+1):], uint32(len(data)))
			} else {
				le.PutUint64(offsets[8*(i+1):], uint64(len(data)))
			}
		}
		if n == 0 {
			offsets = nil
		}
	case c.typ == format.FixedSizeBinary:
		data = make([]byte, c.width*n)
		for i, v := range c.values {
			if v != nil {
				copy(data[i*c.width:], v.(string))
			}
		}
	case c.typ == format.Float64 || c.typ == format.Float32:
		w := c.typ.Width()
		data = make([]byte, w*n)
		for i, v := range c.values {
			if w == 8 {
				le.PutUint64(data[8*i:], floatBits64(v.(float64)))
			} else {
				le.PutUint32(data[4*i:], floatBits32(v.(float64)))
			}
		}
	default:
		w := c.typ.Width()
		data = make([]byte, w*n)
		for i, v := range c.values {
			var u uint64
			switch x := v.(type) {
			case int64:
				u = uint64(x)
			case uint64:
				u = x
			}
			var b [8]byte
			le.PutUint64(b[:], u)
			copy(data[i*w:], b[:w])
		}
	}
	return validity, offsets, data, nulls
}

// build lays out a vector as a writer does (spec §3): buffers from offset
// 128 at multiples of 64, each array's validity, offsets and data, then its
// index table; the metadata area from format.Encode; no creator fields.
func (v *vector) build() ([]byte, error) {
	file := make([]byte, format.HeaderSize)
	place := func(b []byte) format.Buffer {
		if len(b) == 0 {
			return format.Buffer{}
		}
		off := uint64(len(file))
		file = append(file, b...)
		for len(file)%format.Alignment != 0 {
			file = append(file, 0)
		}
		return format.Buffer{Offset: off, Length: uint64(len(b))}
	}
	descs := make([]format.ArrayDesc, len(v.cols))
	for i := range v.cols {
		c := &v.cols[i]
		validity, offsets, data, nulls := c.buffers()
		n := int64(len(c.values))
		d := format.ArrayDesc{Name: c.name, DType: c.dtype(), Length: n, NullCount: nulls, Shape: []int64{n}}
		d.Validity, d.Offsets, d.Data = place(validity), place(offsets), place(data)
		d.DataCRC, d.HasDataCRC = format.DataCRC(validity, offsets, data), true
		if c.indexed {
			w, log2 := format.IndexLayout(n, n-nulls)
			if c.slotWidth != 0 {
				w = c.slotWidth
			}
			if c.log2 != 0 {
				log2 = c.log2
			}
			ix := format.Index{Kind: format.IndexHash, SlotWidth: w, Log2: log2}
			table := make([]byte, ix.TableBytes())
			if err := format.BuildIndex(file, &d, ix, table); err != nil {
				return nil, fmt.Errorf("vector %q: %w", v.name, err)
			}
			ix.Buffer = place(append(table, make([]byte, c.pad)...))
			d.Index = ix
		}
		descs[i] = d
	}
	header, meta, h, err := format.Encode(&format.Seal{Arrays: descs, MetaOffset: uint64(len(file)), Legacy: true})
	if err != nil {
		return nil, fmt.Errorf("vector %q: %w", v.name, err)
	}
	file = append(file, meta...)
	copy(file, header)
	if uint64(len(file)) != h.FileSize {
		return nil, fmt.Errorf("vector %q: %d bytes laid out, the header says %d", v.name, len(file), h.FileSize)
	}
	p := patcher{b: file}
	if v.minor0 {
		p.hdr(10, 2, 0)
		for i := range v.cols {
			p.field(i, 184, 1, 1)
			p.field(i, 185, 1, 3)
			p.field(i, 186, 1, 0xEE)
			p.field(i, 168, 8, 0xDEADBEEF)
		}
		p.reseal()
	}
	if v.kind != 0 {
		for i := range v.cols {
			p.field(i, 184, 1, uint64(v.kind))
			p.field(i, 185, 1, 0xEE)
		}
		p.reseal()
	}
	return file, nil
}

// --- JSON ---------------------------------------------------------------------

// jsonValue encodes one value as package conformance's JSON form does.
func (c *column) jsonValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		if c.typ == format.Float32 {
			return fmt.Sprintf("0x%08x", floatBits32(x))
		}
		return fmt.Sprintf("0x%016x", floatBits64(x))
	case string:
		if c.typ == format.Utf8 || c.typ == format.LargeUtf8 {
			return x
		}
		return base64.StdEncoding.EncodeToString([]byte(x))
	}
	panic(fmt.Sprintf("value %T", v))
}

func compact(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// caseJSON is the valid case's JSON, in package conformance's form (one
// array per line), without layout hints: the index changes no value.
func (v *vector) caseJSON() []byte {
	type array struct {
		Name      string      `json:"name"`
		Type      string      `json:"type"`
		ByteWidth int         `json:"byte_width,omitempty"`
		Shape     []int64     `json:"shape"`
		Metadata  [][2]string `json:"metadata"`
		Values    []any       `json:"values"`
	}
	var b strings.Builder
	b.WriteString("{\n")
	fmt.Fprintf(&b, "  \"format\": %s,\n", compact(FormatID))
	fmt.Fprintf(&b, "  \"case\": %s,\n", compact(v.name))
	fmt.Fprintf(&b, "  \"description\": %s,\n", compact(v.description))
	b.WriteString("  \"metadata\": [],\n")
	b.WriteString("  \"arrays\": [\n")
	for i := range v.cols {
		c := &v.cols[i]
		a := array{Name: c.name, Type: c.typ.String(), ByteWidth: c.width, Shape: []int64{int64(len(c.values))},
			Metadata: [][2]string{}, Values: []any{}}
		for _, x := range c.values {
			a.Values = append(a.Values, c.jsonValue(x))
		}
		sep := ","
		if i == len(v.cols)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s%s\n", compact(a), sep)
	}
	b.WriteString("  ]\n}\n")
	return []byte(b.String())
}

// Lookups is the JSON form of LookupsFile: for each valid vector, its
// indexed arrays and lookups with the row each must return (-1: not found).
// Keys are encoded as values are (integers as decimal strings, utf8 as JSON
// strings, binary and fixed-size binary as base64).
type Lookups struct {
	Format  string         `json:"format"`
	Vectors []VectorLookup `json:"vectors"`
}

// VectorLookup lists the lookups of one valid vector.
type VectorLookup struct {
	Case    string   `json:"case"`
	Indexes []string `json:"indexes"`
	Lookups []Lookup `json:"lookups"`
}

// Lookup is one key of one array and its expected row.
type Lookup struct {
	Array string `json:"array"`
	Key   any    `json:"key"`
	Row   int64  `json:"row"`
}

func lookupsJSON(vs []vector) []byte {
	out := Lookups{Format: LookupsFormat}
	for _, v := range vs {
		vl := VectorLookup{Case: v.name, Indexes: []string{}, Lookups: []Lookup{}}
		for i := range v.cols {
			c := &v.cols[i]
			if c.indexed && !v.minor0 && v.kind == 0 {
				vl.Indexes = append(vl.Indexes, c.name)
			}
			for _, l := range c.lookups {
				vl.Lookups = append(vl.Lookups, Lookup{Array: c.name, Key: c.jsonValue(l.key), Row: l.row})
			}
		}
		out.Vectors = append(out.Vectors, vl)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{\n  \"format\": %s,\n  \"vectors\": [\n", compact(out.Format))
	for i, vl := range out.Vectors {
		sep := ","
		if i == len(out.Vectors)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s%s\n", compact(vl), sep)
	}
	b.WriteString("  ]\n}\n")
	return []byte(b.String())
}

// --- Invalid vectors -----------------------------------------------------------

// patcher edits a built vector: header fields, record fields of array i,
// and the index table of array i (data area: no checksum).
type patcher struct{ b []byte }

func (p *patcher) set(at []byte, size int, v uint64) {
	switch size {
	case 1:
		at[0] = byte(v)
	case 2:
		le.PutUint16(at, uint16(v))
	case 4:
		le.PutUint32(at, uint32(v))
	case 8:
		le.PutUint64(at, v)
	}
}

func (p *patcher) rec(i int) []byte {
	dir := le.Uint64(p.b[48:])
	rs := uint64(le.Uint32(p.b[56:]))
	return p.b[dir+uint64(i)*rs:]
}

func (p *patcher) hdr(off, size int, v uint64)      { p.set(p.b[off:], size, v) }
func (p *patcher) field(i, off, size int, v uint64) { p.set(p.rec(i)[off:], size, v) }
func (p *patcher) get64(i, off int) uint64          { return le.Uint64(p.rec(i)[off:]) }

// slot sets slot s of array i's 4-byte table to v.
func (p *patcher) slot(i int, s int, v uint32) {
	le.PutUint32(p.b[p.get64(i, 168)+uint64(4*s):], v)
}

func (p *patcher) slotValue(i int, s int) uint32 {
	return le.Uint32(p.b[p.get64(i, 168)+uint64(4*s):])
}

// reseal recomputes the header checksum (spec §9.2) after an edit of the
// header or the metadata area, so that the intended check fails.
func (p *patcher) reseal() {
	mo, ml := le.Uint64(p.b[32:]), le.Uint64(p.b[40:])
	le.PutUint32(p.b[120:], 0)
	le.PutUint32(p.b[120:], format.Checksum(p.b[:format.HeaderSize], p.b[mo:mo+ml]))
}

type invalid struct {
	name, description, base, spec string
	expect                        format.Code
	full                          bool
	edit                          func(p *patcher)
}

// The base vector index_spec_example has one array "k": "b", "a", null,
// "c", "" whose table (8 slots) is 1 0 0 2 0 0 4 5 (spec §7.8.5).
func invalidVectors() []invalid {
	const spec = "index_spec_example"
	return []invalid{
		{"index_on_float", "index_kind 1 on a float64 array (index_unusual_layout's \"plain\").", "index_unusual_layout", "§11.2 step 9.5a.1", format.BadType, false,
			func(p *patcher) {
				p.field(0, 168, 8, p.get64(1, 168))
				p.field(0, 176, 8, p.get64(1, 176))
				p.field(0, 184, 1, 1)
				p.field(0, 185, 1, 8)
				p.field(0, 186, 1, 6)
				p.reseal()
			}},
		{"index_on_2d_array", "The indexed int32 array of index_integer_types made 2-D (shape [3, 1]).", "index_integer_types", "§11.2 step 9.5a.1", format.BadType, false,
			func(p *patcher) {
				p.field(4, 9, 1, 2)
				p.field(4, 112, 8, 1)
				p.reseal()
			}},
		{"index_misaligned", "The index buffer offset moves by 8 bytes.", spec, "§11.2 step 9.5a.2", format.Misaligned, false,
			func(p *patcher) { p.field(0, 168, 8, p.get64(0, 168)+8); p.reseal() }},
		{"index_out_of_bounds", "The index buffer reaches into the metadata area.", spec, "§11.2 step 9.5a.2", format.OutOfBounds, false,
			func(p *patcher) { p.field(0, 176, 8, 4096); p.reseal() }},
		{"index_slot_width_2", "index_slot_width 2.", spec, "§11.2 step 9.5a.3", format.BadSize, false,
			func(p *patcher) { p.field(0, 185, 1, 2); p.reseal() }},
		{"index_log2_60", "index_log2 60, above the limit 59.", spec, "§11.2 step 9.5a.3", format.BadSize, false,
			func(p *patcher) { p.field(0, 186, 1, 60); p.reseal() }},
		{"index_more_than_half_full", "index_log2 2: 4 slots for 4 keys.", spec, "§11.2 step 9.5a.3", format.BadSize, false,
			func(p *patcher) { p.field(0, 186, 1, 2); p.reseal() }},
		{"index_buffer_too_short", "index_length 16 for a table of 8 slots of 4 bytes.", spec, "§11.2 step 9.5a.3", format.BadSize, false,
			func(p *patcher) { p.field(0, 176, 8, 16); p.reseal() }},
		{"index_slot_past_length", "Slot 1 (empty) names row 5 of 5.", spec, "§11.3 step 5.1", format.OutOfBounds, true,
			func(p *patcher) { p.slot(0, 1, 6) }},
		{"index_extra_entry", "Slot 1 (empty) names row 2, the null slot: a slot naming a null row is checked before the count.", spec, "§11.3 step 5.1", format.ChecksumMismatch, true,
			func(p *patcher) { p.slot(0, 1, 3) }},
		{"index_null_row_in_chain", "Slot 6 names row 2 (null, stored as empty bytes) instead of row 3 (\"c\"): 4 entries for 4 keys, and the probe for \"\" (row 4, start slot 6) meets the null row first. A lookup must skip it and find row 4 (§7.8.4); full validation reports the null row.", spec, "§11.3 step 5.1", format.ChecksumMismatch, true,
			func(p *patcher) { p.slot(0, 6, 3) }},
		{"index_duplicate_of_extra", "Slot 1 (empty) names row 4 again: row 4 in two slots, 5 entries for 4 keys.", spec, "§11.3 step 5.2", format.BadSize, true,
			func(p *patcher) { p.slot(0, 1, 5) }},
		{"index_missing_entry", "Slot 3 (row 1, \"a\") emptied: 3 entries for 4 keys.", spec, "§11.3 step 5.2", format.BadSize, true,
			func(p *patcher) { p.slot(0, 3, 0) }},
		{"index_key_misplaced", "Row 1 (\"a\", start slot 3) moved from slot 3 to slot 4: the search stops at the empty slot 3.", spec, "§11.3 step 5.3", format.ChecksumMismatch, true,
			func(p *patcher) { p.slot(0, 3, 0); p.slot(0, 4, 2) }},
		{"index_row_twice", "Slot 0 names row 1 instead of row 0: row 0 is missing, row 1 twice, 4 entries.", spec, "§11.3 step 5.3", format.ChecksumMismatch, true,
			func(p *patcher) { p.slot(0, 0, 2) }},
		{"index_duplicate_keys", "The value \"a\" (row 1) becomes \"b\", the value of row 0 (data CRC made right): the search for row 1's key finds row 0.", spec, "§11.3 step 5.3", format.DuplicateName, true,
			func(p *patcher) {
				data := p.get64(0, 72)
				p.b[data+1] = 'b'
				validity, offsets := p.get64(0, 40), p.get64(0, 56)
				crc := format.DataCRC(p.b[validity:validity+p.get64(0, 48)], p.b[offsets:offsets+p.get64(0, 64)], p.b[data:data+p.get64(0, 80)])
				p.field(0, 96, 4, uint64(crc))
				p.reseal()
			}},
		{"index_no_empty_slot", "Every slot names row 0: no empty slot (a probe must still end after 8 slots); 8 entries for 4 keys.", spec, "§11.3 step 5.2", format.BadSize, true,
			func(p *patcher) {
				for s := 0; s < 8; s++ {
					p.slot(0, s, 1)
				}
			}},
	}
}

// Files returns every index vector file by path relative to the vectors
// directory, each checked with the Go reference reader: valid vectors pass
// attach and full validation and give the listed lookups, invalid ones
// fail with their code at their stage.
func Files() (map[string][]byte, error) {
	files := map[string][]byte{}
	valid := map[string][]byte{}
	vs := validVectors()
	for i := range vs {
		v := &vs[i]
		b, err := v.build()
		if err != nil {
			return nil, err
		}
		if err := checkValid(v, b); err != nil {
			return nil, fmt.Errorf("valid index vector %q: %w", v.name, err)
		}
		valid[v.name] = b
		files["valid/"+v.name+".shm"] = b
		files["valid/"+v.name+".json"] = v.caseJSON()
	}
	files[LookupsFile] = lookupsJSON(vs)
	for _, inv := range invalidVectors() {
		base, ok := valid[inv.base]
		if !ok {
			return nil, fmt.Errorf("invalid index vector %q: no valid vector %q", inv.name, inv.base)
		}
		p := patcher{b: bytes.Clone(base)}
		inv.edit(&p)
		code, full := check(p.b)
		if code != inv.expect || full != inv.full {
			return nil, fmt.Errorf("invalid index vector %q: the Go reader reports %s (full validation: %v), the vector expects %s (%v)",
				inv.name, code.Name(), full, inv.expect.Name(), inv.full)
		}
		stage := "structural"
		if inv.full {
			stage = "full"
		}
		files["invalid/"+inv.name+".shm"] = p.b
		files["invalid/"+inv.name+".json"] = invalidJSON(inv, stage)
	}
	return files, nil
}

// Names lists the file names Files writes, sorted (for tooling).
func Names() ([]string, error) {
	files, err := Files()
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range files {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

func invalidJSON(inv invalid, stage string) []byte {
	fields := []struct {
		k string
		v any
	}{{"format", FormatID}, {"case", inv.name}, {"description", inv.description}, {"expect", inv.expect.Name()},
		{"code", int(inv.expect)}, {"stage", stage}, {"spec", inv.spec}, {"base", inv.base}}
	var b strings.Builder
	b.WriteString("{\n")
	for i, f := range fields {
		sep := ","
		if i == len(fields)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %q: %s%s\n", f.k, compact(f.v), sep)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// check is the Go reference reader over a whole file: the first error's
// code, and whether full validation (rather than attach) found it.
func check(b []byte) (format.Code, bool) {
	s, err := format.Decode(b)
	if err != nil {
		return format.CodeOf(err), false
	}
	if err := s.Validate(b); err != nil {
		return format.CodeOf(err), true
	}
	return format.OK, false
}

// checkValid decodes and validates b and runs v's lookups.
func checkValid(v *vector, b []byte) error {
	s, err := format.Decode(b)
	if err == nil {
		err = s.Validate(b)
	}
	if err != nil {
		return err
	}
	if want := uint16(1); v.minor0 {
		if s.Header.Minor != 0 {
			return fmt.Errorf("minor %d, want 0", s.Header.Minor)
		}
	} else if s.Header.Minor != want {
		return fmt.Errorf("minor %d, want %d", s.Header.Minor, want)
	}
	for i := range v.cols {
		c := &v.cols[i]
		a := &s.Arrays[s.Lookup(c.name)]
		if a.Index.Present() != (c.indexed && !v.minor0 && v.kind == 0) {
			return fmt.Errorf("array %q: has index %v", c.name, a.Index.Present())
		}
		if !a.Index.Present() {
			continue
		}
		p, err := format.NewProbe(b, a)
		if err != nil {
			return err
		}
		for _, l := range c.lookups {
			got, err := probe(p, l.key)
			if err != nil {
				return err
			}
			if got != l.row {
				return fmt.Errorf("array %q: key %q at row %d, want %d", c.name, l.key, got, l.row)
			}
		}
	}
	return nil
}

func probe(p *format.Probe, key any) (int64, error) {
	switch k := key.(type) {
	case int64:
		return p.LookupInt(k)
	case uint64:
		return p.LookupUint(k)
	case string:
		return p.LookupBytes([]byte(k))
	}
	return 0, fmt.Errorf("key %T", key)
}
