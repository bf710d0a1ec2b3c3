package arena_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// The writer's own lock and the edges of the replace protocol (spec §10.3
// steps 5 and 8).

// TestReceiveRacesReplacers: a Receiver publishing its copy (after an
// Unlink) while other writers replace the same name is ordinary
// concurrency, never reported as a swap (PERMISSION_DENIED) on either side:
// the receiver holds its file's lock until it has verified the name, so a
// replacer cannot rename over the file in between; a replacer whose new
// version the Unlink removed right away gets EXISTS.
func TestReceiveRacesReplacers(t *testing.T) {
	dir := tempDir(t)
	file := sourceFile(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := arena.Create("shared", &arena.CreateOptions{Dir: dir, Replace: true})
				if !assert.NoError(t, err) {
					return
				}
				assert.NoError(t, arena.AddSlice(b, "v", []int64{1}))
				err = b.Publish()
				assert.NotEqual(t, format.PermissionDenied, format.CodeOf(err), "%v", err)
			}
		}()
	}
	counts := map[format.Code]int{}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		_ = arena.Unlink("shared", dir)
		r, err := arena.Receive("shared", int64(len(file)), &arena.ReceiveOptions{Dir: dir})
		if err != nil {
			counts[format.CodeOf(err)]++ // EXISTS: a replacer was first
			continue
		}
		_, err = r.WriteAt(file, 0)
		require.NoError(t, err)
		err = r.Publish()
		counts[format.CodeOf(err)]++
	}
	close(stop)
	wg.Wait()
	t.Logf("receive outcomes: %v", counts)
	assert.Zero(t, counts[format.PermissionDenied], "a racing replacer is not a swap")
	assert.NotZero(t, counts[format.OK])
}

// TestPublisherHoldsItsLockUntilVerified: between the link and the check
// of the name, the file under the name is locked by its writer, Builder
// and Receiver alike, so that a replacer waits instead of renaming over it.
func TestPublisherHoldsItsLockUntilVerified(t *testing.T) {
	dir := tempDir(t)
	file := sourceFile(t)
	for _, tc := range []struct {
		name    string
		publish func(name string) error
	}{
		{"builder", func(name string) error {
			_, _ = publishInts(t, name, dir, arena.CreateOptions{}, 1)
			return nil
		}},
		{"receiver", func(name string) error {
			r, err := arena.Receive(name, int64(len(file)), &arena.ReceiveOptions{Dir: dir})
			require.NoError(t, err)
			_, err = r.WriteAt(file, 0)
			require.NoError(t, err)
			return r.Publish()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lockErr error
			seen := false
			defer arena.SetAfterLink(func(path string) {
				f, err := os.Open(path)
				require.NoError(t, err)
				defer f.Close()
				lockErr = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
				seen = true
			})()
			require.NoError(t, tc.publish(tc.name))
			require.True(t, seen)
			assert.ErrorIs(t, lockErr, unix.EWOULDBLOCK, "the writer holds the lock until the name is verified")
		})
	}
}

// TestPublishReleasesTheWritersLock: once the name is verified the writer's
// lock is released, not kept until the descriptor is closed (a child forked
// meanwhile would share it for its whole life), for a first version and for
// a replace.
func TestPublishReleasesTheWritersLock(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	for _, replace := range []bool{false, true} {
		var lockErr error
		locked := false
		defer arena.SetBeforeKeep(func(path string) {
			f, err := os.Open(path)
			if err != nil {
				lockErr = err
				return
			}
			defer f.Close()
			lockErr = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
			locked = true
		})()
		b, err := arena.Create("lock", &arena.CreateOptions{Dir: dir, Replace: replace})
		require.NoError(t, err)
		require.NoError(t, arena.AddSlice(b, "v", []int64{1}))
		f, err := b.PublishFile()
		require.NoError(t, err)
		require.NoError(t, f.Close())
		require.True(t, locked)
		assert.NoError(t, lockErr, "replace=%v: the published file is unlocked right after publication", replace)
	}
}

