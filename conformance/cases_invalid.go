package conformance

import (
	"bytes"
	"fmt"
	"math"

	"github.com/shmarray/shmarray/format"
)

// Invalid defines one invalid vector: the valid vector it patches, the
// patch, whether the header checksum is recomputed afterwards (so that the
// intended check, which comes after the checksum in spec §11.2, is the one
// that fails), and the code and stage readers must report.
type Invalid struct {
	Name, Description, Spec string
	Base                    string
	Edit                    func(p *patch)
	Reseal                  bool
	Expect                  format.Code
	Stage                   Stage
}

// patch edits a copy of a valid vector's bytes.
type patch struct {
	b []byte
	h format.Header
}

// rec is the directory record of array i.
func (p *patch) rec(i int) []byte {
	off := p.h.DirectoryOffset + uint64(i)*uint64(p.h.RecordSize)
	return p.b[off : off+format.RecordSize]
}

func (p *patch) set(b []byte, off, size int, v uint64) {
	switch size {
	case 1:
		b[off] = byte(v)
	case 2:
		le.PutUint16(b[off:], uint16(v))
	case 4:
		le.PutUint32(b[off:], uint32(v))
	case 8:
		le.PutUint64(b[off:], v)
	}
}

func (p *patch) hdr(off, size int, v uint64)      { p.set(p.b, off, size, v) }
func (p *patch) field(i, off, size int, v uint64) { p.set(p.rec(i), off, size, v) }
func (p *patch) get64(i, off int) uint64          { return le.Uint64(p.rec(i)[off:]) }
func (p *patch) get32(i, off int) uint32          { return le.Uint32(p.rec(i)[off:]) }

// name is the bytes of array i's name in the string table.
func (p *patch) name(i int) []byte {
	off := p.h.StrtabOffset + uint64(p.get32(i, 0))
	return p.b[off : off+uint64(p.get32(i, 4))]
}

// buffer is array i's validity (0), offsets (1) or data (2) buffer.
func (p *patch) buffer(i, which int) []byte {
	off, n := p.get64(i, 40+16*which), p.get64(i, 48+16*which)
	return p.b[off : off+n]
}

// replace overwrites the first occurrence of old (same length) in buf.
func replace(buf []byte, old, new string) {
	if len(old) != len(new) {
		panic("replace: lengths differ")
	}
	k := bytes.Index(buf, []byte(old))
	if k < 0 {
		panic(fmt.Sprintf("replace: %q not found", old))
	}
	copy(buf[k:], new)
}

func (p *patch) reseal() {
	h, err := format.ReadHeader(p.b)
	if err != nil || h.MetaOffset > uint64(len(p.b)) || h.MetaLength > uint64(len(p.b))-h.MetaOffset ||
		uint64(h.HeaderSize) > uint64(len(p.b)) || h.HeaderSize < format.HeaderSize {
		return
	}
	le.PutUint32(p.b[120:], format.Checksum(p.b[:h.HeaderSize], p.b[h.MetaOffset:h.MetaOffset+h.MetaLength]))
}

