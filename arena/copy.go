package arena

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/bitutil"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/shmarray/shmarray/format"
)

// reference fills desc's buffers with arr's own buffers when they already
// lie, suitably aligned, inside the segment (a builder used Allocator), and
// pins them. It reports false when a copy is needed. Called with mu held.
func (b *Builder) reference(desc *format.ArrayDesc, arr arrow.Array) bool {
	data := arr.Data()
	if data.Offset() != 0 || b.mem == nil {
		return false
	}
	n := uint64(desc.Length)
	bufs := data.Buffers()
	var v, o, d format.Buffer
	ok := true
	if desc.NullCount > 0 {
		v, ok = b.locate(bufs[0], bitmapBytes(n))
	}
	switch {
	case !ok:
	case desc.NDim() > 1:
		child := data.Children()[0]
		if child.Offset() != 0 {
			return false
		}
		d, ok = b.locate(child.Buffers()[1], n*uint64(desc.RowElems())*uint64(desc.ElemWidth()))
	case desc.Type == format.Bool:
		d, ok = b.locate(bufs[1], bitmapBytes(n))
	case desc.Type.VarLength():
		ow := uint64(desc.Type.OffsetWidth())
		if n == 0 {
			break
		}
		if o, ok = b.locate(bufs[1], (n+1)*ow); !ok {
			return false
		}
		offs := b.mem[o.Offset:o.End()]
		if readOffset(offs, 0, ow) != 0 {
			return false
		}
		d, ok = b.locate(bufs[2], readOffset(offs, n, ow))
	default:
		d, ok = b.locate(bufs[1], n*uint64(desc.ElemWidth()))
	}
	if !ok {
		return false
	}
	desc.Validity, desc.Offsets, desc.Data = v, o, d
	return true
}

// locate finds need bytes of buf inside the segment's allocated area.
func (b *Builder) locate(buf *memory.Buffer, need uint64) (format.Buffer, bool) {
	if need == 0 {
		return format.Buffer{}, true
	}
	if buf == nil || uint64(buf.Len()) < need {
		return format.Buffer{}, false
	}
	off, ok := b.offsetOf(buf.Bytes())
	if !ok || off%format.Alignment != 0 || off < format.HeaderSizeID || off+need > b.end {
		return format.Buffer{}, false
	}
	return format.Buffer{Offset: off, Length: need}, true
}

// copyArrow copies arr's values into newly allocated space, normalizing a
// slice (non-zero offset) on the way. Called with mu held.
func (b *Builder) copyArrow(desc *format.ArrayDesc, arr arrow.Array) error {
	b.sum = 0
	data := arr.Data()
	start := uint64(data.Offset())
	n := uint64(desc.Length)
	bufs := data.Buffers()
	if desc.NullCount > 0 {
		var err error
		if desc.Validity, err = b.copyBitmap(bufs[0].Bytes(), start, n); err != nil {
			return err
		}
	}
	var src []byte // the data bytes to copy as they are
	switch {
	case desc.NDim() > 1:
		child := data.Children()[0]
		w := uint64(desc.ElemWidth())
		row := uint64(desc.RowElems())
		from := (start*row + uint64(child.Offset())) * w
		src = bytesOf(child.Buffers()[1], from, n*row*w)
	case desc.Type == format.Bool:
		var err error
		desc.Data, err = b.copyBitmap(bufs[1].Bytes(), start, n)
		return err
	case desc.Type.VarLength():
		return b.copyVarLength(desc, bufs, start)
	default:
		w := uint64(desc.ElemWidth())
		src = bytesOf(bufs[1], start*w, n*w)
	}
	var err error
	desc.Data, err = b.copyIn(src)
	return err
}

// Copies of at least writeMin bytes are written to the file with pwrite,
// writeChunk bytes per call, instead of through the mapping: the kernel
// then allocates each page as it copies into it, where reserving first
// (fallocate, then populating the mapping) costs a pass over the pages of
// its own, and the mapping's page tables are neither built nor torn down.
// The checksum of each chunk is taken while it is in cache.
const (
	writeMin   = 1 << 20
	writeChunk = 1 << 20
)

// copyIn copies src into newly allocated space and adds it to the running
// data checksum. Called with mu held.
func (b *Builder) copyIn(src []byte) (format.Buffer, error) {
	size := uint64(len(src))
	if size >= writeMin {
		return b.writeIn(alignUp(b.end), src)
	}
	off, err := b.alloc(size)
	if err != nil {
		return format.Buffer{}, err
	}
	copy(b.mem[off:], src)
	b.summed(b.mem[off : off+size])
	return format.Buffer{Offset: off, Length: size}, nil
}

