package arena_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// TestAttachOwnerCheck: a Segment reports the owner and mode of the file it
// mapped, and AttachWith with Owners refuses, before mapping, a file owned
// by anyone else, with PERMISSION_DENIED naming the owner and the fix.
func TestAttachOwnerCheck(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	me := uint32(os.Geteuid())
	b, err := arena.Create("grouped", &arena.CreateOptions{Dir: dir, Mode: 0o640})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "x", []int64{1, 2, 3}))
	require.NoError(t, b.Publish())

	s, err := arena.AttachWith("grouped", &arena.AttachOptions{Dir: dir, Owners: []uint32{me}})
	require.NoError(t, err)
	assert.Equal(t, me, s.OwnerUID())
	assert.Equal(t, os.FileMode(0o640), s.Mode())
	require.NoError(t, s.Close())

	_, err = arena.AttachWith("grouped", &arena.AttachOptions{Dir: dir, Owners: []uint32{me + 1, me + 2}})
	require.Error(t, err)
	assert.Equal(t, format.PermissionDenied, format.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "AttachOptions.Owners")

	if me == 0 {
		// root can give the file away: the check follows the descriptor's owner.
		require.NoError(t, os.Chown(filepath.Join(dir, "grouped"), 61999, 61999))
		_, err = arena.AttachWith("grouped", &arena.AttachOptions{Dir: dir, Owners: []uint32{0}})
		assert.Equal(t, format.PermissionDenied, format.CodeOf(err), "%v", err)
		s, err = arena.Attach("grouped", dir)
		require.NoError(t, err, "no owner check without Owners")
		assert.Equal(t, uint32(61999), s.OwnerUID())
		require.NoError(t, s.Close())
	}
}

// TestSegmentDirIsAbsolute: a segment attached through a relative
// directory records the absolute, cleaned directory, so that a handle sent
// to a process with another working directory names the same file; List
// and Create do the same.
func TestSegmentDirIsAbsolute(t *testing.T) {
	dir := tempDir(t)
	publishSmall(t, dir, "here")
	t.Chdir(filepath.Dir(dir))
	rel := "./" + filepath.Base(dir) + "/"
	s, err := arena.Attach("here", rel)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, dir, s.Dir())
	assert.Equal(t, filepath.Join(dir, "here"), s.Path())
	infos, err := arena.List(rel)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, filepath.Join(dir, "here"), infos[0].Path)
}

// TestAttachWhileTheOwnerTruncates: the owner truncates its published
// segment and writes it back, over and over, while this process attaches
// it in a loop. Every attach either succeeds or fails with an
// invalid-segment error (TRUNCATED when the file shrank between fstat and
// the decoding of the mapping); none crashes.
func TestAttachWhileTheOwnerTruncates(t *testing.T) {
	dir := tempDir(t)
	path := publishSmall(t, dir, "shrinking")
	whole, err := os.ReadFile(path)
	require.NoError(t, err)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fd)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sizes := []int64{0, 7, 64, 128, 200, int64(len(whole)) - 1}
		for i := 0; ; i++ {
			select {
			case <-stop:
				_, _ = unix.Pwrite(fd, whole, 0)
				return
			default:
			}
			_ = unix.Ftruncate(fd, sizes[i%len(sizes)])
			_, _ = unix.Pwrite(fd, whole, 0)
		}
	}()
	codes := map[string]int{}
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		s, err := arena.Attach("shrinking", dir)
		codes[format.CodeOf(err).Name()]++
		if err != nil {
			assert.True(t, errors.Is(err, format.ErrInvalidSegment), "%v", err)
			continue
		}
		require.NoError(t, s.Close())
	}
	close(stop)
	wg.Wait()
	t.Logf("attaches while the owner truncated: %v", codes)
	assert.Greater(t, len(codes), 1, "the truncations were seen")
}
