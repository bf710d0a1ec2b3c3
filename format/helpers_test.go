package format

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// testArray is an array to lay out with buildSegment: its description (the
// buffers are filled in) and the bytes of each buffer.
type testArray struct {
	desc                    ArrayDesc
	validity, offsets, data []byte
}

// buildSegment lays out arrays the way a writer does: buffers from the end
// of the header (192 bytes, 128 for a Legacy seal) at multiples of 64, then
// the metadata area, header last.
func buildSegment(t testing.TB, arrays []testArray, md []KV) []byte {
	t.Helper()
	file, err := layoutSegment(arrays, Seal{Metadata: md, Created: 1, PID: 2, StartTime: 3}, nil)
	require.NoError(t, err)
	return file
}

// layoutSegment is buildSegment with the header fields of seal (its Arrays
// and MetaOffset are filled in) and a hook: extra, when set, runs after an
// array's buffers are placed and may place more (an index table) with place,
// the file so far being file().
func layoutSegment(arrays []testArray, seal Seal, extra func(d *ArrayDesc, file func() []byte, place func([]byte) Buffer) error) ([]byte, error) {
	file := make([]byte, HeaderSizeID)
	if seal.Legacy {
		file = file[:HeaderSize]
	}
	place := func(b []byte) Buffer {
		if len(b) == 0 {
			return Buffer{}
		}
		off := uint64(len(file))
		file = append(file, b...)
		for len(file)%Alignment != 0 {
			file = append(file, 0)
		}
		return Buffer{Offset: off, Length: uint64(len(b))}
	}
	seal.Arrays = make([]ArrayDesc, len(arrays))
	for i, a := range arrays {
		d := a.desc
		d.Validity, d.Offsets, d.Data = place(a.validity), place(a.offsets), place(a.data)
		d.DataCRC, d.HasDataCRC = DataCRC(a.validity, a.offsets, a.data), true
		if d.Shape == nil {
			d.Shape = []int64{d.Length}
		}
		if extra != nil {
			if err := extra(&d, func() []byte { return file }, place); err != nil {
				return nil, err
			}
		}
		seal.Arrays[i] = d
	}
	seal.MetaOffset = uint64(len(file))
	header, meta, h, err := Encode(&seal)
	if err != nil {
		return nil, err
	}
	file = append(file, meta...)
	copy(file, header)
	if int(h.FileSize) != len(file) {
		return nil, fmt.Errorf("laid out %d bytes, header says %d", len(file), h.FileSize)
	}
	return file, nil
}

// reseal recomputes the header checksum after a test edited the header or
// the metadata area, so that a later check is the one that fails.
func reseal(b []byte) {
	h, err := ReadHeader(b)
	if err != nil {
		return
	}
	if h.MetaOffset > uint64(len(b)) || h.MetaLength > uint64(len(b))-h.MetaOffset {
		return
	}
	// The checksum covers the whole header, which may be longer than 128
	// bytes (a later minor version); a header_size the file cannot hold, or
	// below 128, fails before the checksum is checked anyway.
	hs := uint64(HeaderSize)
	if uint64(h.HeaderSize) > hs && uint64(h.HeaderSize) <= uint64(len(b)) {
		hs = uint64(h.HeaderSize)
	}
	binary.LittleEndian.PutUint32(b[checksumOffset:], Checksum(b[:hs], b[h.MetaOffset:h.MetaOffset+h.MetaLength]))
}

// recordAt returns the bytes of directory record i.
func recordAt(b []byte, i int) []byte {
	h, _ := ReadHeader(b)
	off := h.DirectoryOffset + uint64(i)*uint64(h.RecordSize)
	return b[off : off+RecordSize]
}

func le64(vals ...int64) []byte {
	out := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(out[8*i:], uint64(v))
	}
	return out
}

func le32(vals ...int32) []byte {
	out := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(v))
	}
	return out
}

// sampleSegment has one array of each kind of layout: fixed width with
// nulls, utf8, bool, a 3-D float array, and metadata on the segment and on
// an array.
func sampleSegment(t testing.TB) []byte {
	return buildSegment(t, []testArray{
		{desc: ArrayDesc{Name: "ints", DType: DType{Type: Int64}, Length: 3, NullCount: 1,
			Metadata: []KV{{"unit", "cm"}}}, validity: []byte{0b101}, data: le64(7, 0, -9)},
		{desc: ArrayDesc{Name: "names ü", DType: DType{Type: Utf8}, Length: 3},
			offsets: le32(0, 2, 2, 7), data: []byte("abhällo")},
		{desc: ArrayDesc{Name: "flags", DType: DType{Type: Bool}, Length: 9}, data: []byte{0xff, 0x01}},
		{desc: ArrayDesc{Name: "cube", DType: DType{Type: Float32}, Length: 2, Shape: []int64{2, 2, 3}},
			data: make([]byte, 2*2*3*4)},
		{desc: ArrayDesc{Name: "when", DType: DType{Type: Timestamp, Unit: Microsecond, TimeZone: "UTC"}, Length: 1}, data: le64(1)},
	}, []KV{{"source", "test"}})
}