// writeIn copies src to the file at off (64-byte aligned, at or after the
// last allocation) with pwrite, and allocates it. Called with mu held.
func (b *Builder) writeIn(off uint64, src []byte) (format.Buffer, error) {
	if b.done {
		return format.Buffer{}, b.closedError()
	}
	size := uint64(len(src))
	end := off + alignUp(size)
	if end < off || end > uint64(b.opts.MaxSize) {
		return format.Buffer{}, b.tooBig(end)
	}
	// Reserve what lies before off, so that the file below end is backed.
	if err := b.reserveTo(off, off); err != nil {
		return format.Buffer{}, err
	}
	for done := uint64(0); done < size; {
		chunk := src[done:min(done+writeChunk, size)]
		n, err := pwrite(b.fd, chunk, int64(off+done))
		if err != nil {
			// Give back the pages written past the reservation; what was
			// written inside it is no longer zero, so alloc must clear it.
			_ = truncate(b.fd, int64(b.fileLen))
			b.high = max(b.high, min(off+size, b.fileLen))
			if isNoSpace(err) {
				return format.Buffer{}, b.noSpace(off + size)
			}
			return format.Buffer{}, osError("write", b.name, b.path, err)
		}
		b.summed(chunk[:n])
		done += uint64(n)
	}
	// Zero the padding up to end where a rolled-back copy may have left
	// bytes (below high); above high nothing was ever written, and pwrite
	// zeroed the rest of the page it wrote last.
	if tail := off + size; tail < b.high {
		clear(b.mem[tail:min(end, b.high)])
	}
	b.fileLen = max(b.fileLen, off+size)
	b.end = end
	b.high = max(b.high, end)
	return format.Buffer{Offset: off, Length: size}, nil
}

// summed adds p, the next bytes of the array being copied, to its running
// data checksum (spec §9: validity, offsets, data, in that order).
func (b *Builder) summed(p []byte) {
	if !b.opts.NoDataChecksum {
		b.sum = crc32.Update(b.sum, crc32.IEEETable, p)
	}
}

// copyBitmap copies n bits of src from bit start into a new bitmap that
// starts at bit 0. Called with mu held.
func (b *Builder) copyBitmap(src []byte, start, n uint64) (format.Buffer, error) {
	size := bitmapBytes(n)
	off, err := b.alloc(size)
	if err != nil {
		return format.Buffer{}, err
	}
	copyBits(b.mem[off:off+size], src, start, n)
	b.summed(b.mem[off : off+size])
	return format.Buffer{Offset: off, Length: size}, nil
}

// copyVarLength copies the slots [start, start+length) of an Arrow
// variable-length array. Called with mu held.
func (b *Builder) copyVarLength(desc *format.ArrayDesc, bufs []*memory.Buffer, start uint64) error {
	n := uint64(desc.Length)
	if n == 0 {
		return nil
	}
	ow := uint64(desc.Type.OffsetWidth())
	srcOffs := bytesOf(bufs[1], start*ow, (n+1)*ow)
	base, last := readOffset(srcOffs, 0, ow), readOffset(srcOffs, n, ow)
	return b.copyVarLengthFrom(desc, srcOffs, bytesOf(bufs[2], 0, last), base, last)
}

// copyVarLengthFrom copies length+1 offsets rebased to start at 0, and the
// data bytes [base, last) they cover. Called with mu held.
func (b *Builder) copyVarLengthFrom(desc *format.ArrayDesc, srcOffs, srcData []byte, base, last uint64) error {
	n := uint64(desc.Length)
	ow := uint64(desc.Type.OffsetWidth())
	offOff, err := b.alloc((n + 1) * ow)
	if err != nil {
		return err
	}
	dst := b.mem[offOff : offOff+(n+1)*ow]
	for i := uint64(0); i <= n; i++ {
		v := readOffset(srcOffs, i, ow) - base
		if ow == 4 {
			binary.LittleEndian.PutUint32(dst[i*4:], uint32(v))
		} else {
			binary.LittleEndian.PutUint64(dst[i*8:], v)
		}
	}
	b.summed(dst)
	desc.Offsets = format.Buffer{Offset: offOff, Length: (n + 1) * ow}
	desc.Data, err = b.copyIn(srcData[base:last])
	return err
}

func readOffset(offs []byte, i, width uint64) uint64 {
	if width == 4 {
		return uint64(int64(int32(binary.LittleEndian.Uint32(offs[i*4:]))))
	}
	return binary.LittleEndian.Uint64(offs[i*8:])
}

// bytesOf returns n bytes of buf from byte from; nil when n is 0 (an empty
// Arrow array may have no buffer at all).
func bytesOf(buf *memory.Buffer, from, n uint64) []byte {
	if n == 0 {
		return nil
	}
	return buf.Bytes()[from : from+n]
}

// copyBits copies n bits of src starting at bit srcOff to the start of dst
// (zeroed), and leaves the bits past n in the last byte zero.
func copyBits(dst, src []byte, srcOff, n uint64) {
	if n == 0 {
		return
	}
	if srcOff%8 == 0 {
		copy(dst, src[srcOff/8:srcOff/8+bitmapBytes(n)])
		if rem := n % 8; rem != 0 {
			dst[len(dst)-1] &= byte(1<<rem - 1)
		}
		return
	}
	bitutil.CopyBitmap(src, int(srcOff), int(n), dst, 0)
}

func bitmapBytes(n uint64) uint64 { return (n + 7) / 8 }
