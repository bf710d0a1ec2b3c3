package conformance

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/shmarray/shmarray/format"
)

// Vector lays out c as a segment file the way a 1.0 writer does (spec §3),
// or a 1.2 writer when c has an identity:
// the header, then each array's validity, offsets and data buffers at
// multiples of 64 from the first multiple of 64 past the header, zero
// padded, then the metadata area from format.Encode. created_ns,
// creator_pid and creator_start are 0, so the bytes depend on c alone.
// c.Layout then reshapes the file where a case asks for it (a larger header
// and records, reordered tables, reserved bits set, trailing bytes).
func Vector(c *Case) ([]byte, error) {
	lay := SegmentLayout{}
	if c.Layout != nil {
		lay = *c.Layout
	}
	headerSize := uint32(format.HeaderSize)
	seal := format.Seal{Metadata: kvs(c.Metadata), Legacy: c.Identity == nil}
	if c.Identity != nil {
		// A 1.2 file: the header holds the identity.
		var err error
		if seal.ID, seal.Version, err = c.Identity.parse(); err != nil {
			return nil, fmt.Errorf("case %q: identity: %w", c.Name, err)
		}
		headerSize = format.HeaderSizeID
	}
	if lay.HeaderSize > headerSize {
		headerSize = lay.HeaderSize
	}
	file := make([]byte, alignUp(uint64(headerSize)))
	place := func(b []byte) format.Buffer {
		if len(b) == 0 {
			return format.Buffer{}
		}
		off := uint64(len(file))
		file = append(file, b...)
		file = append(file, make([]byte, alignUp(uint64(len(file)))-uint64(len(file)))...)
		return format.Buffer{Offset: off, Length: uint64(len(b))}
	}
	descs := make([]format.ArrayDesc, len(c.Arrays))
	for i := range c.Arrays {
		a := &c.Arrays[i]
		dt, err := a.DType()
		if err != nil {
			return nil, err
		}
		bufs, err := a.Encode(true)
		if err != nil {
			return nil, err
		}
		d := format.ArrayDesc{Name: a.Name, DType: dt, Length: a.Length(), NullCount: bufs.NullCount,
			Shape: append([]int64(nil), a.Shape...), Metadata: kvs(a.Metadata)}
		d.Validity, d.Offsets, d.Data = place(bufs.Validity), place(bufs.Offsets), place(bufs.Data)
		if a.Layout == nil || !a.Layout.NoDataCRC {
			d.HasDataCRC = true
			d.DataCRC = format.DataCRC(bufs.Validity, bufs.Offsets, bufs.Data)
		}
		descs[i] = d
	}
	var flags uint32
	if lay.Ephemeral {
		flags |= format.FlagEphemeral
	}
	seal.Arrays, seal.MetaOffset, seal.Flags = descs, uint64(len(file)), flags
	header, meta, h, err := format.Encode(&seal)
	if err != nil {
		return nil, fmt.Errorf("case %q: %w", c.Name, err)
	}
	if lay != (SegmentLayout{Trailing: lay.Trailing, Ephemeral: lay.Ephemeral}) {
		header, meta, err = reshape(&lay, &h, meta)
		if err != nil {
			return nil, fmt.Errorf("case %q: %w", c.Name, err)
		}
	}
	copy(file, header)
	file = append(file, meta...)
	for i := 0; i < lay.Slack; i++ {
		file = append(file, 0xBB)
	}
	if uint64(len(file)) != h.FileSize {
		return nil, fmt.Errorf("case %q: laid out %d bytes, the header says %d", c.Name, len(file), h.FileSize)
	}
	for i := 0; i < lay.Trailing; i++ {
		file = append(file, 0xFF)
	}
	if c.Patch != nil {
		p := &patch{b: file, h: h}
		c.Patch(p)
		p.reseal()
		file = p.b
	}
	return file, nil
}

