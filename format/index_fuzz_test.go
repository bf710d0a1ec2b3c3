package format

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzIndexProbe feeds segments with hash indexes, and a query key, to
// structural validation, full validation and the probe (spec §7.8, §11.2
// step 9.5a, §11.3 step 5). The checksum is made right before decoding, so
// that mutations of the index fields reach the checks behind it; the table
// itself lies in the data area, which no checksum covers. None of it may
// panic, hang or read out of bounds (a table with no empty slot must still
// end every probe), errors carry the documented codes, and an index that
// passed full validation finds every key at its own row.
func FuzzIndexProbe(f *testing.F) {
	for _, b := range ixFuzzSeeds(f) {
		f.Add(b, []byte("a"))
		f.Add(b, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
	f.Fuzz(func(t *testing.T, in []byte, key []byte) {
		b := bytes.Clone(in)
		reseal(b)
		s, err := Decode(b)
		if err != nil {
			if !CodeOf(err).InvalidSegment() {
				t.Fatalf("Decode error without an invalid-segment code: %v", err)
			}
			return
		}
		verr := s.Validate(b)
		if verr != nil && !CodeOf(verr).InvalidSegment() {
			t.Fatalf("full validation error without an invalid-segment code: %v", verr)
		}
		for i := range s.Arrays {
			a := &s.Arrays[i]
			if !a.Index.Present() {
				continue
			}
			p, err := NewProbe(b, a)
			if err != nil {
				t.Fatalf("array %q passed Decode but NewProbe fails: %v", a.Name, err)
			}
			probeErr := func(err error) {
				switch CodeOf(err) {
				case OK, OutOfBounds, BadOffsets:
				default:
					t.Fatalf("probe of %q failed with an undocumented code: %v", a.Name, err)
				}
			}
			if p.IntKeys() {
				var v [8]byte
				copy(v[:], key)
				_, err = p.LookupInt(int64(binary.LittleEndian.Uint64(v[:])))
				probeErr(err)
				_, err = p.LookupUint(binary.LittleEndian.Uint64(v[:]))
			} else {
				_, err = p.LookupBytes(key)
			}
			probeErr(err)
			k := &p.k
			for r := uint64(0); r < k.length && r < 256; r++ {
				got, err := p.findRow(r)
				probeErr(err)
				if verr == nil && !k.isNull(r) && (err != nil || got != int64(r)) {
					t.Fatalf("array %q passed full validation but the key of row %d is found at %d (%v)", a.Name, r, got, err)
				}
			}
		}
	})
}

// ixFuzzSeeds are indexed segments of every key kind, and some with
// hostile tables: no empty slot, rows past the length, broken offsets.
func ixFuzzSeeds(t testing.TB) [][]byte {
	fsb := testArray{desc: ArrayDesc{Name: "f", DType: DType{Type: FixedSizeBinary, ByteWidth: 2}, Length: 3},
		data: []byte("abcdef")}
	base := ixBuild(t, []testArray{
		ixStrings("k", Utf8, "b", "a", nil, "c", ""),
		ixInts("n", Int16, -1, 7, 300),
		ixStrings("lb", LargeBinary, "\x00", "\xff\xfe"),
		fsb,
		ixInts("u", Uint64, -1, 0),
	}, "k", "n", "lb", "f", "u")
	s, err := Decode(base)
	if err != nil {
		t.Fatal(err)
	}
	a := &s.Arrays[0]
	table := func(b []byte) []byte { return b[a.Index.Buffer.Offset:a.Index.Buffer.End()] }
	full := bytes.Clone(base)
	for i := 0; i < 8; i++ {
		binary.LittleEndian.PutUint32(table(full)[4*i:], 1)
	}
	past := bytes.Clone(base)
	for i := 0; i < 8; i++ {
		binary.LittleEndian.PutUint32(table(past)[4*i:], uint32(1000+i))
	}
	offsets := bytes.Clone(base)
	binary.LittleEndian.PutUint32(offsets[a.Offsets.Offset+4:], 0x80000000)
	wide := bytes.Clone(base) // 8-byte slots over the same buffer: BAD_SIZE
	recordAt(wide, 0)[185] = 8
	reseal(wide)
	return [][]byte{base, full, past, offsets, wide}
}
