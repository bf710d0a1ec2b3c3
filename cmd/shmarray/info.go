package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

const infoAbout = `
Describes one segment from its header and directory (no data is read):
size, format version, version and id (see create --replace), creator and
age, the segment's metadata, and for each
array its name, type, length, null count, shape and metadata, and which
arrays carry a hash index (built with create --index).`

type infoArray struct {
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Length    int64             `json:"length"`
	NullCount int64             `json:"null_count"`
	Shape     []int64           `json:"shape"`
	Metadata  map[string]string `json:"metadata"`
	Checksum  bool              `json:"checksum"` // a data CRC was recorded
}

type infoSegment struct {
	Name          string            `json:"name"`
	Path          string            `json:"path"`
	Size          int64             `json:"size"`
	FormatVersion string            `json:"format_version"`
	ID            *string           `json:"id"`      // 32 hex digits; null for a 1.0 or 1.1 file (no identity)
	Version       uint64            `json:"version"` // 0 for a 1.0 or 1.1 file
	Created       time.Time         `json:"created"`
	CreatorPID    uint32            `json:"creator_pid"`
	CreatorAlive  bool              `json:"creator_alive"`
	Ephemeral     bool              `json:"ephemeral"`
	Rows          *int64            `json:"rows"` // null when the arrays' lengths differ
	Metadata      map[string]string `json:"metadata"`
	Indexes       []string          `json:"indexes"`
	Arrays        []infoArray       `json:"arrays"`
}

func cmdInfo(e *env, args []string) error {
	f := newFlags("info", "NAME [--json]", infoAbout)
	asJSON := f.Bool("json", false, "print JSON instead of text")
	pos, err := f.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.fail("expected one segment name, got %d arguments", len(pos))
	}
	name := pos[0]
	what := fmt.Sprintf("info %q", name)
	s, err := arena.Attach(name, f.dir)
	if err != nil {
		return segmentError(what, name, f.dir, err)
	}
	defer s.Close()
	seg := describeSegment(s, f.dir)
	if *asJSON {
		return writeJSON(e.stdout, seg)
	}
	return writeInfo(e, seg)
}

// describeSegment collects what info prints.
func describeSegment(s *arena.Segment, dir string) infoSegment {
	h := s.Header()
	seg := infoSegment{
		Name: s.Name(), Path: s.Path(), Size: int64(h.FileSize),
		FormatVersion: fmt.Sprintf("%d.%d", h.Major, h.Minor),
		ID:            idText(s.ID()), Version: s.Version(),
		Created: time.Unix(0, h.CreatedNanos), CreatorPID: h.CreatorPID,
		Ephemeral: h.Ephemeral(), Metadata: kvMap(s.Metadata()), Indexes: []string{},
	}
	// Whether the creator lives is what List computes (pid and start time).
	if infos, err := arena.List(dir); err == nil {
		for _, in := range infos {
			if in.Name == s.Name() {
				seg.CreatorAlive = in.CreatorAlive
			}
		}
	}
	if n, ok := commonLength(s.Arrays()); ok {
		seg.Rows = &n
	}
	for _, a := range s.Arrays() {
		if a.Index.Present() {
			seg.Indexes = append(seg.Indexes, a.Name)
		}
		seg.Arrays = append(seg.Arrays, infoArray{
			Name: a.Name, Type: a.DType.String(), Length: a.Length, NullCount: a.NullCount,
			Shape: a.Shape, Metadata: kvMap(a.Metadata), Checksum: a.HasDataCRC,
		})
	}
	if seg.Arrays == nil {
		seg.Arrays = []infoArray{}
	}
	return seg
}

func writeInfo(e *env, seg infoSegment) error {
	alive := "exited"
	if seg.CreatorAlive {
		alive = "alive"
	}
	rows := "lengths differ"
	if seg.Rows != nil {
		rows = countText(*seg.Rows) + " rows"
	}
	head := &table{header: []string{"segment", seg.Name}}
	head.add("path", seg.Path)
	head.add("size", fmt.Sprintf("%s (%s bytes)", sizeText(seg.Size), countText(seg.Size)))
	head.add("format", seg.FormatVersion)
	if seg.ID != nil {
		head.add("version", fmt.Sprintf("%d (id %s)", seg.Version, *seg.ID))
	} else {
		head.add("version", "none (a format 1.0 or 1.1 file has no identity)")
	}
	head.add("created", fmt.Sprintf("%s (%s ago)", seg.Created.Local().Format("2006-01-02 15:04:05 MST"), ageText(time.Since(seg.Created))))
	head.add("creator", fmt.Sprintf("pid %d (%s)", seg.CreatorPID, alive))
	head.add("ephemeral", yesNo(seg.Ephemeral))
	head.add("arrays", fmt.Sprintf("%d, %s", len(seg.Arrays), rows))
	indexes := "none"
	if len(seg.Indexes) > 0 {
		indexes = strings.Join(seg.Indexes, ", ")
	}
	head.add("indexes", indexes)
	md := kvText(seg.Metadata)
	if len(md) == 0 {
		md = []string{"none"}
	}
	for i, kv := range md {
		label := ""
		if i == 0 {
			label = "metadata"
		}
		head.add(label, kv)
	}
	if err := head.write(e.stdout); err != nil {
		return err
	}
	if len(seg.Arrays) == 0 {
		return nil
	}
	fmt.Fprintln(e.stdout)
	t := &table{header: []string{"NAME", "TYPE", "LENGTH", "NULLS", "SHAPE", "METADATA"}, right: []bool{false, false, true, true}}
	for _, a := range seg.Arrays {
		t.add(a.Name, a.Type, countText(a.Length), countText(a.NullCount), shapeText(a.Shape), strings.Join(kvText(a.Metadata), " "))
	}
	return t.write(e.stdout)
}

func kvMap(kvs []format.KV) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// kvText is "key=value" per pair, sorted by key, long values shortened.
func kvText(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + shorten(oneLine(m[k]), 60)
	}
	return out
}

func shapeText(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// shorten cuts s to at most n runes, marking the cut with "…".
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