// reshape rebuilds the header and metadata area of an encoded segment for
// the hints of a later minor version or an unusual but valid arrangement:
// header_size and record_size above the 1.0 sizes (the extra bytes are
// unknown to a 1.0 reader, which skips them), tables in another order with
// gaps between them, reserved fields non-zero. The checksum is recomputed
// over the new header and metadata area (spec §9.2).
func reshape(lay *SegmentLayout, h *format.Header, meta []byte) ([]byte, []byte, error) {
	dirLen := uint64(h.ArrayCount) * format.RecordSize
	kvLen := uint64(h.KVCount) * format.KVRecordSize
	dir, kv, st := meta[:dirLen], meta[dirLen:dirLen+kvLen], meta[dirLen+kvLen:]
	for i := 0; i < lay.OrphanKV; i++ {
		// Key out of range, value with invalid UTF-8 bytes: never looked at.
		var rec [format.KVRecordSize]byte
		le.PutUint32(rec[0:], 0xFFFFFF00+uint32(i))
		le.PutUint32(rec[4:], 0xFFFF)
		le.PutUint32(rec[8:], 0)
		le.PutUint32(rec[12:], uint32(len(st))+1)
		kv = append(append([]byte(nil), kv...), rec[:]...)
		h.KVCount++
	}
	rs := uint32(format.RecordSize)
	if lay.RecordSize > rs {
		rs = lay.RecordSize
	}
	newDir := make([]byte, 0, uint64(h.ArrayCount)*uint64(rs))
	for i := uint64(0); i < uint64(h.ArrayCount); i++ {
		rec := append([]byte(nil), dir[i*format.RecordSize:(i+1)*format.RecordSize]...)
		if lay.Reserved {
			rec[11] |= 0xFE // record flag bits 1-7
			binary.LittleEndian.PutUint32(rec[100:], 0xDEADBEEF)
			for k := 168; k < format.RecordSize; k++ {
				rec[k] = 0xEE
			}
		}
		newDir = append(newDir, rec...)
		for k := uint32(format.RecordSize); k < rs; k++ {
			newDir = append(newDir, 0xEE)
		}
	}
	order := "directory,kv,strtab"
	if lay.MetaOrder != "" {
		order = lay.MetaOrder
	}
	parts := map[string][]byte{"directory": newDir, "kv": kv, "strtab": st}
	at := map[string]uint64{}
	var out []byte
	for i, name := range strings.Split(order, ",") {
		p, ok := parts[name]
		if !ok {
			return nil, nil, fmt.Errorf("meta_order %q: unknown table %q", order, name)
		}
		if i > 0 {
			for k := 0; k < lay.Gap; k++ {
				out = append(out, 0xCC)
			}
		}
		at[name] = h.MetaOffset + uint64(len(out))
		out = append(out, p...)
		delete(parts, name)
	}
	if len(parts) != 0 {
		return nil, nil, fmt.Errorf("meta_order %q does not name every table", order)
	}
	for i := 0; i < lay.MetaTail; i++ {
		out = append(out, 0xAB)
	}
	h.DirectoryOffset, h.KVOffset, h.StrtabOffset = at["directory"], at["kv"], at["strtab"]
	h.RecordSize = rs
	h.MetaLength = uint64(len(out))
	h.FileSize = h.MetaOffset + h.MetaLength + uint64(lay.Slack)
	h.Minor = lay.Minor
	headerSize := uint32(format.HeaderSize)
	if lay.HeaderSize > headerSize {
		headerSize = lay.HeaderSize
	}
	h.HeaderSize = headerSize
	if lay.Reserved {
		h.Flags |= 0x80000004 // reserved header flag bits 2 and 31
	}
	header := make([]byte, headerSize)
	h.Checksum = 0
	format.PutHeader(header, h)
	for k := format.HeaderSize; k < int(headerSize); k++ {
		header[k] = 0x5A // bytes of a later minor's header: covered by the checksum, meaning unknown
	}
	if h.Minor >= format.MinorIdentity && headerSize >= format.HeaderSizeID {
		// The identity, as the case gives it (the rest stays 0x5A: reserved
		// or unknown bytes).
		copy(header[128:144], h.ID[:])
		binary.LittleEndian.PutUint64(header[144:], h.Version)
	}
	if lay.Reserved {
		binary.LittleEndian.PutUint32(header[108:], 0xDEADBEEF)
		binary.LittleEndian.PutUint32(header[124:], 0xFEEDFACE)
	}
	h.Checksum = format.Checksum(header, out)
	binary.LittleEndian.PutUint32(header[120:], h.Checksum)
	return header, out, nil
}

func kvs(in []KV) []format.KV {
	if len(in) == 0 {
		return nil
	}
	out := make([]format.KV, len(in))
	for i, kv := range in {
		out[i] = format.KV{Key: kv[0], Value: kv[1]}
	}
	return out
}

func alignUp(n uint64) uint64 { return (n + format.Alignment - 1) &^ (format.Alignment - 1) }
