package arena

import (
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
	// Ephemeral is whether the creator asked for unlink on exit.
	Ephemeral bool
	// Temporary marks, in GC's result only, a hidden temporary file that a
	// writer on the fallback publication path left when it died (Name is
	// its hidden name, CreatorPID the dead writer); List never returns one.
	Temporary bool
	// Err is set for a file that starts like a segment but is not a valid
	// one (another version, unsealed, truncated header); the other fields
	// are then best effort.
	Err error
}

// Orphan reports whether the segment was meant to die with its creator and
// the creator is gone, so gc may remove it.
func (i *Info) Orphan() bool { return i.Ephemeral && !i.CreatorAlive }

// List returns the segments in dir (resolved as by Dir), sorted by name.
// Files that are not segments are skipped, and so are names reserved for
// temporary files (starting with '.'), symbolic links and non-regular files.
// Listing reads 128 bytes per file and never maps one.
func List(dir string) ([]Info, error) {
	dir = Dir(dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, osError("list", "*", dir, unwrapPathError(err))
	}
	var out []Info
	for _, e := range entries {
		if !e.Type().IsRegular() || format.ValidSegmentName(e.Name()) != nil {
			continue
		}
		if info, ok := probe(e.Name(), dir); ok {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// probe reads the header of one file; ok is false if it is not a segment.
func probe(name, dir string) (Info, bool) {
	path, _ := Path(name, dir)
	info := Info{Name: name, Path: path}
	fd, size, err := openSegment(path)
	if err != nil {
		return info, false
	}
	defer closeFD(fd)
	info.Size = size
	buf := make([]byte, format.HeaderSize)
	n, _ := pread(fd, buf, 0)
	h, err := format.ReadHeader(buf[:max(n, 0)])
	if format.CodeOf(err) == format.NotASegment {
		return info, false
	}
	info.Arrays = int(h.ArrayCount)
	info.Created = time.Unix(0, h.CreatedNanos)
	info.CreatorPID = h.CreatorPID
	info.CreatorAlive = processAlive(h.CreatorPID, h.CreatorStartTime)
	info.Ephemeral = h.Ephemeral()
	switch {
	case err != nil:
		info.Err = err
	case !h.Sealed():
		info.Err = fmt.Errorf("%w: segment %q", format.ErrNotSealed, name)
	case uint64(size) < h.FileSize:
		info.Err = fmt.Errorf("%w: segment %q is %d bytes, its header says %d", format.ErrTruncated, name, size, h.FileSize)
	}
	return info, true
}

// Unlink removes the segment called name from dir (resolved as by Dir).
// Processes that have it attached keep reading it; its memory is freed when
// the last one closes. Unlink refuses (NOT_A_SEGMENT) to remove a file that
// is not a shmarray segment. Errors: INVALID_ARGUMENT, NOT_FOUND,
// NOT_A_SEGMENT, PERMISSION_DENIED.
func Unlink(name, dir string) error {
	path, err := Path(name, dir)
	if err != nil {
		return err
	}
	fd, _, err := openSegment(path)
	if err == errNotRegular {
		return fmt.Errorf("%w: segment %q: %s is not a regular file; not removed", format.ErrNotASegment, name, path)
	}
	if err != nil {
		return osError("unlink", name, path, err)
	}
	var magic [len(format.Magic)]byte
	n, _ := pread(fd, magic[:], 0)
	closeFD(fd)
	if n != len(magic) || string(magic[:]) != format.Magic {
		return fmt.Errorf("%w: %s is not a shmarray segment; not removed", format.ErrNotASegment, path)
	}
	if err := unlinkPath(path); err != nil {
		return osError("unlink", name, path, err)
	}
	return nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
