package arena

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/format"
)

// Shared outputs (spec §10.6): arrays of an unpublished segment that
// processes other than the builder fill in place. The builder gives its
// file a hidden name (the one the fallback path and replace use, so gc
// removes it once the builder is dead and attach never opens it) and hands
// out OutputHandles. A writer holds flock(LOCK_SH) on the file for as long
// as it maps it; publish takes LOCK_EX, which waits for every writer, and
// keeps it until the hidden name is gone (linked to the segment's name and
// removed, or renamed over it), so that no handle opens after publish. A process
// that maps the file writable without a handle (a child forked from the
// builder, which inherits its mapping) is found in /proc/*/maps: publish
// waits for it too, and names it on timeout.

// DefaultWriterTimeout is how long Publish waits for writers when
// WaitWriters was not called first.
const DefaultWriterTimeout = 60 * time.Second

// Output returns the handle of array (added by AddEmpty) for a writer in
// another process. The first call links the file under a hidden name in
// the segment's directory. Errors: NOT_FOUND (no such array),
// INVALID_ARGUMENT (an array that was copied in), CLOSED (published,
// closed, or publish has begun), and the OS errors of linking.
func (b *Builder) Output(array string) (OutputHandle, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return OutputHandle{}, b.closedError()
	}
	if b.quiet {
		return OutputHandle{}, fmt.Errorf("%w: segment %q: publish has begun; output handles are no longer handed out", format.ErrClosed, b.name)
	}
	i := b.column(array)
	if i < 0 {
		return OutputHandle{}, fmt.Errorf("%w: segment %q has no array %q (add it with AddEmpty first)", format.ErrNotFound, b.name, array)
	}
	if _, ok := b.inPlace[array]; !ok {
		return OutputHandle{}, fmt.Errorf("%w: segment %q: array %q was copied in; only arrays from AddEmpty are filled by other processes", format.ErrInvalidArgument, b.name, array)
	}
	if b.tmp == "" {
		if _, err := b.hiddenName(); err != nil {
			return OutputHandle{}, err
		}
		b.shared = true
	}
	data := b.arrays[i].Data
	return OutputHandle{Dir: b.d.path, File: b.tmp, Name: b.name, Dev: b.id.dev, Ino: b.id.ino,
		Array: array, Offset: data.Offset, Length: data.Length}, nil
}

// SetWriterTimeout sets how long Publish waits for writers (WaitWriters);
// DefaultWriterTimeout if never set. CLOSED after Publish or Close.
func (b *Builder) SetWriterTimeout(d time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.closedError()
	}
	b.writerTimeout = d
	return nil
}

// WaitWriters waits, for at most timeout, until no other process writes
// the segment: every output handle closed, and no other process mapping
// the file writable (a forked child holding arrays from AddEmpty). It then
// holds flock(LOCK_EX) until Publish or Close, so no handle can open any
// more, and Publish can seal.
// On timeout it returns IO_ERROR naming the processes still writing (those
// it could identify) and the builder stays as it was: writers go on, and
// WaitWriters or Publish may be called again. Publish calls it (with the
// timeout of SetWriterTimeout) unless it already succeeded.
func (b *Builder) WaitWriters(timeout time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.closedError()
	}
	return b.waitWriters(timeout)
}

