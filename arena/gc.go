package arena

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/shmarray/shmarray/format"
)

// GC removes the orphaned segments of dir (resolved as by Dir): those whose
// creator asked for unlink-on-exit (Ephemeral) and is proven gone (see
// Info.CreatorUnknown for the creators it cannot judge, such as those of
// another pid namespace). It never removes a segment whose creator may
// live, or one created without that request.
//
// It also removes the hidden temporary files (".shmarray-tmp-PID-…") that a
// writer on the fallback publication path (file systems without O_TMPFILE)
// leaves when it dies before publishing, but only those it can prove are
// such leftovers (spec §10.5): a regular file with one link, whose writer
// PID is proven gone, owned by the caller and holding nothing but zeros in
// its first 8 bytes (a writer writes its header last), or the segment
// magic; root also removes those of other users, only when they start with
// the magic. Any other file under such a name is left alone, silently:
// anyone may plant one. They come back with Temporary set, their hidden
// name as Name, and Err wrapping NOT_SEALED; they were never segments.
//
// The directory is opened once, without following a symbolic link as its
// last component (INVALID_ARGUMENT). Each file is opened relative to it and
// judged from that descriptor, and its name is unlinked only if it still
// holds that same file (device and inode), so a file replaced or a path
// swapped meanwhile is never removed.
//
// With dryRun it only reports. It returns what it removed (or would):
// segments, then temporary files, each sorted by name; and,
// joined with errors.Join, one error per file it meant to remove and could
// not, each naming the file; it goes on past them.
func GC(dir string, dryRun bool) ([]Info, error) {
	d, err := openDir(Dir(dir), refuseDirLink)
	if err != nil {
		return nil, dirError("gc", Dir(dir), err)
	}
	defer d.close()
	entries, err := d.entries()
	if err != nil {
		return nil, osError("gc", "*", d.path, err)
	}
	v := &procView{}
	var removed []Info
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue // a hint only: the file is checked through its descriptor
		}
		var info Info
		var st stat
		var ok bool
		var op string
		if pid, isTemp := tempFilePID(name); isTemp {
			info, st, ok = probeTemp(d, name, pid, v)
			op = "remove the temporary file of a dead writer,"
		} else if format.ValidSegmentName(name) == nil {
			info, st, ok = probe(d, name, v)
			ok = ok && info.Orphan()
			op = "remove orphaned"
		}
		if !ok || !d.entitled(&st) {
			continue
		}
		if !dryRun {
			err := d.remove(name, idOf(&st))
			if errors.Is(err, os.ErrNotExist) || err == errChanged {
				continue // removed or replaced since it was judged: not ours to remove
			}
			if err != nil {
				errs = append(errs, osError(op, name, info.Path, err))
				continue
			}
		}
		removed = append(removed, info)
	}
	// Segments before temporary files, each by name, as the C core orders them.
	slices.SortFunc(removed, func(a, b Info) int {
		if a.Temporary != b.Temporary {
			if a.Temporary {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return removed, errors.Join(errs...)
}

// probeTemp judges a fallback temporary file, name in d, whose name says
// its writer was pid. ok is true only if the file is proven to be a
// leftover the caller may remove (GC's rules); st is the file it read.
func probeTemp(d *dirHandle, name string, pid uint32, v *procView) (Info, stat, bool) {
	fd, st, err := d.open(name)
	if err != nil {
		return Info{}, st, false
	}
	defer closeFD(fd)
	euid := uint32(os.Geteuid())
	own := st.Uid == euid
	if st.Nlink != 1 || (!own && euid != 0) {
		return Info{}, st, false
	}
	head := make([]byte, len(format.Magic))
	want := int(min(st.Size, int64(len(head))))
	n, _ := pread(fd, head, 0)
	if n != want {
		return Info{}, st, false
	}
	magic := n == len(format.Magic) && string(head) == format.Magic
	zero := strings.Count(string(head[:n]), "\x00") == n
	if !magic && !(own && zero) {
		return Info{}, st, false
	}
	if v.creator(pid, 0) != creatorGone {
		return Info{}, st, false
	}
	return Info{Name: name, Path: d.join(name), CreatorPID: pid, Temporary: true, Size: st.Size,
		Created: modTime(&st),
		Err:     fmt.Errorf("%w: %s is the unfinished temporary file of writer %d, which no longer runs", format.ErrNotSealed, name, pid),
	}, st, true
}

// probeBuilding judges a hidden temporary file, name in d, whose name says
// its writer is pid, for List: ok when its name carries a segment name
// (the hidden name of shared outputs, spec §10.6), and it is the caller's
// regular file with one link, unsealed (zeros in its first 8 bytes), and
// its writer runs. Other hidden files (the fallback writer's, which name
// no segment) are never listed.
func probeBuilding(d *dirHandle, name string, pid uint32, v *procView) (Info, bool) {
	segment := tempSegmentName(name)
	if segment == "" {
		return Info{}, false
	}
	fd, st, err := d.open(name)
	if err != nil {
		return Info{}, false
	}
	defer closeFD(fd)
	if st.Nlink != 1 || st.Uid != uint32(os.Geteuid()) {
		return Info{}, false
	}
	head := make([]byte, len(format.Magic))
	n, _ := pread(fd, head, 0)
	if n != int(min(st.Size, int64(len(head)))) || strings.Count(string(head[:max(n, 0)]), "\x00") != n {
		return Info{}, false
	}
	if v.creator(pid, 0) != creatorAlive {
		return Info{}, false
	}
	return Info{Name: name, Path: d.join(name), CreatorPID: pid, CreatorAlive: true, Building: true,
		Size: st.Size, Created: modTime(&st), Segment: segment,
		Err: fmt.Errorf("%w: %s is the unpublished file of segment %q, being built by process %d", format.ErrNotSealed, name, segment, pid),
	}, true
}

// tempSegmentName is the segment name a hidden name carries after its pid
// and 16 hex digits ("" if none): tempPrefix + PID + "-" + HEX16 + "-" + NAME.
func tempSegmentName(name string) string {
	rest := strings.TrimPrefix(name, tempPrefix)
	_, rest, _ = strings.Cut(rest, "-")
	if len(rest) < 18 || rest[16] != '-' || format.ValidSegmentName(rest[17:]) != nil {
		return ""
	}
	return rest[17:]
}

// tempFilePID parses the writer's pid out of a fallback temporary name,
// tempPrefix + PID + "-" + random hex.
func tempFilePID(name string) (uint32, bool) {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || pid == 0 {
		return 0, false
	}
	return uint32(pid), true
}
