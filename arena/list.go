package arena

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/shmarray/shmarray/format"
)

// Info describes one segment found by List, from its header alone.
type Info struct {
	Name       string
	Path       string
	Size       int64 // bytes of the file
	Arrays     int
	Created    time.Time
	CreatorPID uint32
	// CreatorAlive is whether the creating process still runs (a recycled
	// pid does not count when the start time was recorded).
	CreatorAlive bool
	// CreatorUnknown is set when the creator's pid cannot be judged from
	// this process (spec §10.5): pid 0, or a creator that started before
	// this process's pid namespace existed and so ran in another one, or a
	// /proc that hides what is needed. Such a segment is never an orphan;
	// CreatorAlive is then false.
	CreatorUnknown bool
	// Ephemeral is whether the creator asked for unlink on exit.
	Ephemeral bool
	// ID and Version are the segment's identity (zero for a file of
	// format 1.0 or 1.1, which has none).
	ID      format.ID
	Version uint64
	// Temporary marks, in GC's result only, a hidden temporary file that a
	// writer on the fallback publication path left when it died (Name is
	// its hidden name, CreatorPID the dead writer); List never returns one.
	Temporary bool
	// Building marks, in List's result, the hidden file of a segment being
	// built by a live writer that handed out output handles (spec §10.6):
	// Name is its hidden name (never attachable), Segment the segment's
	// name, CreatorPID the writer; Err is NOT_SEALED.
	Building bool
	Segment  string
	// Err is set for a file that starts like a segment but is not a valid
	// one (another version, unsealed, truncated header); the other fields
	// are then best effort.
	Err error
}

// Orphan reports whether the segment was meant to die with its creator and
// the creator is gone, so gc may remove it.
func (i *Info) Orphan() bool { return i.Ephemeral && !i.CreatorAlive && !i.CreatorUnknown }