// waitWriters is WaitWriters. Called with mu held.
func (b *Builder) waitWriters(timeout time.Duration) error {
	if b.quiet || (!b.shared && len(b.inPlace) == 0) {
		b.quiet = true // nothing was handed out that another process could write
		return nil
	}
	deadline := time.Now().Add(timeout)
	locked := true
	err := flockOwn(b.fd, unix.LOCK_EX|unix.LOCK_NB)
	if err == unix.EWOULDBLOCK || err == unix.EINTR {
		err = lockWait(b.fd, timeout)
	}
	if err != nil {
		switch {
		case err == errLockTimeout:
			return b.writersError(timeout)
		case !noFlock(err):
			return osError("lock", b.name, b.path, err)
		case b.shared:
			return fmt.Errorf("%w: segment %q: the file system of %s has no flock (%v), which output handles need to hold publish off while they write; nothing was published (use a tmpfs directory such as /dev/shm for segments with shared outputs)", format.ErrIO, b.name, b.d.path, err)
		}
		// No handle was handed out, so none can hold the lock: publish
		// without it, as before shared outputs (spec §10.6 step 4.1).
		locked = false
	}
	// Holding LOCK_EX: no handle opens from here on (they never wait for
	// the lock), so only mappings inherited by fork can still appear. No
	// writer is concluded only from two complete scans in a row that find
	// none (a fork racing the first scan shows in the second).
	pause := time.Millisecond
	for empty := 0; empty < 2; {
		pids, complete := writableMappers(b.id, deadline)
		if complete && len(pids) == 0 {
			empty++
			continue
		}
		empty = 0
		if time.Now().After(deadline) {
			if locked {
				_ = unix.Flock(b.fd, unix.LOCK_UN)
			}
			return b.writersError(timeout)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
	// The hidden name stays until the file is published (publish removes
	// it, or renames it over the name) or discarded: a file whose last
	// name is removed cannot be linked again. The lock, kept until then,
	// is what keeps handles out.
	b.quiet = true
	return nil
}

// writersError is the error of a wait for writers that timed out.
func (b *Builder) writersError(timeout time.Duration) error {
	mappers, _ := writableMappers(b.id, time.Now().Add(time.Second))
	pids := append(lockHolders(b.id), mappers...)
	slices.Sort(pids)
	pids = slices.Compact(pids)
	who := "unknown processes (not visible in /proc/locks or /proc/*/maps)"
	if len(pids) > 0 {
		names := make([]string, len(pids))
		for i, p := range pids {
			names[i] = strconv.Itoa(p)
			if p == os.Getpid() {
				names[i] += " (this process: memory of an output it opened is still referenced)"
			}
		}
		who = "processes " + strings.Join(names, ", ")
	}
	return fmt.Errorf("%w: segment %q: after %v, %s still write its unpublished file (they hold output handles open, or arrays from Builder.empty that they reached by fork); nothing was published and the builder is still open (close those handles or end those processes, then publish again, or publish with a longer timeout)",
		format.ErrIO, b.name, timeout, who)
}

// lockHolders lists the pids that /proc/locks shows holding or waiting for
// a flock on the file id. Best effort: the pid of a lock is the process
// that took it, and what cannot be read is left out.
func lockHolders(id fileID) []int {
	raw, err := os.ReadFile("/proc/locks")
	if err != nil {
		return nil
	}
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(id.dev), unix.Minor(id.dev), id.ino)
	var pids []int
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == "->" {
			f = append(f[:1], f[2:]...)
		}
		if len(f) < 6 || f[1] != "FLOCK" || f[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// writableMappers lists the processes other than this one whose
// /proc/PID/maps shows the file id mapped shared and writable, and whether
// the scan was complete: it stops when deadline passes. Processes whose
// maps cannot be read (other users') are left out: they cannot have opened
// a file of mode 0600 of ours.
func writableMappers(id fileID, deadline time.Time) ([]int, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, true
	}
	want := fmt.Sprintf("%02x:%02x", unix.Major(id.dev), unix.Minor(id.dev))
	ino := strconv.FormatUint(id.ino, 10)
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if time.Now().After(deadline) {
			return pids, false
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/maps")
		if err != nil {
			continue
		}
		if mapsWritable(string(raw), want, ino) {
			pids = append(pids, pid)
		}
	}
	return pids, true
}

// mapsWritable reports whether a /proc/PID/maps text has a shared writable
// mapping ("rw-s": a private one never writes the file) of the file on
// device dev ("MAJ:MIN" in hex) with inode ino.
func mapsWritable(maps, dev, ino string) bool {
	for _, line := range strings.Split(maps, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && f[4] == ino && f[3] == dev && len(f[1]) > 3 && f[1][1] == 'w' && f[1][3] == 's' {
			return true
		}
	}
	return false
}

// OutputWriter is an open output handle: the array's bytes mapped writable
// in this process, and flock(LOCK_SH) on the builder's file, which keeps
// the segment from being published until Close. Not safe for concurrent
// Close; Bytes may be written from any goroutine.
type OutputWriter struct {
	h    OutputHandle
	fd   int
	mem  []byte // the mapping, from the page that holds Offset
	data []byte // the array's bytes inside mem
}

// OpenOutput opens h for writing (spec §10.6): it opens the hidden name
// without following links, checks that it is the file h names (device and
// inode), takes flock(LOCK_SH) without waiting, checks again that the name
// still holds the file, and maps the array's pages writable. Errors:
// CLOSED (the segment was published, is being published, or was
// discarded), PERMISSION_DENIED (the name holds another file),
// OUT_OF_BOUNDS (the file is shorter than the array), NOT_FOUND (no such
// directory), and the OS errors of mapping.
func OpenOutput(h OutputHandle) (*OutputWriter, error) {
	what := fmt.Sprintf("output %s of segment %q (file %s in %s)", format.Quote(h.Array), h.Name, h.File, format.Quote(h.Dir))
	closed := func(why string) error {
		return fmt.Errorf("%w: %s: %s; output handles open only until the segment is published (ask its builder for a new one, or attach the published segment to read it)", format.ErrClosed, what, why)
	}
	if why := h.wrong(); why != "" {
		return nil, fmt.Errorf("%w: %s: %s (pass the handle Builder.Output made, unchanged)", format.ErrInvalidArgument, what, why)
	}
	d, err := openDir(h.Dir, followDirLink)
	if err != nil {
		return nil, osError("open", h.Name, h.Dir, err)
	}
	defer d.close()
	fd, err := unix.Openat(d.fd, h.File, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, closed("its file is gone: the segment was published or discarded")
	}
	if err != nil {
		return nil, osError("open", h.Name, d.join(h.File), err)
	}
	w := &OutputWriter{h: h, fd: fd}
	fail := func(err error) (*OutputWriter, error) {
		closeFD(fd)
		return nil, err
	}
	var st stat
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(osError("open", h.Name, d.join(h.File), err))
	}
	if why := outputFileWrong(&st, h); why != "" {
		return fail(fmt.Errorf("%w: %s: the name holds another file than the builder's (%s; someone else can rename files in %s); nothing was written", format.ErrPermissionDenied, what, why, h.Dir))
	}
	if err := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if err == unix.EWOULDBLOCK {
			return fail(closed("it is being published"))
		}
		return fail(osError("lock", h.Name, d.join(h.File), err))
	}
	if d.holds(h.File, fileID{h.Dev, h.Ino}) != nil {
		return fail(closed("it was published meanwhile"))
	}
	var head [len(format.Magic)]byte
	if n, _ := pread(fd, head[:], 0); n == len(head) && string(head[:]) == format.Magic {
		return fail(closed("it is sealed already"))
	}
	if st.Size < 0 || uint64(st.Size) < h.Offset+h.Length {
		return fail(fmt.Errorf("%w: %s: bytes [%d, %d) lie beyond the file's %d bytes (a handle of another segment?)", format.ErrOutOfBounds, what, h.Offset, h.Offset+h.Length, st.Size))
	}
	if h.Length == 0 {
		w.data = []byte{}
		return w, nil
	}
	page := uint64(os.Getpagesize())
	start := h.Offset &^ (page - 1)
	w.mem, err = unix.Mmap(fd, int64(start), int(h.Offset+h.Length-start), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(osError("map", h.Name, d.join(h.File), err))
	}
	w.data = w.mem[h.Offset-start : h.Offset-start+h.Length : h.Offset-start+h.Length]
	return w, nil
}

