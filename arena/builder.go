package arena

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/shmarray/shmarray/format"
)

// CreateOptions tune Create. The zero value (or a nil pointer) is the
// default: directory from Dir(""), mode 0600, space reserved as arrays are
// added, data checksums on.
type CreateOptions struct {
	// Dir is the directory of the segment; "" means $SHMARRAY_DIR, else /dev/shm.
	Dir string
	// Mode is the file mode: 0600 by default; group bits may be added
	// (0640, 0660); other bits are refused, so a segment is never
	// world-readable or world-writable.
	Mode os.FileMode
	// Capacity, when > 0, reserves that many bytes at Create so that a
	// directory too small fails at once with NO_SPACE. Space beyond it is
	// reserved as arrays are added; unused space is returned at Publish.
	Capacity int64
	// MaxSize bounds the segment's size (default: the larger of 64 GiB and
	// twice Capacity). It is the size of the address-space reservation the
	// Builder maps; it costs no memory.
	MaxSize int64
	// Ephemeral records in the header that the creator intends to unlink the
	// segment when it exits, so that gc may remove it once the creator is dead.
	Ephemeral bool
	// NoDataChecksum skips the per-array data CRC computed at Publish
	// (one read pass over the data) and leaves full validation without it.
	NoDataChecksum bool
	// Index names arrays to give a hash index (spec §7.8) at Publish, as
	// Builder.AddIndex does; Publish fails (and publishes nothing) if one
	// is missing, cannot be indexed or holds a value twice.
	Index []string
	// Replace publishes even if the name holds a segment, as its next
	// version, atomically (spec §10.3): an attach by name gets the old
	// version or the new one, never nothing; readers of the old one keep
	// it. Create then skips its early EXISTS check.
	Replace bool
	// ReplaceIf, when set, implies Replace and publishes only while the
	// name holds the segment with this id: STALE if it holds another
	// version or nothing.
	ReplaceIf *format.ID
}

const (
	defaultMaxSize = 64 << 30
	// Space is reserved ahead of need by as much as is reserved already,
	// up to growSlack (and at least minGrow in all), so that many small
	// arrays cost few fallocate calls. The slack is bounded, not
	// proportional to the file: every reserved byte is a fresh page the
	// kernel must allocate and zero, and what is not used is handed back
	// at Publish.
	growSlack = 16 << 20
	minGrow   = 4 << 20

	populateMin = 64 << 10 // smaller allocations fault their few pages in
)

// Builder is an unpublished segment being filled. It owns an unnamed file
// and a writable mapping of it. Methods are safe for concurrent use, but
// arrays appear in the directory in the order their Add calls complete.
//
// Finish with Publish (the segment appears under its name, complete) or
// Close (nothing is left behind). Memory from Allocator dies with either.
type Builder struct {
	name, path string
	opts       CreateOptions

	mu      sync.Mutex
	d       *dirHandle // the directory, open from Create to Publish or Close
	fd      int
	id      fileID // the file's identity, checked before linking or removing a name
	tmp     string // hidden name of the fallback path, "" for O_TMPFILE
	mem     []byte // reservation: the file mapped writable, len MaxSize
	end     uint64 // next free byte
	high    uint64 // bytes above this were never handed out, so are zero
	pinned  uint64 // allocations below this back added arrays: never reused
	fileLen uint64 // bytes of the file backed by real space (fallocate or written)
	sum     uint32 // data checksum of the array being copied
	arrays  []format.ArrayDesc
	names   map[string]struct{}
	inPlace map[string]struct{} // arrays from AddEmpty: their values may change until Publish
	// indexes built at Publish: CreateOptions.Index, and those of arrays
	// filled in place (over their final values)
	indexAtSeal []string
	meta        []format.KV
	done        bool
	// the sealed header and metadata area, kept for the identity and
	// checksum written at publish (stamp)
	header, metaArea []byte
	// the identity published, zero until Publish succeeds
	pubID      format.ID
	pubVersion uint64
	// Shared outputs (shared_linux.go): shared once Output linked tmp;
	// quiet once waitWriters succeeded (no other process writes the file
	// any more, and the builder holds its lock).
	shared, quiet bool
	writerTimeout time.Duration
}

