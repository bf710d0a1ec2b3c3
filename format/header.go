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
	// adds hash indexes. Encode writes minor 0 for a segment without an
	// index, so that it is a 1.0 file byte for byte.
	Minor          = 1
	HeaderSize     = 128 // bytes of the v1.0 header
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
}

// Sealed reports whether the writer finished the segment.
func (h *Header) Sealed() bool { return h.Flags&FlagSealed != 0 }

// Ephemeral reports whether the creator asked for the segment to be removed
// when it exits (so gc may remove it once the creator is dead).
func (h *Header) Ephemeral() bool { return h.Flags&FlagEphemeral != 0 }

var le = binary.LittleEndian

// PutHeader writes h into b[0:HeaderSize], checksum field included as is.
func PutHeader(b []byte, h *Header) {
	_ = b[HeaderSize-1]
	clear(b[:HeaderSize])
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

// ReadHeader decodes the fields of the first HeaderSize bytes of b. It checks
// only what it must to decode them: the magic (NOT_A_SEGMENT), the major
// version (UNSUPPORTED_VERSION) and that b holds a whole header (TRUNCATED).
// It is enough for listing; Decode does the rest.
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
	return h, nil
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
