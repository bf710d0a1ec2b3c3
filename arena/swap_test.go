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

// TestPublishRefusesASwappedTemporaryFile: on the fallback path (no
// O_TMPFILE), someone who can rename files in the directory replaces the
// writer's hidden temporary file with a file of their own (mode 0666,
// values 666). Whenever the swap happens (before Publish, or just before
// the link) and however the file is linked (by descriptor, or by name as
// without /proc), Publish fails with PERMISSION_DENIED, the name is left
// free, and the other file is left where it was, unchanged.
func TestPublishRefusesASwappedTemporaryFile(t *testing.T) {
	defer arena.ForceTempFileFallback()()
	foreign := segmentBytes(t) // a valid segment, not the writer's
	swap := func(t *testing.T, tmp string) {
		require.NoError(t, os.Rename(tmp, tmp+".stolen"))
		require.NoError(t, os.WriteFile(tmp, foreign, 0o666))
	}
	for _, tc := range []struct {
		name    string
		byName  bool
		swapped bool // swapped at the link, not before Publish
	}{
		{"before publish", false, false},
		{"at the link", false, true},
		{"before publish, linked by name", true, false},
		{"at the link, linked by name", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			if tc.byName {
				defer arena.ForceLinkByName()()
			}
			b, err := arena.Create("target", &arena.CreateOptions{Dir: dir})
			require.NoError(t, err)
			defer b.Close()
			require.NoError(t, arena.AddSlice(b, "x", []int64{1, 2, 3}))
			hidden := filesIn(t, dir)
			require.Len(t, hidden, 1)
			tmp := filepath.Join(dir, hidden[0])
			if tc.swapped {
				defer arena.SetBeforeLink(func(string) { swap(t, tmp) })()
			} else {
				swap(t, tmp)
			}
			err = b.Publish()
			require.Error(t, err, "a swapped temporary file must never publish")
			require.Equal(t, format.PermissionDenied, format.CodeOf(err), "%v", err)
			require.Contains(t, err.Error(), "replaced")
			require.NoFileExists(t, filepath.Join(dir, "target"), "nothing is published")
			got, err := os.ReadFile(tmp)
			require.NoError(t, err, "the other file is not removed")
			require.Equal(t, foreign, got)
		})
	}
	t.Run("linked by name, no swap", func(t *testing.T) {
		defer arena.ForceLinkByName()()
		dir := tempDir(t)
		publishSmall(t, dir, "plain")
		assert.Equal(t, []string{"plain"}, filesIn(t, dir))
	})
}