// Create starts an unpublished segment called name. Nothing is visible
// under the name until Publish, and Publish fails with EXISTS rather than
// replace a segment created meanwhile; Create itself fails with EXISTS at
// once if the name is taken now. Errors: INVALID_ARGUMENT (name, mode),
// NOT_FOUND (no such directory), EXISTS, NO_SPACE (Capacity does not fit),
// PERMISSION_DENIED.
func Create(name string, opts *CreateOptions) (*Builder, error) {
	var o CreateOptions
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
	if o.Capacity < 0 || o.MaxSize < 0 {
		return nil, fmt.Errorf("%w: segment %q: Capacity and MaxSize must not be negative", format.ErrInvalidArgument, name)
	}
	if o.MaxSize == 0 {
		o.MaxSize = max(defaultMaxSize, 2*o.Capacity)
	}
	if o.MaxSize < o.Capacity || o.MaxSize < format.HeaderSize+format.Alignment {
		return nil, fmt.Errorf("%w: segment %q: MaxSize %d is smaller than Capacity %d or the header", format.ErrInvalidArgument, name, o.MaxSize, o.Capacity)
	}
	if o.ReplaceIf != nil {
		id := *o.ReplaceIf
		o.Replace, o.ReplaceIf = true, &id
	}
	d, path, fd, tmp, id, err := startFile("create", name, o.Dir, o.Mode, o.Replace)
	if err != nil {
		return nil, err
	}
	b := &Builder{name: name, path: path, opts: o, d: d, fd: fd, id: id, tmp: tmp,
		end: format.HeaderSizeID, high: format.HeaderSizeID, pinned: format.HeaderSizeID,
		names: map[string]struct{}{}, inPlace: map[string]struct{}{}, indexAtSeal: slices.Clone(o.Index)}
	if err := b.grow(uint64(max(o.Capacity, format.HeaderSizeID))); err != nil {
		b.release()
		return nil, err
	}
	b.mem, err = mapShared(fd, int(o.MaxSize), true)
	if err != nil {
		b.release()
		return nil, osError("map", name, path, err)
	}
	return b, nil
}

// Name is the segment's name.
func (b *Builder) Name() string { return b.name }

// SetReplace makes Publish replace what the name holds, as CreateOptions
// Replace and ReplaceIf do: unconditionally when ifID is nil, else only
// while the name holds the segment with that id. It is for callers that set
// options after Create (the C ABI); CLOSED after Publish or Close.
func (b *Builder) SetReplace(ifID *format.ID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.closedError()
	}
	b.opts.Replace, b.opts.ReplaceIf = true, nil
	if ifID != nil {
		id := *ifID
		b.opts.ReplaceIf = &id
	}
	return nil
}

// ID is the id Publish gave the segment; the zero ID before a successful
// Publish.
func (b *Builder) ID() format.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pubID
}

// Version is the version number Publish gave the segment (1 for a first
// publish, one more than the version it replaced); 0 before a successful
// Publish.
func (b *Builder) Version() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pubVersion
}

// grow reserves the file up to at least need bytes, with some slack for the
// arrays that follow. Called with mu held.
func (b *Builder) grow(need uint64) error {
	return b.reserveTo(need, max(need+min(b.fileLen, growSlack), minGrow))
}

// reserveTo reserves the file up to want bytes (want >= need), or if that
// does not fit, up to need. Called with mu held.
func (b *Builder) reserveTo(need, want uint64) error {
	if need <= b.fileLen {
		return nil
	}
	if need > uint64(b.opts.MaxSize) {
		return b.tooBig(need)
	}
	target := min(want, uint64(b.opts.MaxSize))
	err := reserve(b.fd, int64(b.fileLen), int64(target))
	if err != nil && target > need {
		target = need
		err = reserve(b.fd, int64(b.fileLen), int64(target))
	}
	if err != nil {
		if isNoSpace(err) {
			return b.noSpace(need)
		}
		return osError("reserve space for", b.name, b.path, err)
	}
	b.fileLen = target
	return nil
}

