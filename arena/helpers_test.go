package arena_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/arena"
)

// everyType lists one Arrow type per format v1 type, plus a fixed-size list
// (stored as a 2-D array).
var everyType = []arrow.DataType{
	arrow.FixedWidthTypes.Boolean,
	arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Uint8,
	arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Uint16,
	arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Uint32,
	arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint64,
	arrow.FixedWidthTypes.Float16, arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
	arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString,
	arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary,
	&arrow.FixedSizeBinaryType{ByteWidth: 5},
	arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date64,
	&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Paris"},
	&arrow.TimestampType{Unit: arrow.Nanosecond},
	&arrow.DurationType{Unit: arrow.Millisecond},
	arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float64),
}

// jsonValue is the JSON of value i of type dt (for array.FromJSON).
func jsonValue(dt arrow.DataType, i int) string {
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return fmt.Sprint(i%2 == 0)
	case *arrow.StringType, *arrow.LargeStringType:
		words := []string{`"héllo"`, `""`, `"🌍 world"`, `"x"`}
		return words[i%len(words)]
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		return `"` + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\xff", i%4))) + `"`
	case *arrow.FixedSizeBinaryType:
		return `"` + base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%05d", i)[:t.ByteWidth])) + `"`
	case *arrow.FixedSizeListType:
		return fmt.Sprintf("[%d, %d.5, -%d]", i, i, i)
	case *arrow.Float16Type, *arrow.Float32Type, *arrow.Float64Type:
		return fmt.Sprintf("%d.25", i-3)
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type:
		return fmt.Sprint(i%100 - 50)
	}
	return fmt.Sprint(i % 100)
}

// makeArray builds n values of dt with mem; every third slot is null when
// nulls is set.
func makeArray(t testing.TB, mem memory.Allocator, dt arrow.DataType, n int, nulls bool) arrow.Array {
	t.Helper()
	vals := make([]string, n)
	for i := range vals {
		vals[i] = jsonValue(dt, i)
		if nulls && i%3 == 1 {
			vals[i] = "null"
		}
	}
	arr, _, err := array.FromJSON(mem, dt, strings.NewReader("["+strings.Join(vals, ",")+"]"))
	require.NoError(t, err, dt.String())
	return arr
}

// countOpenFDs and countMappings read /proc/self: leak checks compare them
// before and after a test.
func countOpenFDs(t testing.TB) int {
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

func countMappings(t testing.TB, dir string) int {
	raw, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, dir) {
			n++
		}
	}
	return n
}

// noLeaks fails the test if it leaves descriptors or mappings of dir open.
func noLeaks(t *testing.T, dir string) {
	fds := countOpenFDs(t)
	t.Cleanup(func() {
		require.Equal(t, fds, countOpenFDs(t), "open file descriptors")
		require.Zero(t, countMappings(t, dir), "mappings of %s left", dir)
	})
}

func filesIn(t testing.TB, dir string) []string {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func tempDir(t *testing.T) string {
	// t.TempDir names may be long; segments only need a directory.
	d := t.TempDir()
	return filepath.Clean(d)
}

func writeFile(t testing.TB, dir, name string, data []byte) {
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
}

func osMode(m uint32) os.FileMode { return os.FileMode(m) }

func fileMode(t testing.TB, dir, name string) uint32 {
	st, err := os.Stat(filepath.Join(dir, name))
	require.NoError(t, err)
	return uint32(st.Mode().Perm())
}

// shmTempDir is a fresh directory on /dev/shm (tmpfs, as in production),
// removed with everything in it when the test ends; a temp dir elsewhere if
// there is no /dev/shm.
func shmTempDir(t *testing.T) string {
	if st, err := os.Stat(arena.DefaultDir); err != nil || !st.IsDir() {
		return tempDir(t)
	}
	d, err := os.MkdirTemp(arena.DefaultDir, "shmarray-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// smallTmpfs mounts a tmpfs of the given size ("8m") on a fresh directory
// for the test, so that its free space is known and nothing else writes to
// it. It needs root; the test is skipped otherwise.
func smallTmpfs(t *testing.T, size string) string {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := tempDir(t)
	require.NoError(t, unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"))
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// usedBytes is the space in use on the file system of dir.
func usedBytes(t testing.TB, dir string) uint64 {
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	return (st.Blocks - st.Bfree) * uint64(st.Bsize)
}
