package arena

import (
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// Allocator returns an Arrow memory.Allocator whose buffers live inside the
// segment, so Arrow builders write straight into shared pages and AddArray
// of their result copies nothing. Buffers are 64-byte aligned and zeroed.
//
// Allocate and Reallocate panic (as Arrow's own allocators do when memory
// runs out) with an error wrapping NO_SPACE or CLOSED when the segment
// cannot grow or the Builder is finished. Free returns space only at the end
// of the segment and never space backing an added array; memory freed
// elsewhere stays unused until Publish. The memory dies at Publish or Close.
func (b *Builder) Allocator() memory.Allocator { return (*allocator)(b) }

type allocator Builder

func (a *allocator) Allocate(size int) []byte {
	b := (*Builder)(a)
	b.mu.Lock()
	defer b.mu.Unlock()
	off, err := b.alloc(uint64(size))
	if err != nil {
		panic(err)
	}
	return b.mem[off : off+uint64(size) : off+alignUp(uint64(size))]
}

func (a *allocator) Reallocate(size int, old []byte) []byte {
	b := (*Builder)(a)
	b.mu.Lock()
	off, ours := b.offsetOf(old)
	if ours && !b.done && off >= b.pinned && off+alignUp(uint64(cap(old))) == b.end {
		// The last allocation grows (or shrinks) in place.
		end := off + alignUp(uint64(size))
		if err := b.grow(end); err != nil {
			b.mu.Unlock()
			panic(err)
		}
		if end > b.end && b.end < b.high {
			clear(b.mem[b.end:min(end, b.high)])
		}
		b.populate(max(b.end, b.high), end)
		b.end = max(end, off)
		b.high = max(b.high, b.end)
		b.mu.Unlock()
		return b.mem[off : off+uint64(size) : off+alignUp(uint64(size))]
	}
	b.mu.Unlock()
	buf := a.Allocate(size)
	copy(buf, old)
	a.Free(old)
	return buf
}

func (a *allocator) Free(buf []byte) {
	b := (*Builder)(a)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	off, ours := b.offsetOf(buf)
	if ours && off >= b.pinned && off+alignUp(uint64(cap(buf))) == b.end {
		b.end = off
	}
}