// tooBig is the error for a segment that would outgrow its MaxSize.
func (b *Builder) tooBig(need uint64) error {
	return fmt.Errorf("%w: segment %q needs %s, more than its MaxSize %s (set CreateOptions.MaxSize)", format.ErrNoSpace, b.name, bytesText(need), bytesText(uint64(b.opts.MaxSize)))
}

// noSpace is the error for a directory without room for need bytes.
func (b *Builder) noSpace(need uint64) error { return noSpaceError(b.name, b.d, need, b.fileLen) }

// noSpaceError is the error for a segment that needs need bytes in the
// directory d, of which have are reserved already, when the rest does not fit.
func noSpaceError(name string, d *dirHandle, need, have uint64) error {
	free, _ := d.freeBytes()
	dir := d.path
	return fmt.Errorf("%w: segment %q: %s has %s free, needs %s more (%s in all) (set %s or the dir option to a larger directory, or enlarge %s)",
		format.ErrNoSpace, name, dir, bytesText(free), bytesText(need-min(need, have)), bytesText(need), EnvDir, dir)
}

// fileMode checks the file mode a writer asked for: 0 means 0600; group
// bits may be added; other bits are refused (INVALID_ARGUMENT).
func fileMode(name string, m os.FileMode) (os.FileMode, error) {
	if m == 0 {
		m = 0o600
	}
	if m&^0o660 != 0 || m&0o600 != 0o600 {
		return 0, fmt.Errorf("%w: segment %q: mode %#o is not allowed; use 0600, or add group bits (0640, 0660); other users never get access", format.ErrInvalidArgument, name, m)
	}
	return m, nil
}

// alloc hands out size bytes at a 64-byte aligned offset, zeroed. Called
// with mu held.
func (b *Builder) alloc(size uint64) (uint64, error) {
	if b.done {
		return 0, b.closedError()
	}
	off := alignUp(b.end)
	end := off + alignUp(size)
	if end < off {
		return 0, fmt.Errorf("%w: segment %q: allocation of %d bytes overflows", format.ErrInvalidArgument, b.name, size)
	}
	if err := b.grow(end); err != nil {
		return 0, err
	}
	if off < b.high {
		clear(b.mem[off:min(end, b.high)])
	}
	b.populate(max(off, b.high), end)
	b.end = end
	b.high = max(b.high, end)
	return off, nil
}

// populate maps the reserved bytes [from, to) of the file, handed out for
// the first time, into the page table in one call (spare the page faults
// of writing them one 4 KiB page at a time), when there are enough of them
// to matter. Called with mu held.
func (b *Builder) populate(from, to uint64) {
	if to > from && to-from >= populateMin {
		prefault(b.mem[from:to])
	}
}

// offsetOf returns the offset of p inside the mapping, or false.
func (b *Builder) offsetOf(p []byte) (uint64, bool) {
	if cap(p) == 0 || b.mem == nil {
		return 0, false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b.mem)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	if at < base || at >= base+uintptr(len(b.mem)) {
		return 0, false
	}
	return uint64(at - base), true
}

// SetMetadata sets the segment-level key/value metadata, replacing any set
// before. Keys are stored sorted, so the bytes do not depend on map order.
func (b *Builder) SetMetadata(md map[string]string) error {
	kvs := make([]format.KV, 0, len(md))
	for k, v := range md {
		kv := format.KV{Key: k, Value: v}
		if err := format.ValidKV(kv); err != nil {
			return err
		}
		kvs = append(kvs, kv)
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.closedError()
	}
	b.meta = kvs
	return nil
}

// Publish seals the segment (data checksums, metadata area, header last)
// and gives it its name and identity atomically: readers see a complete
// segment or nothing. Without Replace, if the name was taken meanwhile it
// returns EXISTS and the segment is discarded. With Replace it becomes the
// name's next version (spec §10.3): readers attaching by name get the old
// version or the new one, never nothing; with ReplaceIf, only while the
// name holds that id (STALE otherwise). ID and Version then tell what was
// published. Arrays that other processes may write (Output handles, or
// AddEmpty memory a forked child inherited) are first waited for, as
// WaitWriters does, for SetWriterTimeout's time: if that times out, the
// error names the writers and the Builder stays open. Otherwise, after
// Publish the Builder is closed, whatever the outcome, and memory from
// Allocator is gone.
func (b *Builder) Publish() error {
	_, err := b.publish(false)
	return err
}

