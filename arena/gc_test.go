package arena_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
// gone; a live writer's file, links and other hidden names stay.
func TestGCRemovesTemporaryFilesOfDeadWriters(t *testing.T) {
	dir := tempDir(t)
	exited := exec.Command("true")
	require.NoError(t, exited.Run())
	dead := exited.Process.Pid
	stale := fmt.Sprintf("%s%d-0123abcd", arena.TempPrefix, dead)
	live := fmt.Sprintf("%s%d-4567ef01", arena.TempPrefix, os.Getpid())
	for _, name := range []string{stale, live, arena.TempPrefix + "junk", arena.TempPrefix + "0-00", ".other", "plain"} {
		writeFile(t, dir, name, []byte("unfinished"))
	}
	link := fmt.Sprintf("%s%d-89abcdef", arena.TempPrefix, dead)
	require.NoError(t, os.Symlink(filepath.Join(dir, "plain"), filepath.Join(dir, link)))

	infos, err := arena.List(dir)
	require.NoError(t, err)
	assert.Empty(t, infos, "hidden files are never listed")
	would, err := arena.GC(dir, true)
	require.NoError(t, err)
	require.Len(t, would, 1)
	assert.FileExists(t, filepath.Join(dir, stale), "a dry run removes nothing")
	gone, err := arena.GC(dir, false)
	require.NoError(t, err)
	require.Len(t, gone, 1)
	assert.Equal(t, stale, gone[0].Name)
	assert.True(t, gone[0].Temporary)
	assert.Equal(t, uint32(dead), gone[0].CreatorPID)
	assert.Equal(t, format.NotSealed, format.CodeOf(gone[0].Err))
	assert.ElementsMatch(t, []string{live, arena.TempPrefix + "junk", arena.TempPrefix + "0-00", ".other", "plain", link}, filesIn(t, dir))
}
