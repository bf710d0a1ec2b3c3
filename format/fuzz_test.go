package format

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The fuzz targets of everything in format that parses bytes from a file
// or a name; lookups in hash indexes have their own, in index_fuzz_test.go
// (index buffers are also checked here, by Decode and full validation, in
// files of minor 1). Seeds: fuzzseed_test.go. Crashers found by
// `go test -fuzz` are kept under testdata/fuzz/<Target>/ and replayed by
// every plain `go test`.
//
//	FuzzReadHeader       the fixed header alone (listing reads only this)
//	FuzzDecodeDirectory  the metadata area (directory, key/value and string
//	                     tables) behind a correct header and checksum
//	FuzzDecode           whole files as they come, checksum included
//	FuzzDecodeResealed   whole files with the checksum made right, so that
//	                     every mutation reaches the checks behind it
//	FuzzValidSegmentName segment names, the only bytes that become paths

// FuzzReadHeader decodes the fixed header, identity included: it fails
// only with the codes it documents, and every field it decodes is written
// back unchanged by PutHeader (which zeroes the reserved bytes, and the
// identity bytes of a header that has none).
func FuzzReadHeader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[:min(len(s), HeaderSizeID)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadHeader(b)
		if err != nil {
			switch CodeOf(err) {
			case NotASegment, Truncated, UnsupportedVersion:
			default:
				t.Fatalf("ReadHeader failed with an undocumented code: %v", err)
			}
			return
		}
		if len(b) < HeaderSize || string(b[:len(Magic)]) != Magic || h.Major != Major {
			t.Fatalf("ReadHeader accepted %d bytes starting %q, major %d", len(b), b[:min(len(b), 8)], h.Major)
		}
		n := HeaderSize
		if len(b) >= HeaderSizeID {
			n = HeaderSizeID
		}
		out := make([]byte, n)
		PutHeader(out, &h)
		want := bytes.Clone(b[:n])
		clear(want[108:112])
		clear(want[124:128])
		if n == HeaderSizeID {
			clear(want[152:192])
			if h.Minor < MinorIdentity || h.HeaderSize < HeaderSizeID {
				clear(want[128:152]) // no identity: read as zero
			}
		}
		if (h.Minor < MinorIdentity || h.HeaderSize < HeaderSizeID) && (!h.ID.IsZero() || h.Version != 0) {
			t.Fatalf("an identity read from a version 1.%d header of %d bytes", h.Minor, h.HeaderSize)
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("header fields do not round-trip:\n in  %x\n out %x", want, out)
		}
		_ = Checksum(b, nil)
	})
}

// tables is where a header puts the three tables of the metadata area,
// relative to its start (offsets wrap around like the uint64 they are), and
// the minor version that says which record fields exist (indexes from 1.1).
type tables struct {
	minor              uint16
	arrays, kvs        uint32
	dir, kv, str, strN uint64
	segFirst, segCount uint32
}

// layout lays out a file around a metadata area: a sealed header (128
// bytes, 192 with an identity from minor 2 on) describing it with the table
// positions of g, the data area, zero padding to a multiple of 64, then
// meta; the checksum is right.
func layout(data, meta []byte, g tables) []byte {
	hs := HeaderSize
	if g.minor >= MinorIdentity {
		hs = HeaderSizeID
	}
	file := make([]byte, hs, hs+len(data)+Alignment+len(meta))
	file = append(file, data...)
	for len(file)%Alignment != 0 {
		file = append(file, 0)
	}
	metaOff := uint64(len(file))
	file = append(file, meta...)
	h := Header{Major: Major, Minor: g.minor, HeaderSize: uint32(hs), FileSize: uint64(len(file)), Flags: FlagSealed,
		ArrayCount: g.arrays, MetaOffset: metaOff, MetaLength: uint64(len(meta)),
		DirectoryOffset: metaOff + g.dir, RecordSize: RecordSize, KVCount: g.kvs, KVOffset: metaOff + g.kv,
		StrtabOffset: metaOff + g.str, StrtabLength: g.strN, SegKVFirst: g.segFirst, SegKVCount: g.segCount,
		ID: ID{0xA5, byte(g.arrays)}, Version: uint64(g.kvs)}
	PutHeader(file, &h)
	h.Checksum = Checksum(file[:hs], meta)
	PutHeader(file, &h)
	return file
}

// FuzzDecodeDirectory fuzzes the metadata area, the header fields that
// locate its tables and the minor version, behind a header whose checksum
// is always right: every
// input reaches the checks of the directory records, the key/value records
// and the strings (spec §11.2 steps 8-10), and full validation.
func FuzzDecodeDirectory(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		h, err := ReadHeader(s)
		if err != nil || h.HeaderSize < HeaderSize || h.MetaOffset < uint64(h.HeaderSize) || h.MetaOffset > uint64(len(s)) || h.MetaLength > uint64(len(s))-h.MetaOffset {
			continue
		}
		m := h.MetaOffset
		f.Add(s[h.HeaderSize:m], s[m:m+h.MetaLength], h.Minor, h.ArrayCount, h.KVCount,
			h.DirectoryOffset-m, h.KVOffset-m, h.StrtabOffset-m, h.StrtabLength, h.SegKVFirst, h.SegKVCount)
	}
	f.Fuzz(func(t *testing.T, data, meta []byte, minor uint16, arrays, kvs uint32, dir, kv, str, strN uint64, segFirst, segCount uint32) {
		checkDecoded(t, layout(data, meta, tables{minor, arrays, kvs, dir, kv, str, strN, segFirst, segCount}))
	})
}