// PublishFile is Publish that also returns, on success, a descriptor of the
// very file it published, so that the caller can attach exactly that
// version (the C ABI does): attaching by name afterwards may find a newer
// version a racing replacer published meanwhile. It is opened read-only by
// name, so that /proc/PID/maps and lsof show the segment's path, when the
// name still holds the file; else (already replaced) it is a duplicate of
// the writer's descriptor, open for reading and writing: read through it
// only. It never holds the writer's lock (spec §10.3 step 5). The caller
// closes it. If the segment was published but no descriptor could be kept,
// the error is a *NoFileError, and ID and Version still tell what was
// published.
func (b *Builder) PublishFile() (*os.File, error) { return b.publish(true) }

// publish is Publish, returning a duplicate of the file's descriptor on
// success when keep is set.
func (b *Builder) publish(keep bool) (*os.File, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return nil, b.closedError()
	}
	timeout := b.writerTimeout
	if timeout == 0 {
		timeout = DefaultWriterTimeout
	}
	if err := b.waitWriters(timeout); err != nil {
		return nil, err // the builder stays open: writers may still finish
	}
	err := b.seal()
	if err == nil {
		err = b.publishVersion()
	}
	if err != nil {
		b.pubID, b.pubVersion = format.ID{}, 0
		b.release()
		return nil, err
	}
	var f *os.File
	if keep {
		// Published: the identity stays whatever happens to the descriptor.
		if f, err = b.publishedFile(); err != nil {
			err = &NoFileError{Name: b.name, ID: b.pubID, Version: b.pubVersion, Err: err}
		}
	}
	b.release()
	return f, err
}

// NoFileError is the error of PublishFile when the segment was published
// but no descriptor of its file could be kept (out of descriptors, for
// one). It is not a failure of the publication: ID and Version tell what
// was published, and a caller that wants that very version attaches it by
// name pinned to them (AttachOptions.Pin), which says STALE if the
// name holds another version by then. errors.Is sees the cause's code
// (IO_ERROR, say) through it.
type NoFileError struct {
	Name    string
	ID      format.ID
	Version uint64
	Err     error // why no descriptor could be kept
}

func (e *NoFileError) Error() string {
	return fmt.Sprintf("segment %q was published as version %d (id %s), but no descriptor of its file could be kept (attach it by name, pinned to that id and version): %v", e.Name, e.Version, e.ID, e.Err)
}

func (e *NoFileError) Unwrap() error { return e.Err }

// startFile opens the directory dir (resolved as by Dir) and creates in it
// the unpublished file of segment name (createFile), after refusing at once
// a name that is taken (EXISTS) unless the file is to replace it. op names
// the call in messages. The caller owns d and fd (discardFile, d.close).
func startFile(op, name, dir string, mode os.FileMode, replace bool) (d *dirHandle, path string, fd int, tmp string, id fileID, err error) {
	d, err = openDir(Dir(dir), followDirLink)
	if err != nil {
		return nil, "", -1, "", id, osError(op, name, Dir(dir), err)
	}
	path = d.join(name)
	if _, err := d.lstat(name); err == nil && !replace {
		d.close()
		return nil, "", -1, "", id, osError(op, name, path, errExist)
	}
	fd, tmp, id, err = createFile(d, uint32(mode))
	if err != nil {
		d.close()
		return nil, "", -1, "", id, osError(op, name, d.path, err)
	}
	return d, path, fd, tmp, id, nil
}

// publishFile gives the file fd (identity id, hidden name tmp or "" for an
// unnamed one) its name in d, verified (dirHandle.publish), with the error a
// writer reports (publishError).
func publishFile(d *dirHandle, fd int, id fileID, tmp, name string) error {
	return publishError(d, tmp, name, d.publish(fd, id, tmp, name, false))
}

