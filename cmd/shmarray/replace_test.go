package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// TestCreateReplace: create --replace publishes the next version over an
// existing segment, atomically; --replace-if only while the name holds the
// version named; ls and info show each version and id.
func TestCreateReplace(t *testing.T) {
	src := t.TempDir()
	v1, v2 := filepath.Join(src, "v1.csv"), filepath.Join(src, "v2.csv")
	require.NoError(t, os.WriteFile(v1, []byte("a\n1\n2\n"), 0o600))
	require.NoError(t, os.WriteFile(v2, []byte("a\n10\n20\n30\n"), 0o600))
	dir := segDir(t)
	created := regexp.MustCompile(`^created "\w+" in .*: version (\d+) \(id ([0-9a-f]{32})\), 1 arrays, (\S+) rows`)

	out := ok(t, "create", "t", "--from", v1, "--dir", dir)
	m := created.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	assert.Equal(t, []string{"1", "2"}, []string{m[1], m[3]})
	id1 := m[2]

	old, err := arena.Attach("t", dir)
	require.NoError(t, err)
	defer old.Close()

	line := failsWith(t, 1, "create", "t", "--from", v2, "--dir", dir)
	assert.Contains(t, line, "replace it with --replace")

	m = created.FindStringSubmatch(ok(t, "create", "t", "--from", v2, "--dir", dir, "--replace"))
	require.NotNil(t, m)
	assert.Equal(t, []string{"2", "3"}, []string{m[1], m[3]})
	id2 := m[2]
	assert.NotEqual(t, id1, id2)
	vals, err := arena.Values[int64](old, "a")
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2}, vals, "a reader of version 1 keeps it")

	// --replace-if with the id of a version that is gone: STALE, naming
	// the version the name holds; nothing changes.
	line = failsWith(t, 1, "create", "t", "--from", v1, "--dir", dir, "--replace-if", id1)
	assert.Contains(t, line, "replace_if names id "+id1+", the name holds version 2 (id "+id2+") now")
	assert.Contains(t, line, "shmarray info t")
	m = created.FindStringSubmatch(ok(t, "create", "t", "--from", v1, "--dir", dir, "--replace-if", id2))
	require.NotNil(t, m)
	assert.Equal(t, "3", m[1])
	id3 := m[2]

	text := ok(t, "info", "t", "--dir", dir)
	assert.Regexp(t, `(?m)^version\s+3 \(id `+id3+`\)$`, text)
	var listed []lsEntry
	require.NoError(t, json.Unmarshal([]byte(ok(t, "ls", "--json", "--dir", dir)), &listed))
	require.Len(t, listed, 1)
	assert.Equal(t, uint64(3), listed[0].Version)
	require.NotNil(t, listed[0].ID)
	assert.Equal(t, id3, *listed[0].ID)
	assert.Regexp(t, `(?m)^t\s.*\s3\s+\d+ exited\s+\d+s\s+`+id3+`$`, ok(t, "ls", "--dir", dir))

	// Usage errors: a malformed id, both flags, --replace-if of a name
	// that holds nothing.
	r := runCLI(t, "create", "t", "--from", v1, "--dir", dir, "--replace-if", "ABC")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `--replace-if "ABC": an id is 32 lowercase hex digits`)
	r = runCLI(t, "create", "t", "--from", v1, "--dir", dir, "--replace", "--replace-if", id3)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "give --replace or --replace-if, not both")
	line = failsWith(t, 1, "create", "other", "--from", v1, "--dir", dir, "--replace-if", id3)
	assert.Contains(t, line, "no segment has that name now")
	assert.Equal(t, []string{"t"}, segmentNames(t, dir))

	// --replace of a free name is a first publish.
	m = created.FindStringSubmatch(ok(t, "create", "fresh", "--from", v1, "--dir", dir, "--replace"))
	require.NotNil(t, m)
	assert.Equal(t, "1", m[1])
}

// TestLsAndInfoOfAVersion10File: a file of format 1.0 (no identity) shows
// "-" and "none" for its version and id, and null in JSON.
func TestLsAndInfoOfAVersion10File(t *testing.T) {
	dir := segDir(t)
	raw, err := os.ReadFile(filepath.Join("..", "..", "conformance", "vectors", "v1", "valid", "spec_example.shm"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old"), raw, 0o600))
	assert.Regexp(t, `(?m)^old\s.*\s1\s+3\s+-\s+0 unknown\s+\S+\s+-$`, ok(t, "ls", "--dir", dir))
	assert.Regexp(t, `(?m)^version\s+none \(a format 1\.0 or 1\.1 file has no identity\)$`, ok(t, "info", "old", "--dir", dir))
	var seg infoSegment
	require.NoError(t, json.Unmarshal([]byte(ok(t, "info", "old", "--json", "--dir", dir)), &seg))
	assert.Nil(t, seg.ID)
	assert.Zero(t, seg.Version)
	assert.Equal(t, "1.0", seg.FormatVersion)
	s, err := arena.Attach("old", dir)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, format.ID{}, s.ID())
}

func segmentNames(t *testing.T, dir string) []string {
	t.Helper()
	infos, err := arena.List(dir)
	require.NoError(t, err)
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	return names
}
