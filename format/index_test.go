package format

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ixBuild lays out arrays as buildSegment does, and gives the arrays named
// in indexed a hash index built by BuildIndex, its buffer placed after the
// array's own buffers. ixLayout, when set, changes an index's layout first.
func ixBuild(t testing.TB, arrays []testArray, indexed ...string) []byte {
	t.Helper()
	b, err := ixBuildErr(arrays, nil, indexed...)
	require.NoError(t, err)
	return b
}

func ixBuildErr(arrays []testArray, edit func(name string, ix *Index), indexed ...string) ([]byte, error) {
	return layoutSegment(arrays, Seal{}, func(d *ArrayDesc, file func() []byte, place func([]byte) Buffer) error {
		for _, name := range indexed {
			if name != d.Name {
				continue
			}
			w, log2 := IndexLayout(d.Length, d.Length-d.NullCount)
			ix := Index{Kind: IndexHash, SlotWidth: w, Log2: log2}
			if edit != nil {
				edit(d.Name, &ix)
			}
			table := make([]byte, ix.TableBytes())
			if err := BuildIndex(file(), d, ix, table); err != nil {
				return err
			}
			ix.Buffer = place(table)
			d.Index = ix
		}
		return nil
	})
}

func ixStrings(name string, typ Type, vals ...any) testArray {
	var offs []int64
	var data []byte
	valid := make([]byte, (len(vals)+7)/8)
	nulls := int64(0)
	offs = append(offs, 0)
	for i, v := range vals {
		if v == nil {
			nulls++
		} else {
			valid[i/8] |= 1 << (i % 8)
			data = append(data, v.(string)...)
		}
		offs = append(offs, int64(len(data)))
	}
	a := testArray{desc: ArrayDesc{Name: name, DType: DType{Type: typ}, Length: int64(len(vals)), NullCount: nulls}, data: data}
	if typ.OffsetWidth() == 4 {
		o32 := make([]int32, len(offs))
		for i, o := range offs {
			o32[i] = int32(o)
		}
		a.offsets = le32(o32...)
	} else {
		a.offsets = le64(offs...)
	}
	if nulls > 0 {
		a.validity = valid
	}
	return a
}

func ixInts(name string, typ Type, vals ...int64) testArray {
	w := typ.Width()
	data := make([]byte, w*len(vals))
	for i, v := range vals {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		copy(data[i*w:], b[:w])
	}
	return testArray{desc: ArrayDesc{Name: name, DType: DType{Type: typ}, Length: int64(len(vals))}, data: data}
}

func ixArray(t testing.TB, b []byte, name string) (*Segment, *ArrayDesc) {
	t.Helper()
	s, err := Decode(b)
	require.NoError(t, err)
	i := s.Lookup(name)
	require.GreaterOrEqual(t, i, 0)
	return s, &s.Arrays[i]
}

func TestHashCheckValues(t *testing.T) {
	// The table of spec §7.8.2.
	for _, tc := range []struct {
		key  []byte
		want uint64
	}{
		{nil, 0xEFD01F60BA992926},
		{[]byte("a"), 0x82A2A958A9BECE5B},
		{[]byte("abc"), 0x33EBAF9927CBC5BD},
		{[]byte("héllo"), 0xC185412747A0264D},
	} {
		assert.Equal(t, tc.want, HashBytes(tc.key), "%q", tc.key)
	}
	for v, want := range map[int64]uint64{0: 0x7BD3144F29C0CC9E, 1: 0x4A3A3A4BA6523826, -1: 0x6A92C0228678C02E} {
		assert.Equal(t, want, HashUint64(uint64(v)), "%d", v)
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		assert.Equal(t, HashBytes(b[:]), HashUint64(uint64(v)))
	}
}