// FuzzDecode feeds arbitrary bytes to Decode and, when they pass, to full
// validation: neither may panic, hang or read out of bounds, and every error
// must carry an invalid-segment code.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecoded(t, b)
	})
}

// FuzzDecodeResealed is FuzzDecode with the header checksum recomputed
// before decoding (when the header locates a metadata area inside the
// input), so that mutations of the header fields and the directory are not
// all stopped by CHECKSUM_MISMATCH.
func FuzzDecodeResealed(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		reseal(b)
		checkDecoded(t, b)
	})
}

// FuzzValidSegmentName: a name that passes is one file name inside the
// segment directory, whatever bytes it is made of.
func FuzzValidSegmentName(f *testing.F) {
	for _, s := range []string{"prices", "a/b", "..", ".", ".hidden", "", "a\x00b", "a..b", "ü", "a b",
		"x-1_2.3", strings.Repeat("n", MaxSegmentNameLen), strings.Repeat("n", MaxSegmentNameLen+1), "/etc/passwd", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidSegmentName(name)
		if err != nil {
			if CodeOf(err) != InvalidArgument {
				t.Fatalf("name %q: %v", name, err)
			}
			return
		}
		if name == "" || len(name) > MaxSegmentNameLen || name[0] == '.' || strings.Contains(name, "..") ||
			strings.ContainsAny(name, "/\x00\\ ") {
			t.Fatalf("name %q was accepted", name)
		}
		if p := filepath.Join("/segments", name); p != "/segments/"+name || filepath.Dir(p) != "/segments" {
			t.Fatalf("name %q escapes its directory: %s", name, p)
		}
	})
}

// checkDecoded is what every decoding target asserts about the bytes b of a
// file: Decode and full validation neither panic nor fail without an
// invalid-segment code; a segment that decodes has every buffer inside its
// data area and large enough, its descriptions work with the accessors
// readers call, and encoding them again gives a file that decodes to the
// same descriptions.
func checkDecoded(t *testing.T, b []byte) {
	s, err := Decode(b)
	if err != nil {
		if !CodeOf(err).InvalidSegment() {
			t.Fatalf("Decode error without an invalid-segment code: %v", err)
		}
		return
	}
	h := s.Header
	for i := range s.Arrays {
		a := &s.Arrays[i]
		for _, buf := range []Buffer{a.Validity, a.Offsets, a.Data} {
			if buf.Length != 0 && !within(buf.Offset, buf.Length, uint64(h.HeaderSize), h.MetaOffset) {
				t.Fatalf("array %q: buffer [%d, +%d) is outside the data area [%d, %d)", a.Name, buf.Offset, buf.Length, h.HeaderSize, h.MetaOffset)
			}
		}
		if need, ok := dataBytes(a); !ok || a.Data.Length < need {
			t.Fatalf("array %q: data buffer of %d bytes accepted for %d slots", a.Name, a.Data.Length, a.Length)
		}
		if s.Lookup(a.Name) != i {
			t.Fatalf("array %q: Lookup gives %d, not %d", a.Name, s.Lookup(a.Name), i)
		}
		_, _, _, _, _ = a.ArrowField(), a.CFormat(), a.NumPy(), a.RowElems(), a.ElemWidth()
	}
	if err := s.Validate(b); err != nil && !CodeOf(err).InvalidSegment() {
		t.Fatalf("full validation error without an invalid-segment code: %v", err)
	}
	reencode(t, b, s)
}

// reencode writes the metadata area of s again as a writer would (a 1.0
// writer for a header shorter than the 1.2 one), after
// the data area of b, and checks that it decodes to the same arrays and
// metadata: Decode accepts nothing that Encode cannot express.
func reencode(t *testing.T, b []byte, s *Segment) {
	want := normalized(s.Arrays)
	h := s.Header
	header, meta, nh, err := Encode(&Seal{Arrays: want, Metadata: s.Metadata, MetaOffset: h.MetaOffset,
		Flags: h.Flags & FlagEphemeral, Created: h.CreatedNanos, PID: h.CreatorPID, StartTime: h.CreatorStartTime,
		ID: h.ID, Version: h.Version, Legacy: h.HeaderSize < HeaderSizeID})
	if err != nil {
		t.Fatalf("a decoded segment does not encode again: %v", err)
	}
	file := append(bytes.Clone(b[:h.MetaOffset]), meta...)
	copy(file, header)
	again, err := Decode(file)
	if err != nil {
		t.Fatalf("re-encoded segment (%d bytes, header %+v) does not decode: %v", len(file), nh, err)
	}
	if got := normalized(again.Arrays); !reflect.DeepEqual(got, want) {
		t.Fatalf("arrays change through Encode:\nwant %+v\ngot  %+v", want, got)
	}
	if !reflect.DeepEqual(again.Metadata, s.Metadata) {
		t.Fatalf("segment metadata changes through Encode: %v, then %v", s.Metadata, again.Metadata)
	}
}

// normalized copies arrays with the offsets of empty buffers zeroed, as a
// writer stores them (readers ignore them).
func normalized(arrays []ArrayDesc) []ArrayDesc {
	out := make([]ArrayDesc, len(arrays))
	for i, a := range arrays {
		for _, buf := range []*Buffer{&a.Validity, &a.Offsets, &a.Data} {
			if buf.Length == 0 {
				buf.Offset = 0
			}
		}
		out[i] = a
	}
	return out
}
