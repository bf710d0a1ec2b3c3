package arena_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
)

// TestGC: an ephemeral segment whose creator has exited is an orphan and
// goes; one whose creator lives, and a persistent one, stay.
func TestGC(t *testing.T) {
	dir := tempDir(t)
	// A creator that has exited: a child process publishes and exits.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHMARRAY_TEST_CHILD="+childCreate, "SHMARRAY_TEST_NAME=orphan", "SHMARRAY_TEST_DIR="+dir)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run())
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
