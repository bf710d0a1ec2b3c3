package arena

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shmarray/shmarray/format"
)

// GC removes the orphaned segments of dir (resolved as by Dir): those whose
// creator asked for unlink-on-exit (Ephemeral) and is no longer running, as
// recorded by its pid and start time. It never removes a segment whose
// creator lives, or one created without that request. Each segment's header
// is read again just before it is unlinked, so a segment published under
// the same name in the meantime is left alone.
//
// It also removes the hidden temporary files (".shmarray-tmp-PID-…") that a
// writer on the fallback publication path (file systems without O_TMPFILE)
// leaves when it dies before publishing, once process PID no longer runs.
// They come back with Temporary set, their hidden name as Name, and Err
// wrapping NOT_SEALED; they were never segments.
//
// With dryRun it only reports. It returns what it removed (or would), and
// the first error met while removing; it goes on past errors. Pids mean
// something only in the creator's pid namespace: do not run GC on a
// directory shared with processes of another pid namespace.
func GC(dir string, dryRun bool) ([]Info, error) {
	infos, err := List(dir)
	if err != nil {
		return nil, err
	}
	var removed []Info
	var firstErr error
	keep := func(info Info, err error) {
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		removed = append(removed, info)
	}
	for _, info := range infos {
		if !info.Orphan() {
			continue
		}
		if dryRun {
			removed = append(removed, info)
			continue
		}
		if again, ok := probe(info.Name, Dir(dir)); !ok || !sameOrphan(info, again) {
			continue // replaced or removed since List: not ours to remove
		}
		keep(info, Unlink(info.Name, dir))
	}
	temps, err := staleTempFiles(Dir(dir))
	if err != nil && firstErr == nil {
		firstErr = err
	}
	for _, info := range temps {
		if !dryRun {
			if err := os.Remove(info.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				keep(info, osError("remove the temporary file of", info.Name, info.Path, unwrapPathError(err)))
				continue
			}
		}
		removed = append(removed, info)
	}
	return removed, firstErr
}

// sameOrphan reports whether a second look at a segment still finds the
// orphan the first one found (same creator, same creation time).
func sameOrphan(first, again Info) bool {
	return again.Orphan() && again.CreatorPID == first.CreatorPID && again.Created.Equal(first.Created)
}

// staleTempFiles lists the fallback path's hidden files in dir whose writer
// (the pid in the name) no longer runs.
func staleTempFiles(dir string) ([]Info, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, osError("list", "*", dir, unwrapPathError(err))
	}
	var out []Info
	for _, e := range entries {
		pid, ok := tempFilePID(e.Name())
		if !ok || !e.Type().IsRegular() || processAlive(pid, 0) {
			continue
		}
		info := Info{Name: e.Name(), Path: filepath.Join(dir, e.Name()), CreatorPID: pid, Temporary: true,
			Err: fmt.Errorf("%w: %s is the unfinished temporary file of writer %d, which no longer runs", format.ErrNotSealed, e.Name(), pid)}
		if fi, err := e.Info(); err == nil {
			info.Size = fi.Size()
			info.Created = fi.ModTime()
		}
		out = append(out, info)
	}
	return out, nil
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