func TestIndexSpecExample(t *testing.T) {
	// Spec §7.8.5: "b", "a", null, "c", "".
	b := ixBuild(t, []testArray{ixStrings("k", Utf8, "b", "a", nil, "c", "")}, "k")
	s, a := ixArray(t, b, "k")
	assert.Equal(t, uint16(Minor), s.Header.Minor, "a writer writes the newest minor")
	assert.Equal(t, Index{Kind: IndexHash, SlotWidth: 4, Log2: 3, Buffer: a.Index.Buffer}, a.Index)
	table := b[a.Index.Buffer.Offset:a.Index.Buffer.End()]
	assert.Equal(t, le32(1, 0, 0, 2, 0, 0, 4, 5), table)
	require.NoError(t, s.Validate(b))
	p, err := NewProbe(b, a)
	require.NoError(t, err)
	for key, want := range map[string]int64{"b": 0, "a": 1, "c": 3, "": 4, "abc": -1, "d": -1} {
		got, err := p.LookupBytes([]byte(key))
		require.NoError(t, err)
		assert.Equal(t, want, got, "%q", key)
	}
	_, err = p.LookupInt(1)
	assert.Equal(t, InvalidArgument, CodeOf(err), "integer query on a string index")
}

func TestIndexWithoutIndexIsAbsent(t *testing.T) {
	b := ixBuild(t, []testArray{ixStrings("k", Utf8, "x")})
	s, a := ixArray(t, b, "k")
	assert.Equal(t, uint16(Minor), s.Header.Minor)
	assert.False(t, a.Index.Present())
	assert.Equal(t, make([]byte, 24), recordAt(b, 0)[168:192])
	_, err := NewProbe(b, a)
	assert.Equal(t, InvalidArgument, CodeOf(err))
}

func TestIndexEveryKeyType(t *testing.T) {
	fsb := testArray{desc: ArrayDesc{Name: "fsb", DType: DType{Type: FixedSizeBinary, ByteWidth: 3}, Length: 3},
		data: []byte("abcde\x00xyz")}
	arrays := []testArray{
		ixStrings("utf8", Utf8, "héllo", "", nil, "x"),
		ixStrings("large_utf8", LargeUtf8, "a", "b"),
		ixStrings("binary", Binary, "\xff\x00", "\xff"),
		ixStrings("large_binary", LargeBinary, nil, "q"),
		fsb,
		ixInts("int8", Int8, -1, 127, -128, 0),
		ixInts("uint8", Uint8, 255, 0, 1),
		ixInts("int16", Int16, -300, 300),
		ixInts("uint16", Uint16, 65535),
		ixInts("int32", Int32, -1, 1<<31-1),
		ixInts("uint32", Uint32, 1<<32-1, 7),
		ixInts("int64", Int64, -1, 1<<62, -(1 << 63)),
		ixInts("uint64", Uint64, -1, 5), // -1 is 2^64-1
	}
	names := make([]string, len(arrays))
	for i, a := range arrays {
		names[i] = a.desc.Name
	}
	b := ixBuild(t, arrays, names...)
	s, err := Decode(b)
	require.NoError(t, err)
	require.NoError(t, s.Validate(b))
	probe := func(name string) *Probe {
		p, err := NewProbe(b, &s.Arrays[s.Lookup(name)])
		require.NoError(t, err)
		return p
	}
	bytesCases := map[string]map[string]int64{
		"utf8":         {"héllo": 0, "": 1, "x": 3, "h": -1},
		"large_utf8":   {"a": 0, "b": 1, "": -1},
		"binary":       {"\xff\x00": 0, "\xff": 1, "\x00": -1},
		"large_binary": {"q": 1, "": -1},
		"fsb":          {"abc": 0, "de\x00": 1, "xyz": 2, "de": -1, "abcd": -1},
	}
	for name, cases := range bytesCases {
		p := probe(name)
		for k, want := range cases {
			got, err := p.LookupBytes([]byte(k))
			require.NoError(t, err)
			assert.Equal(t, want, got, "%s %q", name, k)
		}
	}
	type q struct {
		v      int64
		u      uint64
		signed bool
		want   int64
	}
	intCases := map[string][]q{
		"int8":   {{v: -1, signed: true, want: 0}, {v: 127, signed: true, want: 1}, {v: -128, signed: true, want: 2}, {v: 255, signed: true, want: -1}, {v: 300, signed: true, want: -1}, {u: 0, want: 3}},
		"uint8":  {{v: 255, signed: true, want: 0}, {v: -1, signed: true, want: -1}, {u: 1, want: 2}, {u: 256, want: -1}},
		"int16":  {{v: -300, signed: true, want: 0}, {u: 300, want: 1}},
		"uint16": {{u: 65535, want: 0}, {v: -1, signed: true, want: -1}},
		"int32":  {{v: -1, signed: true, want: 0}, {v: 1<<31 - 1, signed: true, want: 1}, {v: 1 << 31, signed: true, want: -1}},
		"uint32": {{v: 1<<32 - 1, signed: true, want: 0}, {u: 7, want: 1}, {v: -1, signed: true, want: -1}},
		"int64":  {{v: -1, signed: true, want: 0}, {v: 1 << 62, signed: true, want: 1}, {v: -(1 << 63), signed: true, want: 2}, {u: 1<<64 - 1, want: -1}},
		"uint64": {{u: 1<<64 - 1, want: 0}, {v: -1, signed: true, want: -1}, {v: 5, signed: true, want: 1}},
	}
	for name, cases := range intCases {
		p := probe(name)
		assert.True(t, p.IntKeys())
		for _, c := range cases {
			var got int64
			var err error
			if c.signed {
				got, err = p.LookupInt(c.v)
			} else {
				got, err = p.LookupUint(c.u)
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got, "%s %+v", name, c)
		}
		_, err := p.LookupBytes([]byte("x"))
		assert.Equal(t, InvalidArgument, CodeOf(err))
	}
}