// List returns the segments in dir (resolved as by Dir), sorted by name.
// Files that are not segments are skipped, and so are names reserved for
// temporary files (starting with '.'), symbolic links and non-regular files,
// except the hidden files of segments being built (Info.Building).
// Listing reads 192 bytes per file and never maps one. The directory is
// opened once and every file relative to it.
func List(dir string) ([]Info, error) {
	d, err := openDir(Dir(dir), followDirLink)
	if err != nil {
		return nil, osError("list", "*", Dir(dir), err)
	}
	defer d.close()
	entries, err := d.entries()
	if err != nil {
		return nil, osError("list", "*", d.path, err)
	}
	var out []Info
	v := &procView{}
	for _, e := range entries {
		// The entry's type is only a hint: the file is opened with
		// O_NOFOLLOW and checked with fstat all the same.
		if !e.Type().IsRegular() {
			continue
		}
		if pid, isTemp := tempFilePID(e.Name()); isTemp {
			if info, ok := probeBuilding(d, e.Name(), pid, v); ok {
				out = append(out, info)
			}
			continue
		}
		if format.ValidSegmentName(e.Name()) != nil {
			continue
		}
		if info, _, ok := probe(d, e.Name(), v); ok {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// probe reads the header of name in d from a descriptor opened relative to
// d; ok is false if it is not a segment. st is the fstat of the file it
// read, whose identity a removal checks the name against.
func probe(d *dirHandle, name string, v *procView) (Info, stat, bool) {
	info := Info{Name: name, Path: d.join(name)}
	fd, st, err := d.open(name)
	if err != nil {
		return info, st, false
	}
	defer closeFD(fd)
	info.Size = st.Size
	buf := make([]byte, format.HeaderSizeID)
	n, _ := pread(fd, buf, 0)
	h, err := format.ReadHeader(buf[:max(n, 0)])
	if format.CodeOf(err) == format.NotASegment {
		return info, st, false
	}
	info.Arrays = int(h.ArrayCount)
	info.Created = time.Unix(0, h.CreatedNanos)
	info.CreatorPID = h.CreatorPID
	switch v.creator(h.CreatorPID, h.CreatorStartTime) {
	case creatorAlive:
		info.CreatorAlive = true
	case creatorUnknown:
		info.CreatorUnknown = true
	}
	info.Ephemeral = h.Ephemeral()
	info.ID, info.Version = h.ID, h.Version
	switch {
	case err != nil:
		info.Err = err
	case !h.Sealed():
		info.Err = fmt.Errorf("%w: segment %q", format.ErrNotSealed, name)
	case uint64(st.Size) < h.FileSize:
		info.Err = fmt.Errorf("%w: segment %q is %d bytes, its header says %d", format.ErrTruncated, name, st.Size, h.FileSize)
	}
	return info, st, true
}

// Unlink removes the segment called name from dir (resolved as by Dir).
// Processes that have it attached keep reading it; its memory is freed when
// the last one closes. Unlink refuses (NOT_A_SEGMENT) to remove a file that
// is not a shmarray segment.
//
// The directory is opened once, without following a symbolic link as its
// last component (INVALID_ARGUMENT); the file is opened relative to it and
// its magic checked, and the name is unlinked from that directory only if
// it still holds the file that was checked (same device and inode), so a
// path swapped meanwhile never makes it remove anything elsewhere. Errors:
// INVALID_ARGUMENT, NOT_FOUND (also when the name changed during the call),
// NOT_A_SEGMENT, PERMISSION_DENIED.
func Unlink(name, dir string) error { return unlink(name, dir, nil) }

// UnlinkVersion is Unlink of one version (spec §10.5): it removes the name
// only while it holds the segment whose id is id, so that a creator that
// unlinks what it published never removes a newer version that replaced
// it. STALE, with nothing removed, if the name holds another version or
// nothing; otherwise the errors of Unlink.
func UnlinkVersion(name, dir string, id format.ID) error { return unlink(name, dir, &id) }

// unlink is Unlink, of the version whose id is *want when want is set.
func unlink(name, dir string, want *format.ID) error {
	if err := format.ValidSegmentName(name); err != nil {
		return err
	}
	d, err := openDir(Dir(dir), refuseDirLink)
	if err != nil {
		return dirError("unlink", Dir(dir), err)
	}
	defer d.close()
	path := d.join(name)
	fd, st, err := d.open(name)
	if err == errNotRegular {
		return fmt.Errorf("%w: segment %q: %s is not a regular file; not removed", format.ErrNotASegment, name, path)
	}
	if want != nil && errors.Is(err, errNoEntry) {
		return fmt.Errorf("%w: segment %q: unlink names id %s, no segment has that name now", format.ErrStale, name, *want)
	}
	if err != nil {
		return osError("unlink", name, path, err)
	}
	var head [format.HeaderSizeID]byte
	n, _ := pread(fd, head[:], 0)
	closeFD(fd)
	if n < len(format.Magic) || string(head[:len(format.Magic)]) != format.Magic {
		return fmt.Errorf("%w: %s is not a shmarray segment; not removed", format.ErrNotASegment, path)
	}
	if want != nil {
		// A header that does not read (another major version, a short
		// file) has no identity this reader knows: the zero id.
		h, _ := format.ReadHeader(head[:max(n, 0)])
		if h.ID != *want {
			return fmt.Errorf("%w: segment %q: unlink names id %s, the name holds version %d (id %s) now; nothing was removed", format.ErrStale, name, *want, h.Version, h.ID)
		}
	}
	return removeError("unlink", name, path, d.remove(name, idOf(&st)))
}

// ErrReplaced is in the chain of the NOT_FOUND error of an Unlink that
// found another file under the name by the time it removed it (errors.Is):
// nothing was removed.
var ErrReplaced = errors.New("replaced while being removed")

// replacedError is NOT_FOUND and ErrReplaced, with its own message.
type replacedError struct{ msg string }

func (e replacedError) Error() string   { return e.msg }
func (e replacedError) Unwrap() []error { return []error{format.ErrNotFound, ErrReplaced} }

// removeError explains an error of dirHandle.remove; nil stays nil.
func removeError(op, name, path string, err error) error {
	if err == errChanged {
		return replacedError{fmt.Sprintf("%s: %s segment %q: %s was replaced by another file while it was being removed; nothing was removed (check the directory and try again)", format.ErrNotFound, op, name, path)}
	}
	if err != nil {
		return osError(op, name, path, err)
	}
	return nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
