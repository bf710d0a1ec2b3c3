package arena

import (
	"sync/atomic"

	"github.com/apache/arrow/go/v15/arrow/memory"
)

// mapping is a read-only mapping of a segment's file shared by the Segment
// that attached it and by every Arrow buffer handed out over it. It is
// unmapped when the last of them lets go: the Segment's own reference goes
// at Close, each Arrow buffer's at its last Release (Go keeps the mapping
// alive as the C exports and the Python views do). Slices from Values,
// Buffers and Guard hold no reference: they are valid until Close.
type mapping struct {
	mem  []byte
	refs atomic.Int64
}

// newMapping wraps mem with one reference, the Segment's.
func newMapping(mem []byte) *mapping {
	m := &mapping{mem: mem}
	m.refs.Store(1)
	return m
}

// retain adds a reference.
func (m *mapping) retain() { m.refs.Add(1) }

// release drops a reference and unmaps with the last one. It reports the
// unmap's error, nil when references remain.
func (m *mapping) release() error {
	switch n := m.refs.Add(-1); {
	case n > 0:
		return nil
	case n < 0:
		panic("arena: mapping released more often than retained")
	}
	mem := m.mem
	m.mem = nil
	return unmap(mem)
}

// buffer is an Arrow buffer over b, a window of the mapping, that holds a
// reference to it until the buffer's last Release.
func (m *mapping) buffer(b []byte) *memory.Buffer {
	m.retain()
	return memory.NewBufferWithAllocator(b, mappingAllocator{m})
}

// mappingAllocator is the allocator of Arrow buffers over a mapping: Arrow
// calls Free when such a buffer's reference count reaches zero, which drops
// the buffer's reference to the mapping. Buffers over mapped pages are never
// resized, so Allocate and Reallocate are never called for them; they
// allocate from the Go heap should Arrow ever do so.
type mappingAllocator struct{ m *mapping }

func (a mappingAllocator) Allocate(size int) []byte { return memory.DefaultAllocator.Allocate(size) }

func (a mappingAllocator) Reallocate(size int, b []byte) []byte {
	out := memory.DefaultAllocator.Allocate(size)
	copy(out, b)
	return out
}

func (a mappingAllocator) Free([]byte) { _ = a.m.release() }
