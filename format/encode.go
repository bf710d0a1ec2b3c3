package format

import (
	"math"
)

// Seal describes a finished segment for Encode: the arrays (their buffers
// already written in the data area), the segment-level metadata, and where
// the metadata area goes.
type Seal struct {
	Arrays     []ArrayDesc
	Metadata   []KV
	MetaOffset uint64 // a multiple of Alignment, past the last buffer
	Flags      uint32 // FlagSealed is added by Encode
	Created    int64  // Unix nanoseconds
	PID        uint32
	StartTime  uint64 // creator start time in clock ticks since boot, or 0
	// ID and Version are the segment's identity. A writer that decides
	// them only at publish leaves them zero and calls SetIdentity then.
	ID      ID
	Version uint64
	// Legacy writes a 1.0 file (1.1 with an index): the 128-byte header
	// without identity. Only the conformance suite sets it, to lay out the
	// vectors of those minor versions.
	Legacy bool
}

// Encode lays out the metadata area (directory, key/value table, string
// table) of spec §5 and the header that describes it, checksum included. The
// caller writes header at offset 0 and meta at s.MetaOffset, header last, and
// makes the file exactly header.FileSize bytes long.
//
// Encode checks what a writer could get wrong (names, counts, sizes) and
// returns INVALID_ARGUMENT for it; it trusts the buffers' offsets.
func Encode(s *Seal) (header []byte, meta []byte, h Header, err error) {
	headerSize := uint64(HeaderSizeID)
	if s.Legacy {
		headerSize = HeaderSize
	}
	if s.MetaOffset%Alignment != 0 || s.MetaOffset < headerSize {
		return nil, nil, h, errorf(InvalidArgument, "metadata offset %d must be a multiple of %d past the header", s.MetaOffset, Alignment)
	}
	if len(s.Arrays) > MaxArrays {
		return nil, nil, h, errorf(InvalidArgument, "%d arrays, the limit is %d", len(s.Arrays), MaxArrays)
	}
	nkv := len(s.Metadata)
	for i := range s.Arrays {
		nkv += len(s.Arrays[i].Metadata)
	}
	if nkv > MaxKV {
		return nil, nil, h, errorf(InvalidArgument, "%d metadata pairs, the limit is %d", nkv, MaxKV)
	}
	// A legacy file is minor 1 only when some array has an index, so that
	// one without is a 1.0 file byte for byte (spec §12).
	minor := uint16(0)
	dirLen := uint64(len(s.Arrays)) * RecordSize
	kvLen := uint64(nkv) * KVRecordSize
	var st strtab
	dir := make([]byte, dirLen)
	kvs := make([]byte, 0, kvLen)
	seen := make(map[string]struct{}, len(s.Arrays))
	addKVs := func(md []KV) (uint32, error) {
		first := uint32(len(kvs) / KVRecordSize)
		keys := make(map[string]struct{}, len(md))
		for _, kv := range md {
			if err := ValidKV(kv); err != nil {
				return 0, err
			}
			if _, dup := keys[kv.Key]; dup {
				return 0, errorf(InvalidArgument, "metadata key %s given twice", Quote(kv.Key))
			}
			keys[kv.Key] = struct{}{}
			var rec [KVRecordSize]byte
			le.PutUint32(rec[0:], st.add(kv.Key))
			le.PutUint32(rec[4:], uint32(len(kv.Key)))
			le.PutUint32(rec[8:], st.add(kv.Value))
			le.PutUint32(rec[12:], uint32(len(kv.Value)))
			kvs = append(kvs, rec[:]...)
		}
		return first, nil
	}
	for i := range s.Arrays {
		a := &s.Arrays[i]
		if err := ValidArrayName(a.Name); err != nil {
			return nil, nil, h, err
		}
		if _, dup := seen[a.Name]; dup {
			return nil, nil, h, errorf(InvalidArgument, "array name %s used twice", Quote(a.Name))
		}
		seen[a.Name] = struct{}{}
		if len(a.Shape) == 0 || len(a.Shape) > MaxNDim || a.Shape[0] != a.Length {
			return nil, nil, h, errorf(InvalidArgument, "array %s: shape %v must have 1 to %d dimensions and start with the length %d", Quote(a.Name), a.Shape, MaxNDim, a.Length)
		}
		if a.TimeZone != "" {
			if err := validText("time zone", a.TimeZone, 1, MaxTZLen); err != nil {
				return nil, nil, h, wrapf(err, "array %s", Quote(a.Name))
			}
		}
		if a.Type == FixedSizeBinary && (a.ByteWidth < 1 || a.ByteWidth > math.MaxInt32) {
			return nil, nil, h, errorf(InvalidArgument, "array %s: fixed_size_binary width %d is not in [1, 2^31)", Quote(a.Name), a.ByteWidth)
		}
		if a.Index.Present() {
			if !a.Type.Indexable() || len(a.Shape) != 1 {
				return nil, nil, h, errorf(InvalidArgument, "array %s: a %s array of %d dimensions cannot have a hash index", Quote(a.Name), a.Type, len(a.Shape))
			}
			minor = MinorIndex
		}
		nameOff := st.add(a.Name)
		tzOff := st.add(a.TimeZone)
		kvFirst, err := addKVs(a.Metadata)
		if err != nil {
			return nil, nil, h, wrapf(err, "array %s", Quote(a.Name))
		}
		putRecord(dir[uint64(i)*RecordSize:], a, nameOff, tzOff, kvFirst)
	}
	segFirst, err := addKVs(s.Metadata)
	if err != nil {
		return nil, nil, h, wrapf(err, "segment metadata")
	}
	if st.overflow || len(st.b) > math.MaxUint32 {
		return nil, nil, h, errorf(InvalidArgument, "names and metadata need more than 4 GiB of string table")
	}
	meta = make([]byte, 0, dirLen+kvLen+uint64(len(st.b)))
	meta = append(append(append(meta, dir...), kvs...), st.b...)
	if !s.Legacy {
		minor = Minor
	}
	h = Header{
		Major: Major, Minor: minor, HeaderSize: uint32(headerSize),
		FileSize:         s.MetaOffset + uint64(len(meta)),
		Flags:            s.Flags | FlagSealed,
		ArrayCount:       uint32(len(s.Arrays)),
		MetaOffset:       s.MetaOffset,
		MetaLength:       uint64(len(meta)),
		DirectoryOffset:  s.MetaOffset,
		RecordSize:       RecordSize,
		KVCount:          uint32(nkv),
		KVOffset:         s.MetaOffset + dirLen,
		StrtabOffset:     s.MetaOffset + dirLen + kvLen,
		StrtabLength:     uint64(len(st.b)),
		SegKVFirst:       segFirst,
		SegKVCount:       uint32(len(s.Metadata)),
		CreatedNanos:     s.Created,
		CreatorPID:       s.PID,
		CreatorStartTime: s.StartTime,
	}
	if !s.Legacy {
		h.ID, h.Version = s.ID, s.Version
	}
	if len(s.Metadata) == 0 {
		h.SegKVFirst = 0
	}
	header = make([]byte, headerSize)
	PutHeader(header, &h)
	h.Checksum = Checksum(header, meta)
	PutHeader(header, &h)
	return header, meta, h, nil
}

// strtab accumulates the string table. Every reference gets its own bytes:
// the spec bounds the total length of references by the table's size.
type strtab struct {
	b        []byte
	overflow bool
}

func (t *strtab) add(s string) uint32 {
	if s == "" {
		return 0
	}
	if len(t.b)+len(s) > math.MaxUint32 {
		t.overflow = true
		return 0
	}
	off := uint32(len(t.b))
	t.b = append(t.b, s...)
	return off
}
