package arena

import (
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/shmarray/shmarray/format"
)

// ReceiveOptions tune Receive. The zero value (or a nil pointer) is the
// default: directory from Dir(""), mode 0600.
type ReceiveOptions struct {
	// Dir is the directory to publish in; "" means $SHMARRAY_DIR, else /dev/shm.
	Dir string
	// Mode is the file mode, as CreateOptions.Mode: 0600 by default, group
	// bits allowed, nothing for others.
	Mode os.FileMode
}

// Receiver is a copy of a published segment's file arriving from elsewhere
// (another host, a stream) in pieces, at any offsets and in any order. It
// owns an unnamed file with the whole size reserved. Publish gives it its
// name only once every byte has arrived and the bytes pass the full
// validation (header and metadata checksum, every directory record, and
// offsets, null counts, UTF-8 and data checksums of every array), so a
// transfer cut off at any point, or corrupted on the way, leaves nothing
// visible. It publishes with the protocol of Builder.Publish (spec §10.3):
// atomically, never replacing an existing file, holding its file's lock
// until it has verified the name (so that a racing replacer waits). The file keeps the
// identity (id and version) its writer gave it: it is a copy of that
// version, not a new one.
//
// A Receiver is safe for concurrent use. Finish with Publish or Close.
type Receiver struct {
	name, path string
	size       int64

	mu   sync.Mutex
	d    *dirHandle // the directory, opened once (dirfd_linux.go)
	fd   int
	id   fileID
	tmp  string // hidden name of the fallback path, "" for O_TMPFILE
	have []span // bytes written: sorted, disjoint, not touching
	done bool
}

// span is the byte range [from, to).
type span struct{ from, to int64 }

// Receive starts receiving the file of a segment called name, size bytes
// long, into the directory of opts (resolved as by Dir). Nothing is visible
// under the name until Publish. The whole size is reserved at once, so a
// directory too small fails here. Errors: INVALID_ARGUMENT (name, mode, a
// size too small for a header), NOT_FOUND (no such directory), EXISTS (the
// name is taken now), NO_SPACE, PERMISSION_DENIED.
func Receive(name string, size int64, opts *ReceiveOptions) (*Receiver, error) {
	var o ReceiveOptions
	if opts != nil {
		o = *opts
	}
	if err := format.ValidSegmentName(name); err != nil {
		return nil, err
	}
	var err error
	if o.Mode, err = fileMode(name, o.Mode); err != nil {
		return nil, err
	}
	if size < format.HeaderSize || uint64(size) > uint64(^uint(0)>>1) {
		return nil, fmt.Errorf("%w: segment %q: a segment file of %d bytes cannot be received (a header alone is %d)", format.ErrInvalidArgument, name, size, format.HeaderSize)
	}
	d, path, fd, tmp, id, err := startFile("receive", name, o.Dir, o.Mode, false)
	if err != nil {
		return nil, err
	}
	r := &Receiver{name: name, path: path, size: size, d: d, fd: fd, id: id, tmp: tmp}
	if err := reserve(fd, 0, size); err != nil {
		r.release()
		if isNoSpace(err) {
			return nil, noSpaceError(name, d, uint64(size), 0)
		}
		return nil, osError("reserve space for", name, path, err)
	}
	return r, nil
}

// Name is the segment's name.
func (r *Receiver) Name() string { return r.name }

// Size is the size of the file being received.
func (r *Receiver) Size() int64 { return r.size }

// WriteAt writes p at offset off of the file (io.WriterAt). Pieces may
// come in any order and may overlap (a piece sent twice is harmless), but
// must lie inside the file. Errors: INVALID_ARGUMENT (outside the file),
// NO_SPACE, IO_ERROR, CLOSED.
func (r *Receiver) WriteAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return 0, r.closedError()
	}
	end := off + int64(len(p))
	if off < 0 || end < off || end > r.size {
		return 0, fmt.Errorf("%w: segment %q: bytes [%d, %d) are outside the %d-byte file being received", format.ErrInvalidArgument, r.name, off, end, r.size)
	}
	for n := 0; n < len(p); {
		k, err := pwrite(r.fd, p[n:], off+int64(n))
		if err != nil {
			if isNoSpace(err) {
				return n, noSpaceError(r.name, r.d, uint64(r.size), 0)
			}
			return n, osError("write", r.name, r.path, err)
		}
		n += k
	}
	r.have = addSpan(r.have, span{off, end})
	return len(p), nil
}

