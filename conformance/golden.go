package conformance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shmarray/shmarray/conformance/index"
	"github.com/shmarray/shmarray/format"
)

// VectorsDir is where the vectors of format version 1 live, relative to the
// repository root.
const VectorsDir = "conformance/vectors/v1"

// Golden returns every vector file, by path relative to the vectors
// directory ("valid/type_int64.shm", "invalid/bad_magic.json", ...). It is
// deterministic: the same definitions give the same bytes on any machine.
// It also checks each vector against its definition with the Go reference
// reader, so that a definition that does not mean what it says fails here
// rather than in every runner.
func Golden() (map[string][]byte, error) {
	files := map[string][]byte{}
	valid := map[string][]byte{}
	for _, c := range ValidCases() {
		if !safeName(c.Name) {
			return nil, fmt.Errorf("case name %q: use [a-z0-9_]", c.Name)
		}
		if _, dup := valid[c.Name]; dup {
			return nil, fmt.Errorf("case %q defined twice", c.Name)
		}
		b, err := Vector(c)
		if err != nil {
			return nil, err
		}
		s, err := format.Decode(b)
		if err == nil {
			err = s.Validate(b)
		}
		if err != nil {
			return nil, fmt.Errorf("valid case %q does not pass the Go reader: %w", c.Name, err)
		}
		valid[c.Name] = b
		files["valid/"+c.Name+".shm"] = b
		files["valid/"+c.Name+".json"] = c.Marshal()
	}
	for _, inv := range InvalidCases() {
		if !safeName(inv.Name) {
			return nil, fmt.Errorf("case name %q: use [a-z0-9_]", inv.Name)
		}
		if _, dup := files["invalid/"+inv.Name+".shm"]; dup {
			return nil, fmt.Errorf("invalid case %q defined twice", inv.Name)
		}
		base, ok := valid[inv.Base]
		if !ok {
			return nil, fmt.Errorf("invalid case %q: no valid case %q", inv.Name, inv.Base)
		}
		b, err := inv.Build(base)
		if err != nil {
			return nil, err
		}
		if code, stage := CheckBytes(b); code != inv.Expect || stage != inv.Stage {
			return nil, fmt.Errorf("invalid case %q: the Go reader reports %s at the %s stage, the case expects %s at the %s stage",
				inv.Name, code.Name(), stage, inv.Expect.Name(), inv.Stage)
		}
		files["invalid/"+inv.Name+".shm"] = b
		files["invalid/"+inv.Name+".json"] = inv.JSON().Marshal()
	}
	indexFiles, err := index.Files()
	if err != nil {
		return nil, err
	}
	for name, b := range indexFiles {
		files[name] = b
	}
	return files, nil
}

// CheckBytes runs the Go reference reader over a whole file as attach does
// (a file shorter than 8 bytes is NOT_A_SEGMENT) and reports the first
// error's code and stage, or OK.
func CheckBytes(b []byte) (format.Code, Stage) {
	if len(b) < len(format.Magic) {
		return format.NotASegment, Structural
	}
	s, err := format.Decode(b)
	if err != nil {
		return format.CodeOf(err), Structural
	}
	if err := s.Validate(b); err != nil {
		return format.CodeOf(err), Full
	}
	return format.OK, ""
}

func safeName(n string) bool {
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return n != ""
}

// WriteGolden writes every vector under dir (valid/ and invalid/) and
// removes any other .shm or .json file there, so that a renamed or
// deleted case leaves nothing behind.
func WriteGolden(dir string) error {
	files, err := Golden()
	if err != nil {
		return err
	}
	for _, sub := range []string{"valid", "invalid"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
		old, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		for _, p := range old {
			rel := sub + "/" + filepath.Base(p)
			if _, keep := files[rel]; !keep && (strings.HasSuffix(p, ".shm") || strings.HasSuffix(p, ".json")) {
				if err := os.Remove(p); err != nil {
					return err
				}
			}
		}
	}
	for rel, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, b) {
			continue
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// CheckGolden compares the files under dir with a regeneration and lists
// every difference (missing, extra or changed files); nil when they agree.
func CheckGolden(dir string) ([]string, error) {
	files, err := Golden()
	if err != nil {
		return nil, err
	}
	var diffs []string
	for rel, b := range files {
		cur, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		switch {
		case os.IsNotExist(err):
			diffs = append(diffs, "missing: "+rel)
		case err != nil:
			return nil, err
		case !bytes.Equal(cur, b):
			diffs = append(diffs, "differs: "+rel)
		}
	}
	for _, sub := range []string{"valid", "invalid"} {
		found, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		for _, p := range found {
			rel := sub + "/" + filepath.Base(p)
			if _, ok := files[rel]; !ok {
				diffs = append(diffs, "not generated: "+rel)
			}
		}
	}
	sort.Strings(diffs)
	return diffs, nil
}