// TestPublishFileWithoutDescriptors: a segment published when no
// descriptor is left to keep is still published; PublishFile says so with
// a *NoFileError, and ID and Version tell what, so that it can be attached
// pinned.
func TestPublishFileWithoutDescriptors(t *testing.T) {
	dir := tempDir(t)
	var old unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &old))
	restore := func() { require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &old)) }
	defer restore()
	b, err := arena.Create("nofd", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "v", []int64{7}))
	var filler []*os.File
	defer arena.SetBeforeKeep(func(string) {
		// No descriptor left: a low limit, and every number under it taken.
		lim := unix.Rlimit{Cur: uint64(countOpenFDs(t) + 16), Max: old.Max}
		require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lim))
		for {
			f, err := os.Open(os.DevNull)
			if err != nil {
				break
			}
			filler = append(filler, f)
		}
	})()
	f, err := b.PublishFile()
	for _, f := range filler {
		require.NoError(t, f.Close())
	}
	restore()
	require.Error(t, err)
	assert.Nil(t, f)
	var noFile *arena.NoFileError
	require.True(t, errors.As(err, &noFile), "%v", err)
	assert.Contains(t, err.Error(), "was published as version 1")
	assert.Equal(t, uint64(1), b.Version())
	assert.False(t, b.ID().IsZero())
	assert.Equal(t, b.ID(), noFile.ID)
	s, err := arena.AttachWith("nofd", &arena.AttachOptions{Dir: dir, Pin: &arena.Pin{ID: b.ID(), Version: 1}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// TestReplaceRenameOfASwappedHiddenName: a hidden name swapped just before
// the rename publishes someone else's file over the old version; the
// writer removes that file again (only it) and says what happened.
func TestReplaceRenameOfASwappedHiddenName(t *testing.T) {
	dir := tempDir(t)
	publishInts(t, "sw", dir, arena.CreateOptions{}, 1)
	foreign := segmentBytes(t)
	defer arena.SetBeforeRename(func(tmp string) {
		require.NoError(t, os.Rename(tmp, tmp+".stolen"))
		require.NoError(t, os.WriteFile(tmp, foreign, 0o600))
	})()
	b, err := arena.Create("sw", &arena.CreateOptions{Dir: dir, Replace: true})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, arena.AddSlice(b, "v", []int64{2}))
	err = b.Publish()
	require.Equal(t, format.PermissionDenied, format.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "replaced version 1 with that file")
	assert.Contains(t, err.Error(), "removed again")
	assert.NoFileExists(t, filepath.Join(dir, "sw"), "the intruder's file does not stay published")
}

// TestReplaceFallbackKeepsTheHiddenName: without O_TMPFILE and without a
// descriptor link, a replacer whose first link finds the name taken keeps
// its hidden file, and renames it over the version published meanwhile.
func TestReplaceFallbackKeepsTheHiddenName(t *testing.T) {
	defer arena.ForceTempFileFallback()()
	defer arena.ForceLinkByName()()
	dir := tempDir(t)
	noLeaks(t, dir)
	var once atomic.Bool
	defer arena.SetBeforeLink(func(string) {
		if once.CompareAndSwap(false, true) {
			publishInts(t, "fk", dir, arena.CreateOptions{}, 1)
		}
	})()
	id, v := publishInts(t, "fk", dir, arena.CreateOptions{Replace: true}, 2)
	assert.Equal(t, uint64(2), v, "the replacer replaced the version published first")
	s, err := arena.Attach("fk", dir)
	require.NoError(t, err)
	assert.Equal(t, id, s.ID())
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"fk"}, filesIn(t, dir))
}

// TestIsCurrentAfterClose: a closed Segment cannot tell whether the name
// still holds its file (the inode number may belong to another file by
// then), so IsCurrent and Refresh say CLOSED.
func TestIsCurrentAfterClose(t *testing.T) {
	dir := tempDir(t)
	publishInts(t, "closed", dir, arena.CreateOptions{}, 1)
	s, err := arena.Attach("closed", dir)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.IsCurrent()
	assert.Equal(t, format.Closed, format.CodeOf(err), "%v", err)
	_, err = s.Refresh()
	assert.Equal(t, format.Closed, format.CodeOf(err), "%v", err)
}

// TestPublishWithoutFlock: on a file system without flock a publication
// that does not replace goes on without the writer's lock; a replace,
// which needs it, fails with the error.
func TestPublishWithoutFlock(t *testing.T) {
	for _, errno := range []unix.Errno{unix.ENOLCK, unix.EOPNOTSUPP, unix.ENOSYS} {
		t.Run(errno.Error(), func(t *testing.T) {
			dir := tempDir(t)
			noLeaks(t, dir)
			defer arena.SetNoFlock(errno)()
			_, v := publishInts(t, "nolock", dir, arena.CreateOptions{}, 1)
			assert.Equal(t, uint64(1), v)
			b, err := arena.Create("nolock", &arena.CreateOptions{Dir: dir, Replace: true})
			require.NoError(t, err)
			require.NoError(t, arena.AddSlice(b, "v", []int64{2}))
			err = b.Publish()
			require.Error(t, err)
			assert.Contains(t, err.Error(), errno.Error())
		})
	}
}
