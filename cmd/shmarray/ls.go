package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

const lsAbout = `
Lists the segments of the directory, sorted by name: file size, number of
arrays, rows (the length all arrays share, "-" when they differ), the
version (1 at the first publish, one more at each create --replace), the pid
of the process that created the segment and whether it still runs, the
segment's age and its id ("-" for a file of format 1.0 or 1.1, which has no
identity). An ephemeral segment whose creator has exited is marked
"orphan": gc removes those. A creator that cannot be judged from here (it
ran in another pid namespace) is "unknown". A segment being built, whose
builder handed out output handles to other processes, shows under the
hidden name of its unpublished file, marked "building" with its segment's
name; it cannot be attached until it is published. Files that are not
segments are not shown.`

// lsEntry is one segment in the output of ls (the JSON form is stable).
type lsEntry struct {
	Name           string    `json:"name"`
	Path           string    `json:"path"`
	Size           int64     `json:"size"`
	Arrays         int       `json:"arrays"`
	Rows           *int64    `json:"rows"` // null when the arrays' lengths differ
	CreatorPID     uint32    `json:"creator_pid"`
	CreatorAlive   bool      `json:"creator_alive"`
	CreatorUnknown bool      `json:"creator_unknown"` // not judged from here (another pid namespace): never an orphan
	Ephemeral      bool      `json:"ephemeral"`
	Orphan         bool      `json:"orphan"`
	ID             *string   `json:"id"`      // 32 hex digits; null for a 1.0 or 1.1 file (no identity)
	Version        uint64    `json:"version"` // 0 for a 1.0 or 1.1 file
	Created        time.Time `json:"created"`
	AgeSeconds     float64   `json:"age_seconds"`
	Error          string    `json:"error,omitempty"` // set for a file that is not a valid segment
	// Building: the hidden file of a segment being built (Name is that
	// hidden name, Segment the segment's name when known); not attachable.
	Building bool   `json:"building,omitempty"`
	Segment  string `json:"segment,omitempty"`
}

func cmdLs(e *env, args []string) error {
	f := newFlags("ls", "[--json]", lsAbout)
	asJSON := f.Bool("json", false, "print a JSON array instead of a table")
	pos, err := f.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return f.fail("ls takes no arguments, got %q", pos)
	}
	infos, err := arena.List(f.dir)
	if err != nil {
		return segmentError("ls", "", f.dir, err)
	}
	now := time.Now()
	entries := make([]lsEntry, 0, len(infos))
	for _, info := range infos {
		entries = append(entries, describeListed(info, f.dir, now))
	}
	if *asJSON {
		return writeJSON(e.stdout, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(e.stdout, "no segments in %s\n", arena.Dir(f.dir))
		return nil
	}
	t := &table{header: []string{"NAME", "SIZE", "ARRAYS", "ROWS", "VERSION", "CREATOR", "AGE", "ID"}, right: []bool{false, true, true, true, true, false, true, false}}
	for _, en := range entries {
		rows := "-"
		if en.Rows != nil {
			rows = countText(*en.Rows)
		}
		creator := strconv.FormatUint(uint64(en.CreatorPID), 10)
		switch {
		case en.Orphan:
			creator += " exited (orphan)"
		case en.CreatorAlive:
			creator += " alive"
		case en.CreatorUnknown:
			creator += " unknown"
		default:
			creator += " exited"
		}
		switch {
		case en.Building:
			rows = "building"
			if en.Segment != "" {
				rows += " " + en.Segment
			}
		case en.Error != "":
			rows = "invalid"
		}
		version, id := "-", "-"
		if en.ID != nil {
			version, id = strconv.FormatUint(en.Version, 10), *en.ID
		}
		t.add(en.Name, sizeText(en.Size), strconv.Itoa(en.Arrays), rows, version, creator, ageText(time.Duration(en.AgeSeconds*float64(time.Second))), id)
	}
	if err := t.write(e.stdout); err != nil {
		return err
	}
	for _, en := range entries {
		if en.Error != "" && !en.Building {
			fmt.Fprintln(e.stderr, oneLine(fmt.Sprintf("shmarray: ls: %s is not a valid segment: %s (see: shmarray verify %s%s)", en.Name, en.Error, en.Name, dirArg(arena.Dir(f.dir)))))
		}
	}
	return nil
}

// describeListed completes what List says with the row count, which
// needs an attach (O(arrays), no data read).
func describeListed(info arena.Info, dir string, now time.Time) lsEntry {
	en := lsEntry{
		Name: info.Name, Path: info.Path, Size: info.Size, Arrays: info.Arrays,
		CreatorPID: info.CreatorPID, CreatorAlive: info.CreatorAlive, CreatorUnknown: info.CreatorUnknown,
		Ephemeral: info.Ephemeral, Orphan: info.Orphan(),
		Created: info.Created, AgeSeconds: now.Sub(info.Created).Seconds(),
		ID: idText(info.ID), Version: info.Version, Building: info.Building, Segment: info.Segment,
	}
	if info.Err != nil {
		en.Error = reason(info.Err)
		return en
	}
	s, err := arena.Attach(info.Name, dir)
	if err != nil {
		en.Error = reason(err)
		return en
	}
	defer s.Close()
	if n, ok := commonLength(s.Arrays()); ok {
		en.Rows = &n
	}
	return en
}

// idText is the text form of a segment id, nil for the zero id (a file
// of format 1.0 or 1.1, which has no identity).
func idText(id format.ID) *string {
	if id.IsZero() {
		return nil
	}
	s := id.String()
	return &s
}

// commonLength is the length all arrays share; false when they differ or
// there are none.
func commonLength(arrays []format.ArrayDesc) (int64, bool) {
	if len(arrays) == 0 {
		return 0, false
	}
	for _, a := range arrays[1:] {
		if a.Length != arrays[0].Length {
			return 0, false
		}
	}
	return arrays[0].Length, true
}
