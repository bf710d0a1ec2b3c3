package arena_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/internal/sectest"
)

// The directory-swap race (issue 19, sectest.SwapRig): every Go entry
// point that removes files runs against a goroutine that swaps the segment
// directory for a symbolic link to another directory holding a file of the
// same name, with the same bytes; the file outside is never removed.

// segmentBytes is the content of a published segment made by this
// process, and orphanBytes that of an ephemeral one whose creator exited.
func segmentBytes(t *testing.T) []byte {
	dir := tempDir(t)
	raw, err := os.ReadFile(publishSmall(t, dir, "x"))
	require.NoError(t, err)
	return raw
}

func orphanBytes(t *testing.T) []byte {
	dir := tempDir(t)
	require.NoError(t, child(t, childCreate, "orphan", dir).Run())
	raw, err := os.ReadFile(filepath.Join(dir, "orphan"))
	require.NoError(t, err)
	return raw
}

func TestDirectorySwapRaceUnlink(t *testing.T) {
	content := segmentBytes(t)
	sectest.NewSwapRig(t, "canary", content, nil).Race(t, "canary", content, 400, func(dir string) error { return arena.Unlink("canary", dir) })
}

func TestDirectorySwapRaceGC(t *testing.T) {
	gc := func(dir string) error { _, err := arena.GC(dir, false); return err }
	t.Run("orphan", func(t *testing.T) {
		content := orphanBytes(t)
		sectest.NewSwapRig(t, "canary", content, nil).Race(t, "canary", content, 300, gc)
	})
	t.Run("temporary file", func(t *testing.T) {
		name := deadTempName(t)
		content := make([]byte, 4096) // zeros: what a writer that died leaves
		sectest.NewSwapRig(t, name, content, nil).Race(t, name, content, 300, gc)
	})
}

// deadTempName is a fallback temporary name whose writer pid has exited.
func deadTempName(t *testing.T) string {
	exited := exec.Command("true")
	require.NoError(t, exited.Run())
	return fmt.Sprintf("%s%d-0123abcd", arena.TempPrefix, exited.Process.Pid)
}