func TestIndexLayout(t *testing.T) {
	for _, tc := range []struct {
		length, nonNull int64
		width           int
		log2            uint8
	}{
		{0, 0, 4, 3}, {4, 4, 4, 3}, {5, 5, 4, 4}, {1000, 3, 4, 3}, {1 << 20, 1 << 20, 4, 21},
		{1<<32 - 1, 10, 4, 5}, {1 << 32, 10, 8, 5},
	} {
		w, l := IndexLayout(tc.length, tc.nonNull)
		assert.Equal(t, tc.width, w, "%+v", tc)
		assert.Equal(t, tc.log2, l, "%+v", tc)
	}
}

func TestBuildIndexRejects(t *testing.T) {
	_, err := ixBuildErr([]testArray{ixStrings("k", Utf8, "abc", "x", nil, "abc")}, nil, "k")
	require.Error(t, err)
	assert.Equal(t, InvalidArgument, CodeOf(err))
	assert.Contains(t, err.Error(), `key "abc" appears at rows 0 and 3`)

	_, err = ixBuildErr([]testArray{ixInts("n", Int16, 5, -7, 5)}, nil, "n")
	assert.Contains(t, err.Error(), `key 5 appears at rows 0 and 2`)

	_, err = ixBuildErr([]testArray{{desc: ArrayDesc{Name: "f", DType: DType{Type: Float64}, Length: 1}, data: le64(1)}}, nil, "f")
	assert.Equal(t, InvalidArgument, CodeOf(err), "floats are not indexable")

	long := strings.Repeat("z", 100)
	_, err = ixBuildErr([]testArray{ixStrings("k", Utf8, long, long)}, nil, "k")
	assert.Contains(t, err.Error(), `zzz"... appears at rows 0 and 1`, "a long key is shortened")

	_, err = ixBuildErr([]testArray{ixStrings("k", Utf8, "a", "b", "c", "d", "e")}, func(_ string, ix *Index) { ix.Log2 = 2 }, "k")
	assert.Equal(t, InvalidArgument, CodeOf(err), "a table more than half full")
}

// ixEdit builds the one-array sample with an index, applies edit to the
// file (given the array's decoded description), and reseals.
func ixEdit(t *testing.T, edit func(b []byte, a *ArrayDesc), reseal_ bool) []byte {
	t.Helper()
	b := ixBuild(t, []testArray{
		ixStrings("k", Utf8, "b", "a", nil, "c", ""),
		ixInts("n", Int32, 10, 20, 30),
	}, "k", "n")
	_, a := ixArray(t, b, "k")
	edit(b, a)
	if reseal_ {
		reseal(b)
	}
	return b
}