// addSpan adds s to the sorted, disjoint spans of have, merging where they
// overlap or touch.
func addSpan(have []span, s span) []span {
	if s.from == s.to {
		return have
	}
	i := sort.Search(len(have), func(i int) bool { return have[i].to >= s.from })
	j := i
	for j < len(have) && have[j].from <= s.to {
		s.from, s.to = min(s.from, have[j].from), max(s.to, have[j].to)
		j++
	}
	out := append(have[:i:i], s)
	return append(out, have[j:]...)
}

// missing is the first byte range not written yet, if any. Called with mu held.
func (r *Receiver) missing() (span, bool) {
	switch {
	case len(r.have) == 0:
		return span{0, r.size}, true
	case r.have[0].from > 0:
		return span{0, r.have[0].from}, true
	case len(r.have) > 1:
		return span{r.have[0].to, r.have[1].from}, true
	case r.have[0].to < r.size:
		return span{r.have[0].to, r.size}, true
	}
	return span{}, false
}

// Publish checks that every byte has arrived (TRUNCATED otherwise), that
// the file is exactly as long as its header says (TRUNCATED, BAD_SIZE) and
// that it passes the full validation (one of the invalid-segment codes,
// such as CHECKSUM_MISMATCH), then gives it its name atomically. If the
// name was taken meanwhile it returns EXISTS; it never replaces. It reads
// every byte of the file once. After Publish the Receiver is closed,
// whatever the outcome; on error nothing is left behind.
func (r *Receiver) Publish() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return r.closedError()
	}
	err := r.verify()
	if err == nil {
		err = withOwnLock(r.fd, r.name, r.path, false, func() error {
			return publishFile(r.d, r.fd, r.id, r.tmp, r.name)
		})
	}
	r.release()
	return err
}

// verify runs the checks of Publish over a read-only mapping of the file.
// Called with mu held.
func (r *Receiver) verify() error {
	if gap, ok := r.missing(); ok {
		return fmt.Errorf("%w: segment %q: received %d of %d bytes (bytes [%d, %d) never arrived); not published", format.ErrTruncated, r.name, r.size-r.unwritten(), r.size, gap.from, gap.to)
	}
	mem, err := mapShared(r.fd, int(r.size), false)
	if err != nil {
		return osError("map", r.name, r.path, err)
	}
	defer func() { _ = unmap(mem) }()
	err = guard(func() error {
		desc, err := format.Decode(mem)
		if err != nil {
			return err
		}
		if desc.Header.FileSize != uint64(r.size) {
			return fmt.Errorf("%w: %d bytes received, but the header says the file has %d", format.ErrBadSize, r.size, desc.Header.FileSize)
		}
		return desc.Validate(mem)
	})
	if err != nil {
		return fmt.Errorf("segment %q: received file not published: %w", r.name, err)
	}
	return nil
}

// unwritten is the number of bytes not written yet. Called with mu held.
func (r *Receiver) unwritten() int64 {
	n := r.size
	for _, s := range r.have {
		n -= s.to - s.from
	}
	return n
}

// Close abandons the file: nothing remains under any name. Close after
// Publish does nothing. It is idempotent and always returns nil.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done {
		r.release()
	}
	return nil
}

// release drops the descriptor (and the hidden name, if it still holds the
// file), and the directory. Called with mu held.
func (r *Receiver) release() {
	discardFile(r.d, r.fd, r.tmp, r.id)
	r.d.close()
	r.fd, r.tmp, r.done = -1, "", true
}

func (r *Receiver) closedError() error {
	return fmt.Errorf("%w: segment %q: the receiver was already published or closed", format.ErrClosed, r.name)
}