// InvalidCases are the invalid vectors. Record field offsets are those of
// spec §5.1, header offsets those of §4.
func InvalidCases() []Invalid {
	s, f := Structural, Full
	const ex = "spec_example" // x int64 [1 2 3]: record at 192, data at 128, string table "x" at 384
	return []Invalid{
		// §11.2 steps 1-7: header, checksum.
		{"empty_file", "A 0-byte file.", "§11.2 step 1", ex, func(p *patch) { p.b = p.b[:0] }, false, format.NotASegment, s},
		{"bad_magic", "The first byte of the magic is X.", "§11.2 step 1", ex, func(p *patch) { p.b[0] = 'X' }, false, format.NotASegment, s},
		{"short_file", "10 bytes: the magic, then half the version fields.", "§11.2 step 2", ex, func(p *patch) { p.b = p.b[:10] }, false, format.Truncated, s},
		{"future_major", "major = 2.", "§11.2 step 2, §12", ex, func(p *patch) { p.hdr(8, 2, 2) }, false, format.UnsupportedVersion, s},
		{"major_zero", "major = 0.", "§11.2 step 2", ex, func(p *patch) { p.hdr(8, 2, 0) }, false, format.UnsupportedVersion, s},
		{"future_major_short", "major = 2 in a 64-byte file: the version is checked before the header's length.", "§11.2 steps 2-3", ex,
			func(p *patch) { p.hdr(8, 2, 2); p.b = p.b[:64] }, false, format.UnsupportedVersion, s},
		{"truncated_header", "The file is cut to 100 bytes, inside the header.", "§11.2 step 3", ex, func(p *patch) { p.b = p.b[:100] }, false, format.Truncated, s},
		{"header_size_small", "header_size = 64.", "§11.2 step 3", ex, func(p *patch) { p.hdr(12, 4, 64) }, false, format.BadSize, s},
		{"header_size_past_file", "header_size = 2^20, beyond the file.", "§11.2 step 3", ex, func(p *patch) { p.hdr(12, 4, 1<<20) }, false, format.Truncated, s},
		{"identity_header_too_short", "A 1.2 file (minor 2) with header_size = 128: too short for the identity it must hold.", "§11.2 step 3, §4", "identity_first_version",
			func(p *patch) { p.hdr(12, 4, 128) }, false, format.BadSize, s},
		{"identity_header_160", "A file of minor 3 with header_size = 160, inside the identity (the checksum is recomputed: the size check comes first anyway).", "§11.2 step 3, §4", "identity_first_version",
			func(p *patch) { p.hdr(10, 2, 3); p.hdr(12, 4, 160) }, true, format.BadSize, s},
		{"identity_minor_2_of_a_1_0_file", "A 1.0 file relabelled minor 2 (checksum recomputed): its 128-byte header has no room for the identity.", "§11.2 step 3, §12", ex,
			func(p *patch) { p.hdr(10, 2, 2) }, true, format.BadSize, s},
		{"identity_checksum", "One byte of the segment id changed without updating the checksum: the identity is covered (§9.2).", "§11.2 step 7, §9.2", "identity_first_version",
			func(p *patch) { p.b[130] ^= 0xFF }, false, format.ChecksumMismatch, s},
		{"truncated_file", "The last byte is cut: the file is shorter than file_size.", "§11.2 step 4", ex, func(p *patch) { p.b = p.b[:len(p.b)-1] }, false, format.Truncated, s},
		{"not_sealed", "SEALED clear (and the checksum not updated: step 5 comes first).", "§11.2 step 5", ex, func(p *patch) { p.hdr(24, 4, 0) }, false, format.NotSealed, s},
		{"meta_misaligned", "meta_offset moved by 8 (checksum not updated: step 6 comes first).", "§11.2 step 6", ex, func(p *patch) { p.hdr(32, 8, p.h.MetaOffset+8) }, false, format.Misaligned, s},
		{"meta_in_header", "meta_offset = 64: aligned but inside the header.", "§11.2 step 6", ex, func(p *patch) { p.hdr(32, 8, 64) }, false, format.OutOfBounds, s},
		{"meta_past_file", "meta_length = 2^40.", "§11.2 step 6", ex, func(p *patch) { p.hdr(40, 8, 1<<40) }, false, format.OutOfBounds, s},
		{"meta_length_overflow", "meta_length = 2^64 - 1: meta_offset + meta_length wraps in 64 bits.", "§11.2 step 6, §1.2", ex, func(p *patch) { p.hdr(40, 8, math.MaxUint64) }, false, format.OutOfBounds, s},
		{"checksum_mismatch", "The array name x is changed to y without updating the checksum.", "§11.2 step 7, §9.2", ex, func(p *patch) { p.name(0)[0] = 'y' }, false, format.ChecksumMismatch, s},
		{"checksum_covers_reserved", "A reserved header byte (124) is changed without updating the checksum: reserved bytes are covered.", "§9.2", ex, func(p *patch) { p.b[124] = 1 }, false, format.ChecksumMismatch, s},
		// Step 8: tables.
		{"record_size_small", "record_size = 100.", "§11.2 step 8.1", ex, func(p *patch) { p.hdr(56, 4, 100) }, true, format.BadSize, s},
		{"array_count_limit", "array_count = 2^20 + 1.", "§11.2 step 8.2", ex, func(p *patch) { p.hdr(28, 4, 1<<20+1) }, true, format.BadSize, s},
		{"kv_count_limit", "kv_count = 2^20 + 1.", "§11.2 step 8.2", ex, func(p *patch) { p.hdr(60, 4, 1<<20+1) }, true, format.BadSize, s},
		{"directory_out_of_bounds", "array_count = 2: the directory runs past the metadata area.", "§11.2 step 8.3", ex, func(p *patch) { p.hdr(28, 4, 2) }, true, format.OutOfBounds, s},
		{"kv_table_out_of_bounds", "kv_count = 1 in a file without a key/value table.", "§11.2 step 8.3", ex, func(p *patch) { p.hdr(60, 4, 1) }, true, format.OutOfBounds, s},
		{"strtab_out_of_bounds", "strtab_length = 2^20.", "§11.2 step 8.3", ex, func(p *patch) { p.hdr(80, 8, 1<<20) }, true, format.OutOfBounds, s},
		// 9.1: names.
		{"name_out_of_bounds", "name_offset = 2^30.", "§11.2 step 9.1", ex, func(p *patch) { p.field(0, 0, 4, 1<<30) }, true, format.OutOfBounds, s},
		{"name_empty", "name_length = 0.", "§11.2 step 9.1", ex, func(p *patch) { p.field(0, 4, 4, 0) }, true, format.BadSize, s},
		{"name_too_long", "Array 0's 1024-byte name made 1025 bytes long (still inside the string table).", "§11.2 step 9.1, §14", "unicode_names",
			func(p *patch) { p.field(0, 4, 4, 1025) }, true, format.BadSize, s},
		{"name_not_utf8", "The name's byte is 0xFF.", "§11.2 step 9.1", ex, func(p *patch) { p.name(0)[0] = 0xFF }, true, format.BadUTF8, s},
		{"name_nul", "The name's byte is NUL.", "§11.2 step 9.1, §5.3", ex, func(p *patch) { p.name(0)[0] = 0 }, true, format.BadUTF8, s},
		{"name_surrogate", "Array 2's name 日本語 starts with ED A0 80, an encoded surrogate.", "§11.2 step 9.1, §5.3", "unicode_names",
			func(p *patch) { copy(p.name(2), "\xed\xa0\x80") }, true, format.BadUTF8, s},
		{"string_refs_exceed_table", "Array 1's name points at the whole string table: in range, but the referenced strings add up to more than the table.", "§11.2 step 9.1, §5.3", "metadata",
			func(p *patch) { p.field(1, 0, 4, 0); p.field(1, 4, 4, p.h.StrtabLength) }, true, format.BadSize, s},
		// 9.2: types.
		{"type_unknown", "type_code = 99.", "§11.2 step 9.2", ex, func(p *patch) { p.field(0, 8, 1, 99) }, true, format.BadType, s},
		{"type_zero", "type_code = 0.", "§11.2 step 9.2", ex, func(p *patch) { p.field(0, 8, 1, 0) }, true, format.BadType, s},
		{"type_22", "type_code = 22, the first code not defined in version 1.", "§11.2 step 9.2, §6", ex, func(p *patch) { p.field(0, 8, 1, 22) }, true, format.BadType, s},
		{"time_unit_bad", "A timestamp's time_unit = 4.", "§11.2 step 9.2", "type_timestamp", func(p *patch) { p.field(0, 10, 1, 4) }, true, format.BadType, s},
		{"time_unit_on_int", "An int64's time_unit = 1.", "§11.2 step 9.2", ex, func(p *patch) { p.field(0, 10, 1, 1) }, true, format.BadType, s},
		{"byte_width_on_int", "An int64's byte_width = 8.", "§11.2 step 9.2", ex, func(p *patch) { p.field(0, 12, 4, 8) }, true, format.BadType, s},
		{"byte_width_zero", "A fixed_size_binary's byte_width = 0.", "§11.2 step 9.2", "type_fixed_size_binary", func(p *patch) { p.field(0, 12, 4, 0) }, true, format.BadType, s},
		{"byte_width_too_large", "A fixed_size_binary's byte_width = 2^31.", "§11.2 step 9.2", "type_fixed_size_binary", func(p *patch) { p.field(0, 12, 4, 1<<31) }, true, format.BadType, s},
		{"timezone_on_duration", "A duration with a time zone (the name's bytes).", "§11.2 step 9.2", "type_duration",
			func(p *patch) { p.field(0, 16, 4, uint64(p.get32(0, 0))); p.field(0, 20, 4, 5) }, true, format.BadType, s},
		{"timezone_not_utf8", "The time zone UTC of array ms_utc becomes 0xFF T C.", "§11.2 step 9.2", "type_timestamp",
			func(p *patch) {
				st := p.b[p.h.StrtabOffset : p.h.StrtabOffset+p.h.StrtabLength]
				replace(st, "UTC", "\xffTC")
			}, true, format.BadUTF8, s},
		// 9.3: shape, length, null count.
		{"ndim_zero", "ndim = 0.", "§11.2 step 9.3", ex, func(p *patch) { p.field(0, 9, 1, 0) }, true, format.BadShape, s},
		{"ndim_too_large", "ndim = 9.", "§11.2 step 9.3, §8", ex, func(p *patch) { p.field(0, 9, 1, 9) }, true, format.BadShape, s},
		{"ndim_on_utf8", "A utf8 array with ndim = 2 (shape[1] = 1).", "§11.2 step 9.3, §8", "type_utf8",
			func(p *patch) { p.field(0, 9, 1, 2); p.field(0, 112, 8, 1) }, true, format.BadShape, s},
		{"negative_length", "length = shape[0] = -1.", "§11.2 step 9.3", ex, func(p *patch) { p.field(0, 24, 8, math.MaxUint64); p.field(0, 104, 8, math.MaxUint64) }, true, format.BadSize, s},
		{"length_above_limit", "length = shape[0] = 2^62 + 1.", "§11.2 step 9.3, §14", ex, func(p *patch) { p.field(0, 24, 8, 1<<62+1); p.field(0, 104, 8, 1<<62+1) }, true, format.BadSize, s},
		{"null_count_above_length", "null_count = 4 for length 3.", "§11.2 step 9.3", ex, func(p *patch) { p.field(0, 32, 8, 4) }, true, format.BadSize, s},
		{"null_count_negative", "null_count = -1.", "§11.2 step 9.3", ex, func(p *patch) { p.field(0, 32, 8, math.MaxUint64) }, true, format.BadSize, s},
		{"shape0_not_length", "shape[0] = 4 for length 3.", "§11.2 step 9.3", ex, func(p *patch) { p.field(0, 104, 8, 4) }, true, format.BadShape, s},
		{"shape_past_ndim", "shape[1] = 1 with ndim = 1.", "§11.2 step 9.3", ex, func(p *patch) { p.field(0, 112, 8, 1) }, true, format.BadShape, s},
		{"shape_negative", "A 2-D array's shape[1] = -1.", "§11.2 step 9.3", "ndarray_2d", func(p *patch) { p.field(0, 112, 8, math.MaxUint64) }, true, format.BadShape, s},
		// 9.4: buffer placement.
		{"misaligned_buffer", "data_offset = 136, not a multiple of 64.", "§11.2 step 9.4, §7.1", ex, func(p *patch) { p.field(0, 72, 8, 136) }, true, format.Misaligned, s},
		{"misaligned_and_out_of_bounds", "data_offset = 2^40 + 8: misaligned and outside; alignment is checked first.", "§11.2 step 9.4", ex,
			func(p *patch) { p.field(0, 72, 8, 1<<40+8) }, true, format.Misaligned, s},
		{"buffer_past_data_area", "data_offset = 192 = meta_offset: the 24 bytes run into the metadata area.", "§11.2 step 9.4", ex, func(p *patch) { p.field(0, 72, 8, 192) }, true, format.OutOfBounds, s},
		{"buffer_in_header", "data_offset = 0.", "§11.2 step 9.4", ex, func(p *patch) { p.field(0, 72, 8, 0) }, true, format.OutOfBounds, s},
		{"buffer_offset_overflow", "data_offset = 2^64 - 64: offset + length wraps in 64 bits.", "§11.2 step 9.4, §1.2", ex,
			func(p *patch) { p.field(0, 72, 8, math.MaxUint64&^63) }, true, format.OutOfBounds, s},
		// 9.5: sizes.
		{"nulls_without_bitmap", "null_count = 1 and no validity bitmap.", "§11.2 step 9.5", ex, func(p *patch) { p.field(0, 32, 8, 1) }, true, format.BadSize, s},
		{"bitmap_too_short", "validity_length = 1 for 9 slots.", "§11.2 step 9.5, §7.2", "bitmap_9", func(p *patch) { p.field(1, 48, 8, 1) }, true, format.BadSize, s},
		{"truncated_data_buffer", "data_length = 23: three int64 need 24 bytes.", "§11.2 step 9.5, §7.4", ex, func(p *patch) { p.field(0, 80, 8, 23) }, true, format.BadSize, s},
		{"length_times_width_overflow", "length = shape[0] = 2^62 for int64: 2^65 bytes exceed 2^63 - 1.", "§11.2 step 9.5, §8", ex,
			func(p *patch) { p.field(0, 24, 8, 1<<62); p.field(0, 104, 8, 1<<62) }, true, format.BadSize, s},
		{"shape_product_overflow", "Length 0, shape [0, 2^62, 4, 0]: the row product 2^62 × 4 exceeds 2^63 - 1 before the last factor 0.", "§11.2 step 9.5, §8", "ndarray_edge",
			func(p *patch) {
				p.field(1, 9, 1, 4)
				p.field(1, 112, 8, 1<<62)
				p.field(1, 120, 8, 4)
				p.field(1, 128, 8, 0)
			}, true, format.BadSize, s},
		{"offsets_too_short", "A utf8 array's offsets_length = 4 for 6 slots.", "§11.2 step 9.5, §7.3", "type_utf8", func(p *patch) { p.field(0, 64, 8, 4) }, true, format.BadSize, s},
		{"offsets_on_int", "An int64 array with an 8-byte offsets buffer.", "§11.2 step 9.5", ex, func(p *patch) { p.field(0, 56, 8, 128); p.field(0, 64, 8, 8) }, true, format.BadSize, s},
		// 9.6, 9.7, 10: metadata and names.
		{"kv_range_past_table", "Array 0's kv_count = 100.", "§11.2 step 9.6", "metadata", func(p *patch) { p.field(0, 92, 4, 100) }, true, format.OutOfBounds, s},
		{"kv_record_shared", "Array 2's key/value range is array 0's.", "§11.2 step 9.6, §5.2", "metadata",
			func(p *patch) { copy(p.rec(2)[88:96], p.rec(0)[88:96]) }, true, format.OutOfBounds, s},
		{"segment_kv_claims_array_record", "The segment's key/value range starts at array 0's first record.", "§11.2 step 10, §5.2", "metadata",
			func(p *patch) { p.hdr(88, 4, 0) }, true, format.OutOfBounds, s},
		{"duplicate_metadata_key", "Array 0's second key is made its first (\"desc\" becomes \"unit\").", "§11.2.1", "metadata",
			func(p *patch) {
				kv := p.b[p.h.KVOffset+uint64(p.get32(0, 88))*16:]
				copy(kv[16:24], kv[0:8])
			}, true, format.DuplicateName, s},
		{"metadata_value_nul", "A metadata value holds a NUL byte (\"distance\" becomes \"dis\\0ance\").", "§11.2.1, §5.3", "metadata",
			func(p *patch) {
				replace(p.b[p.h.StrtabOffset:p.h.StrtabOffset+p.h.StrtabLength], "distance", "dis\x00ance")
			}, true, format.BadUTF8, s},
		{"duplicate_names", "Array 1 is named plain, like array 0.", "§11.2 step 9.7", "type_int64",
			func(p *patch) { copy(p.rec(1)[0:8], p.rec(0)[0:8]) }, true, format.DuplicateName, s},
		{"duplicate_name_among_many", "Array a0999, the last of 1,000, is named a0000 like array 0.", "§11.2 step 9.7", "many_arrays",
			func(p *patch) { copy(p.rec(999)[0:8], p.rec(0)[0:8]) }, true, format.DuplicateName, s},
		{"duplicate_name_and_bad_type", "Array 1 is named plain like array 0 and has type code 99: the type is checked before the name's uniqueness.", "§11.2 step 9.7", "type_int64",
			func(p *patch) { copy(p.rec(1)[0:8], p.rec(0)[0:8]); p.field(1, 8, 1, 99) }, true, format.BadType, s},
		{"empty_directory_out_of_bounds", "A segment without arrays whose (empty) directory is at meta_offset + 1, past its empty metadata area: an empty table still needs an offset inside the area.", "§11.2 step 8.3, §1.2", "empty_segment",
			func(p *patch) { p.hdr(48, 8, p.h.MetaOffset+1) }, true, format.OutOfBounds, s},
		{"empty_kv_table_out_of_bounds", "kv_count = 0 and kv_offset one past the end of the metadata area.", "§11.2 step 8.3, §1.2", ex,
			func(p *patch) { p.hdr(64, 8, p.h.MetaOffset+p.h.MetaLength+1) }, true, format.OutOfBounds, s},
		{"empty_value_past_table", "The empty metadata value of key \"empty\" at offset strtab_length + 1: the range check applies to empty strings too.", "§11.2.1, §5.3", "shared_strings",
			func(p *patch) {
				kv := p.h.KVOffset + 16*uint64(p.h.SegKVFirst)
				le.PutUint32(p.b[kv+16+8:], uint32(p.h.StrtabLength)+1)
			}, true, format.OutOfBounds, s},
		{"metadata_key_empty", "A metadata key of length 0.", "§11.2.1", "metadata",
			func(p *patch) { le.PutUint32(p.b[p.h.KVOffset+16*uint64(p.get32(0, 88))+4:], 0) }, true, format.BadSize, s},
		{"metadata_key_not_utf8", "The metadata key unit becomes 0xFF nit.", "§11.2.1", "metadata",
			func(p *patch) { replace(p.b[p.h.StrtabOffset:p.h.StrtabOffset+p.h.StrtabLength], "unit", "\xffnit") }, true, format.BadUTF8, s},
		{"bool_data_too_short", "A bool array of 10 slots with a 1-byte data buffer.", "§11.2 step 9.5, §7.5", "type_bool", func(p *patch) { p.field(0, 80, 8, 1) }, true, format.BadSize, s},
		{"fixed_size_binary_data_too_short", "6 values of 3 bytes in a 17-byte data buffer.", "§11.2 step 9.5, §7.6", "type_fixed_size_binary", func(p *patch) { p.field(0, 80, 8, 17) }, true, format.BadSize, s},
		{"large_offsets_too_short", "A large_utf8 array of 6 slots with 55 bytes of offsets (needs 56).", "§11.2 step 9.5, §7.3", "type_large_utf8", func(p *patch) { p.field(0, 64, 8, 55) }, true, format.BadSize, s},
		{"offsets_size_overflow", "A large_utf8 array of length 2^62: (length + 1) × 8 exceeds 2^64.", "§11.2 step 9.5, §1.2", "type_large_utf8",
			func(p *patch) { p.field(0, 24, 8, 1<<62); p.field(0, 104, 8, 1<<62) }, true, format.BadSize, s},
		{"empty_array_offsets_short", "A utf8 array of length 0 with a 2-byte offsets buffer: not empty, so it must hold one 4-byte entry.", "§11.2 step 9.5, §7.3", "empty_arrays",
			func(p *patch) { p.field(6, 64, 8, 2) }, true, format.BadSize, s},
		// Check order: the first failing check decides.
		{"order_name_before_type", "Name not UTF-8 and type code 99: the name (9.1) is checked first.", "§11.2 step 9", ex,
			func(p *patch) { p.name(0)[0] = 0xFF; p.field(0, 8, 1, 99) }, true, format.BadUTF8, s},
		{"order_type_before_shape", "Type code 99 and ndim 0: the type (9.2) is checked first.", "§11.2 step 9", ex,
			func(p *patch) { p.field(0, 8, 1, 99); p.field(0, 9, 1, 0) }, true, format.BadType, s},
		{"order_shape_before_placement", "ndim 0 and a misaligned data buffer: the shape (9.3) is checked first.", "§11.2 step 9", ex,
			func(p *patch) { p.field(0, 9, 1, 0); p.field(0, 72, 8, 136) }, true, format.BadShape, s},
		{"order_null_count_before_shape0", "null_count above length and shape[0] != length: 9.3.4 comes before 9.3.5.", "§11.2 step 9.3", ex,
			func(p *patch) { p.field(0, 32, 8, 4); p.field(0, 104, 8, 5) }, true, format.BadSize, s},
		{"order_placement_before_sizes", "A misaligned data buffer that is also too short: placement (9.4) is checked first.", "§11.2 step 9", ex,
			func(p *patch) { p.field(0, 72, 8, 136); p.field(0, 80, 8, 23) }, true, format.Misaligned, s},
		{"order_sizes_before_metadata", "A data buffer too short and a key/value range past the table: sizes (9.5) are checked first.", "§11.2 step 9", "metadata",
			func(p *patch) { p.field(0, 80, 8, 1); p.field(0, 92, 4, 100) }, true, format.BadSize, s},
		{"order_records_in_index_order", "Array 0 has ndim 0, array 1 type code 99: records are checked in index order, each completely.", "§11.2 step 9", "type_int64",
			func(p *patch) { p.field(0, 9, 1, 0); p.field(1, 8, 1, 99) }, true, format.BadShape, s},
		{"order_arrays_before_segment_metadata", "Array 3 has type code 99 and the segment's key/value range runs past the table: arrays come before the segment's metadata.", "§11.2 steps 9-10", "metadata",
			func(p *patch) { p.field(3, 8, 1, 99); p.hdr(92, 4, 1000) }, true, format.BadType, s},
		{"order_checksum_before_tables", "record_size = 100 without updating the checksum: the checksum (step 7) is checked first.", "§11.2 steps 7-8", ex,
			func(p *patch) { p.hdr(56, 4, 100) }, false, format.ChecksumMismatch, s},
		{"order_sealed_before_metadata_area", "SEALED clear and meta_offset misaligned: step 5 comes before step 6.", "§11.2 steps 5-6", ex,
			func(p *patch) { p.hdr(24, 4, 0); p.hdr(32, 8, p.h.MetaOffset+8) }, false, format.NotSealed, s},
		// §11.3: full validation.
		{"null_count_mismatch", "Array nulls has 2 null slots but null_count = 1.", "§11.3 step 1", "type_int64", func(p *patch) { p.field(1, 32, 8, 1) }, true, format.BadSize, f},
		{"offsets_first_nonzero", "offsets[0] = 1.", "§11.3 step 2", "type_utf8", func(p *patch) { p.set(p.buffer(0, 1), 0, 4, 1) }, false, format.BadOffsets, f},
		{"offsets_not_monotone", "offsets[3] = 0, below offsets[2] = 1.", "§11.3 step 2", "type_utf8", func(p *patch) { p.set(p.buffer(0, 1), 12, 4, 0) }, false, format.BadOffsets, f},
		{"last_offset_beyond_data", "offsets[length] = data_length + 1.", "§11.3 step 2", "type_utf8",
			func(p *patch) { p.set(p.buffer(0, 1), 24, 4, p.get64(0, 80)+1) }, false, format.BadOffsets, f},
		{"offset_negative", "offsets[1] = -1 (0xFFFFFFFF): an i32 entry is signed.", "§11.3 step 2, §7.3", "type_utf8", func(p *patch) { p.set(p.buffer(0, 1), 4, 4, 0xFFFFFFFF) }, false, format.BadOffsets, f},
		{"large_offset_negative", "A large_utf8 offsets[1] = -1.", "§11.3 step 2", "type_large_utf8", func(p *patch) { p.set(p.buffer(0, 1), 8, 8, math.MaxUint64) }, false, format.BadOffsets, f},
		{"utf8_invalid_byte", "The value héllo gets a 0xFF byte.", "§11.3 step 3", "type_utf8", func(p *patch) { replace(p.buffer(0, 2), "llo", "l\xffo") }, false, format.BadUTF8, f},
		{"utf8_split_across_values", "Array pair [\"aé\", \"b\"]: offsets[1] moves from 3 to 2, splitting é (C3 A9) across the two values; the data as a whole is still valid UTF-8.", "§11.3 step 3", "unicode_values",
			func(p *patch) { p.set(p.buffer(0, 1), 4, 4, 2) }, false, format.BadUTF8, f},
		{"utf8_surrogate", "日 (E6 97 A5) becomes ED A0 80, an encoded surrogate.", "§11.3 step 3, §5.3", "unicode_values", func(p *patch) { replace(p.buffer(1, 2), "日", "\xed\xa0\x80") }, false, format.BadUTF8, f},
		{"utf8_overlong", "ü (C3 BC) becomes C0 AF, an overlong encoding.", "§11.3 step 3, §5.3", "unicode_values", func(p *patch) { replace(p.buffer(1, 2), "ü", "\xc0\xaf") }, false, format.BadUTF8, f},
		{"utf8_above_max", "🎉 (F0 9F 8E 89) becomes F4 90 80 80, above U+10FFFF.", "§11.3 step 3, §5.3", "unicode_values", func(p *patch) { replace(p.buffer(1, 2), "🎉", "\xf4\x90\x80\x80") }, false, format.BadUTF8, f},
		{"utf8_overlong_3byte", "U+0800 (E0 A0 80) becomes E0 9F BF, an overlong 3-byte form of U+07FF.", "§11.3 step 3, §5.3", "unicode_values", func(p *patch) { replace(p.buffer(1, 2), "\u0800", "\xe0\x9f\xbf") }, false, format.BadUTF8, f},
		{"utf8_overlong_4byte", "𝄞 (F0 9D 84 9E) becomes F0 8F BF BF, an overlong 4-byte form of U+FFFF.", "§11.3 step 3, §5.3", "unicode_values", func(p *patch) { replace(p.buffer(1, 2), "𝄞", "\xf0\x8f\xbf\xbf") }, false, format.BadUTF8, f},
		{"utf8_truncated_sequence", "The value 🎉 (F0 9F 8E 89) becomes F0 9F 8E 61: a 4-byte sequence cut short.", "§11.3 step 3, §5.3", "unicode_values", func(p *patch) { replace(p.buffer(1, 2), "🎉", "\xf0\x9f\x8ea") }, false, format.BadUTF8, f},
		{"utf8_lone_continuation", "The value ASCII starts with a lone continuation byte 0x80.", "§11.3 step 3, §5.3", "unicode_values", func(p *patch) { replace(p.buffer(1, 2), "ASCII", "\x80SCII") }, false, format.BadUTF8, f},
		{"utf8_invalid_lead_byte", "ü (C3 BC) becomes F5 80: 0xF5 never starts a character.", "§11.3 step 3, §5.3", "unicode_values", func(p *patch) { replace(p.buffer(1, 2), "ü", "\xf5\x80") }, false, format.BadUTF8, f},
		{"large_utf8_invalid", "A large_utf8 value gets a 0xFF byte.", "§11.3 step 3", "type_large_utf8", func(p *patch) { replace(p.buffer(0, 2), "longer", "long\xffr") }, false, format.BadUTF8, f},
		{"utf8_invalid_in_null_slot", "A null slot's (non-empty) bytes are 0xFF 0xFF: null slots are checked too.", "§11.3 step 3", "layout_variants",
			func(p *patch) { replace(p.buffer(4, 2), "xx", "\xff\xff") }, false, format.BadUTF8, f},
		{"empty_array_offset_nonzero", "A utf8 array of length 0 whose one offsets entry is 1.", "§11.3 step 2, §7.3", "empty_arrays",
			func(p *patch) { p.set(p.buffer(6, 1), 0, 4, 1) }, false, format.BadOffsets, f},
		{"data_crc_empty_array", "A bool array of length 0 (no buffers) whose data_crc is 1: the CRC of nothing is 0.", "§11.3 step 4, §9.3", "empty_arrays",
			func(p *patch) { p.field(0, 96, 4, 1) }, true, format.ChecksumMismatch, f},
		{"order_null_count_before_offsets", "Array nulls has null_count 1 (2 nulls) and offsets[0] = 1: step 1 comes before step 2.", "§11.3", "type_utf8",
			func(p *patch) { p.field(1, 32, 8, 1); p.set(p.buffer(1, 1), 0, 4, 1) }, true, format.BadSize, f},
		{"order_arrays_in_directory_order", "Array 0 has invalid UTF-8, array 1 a wrong null_count: full validation goes array by array, each completely.", "§11.3", "type_utf8",
			func(p *patch) { replace(p.buffer(0, 2), "llo", "l\xffo"); p.field(1, 32, 8, 1) }, true, format.BadUTF8, f},
		{"data_crc_mismatch", "A data byte of array plain is changed; its data CRC no longer matches.", "§11.3 step 4, §9.3", "type_int64", func(p *patch) { p.buffer(0, 2)[8] ^= 1 }, false, format.ChecksumMismatch, f},
		{"data_crc_mismatch_bitmap", "A bit of array nulls' validity bitmap past the length is flipped: the CRC covers the declared bytes.", "§11.3 step 4, §9.3", "type_int64",
			func(p *patch) { p.buffer(1, 0)[0] ^= 0x80 }, false, format.ChecksumMismatch, f},
	}
}

// Build applies inv to the bytes of its base vector.
func (inv *Invalid) Build(base []byte) ([]byte, error) {
	p := &patch{b: append([]byte(nil), base...)}
	h, err := format.ReadHeader(p.b)
	if err != nil {
		return nil, fmt.Errorf("invalid case %q: base %q: %w", inv.Name, inv.Base, err)
	}
	p.h = h
	inv.Edit(p)
	if inv.Reseal {
		p.reseal()
	}
	return p.b, nil
}

// JSON is the invalid case's JSON form.
func (inv *Invalid) JSON() *InvalidCase {
	return &InvalidCase{Format: FormatID, Name: inv.Name, Description: inv.Description, Expect: inv.Expect.Name(),
		Code: int(inv.Expect), Stage: inv.Stage, Spec: inv.Spec, Base: inv.Base}
}
