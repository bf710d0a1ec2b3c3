package format

import (
	"encoding/binary"
	"hash/crc32"
)

// Layout constants of format v1 (spec §3-5).
const (
	Magic = "SHMARRAY"
	Major = 1
	// Minor is the newest minor version this package reads and writes: 1.1
	// adds hash indexes, 1.2 the segment's identity (id and version in
	// header bytes [128, 192)). Encode writes minor 2 for every segment.
	Minor = 2
	// MinorIdentity is the first minor version whose header holds the
	// segment's id and version; a file of an older minor has neither.
	MinorIdentity  = 2
	HeaderSize     = 128 // bytes of the v1.0 header: the least any header has
	HeaderSizeID   = 192 // bytes of the v1.2 header: the least a minor >= 2 header has
	RecordSize     = 192 // bytes of a v1.0 directory record
	KVRecordSize   = 16  // bytes of a key/value record
	Alignment      = 64  // every non-empty buffer and the metadata area start at a multiple of this
	MaxNDim        = 8
	MaxArrays      = 1 << 20
	MaxKV          = 1 << 20
	MaxNameLen     = 1024    // bytes of an array name
	MaxKeyLen      = 4096    // bytes of a metadata key
	MaxValueLen    = 1 << 20 // bytes of a metadata value
	MaxTZLen       = 256     // bytes of a time zone name
	MaxLength      = 1 << 62 // slots of one array
	checksumOffset = 120
)

// Header flags.
const (
	FlagSealed    uint32 = 1 << 0
	FlagEphemeral uint32 = 1 << 1
)

// Header is the decoded fixed header at the start of every segment (spec §4).
type Header struct {
	Major, Minor     uint16
	HeaderSize       uint32
	FileSize         uint64
	Flags            uint32
	ArrayCount       uint32
	MetaOffset       uint64
	MetaLength       uint64
	DirectoryOffset  uint64
	RecordSize       uint32
	KVCount          uint32
	KVOffset         uint64
	StrtabOffset     uint64
	StrtabLength     uint64
	SegKVFirst       uint32
	SegKVCount       uint32
	CreatedNanos     int64
	CreatorPID       uint32
	CreatorStartTime uint64
	Checksum         uint32
	// ID and Version are the segment's identity (spec §4): zero in a file
	// of minor < 2, which has none.
	ID      ID
	Version uint64
}

// Header offsets of the identity (minor >= 2).
const (
	idOffset      = 128
	versionOffset = 144
)

// Sealed reports whether the writer finished the segment.
func (h *Header) Sealed() bool { return h.Flags&FlagSealed != 0 }

// Ephemeral reports whether the creator asked for the segment to be removed
// when it exits (so gc may remove it once the creator is dead).
func (h *Header) Ephemeral() bool { return h.Flags&FlagEphemeral != 0 }

var le = binary.LittleEndian

// PutHeader writes h into b[0:HeaderSize], checksum field included as is,
// and when h.Minor >= 2 and b holds HeaderSizeID bytes, the identity into
// b[128:192) (the reserved bytes up to 192 zeroed).
func PutHeader(b []byte, h *Header) {
	_ = b[HeaderSize-1]
	clear(b[:HeaderSize])
	if h.Minor >= MinorIdentity && len(b) >= HeaderSizeID {
		clear(b[HeaderSize:HeaderSizeID])
		copy(b[idOffset:], h.ID[:])
		le.PutUint64(b[versionOffset:], h.Version)
	}
	copy(b[0:8], Magic)
	le.PutUint16(b[8:], h.Major)
	le.PutUint16(b[10:], h.Minor)
	le.PutUint32(b[12:], h.HeaderSize)
	le.PutUint64(b[16:], h.FileSize)
	le.PutUint32(b[24:], h.Flags)
	le.PutUint32(b[28:], h.ArrayCount)
	le.PutUint64(b[32:], h.MetaOffset)
	le.PutUint64(b[40:], h.MetaLength)
	le.PutUint64(b[48:], h.DirectoryOffset)
	le.PutUint32(b[56:], h.RecordSize)
	le.PutUint32(b[60:], h.KVCount)
	le.PutUint64(b[64:], h.KVOffset)
	le.PutUint64(b[72:], h.StrtabOffset)
	le.PutUint64(b[80:], h.StrtabLength)
	le.PutUint32(b[88:], h.SegKVFirst)
	le.PutUint32(b[92:], h.SegKVCount)
	le.PutUint64(b[96:], uint64(h.CreatedNanos))
	le.PutUint32(b[104:], h.CreatorPID)
	le.PutUint64(b[112:], h.CreatorStartTime)
	le.PutUint32(b[checksumOffset:], h.Checksum)
}

