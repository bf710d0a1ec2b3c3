package arena_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// TestGC: an ephemeral segment whose creator has exited is an orphan and
// goes; one whose creator lives, and a persistent one, stay.
func TestGC(t *testing.T) {
	dir := tempDir(t)
	// A creator that has exited: a child process publishes and exits.
	require.NoError(t, child(t, childCreate, "orphan", dir).Run())
	for _, tc := range []struct {
		name      string
		ephemeral bool
	}{{"mine-ephemeral", true}, {"persistent", false}} {
		b, err := arena.Create(tc.name, &arena.CreateOptions{Dir: dir, Ephemeral: tc.ephemeral})
		require.NoError(t, err)
		require.NoError(t, b.Publish())
	}
	infos, err := arena.List(dir)
	require.NoError(t, err)
	orphans := 0
	for _, i := range infos {
		if i.Orphan() {
			orphans++
			assert.Equal(t, "orphan", i.Name)
		}
	}
	assert.Equal(t, 1, orphans)

	would, err := arena.GC(dir, true)
	require.NoError(t, err)
	require.Len(t, would, 1)
	assert.Len(t, filesIn(t, dir), 3, "dry run removes nothing")
	gone, err := arena.GC(dir, false)
	require.NoError(t, err)
	require.Len(t, gone, 1)
	assert.Equal(t, "orphan", gone[0].Name)
	assert.ElementsMatch(t, []string{"mine-ephemeral", "persistent"}, filesIn(t, dir))
}

// TestGCRemovesTemporaryFilesOfDeadWriters: the hidden file a writer on the
// fallback path leaves when it dies goes once its pid (in the name) is
// gone, if it is proven to be such a leftover: a regular file with one
// link, the caller's, holding zeros or the magic at its start (or
// nothing). A live writer's file, files with other content, links, hard
// links, FIFOs and other hidden names stay, and none of them is an error.
func TestGCRemovesTemporaryFilesOfDeadWriters(t *testing.T) {
	dir := tempDir(t)
	exited := exec.Command("true")
	require.NoError(t, exited.Run())
	dead := exited.Process.Pid
	stale := func(suffix string) string { return fmt.Sprintf("%s%d-%s", arena.TempPrefix, dead, suffix) }
	zeros, sealed, empty := stale("00"), stale("01"), stale("02")
	// A pid beyond pid_t names no process: kill(2) would read 2^32-1 as -1,
	// every process, and find the writer alive.
	huge := fmt.Sprintf("%s%d-00", arena.TempPrefix, uint32(1<<32-1))
	writeFile(t, dir, huge, make([]byte, 4096))
	writeFile(t, dir, zeros, make([]byte, 4096))
	writeFile(t, dir, sealed, append([]byte(format.Magic), make([]byte, 200)...))
	writeFile(t, dir, empty, nil)
	keep := map[string]string{
		stale("aa"): "text that a writer never leaves",
		fmt.Sprintf("%s%d-4567ef01", arena.TempPrefix, os.Getpid()): "",
		arena.TempPrefix + "junk":                                   "", arena.TempPrefix + "0-00": "", ".other": "", "plain": "",
		stale("hard"): "", // a second link to plain, below
	}
	for name, content := range keep {
		if name != stale("hard") {
			writeFile(t, dir, name, []byte(content))
		}
	}
	require.NoError(t, os.Link(filepath.Join(dir, "plain"), filepath.Join(dir, stale("hard"))))
	require.NoError(t, os.Symlink(filepath.Join(dir, "plain"), filepath.Join(dir, stale("link"))))
	require.NoError(t, unix.Mkfifo(filepath.Join(dir, stale("fifo")), 0o600))

	infos, err := arena.List(dir)
	require.NoError(t, err)
	assert.Empty(t, infos, "hidden files are never listed")
	would, err := arena.GC(dir, true)
	require.NoError(t, err)
	require.Len(t, would, 4)
	assert.FileExists(t, filepath.Join(dir, zeros), "a dry run removes nothing")
	gone, err := arena.GC(dir, false)
	require.NoError(t, err, "files gc may not remove are not errors")
	var names []string
	for _, g := range gone {
		names = append(names, g.Name)
		assert.True(t, g.Temporary)
		if g.Name != huge {
			assert.Equal(t, uint32(dead), g.CreatorPID)
		}
		assert.Equal(t, format.NotSealed, format.CodeOf(g.Err))
	}
	assert.ElementsMatch(t, []string{huge, zeros, sealed, empty}, names)
	assert.True(t, slices.IsSorted(names), "sorted by name, as the C core lists them: %q", names)
	var left []string
	for name := range keep {
		left = append(left, name)
	}
	assert.ElementsMatch(t, append(left, stale("link"), stale("fifo")), filesIn(t, dir))
}

// TestGCReportsWhatItCannotRemove: a file gc means to remove and cannot (a
// mount point: unlink fails with EBUSY) is reported, naming it, and gc goes
// on with the rest. Setting up the mount needs root.
func TestGCReportsWhatItCannotRemove(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a file gc cannot remove (a bind mount) needs root; skipped")
	}
	dir := tempDir(t)
	for _, name := range []string{"a-stuck", "b-free"} {
		require.NoError(t, child(t, childCreate, name, dir).Run())
	}
	stuck := filepath.Join(dir, "a-stuck")
	require.NoError(t, unix.Mount(stuck, stuck, "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = unix.Unmount(stuck, unix.MNT_DETACH) })

	gone, err := arena.GC(dir, false)
	require.Len(t, gone, 1)
	assert.Equal(t, "b-free", gone[0].Name)
	require.Error(t, err)
	assert.Equal(t, format.IOError, format.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), stuck)
	assert.Equal(t, []string{"a-stuck"}, filesIn(t, dir))
}