// outputFileWrong says why the file st is not the builder's file that h
// names ("" if it is): a regular file of this process's effective user,
// with one link (its hidden name), with h's device and inode (spec §10.6
// step 3.2; the C core's output_file_wrong is the same).
func outputFileWrong(st *stat, h OutputHandle) string {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return "not a regular file"
	case st.Uid != uint32(os.Geteuid()):
		return "not owned by this user"
	case st.Nlink != 1:
		return "it has " + strconv.FormatUint(uint64(st.Nlink), 10) + " links, not 1"
	case idOf(st) != (fileID{h.Dev, h.Ino}):
		return "another device and inode"
	}
	return ""
}

// Bytes is the array's memory: write the values there. It is valid until
// Close.
func (w *OutputWriter) Bytes() []byte { return w.data }

// Handle is the handle w was opened from.
func (w *OutputWriter) Handle() OutputHandle { return w.h }

// Close unmaps the array and releases the lock (publish may then proceed).
// It is idempotent; Bytes must not be used afterwards.
func (w *OutputWriter) Close() error {
	if w.fd < 0 {
		return nil
	}
	var err error
	if w.mem != nil {
		err = unix.Munmap(w.mem)
		w.mem, w.data = nil, nil
	}
	closeFD(w.fd)
	w.fd = -1
	return err
}