func TestIndexStructuralChecks(t *testing.T) {
	rec := func(b []byte) []byte { return recordAt(b, 0) }
	for _, tc := range []struct {
		name string
		edit func(b []byte, a *ArrayDesc)
		want Code
	}{
		{"index on a float array", func(b []byte, a *ArrayDesc) { recordAt(b, 1)[8] = byte(Float32) }, BadType},
		{"index on a 2-D array", func(b []byte, a *ArrayDesc) {
			r := recordAt(b, 1)
			r[9] = 2
			le.PutUint64(r[104+8:], 1)
		}, BadType},
		{"misaligned", func(b []byte, a *ArrayDesc) { le.PutUint64(rec(b)[168:], a.Index.Buffer.Offset+8) }, Misaligned},
		{"outside the data area", func(b []byte, a *ArrayDesc) { le.PutUint64(rec(b)[176:], 1<<40) }, OutOfBounds},
		{"offset wraps", func(b []byte, a *ArrayDesc) { le.PutUint64(rec(b)[168:], 1<<64-64) }, OutOfBounds},
		{"empty buffer", func(b []byte, a *ArrayDesc) { le.PutUint64(rec(b)[176:], 0) }, BadSize},
		{"slot width 2", func(b []byte, a *ArrayDesc) { rec(b)[185] = 2 }, BadSize},
		{"log2 too large", func(b []byte, a *ArrayDesc) { rec(b)[186] = 60 }, BadSize},
		{"more than half full", func(b []byte, a *ArrayDesc) { rec(b)[186] = 2 }, BadSize},
		{"table longer than its buffer", func(b []byte, a *ArrayDesc) { rec(b)[185] = 8 }, BadSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(ixEdit(t, tc.edit, true))
			require.Error(t, err)
			assert.Equal(t, tc.want.Name(), CodeOf(err).Name(), "%v", err)
		})
	}
}

func TestIndexFieldsIgnored(t *testing.T) {
	// Minor 0: bytes 168-191 are reserved, whatever they hold.
	b := ixEdit(t, func(b []byte, a *ArrayDesc) {
		binary.LittleEndian.PutUint16(b[10:], 0)
		rec := recordAt(b, 0)
		rec[186] = 60 // would be BAD_SIZE in a 1.1 file
	}, true)
	s, a := ixArray(t, b, "k")
	assert.False(t, a.Index.Present())
	require.NoError(t, s.Validate(b))

	// An unknown kind in a 1.1 file: ignored too.
	b = ixEdit(t, func(b []byte, a *ArrayDesc) {
		rec := recordAt(b, 1)
		rec[184], rec[185], rec[186] = 0xEE, 0xEE, 0xEE
		rec[8] = byte(Float32) // and not even indexable
	}, true)
	_, err := Decode(b)
	require.NoError(t, err)
}

