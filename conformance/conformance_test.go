package conformance

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// vectors is the vectors directory seen from this package's directory.
const vectors = "vectors/v1"

// TestVectorsUpToDate fails when the committed vectors are not what the
// definitions give (CI runs it through make test): run `make golden`.
func TestVectorsUpToDate(t *testing.T) {
	diffs, err := CheckGolden(vectors)
	require.NoError(t, err)
	assert.Empty(t, diffs, "the committed vectors differ from the case definitions: run `make golden` and commit conformance/vectors")
}

// TestGoldenIsDeterministic: two generations give the same bytes.
func TestGoldenIsDeterministic(t *testing.T) {
	a, err := Golden()
	require.NoError(t, err)
	b, err := Golden()
	require.NoError(t, err)
	require.Equal(t, len(a), len(b))
	for k, v := range a {
		assert.Equal(t, v, b[k], k)
	}
}

// TestSpecExample: the vector spec_example is the worked example of spec §16.
func TestSpecExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(vectors, "valid", "spec_example.shm"))
	require.NoError(t, err)
	assert.Len(t, b, 385)
	assert.Equal(t, uint32(0x8FA1045F), binary.LittleEndian.Uint32(b[120:]))
}

func TestCaseCounts(t *testing.T) {
	assert.GreaterOrEqual(t, len(ValidCases()), 30)
	assert.GreaterOrEqual(t, len(InvalidCases()), 15)
}

// TestGoReader is the Go column of the readers × vectors matrix, in-process:
// every valid vector attaches, validates and dumps as its JSON says; every
// invalid one fails with its code at its stage.
func TestGoReader(t *testing.T) {
	fds, maps := openFDs(t), mappings(t)
	for _, c := range ValidCases() {
		t.Run("valid/"+c.Name, func(t *testing.T) {
			jc, err := ReadCase(filepath.Join(vectors, "valid", c.Name+".json"))
			require.NoError(t, err)
			want, err := ExpectedDump(jc)
			require.NoError(t, err)
			got, err := readDump(filepath.Join(vectors, "valid"), c.Name+".shm")
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
	for _, inv := range InvalidCases() {
		t.Run("invalid/"+inv.Name, func(t *testing.T) {
			jc, err := ReadInvalidCase(filepath.Join(vectors, "invalid", inv.Name+".json"))
			require.NoError(t, err)
			s, err := arena.Attach(inv.Name+".shm", filepath.Join(vectors, "invalid"))
			if jc.Stage == Structural {
				require.Error(t, err)
				assert.Equal(t, jc.Expect, format.CodeOf(err).Name(), "%v", err)
				return
			}
			require.NoError(t, err, "a full-validation vector must attach")
			defer s.Close()
			err = s.Validate()
			assert.Equal(t, jc.Expect, format.CodeOf(err).Name(), "%v", err)
		})
	}
	assert.Equal(t, fds, openFDs(t), "file descriptors leaked")
	assert.Equal(t, maps, mappings(t), "mappings of vectors leaked")
}

// TestGoWriter is the Go row of the writers × readers matrix, with the Go
// reader: every valid case written through the Go API reads back as its
// JSON says (segment metadata in any order: SetMetadata sorts it), with
// the identity of a first publish (version 1, a non-zero id).
func TestGoWriter(t *testing.T) {
	dir := segmentDir(t)
	for _, c := range ValidCases() {
		t.Run(c.Name, func(t *testing.T) {
			jc, err := ReadCase(filepath.Join(vectors, "valid", c.Name+".json"))
			require.NoError(t, err)
			require.NoError(t, WriteGo(jc, dir, c.Name))
			want, err := WrittenDump(jc)
			require.NoError(t, err)
			got, err := readDump(dir, c.Name)
			require.NoError(t, err)
			assert.Equal(t, sortMetadata(want), sortMetadata(Written(got)), "a first publish: version 1, a random id")
		})
	}
}

// TestCWriterInputParses checks the text form handed to the C writer: one
// "array" line per array and the fields the C runner expects.
func TestCWriterInputParses(t *testing.T) {
	for _, c := range ValidCases() {
		text, err := CWriterInput(c, c.Name)
		require.NoError(t, err, c.Name)
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		assert.True(t, strings.HasPrefix(lines[0], "segment x"), c.Name)
		assert.Equal(t, "end", lines[len(lines)-1], c.Name)
		arrays := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "array ") {
				arrays++
			}
		}
		assert.Equal(t, len(c.Arrays), arrays, c.Name)
	}
}

func readDump(dir, name string) ([]string, error) {
	s, err := arena.Attach(name, dir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return SegmentDump(s)
}

// sortMetadata sorts each run of consecutive metadata lines (a writer may
// store an owner's pairs in any order).
func sortMetadata(lines []string) []string {
	out := append([]string(nil), lines...)
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && strings.HasPrefix(out[j], "metadata ") {
			j++
		}
		sort.Strings(out[i:j])
		i = max(j, i+1)
	}
	return out
}

// segmentDir is a temporary directory for written segments, on /dev/shm
// when there is one (writers reserve space with fallocate; tmpfs makes it
// cheap).
func segmentDir(t *testing.T) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "shmarray-conformance-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func mappings(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc/self/maps")
	}
	abs, _ := filepath.Abs(vectors)
	return strings.Count(string(b), abs)
}

func ExampleText() {
	fmt.Println(Text("héllo world%"), Bytes([]byte{0, 0xff}))
	// Output: s:h%C3%A9llo%20world%25 b:00ff
}