// publishError is the error a writer reports for err from publishing the
// file of hidden name tmp ("" for an unnamed one) under name in d:
// PERMISSION_DENIED naming what was swapped, EXISTS for a name another
// process changed right after the publication (errRaced), or the OS error
// as its code; nil stays nil.
func publishError(d *dirHandle, tmp, name string, err error) error {
	if err == errSwapped {
		what := "its name was taken over, as it was linked,"
		if tmp != "" {
			what = "its temporary file " + d.join(tmp) + " was replaced"
		}
		return fmt.Errorf("%w: segment %q: %s by a file that is not the writer's (someone else can rename files in %s); nothing was published (use a directory that only you can write to)", format.ErrPermissionDenied, name, what, d.path)
	}
	if err == errRaced {
		return fmt.Errorf("%w: segment %q: the name was replaced or removed by another process right after this writer published it, so it does not hold this writer's version now (publish again if it should)", format.ErrExists, name)
	}
	if err != nil {
		return osError("publish", name, d.join(name), err)
	}
	return nil
}

// seal writes the checksums, the metadata area and the header, unmaps, and
// truncates the file to its final size. Called with mu held.
func (b *Builder) seal() error {
	for _, name := range b.indexAtSeal {
		if err := b.addIndex(name); err != nil {
			return err
		}
	}
	if !b.opts.NoDataChecksum {
		for i := range b.arrays {
			// Copies were checksummed as they were made; arrays built in
			// place are checksummed now, as they are final.
			if a := &b.arrays[i]; !a.HasDataCRC {
				a.DataCRC = format.DataCRC(b.bytes(a.Validity), b.bytes(a.Offsets), b.bytes(a.Data))
				a.HasDataCRC = true
			}
		}
	}
	var flags uint32
	if b.opts.Ephemeral {
		flags |= format.FlagEphemeral
	}
	pid := os.Getpid()
	start := selfStartTime()
	metaOff := alignUp(b.end)
	// The identity is decided at publish (stamp); the header has room for it.
	header, meta, h, err := format.Encode(&format.Seal{
		Arrays: b.arrays, Metadata: b.meta, MetaOffset: metaOff, Flags: flags,
		Created: time.Now().UnixNano(), PID: uint32(pid), StartTime: start,
	})
	if err != nil {
		return err
	}
	if err := b.reserveTo(h.FileSize, h.FileSize); err != nil { // the final size
		return err
	}
	copy(b.mem[metaOff:], meta)
	copy(b.mem[:len(header)], header)
	// Never publish what a reader would reject: the structural check costs
	// O(arrays) and catches a writer bug before anyone else sees it.
	if _, err := format.Decode(b.mem[:h.FileSize]); err != nil {
		return fmt.Errorf("%w: segment %q would not be readable, not published: %v", format.ErrInternal, b.name, err)
	}
	if err := unmap(b.mem); err != nil {
		return osError("unmap", b.name, b.path, err)
	}
	b.mem = nil
	if err := truncate(b.fd, int64(h.FileSize)); err != nil {
		return osError("truncate", b.name, b.path, err)
	}
	b.header, b.metaArea = header, meta
	return nil
}

func (b *Builder) bytes(buf format.Buffer) []byte {
	if buf.Length == 0 {
		return nil
	}
	return b.mem[buf.Offset:buf.End()]
}

// Close abandons an unpublished segment: the mapping and the file go, and
// nothing remains under any name. Close after Publish does nothing. It is
// idempotent and always returns nil.
func (b *Builder) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.release()
	}
	return nil
}

// release drops the mapping and the descriptor. Called with mu held.
func (b *Builder) release() {
	if b.mem != nil {
		_ = unmap(b.mem)
		b.mem = nil
	}
	discardFile(b.d, b.fd, b.tmp, b.id)
	b.d.close()
	b.fd, b.tmp = -1, ""
	b.done = true
}

func (b *Builder) closedError() error {
	return fmt.Errorf("%w: segment %q: the builder was already published or closed", format.ErrClosed, b.name)
}

func alignUp(n uint64) uint64 {
	return (n + format.Alignment - 1) &^ (format.Alignment - 1)
}

func bytesText(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