func TestIndexFullValidation(t *testing.T) {
	slotOf := func(b []byte, a *ArrayDesc, s int) []byte { return b[a.Index.Buffer.Offset+uint64(4*s):] }
	for _, tc := range []struct {
		name string
		edit func(b []byte, a *ArrayDesc)
		want Code
	}{
		{"row past the length", func(b []byte, a *ArrayDesc) { le.PutUint32(slotOf(b, a, 1), 6) }, OutOfBounds},
		{"an extra entry", func(b []byte, a *ArrayDesc) { le.PutUint32(slotOf(b, a, 1), 5) }, BadSize},
		{"the null row indexed", func(b []byte, a *ArrayDesc) { le.PutUint32(slotOf(b, a, 1), 3) }, ChecksumMismatch},
		{"the null row in place of a key", func(b []byte, a *ArrayDesc) { le.PutUint32(slotOf(b, a, 6), 3) }, ChecksumMismatch},
		{"a key missing", func(b []byte, a *ArrayDesc) { le.PutUint32(slotOf(b, a, 3), 0) }, BadSize},
		{"a key moved", func(b []byte, a *ArrayDesc) {
			le.PutUint32(slotOf(b, a, 3), 0)
			le.PutUint32(slotOf(b, a, 4), 2)
		}, ChecksumMismatch},
		{"a row twice, another missing", func(b []byte, a *ArrayDesc) { le.PutUint32(slotOf(b, a, 0), 2) }, ChecksumMismatch},
		{"duplicate keys", func(b []byte, a *ArrayDesc) {
			// "a" (row 1) becomes "b", like row 0; data CRC made right.
			b[a.Data.Offset+1] = 'b'
			le.PutUint32(recordAt(b, 0)[96:], DataCRC(slice(b, a.Validity), slice(b, a.Offsets), slice(b, a.Data)))
		}, DuplicateName},
		{"table full of one row", func(b []byte, a *ArrayDesc) {
			for s := 0; s < 8; s++ {
				le.PutUint32(slotOf(b, a, s), 1)
			}
		}, BadSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := ixEdit(t, tc.edit, true)
			s, err := Decode(b)
			require.NoError(t, err, "the table is only read by full validation")
			err = s.Validate(b)
			require.Error(t, err)
			assert.Equal(t, tc.want.Name(), CodeOf(err).Name(), "%v", err)
		})
	}
}

func TestProbeSkipsNullRows(t *testing.T) {
	// Spec §7.8.4: a slot naming a null row never matches. Slot 6 holds row
	// 2 (null, stored as empty bytes) instead of row 3 ("c"), on the probe
	// path of "" (row 4): the lookup of "" must go past it to row 4.
	b := ixEdit(t, func(b []byte, a *ArrayDesc) { le.PutUint32(b[a.Index.Buffer.Offset+4*6:], 3) }, false)
	_, a := ixArray(t, b, "k")
	p, err := NewProbe(b, a)
	require.NoError(t, err)
	for key, want := range map[string]int64{"": 4, "c": -1, "b": 0} {
		got, err := p.LookupBytes([]byte(key))
		require.NoError(t, err)
		assert.Equal(t, want, got, "%q", key)
	}
}

func TestProbeHostileTable(t *testing.T) {
	// Every slot names row 0: a lookup of a missing key must stop after S
	// probes; a slot past the length is OUT_OF_BOUNDS, not a crash.
	b := ixEdit(t, func(b []byte, a *ArrayDesc) {
		for s := 0; s < 8; s++ {
			le.PutUint32(b[a.Index.Buffer.Offset+uint64(4*s):], 1)
		}
	}, false)
	_, a := ixArray(t, b, "k")
	p, err := NewProbe(b, a)
	require.NoError(t, err)
	got, err := p.LookupBytes([]byte("zzz"))
	require.NoError(t, err)
	assert.Equal(t, int64(-1), got)
	got, _ = p.LookupBytes([]byte("b"))
	assert.Equal(t, int64(0), got)

	le.PutUint32(b[a.Index.Buffer.Offset+uint64(4*(HashBytes([]byte("q"))&7)):], 99)
	_, err = p.LookupBytes([]byte("q"))
	assert.Equal(t, OutOfBounds, CodeOf(err))

	// Offsets broken under an indexed row: BAD_OFFSETS from the probe.
	b = ixEdit(t, func(b []byte, a *ArrayDesc) { le.PutUint32(b[a.Offsets.Offset+4:], 0xFFFFFF00) }, false)
	_, a = ixArray(t, b, "k")
	p, err = NewProbe(b, a)
	require.NoError(t, err)
	_, err = p.LookupBytes([]byte("a"))
	assert.Equal(t, BadOffsets, CodeOf(err))
}

func TestEncodeRefusesIndexOnFloats(t *testing.T) {
	_, _, _, err := Encode(&Seal{MetaOffset: HeaderSize, Arrays: []ArrayDesc{{Name: "f", DType: DType{Type: Float64}, Shape: []int64{0},
		Index: Index{Kind: IndexHash, SlotWidth: 4, Log2: 3}}}})
	assert.Equal(t, InvalidArgument, CodeOf(err))
}