// ReadHeader decodes the fields of the first HeaderSize bytes of b, and the
// identity from bytes [128, 152) when the file has one: minor >= 2, a
// header_size of at least HeaderSizeID, and b that long (else ID and
// Version stay zero). It checks only what it must to decode them: the magic
// (NOT_A_SEGMENT), the major version (UNSUPPORTED_VERSION) and that b holds
// a 1.0 header (TRUNCATED). It is enough for listing; Decode does the rest,
// BAD_SIZE for a minor >= 2 header too short for its identity included.
func ReadHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < len(Magic) || string(b[:len(Magic)]) != Magic {
		return h, errorf(NotASegment, "the file does not start with the magic %q", Magic)
	}
	if len(b) < 12 {
		return h, errorf(Truncated, "file is %d bytes, shorter than the %d-byte header", len(b), HeaderSize)
	}
	h.Major = le.Uint16(b[8:])
	h.Minor = le.Uint16(b[10:])
	if h.Major != Major {
		return h, errorf(UnsupportedVersion, "segment has format version %d.%d, this reader supports %d.x (upgrade shmarray to read it)", h.Major, h.Minor, Major)
	}
	if len(b) < HeaderSize {
		return h, errorf(Truncated, "file is %d bytes, shorter than the %d-byte header", len(b), HeaderSize)
	}
	h.HeaderSize = le.Uint32(b[12:])
	h.FileSize = le.Uint64(b[16:])
	h.Flags = le.Uint32(b[24:])
	h.ArrayCount = le.Uint32(b[28:])
	h.MetaOffset = le.Uint64(b[32:])
	h.MetaLength = le.Uint64(b[40:])
	h.DirectoryOffset = le.Uint64(b[48:])
	h.RecordSize = le.Uint32(b[56:])
	h.KVCount = le.Uint32(b[60:])
	h.KVOffset = le.Uint64(b[64:])
	h.StrtabOffset = le.Uint64(b[72:])
	h.StrtabLength = le.Uint64(b[80:])
	h.SegKVFirst = le.Uint32(b[88:])
	h.SegKVCount = le.Uint32(b[92:])
	h.CreatedNanos = int64(le.Uint64(b[96:]))
	h.CreatorPID = le.Uint32(b[104:])
	h.CreatorStartTime = le.Uint64(b[112:])
	h.Checksum = le.Uint32(b[checksumOffset:])
	if h.Minor >= MinorIdentity && h.HeaderSize >= HeaderSizeID && len(b) >= HeaderSizeID {
		copy(h.ID[:], b[idOffset:])
		h.Version = le.Uint64(b[versionOffset:])
	}
	return h, nil
}

// SetIdentity writes id and version into header, the first HeaderSizeID or
// more bytes of a sealed minor >= 2 segment, and recomputes its checksum over
// header and meta, the segment's metadata area. It is how a writer gives a
// sealed segment the identity it decides only when it publishes (spec
// §10.3). INVALID_ARGUMENT for a header without room for an identity.
func SetIdentity(header, meta []byte, id ID, version uint64) error {
	h, err := ReadHeader(header)
	if err != nil {
		return err
	}
	if h.Minor < MinorIdentity || h.HeaderSize < HeaderSizeID || uint64(len(header)) < uint64(h.HeaderSize) {
		return errorf(InvalidArgument, "a version 1.%d header of %d bytes has no room for an identity", h.Minor, h.HeaderSize)
	}
	copy(header[idOffset:], id[:])
	le.PutUint64(header[versionOffset:], version)
	le.PutUint32(header[checksumOffset:], Checksum(header[:h.HeaderSize], meta))
	return nil
}

// Checksum computes the header-and-metadata CRC-32 (spec §9): the header
// bytes [0, headerSize) with the checksum field taken as zero, continued over
// meta. headerBytes must hold at least HeaderSize bytes.
func Checksum(headerBytes, meta []byte) uint32 {
	var zero [4]byte
	c := crc32.ChecksumIEEE(headerBytes[:checksumOffset])
	c = crc32.Update(c, crc32.IEEETable, zero[:])
	c = crc32.Update(c, crc32.IEEETable, headerBytes[checksumOffset+4:])
	return crc32.Update(c, crc32.IEEETable, meta)
}
