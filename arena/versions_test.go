package arena_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// publishInts publishes name in dir holding the array "v" = vals, with
// opts (Dir is set here), and returns the builder's published identity.
func publishInts(t *testing.T, name, dir string, opts arena.CreateOptions, vals ...int64) (format.ID, uint64) {
	t.Helper()
	opts.Dir = dir
	b, err := arena.Create(name, &opts)
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, arena.AddSlice(b, "v", vals))
	require.NoError(t, b.Publish())
	return b.ID(), b.Version()
}

func TestReplacePublishesTheNextVersion(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	id1, v1 := publishInts(t, "table", dir, arena.CreateOptions{}, 1, 2, 3)
	assert.Equal(t, uint64(1), v1, "a first publish is version 1")
	assert.False(t, id1.IsZero())

	old, err := arena.Attach("table", dir)
	require.NoError(t, err)
	defer old.Close()
	assert.Equal(t, id1, old.ID())
	assert.Equal(t, uint64(1), old.Version())
	cur, err := old.IsCurrent()
	require.NoError(t, err)
	assert.True(t, cur)
	same, err := old.Refresh()
	require.NoError(t, err)
	assert.Same(t, old, same, "Refresh of the current version is the segment itself")

	// Without Replace the name stays taken.
	_, err = arena.Create("table", &arena.CreateOptions{Dir: dir})
	assert.Equal(t, format.Exists, format.CodeOf(err), "%v", err)

	id2, v2 := publishInts(t, "table", dir, arena.CreateOptions{Replace: true}, 4, 5)
	assert.Equal(t, uint64(2), v2)
	assert.NotEqual(t, id1, id2)

	// The old reader keeps its version, whole.
	vals, err := arena.Values[int64](old, "v")
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 3}, vals)
	cur, err = old.IsCurrent()
	require.NoError(t, err)
	assert.False(t, cur)
	fresh, err := old.Refresh()
	require.NoError(t, err)
	defer fresh.Close()
	assert.Equal(t, id2, fresh.ID())
	assert.Equal(t, uint64(2), fresh.Version())
	vals, err = arena.Values[int64](fresh, "v")
	require.NoError(t, err)
	assert.Equal(t, []int64{4, 5}, vals)

	infos, err := arena.List(dir)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, id2, infos[0].ID)
	assert.Equal(t, uint64(2), infos[0].Version)
	assert.Equal(t, []string{"table"}, filesIn(t, dir), "no hidden file left behind")
}

func TestReplaceIf(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	other := format.ID{0xaa}
	b, err := arena.Create("cond", &arena.CreateOptions{Dir: dir, ReplaceIf: &other})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "v", []int64{0}))
	err = b.Publish()
	assert.Equal(t, format.Stale, format.CodeOf(err), "%v", err)
	assert.EqualError(t, err, `shmarray: stale version: segment "cond": replace_if names id aa000000000000000000000000000000, no segment has that name now`)
	assert.Empty(t, filesIn(t, dir))

	id1, _ := publishInts(t, "cond", dir, arena.CreateOptions{}, 1)
	b, err = arena.Create("cond", &arena.CreateOptions{Dir: dir, ReplaceIf: &other})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "v", []int64{0}))
	err = b.Publish()
	assert.Equal(t, format.Stale, format.CodeOf(err), "%v", err)
	assert.EqualError(t, err, `shmarray: stale version: segment "cond": replace_if names id aa000000000000000000000000000000, the name holds version 1 (id `+id1.String()+`) now`)
	assert.True(t, b.ID().IsZero(), "nothing published")

	id2, v2 := publishInts(t, "cond", dir, arena.CreateOptions{ReplaceIf: &id1}, 2)
	assert.Equal(t, uint64(2), v2)
	s, err := arena.Attach("cond", dir)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, id2, s.ID())

	// SetReplace does the same after Create.
	b, err = arena.Create("cond2", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, b.SetReplace(&id1))
	require.NoError(t, arena.AddSlice(b, "v", []int64{0}))
	err = b.Publish()
	assert.Equal(t, format.Stale, format.CodeOf(err), "%v", err)
	assert.Equal(t, format.Closed, format.CodeOf(b.SetReplace(nil)))
}

func TestPinnedAttach(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	id1, _ := publishInts(t, "pinned", dir, arena.CreateOptions{}, 1)
	s, err := arena.AttachWith("pinned", &arena.AttachOptions{Dir: dir, Pin: &arena.Pin{ID: id1, Version: 1}})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	id2, _ := publishInts(t, "pinned", dir, arena.CreateOptions{Replace: true}, 2)
	_, err = arena.AttachWith("pinned", &arena.AttachOptions{Dir: dir, Pin: &arena.Pin{ID: id1, Version: 1}})
	assert.Equal(t, format.Stale, format.CodeOf(err), "%v", err)
	assert.EqualError(t, err, `shmarray: stale version: segment "pinned": wanted version 1 (id `+id1.String()+`), the name holds version 2 (id `+id2.String()+`) now (attach by name to follow the latest)`)
	assert.ErrorIs(t, err, format.ErrStale)
	assert.NotErrorIs(t, err, format.ErrInvalidSegment)

	require.NoError(t, arena.Unlink("pinned", dir))
	_, err = arena.AttachWith("pinned", &arena.AttachOptions{Dir: dir, Pin: &arena.Pin{ID: id2, Version: 2}})
	assert.Equal(t, format.Stale, format.CodeOf(err), "%v", err)
	assert.EqualError(t, err, `shmarray: stale version: segment "pinned": wanted version 2 (id `+id2.String()+`), no segment has that name now`)
}

// TestUnlinkVersion: unlink-on-exit removes only the version its creator
// published (spec §10.5).
func TestUnlinkVersion(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	id1, _ := publishInts(t, "mine", dir, arena.CreateOptions{}, 1)
	id2, _ := publishInts(t, "mine", dir, arena.CreateOptions{Replace: true}, 2)
	err := arena.UnlinkVersion("mine", dir, id1)
	assert.Equal(t, format.Stale, format.CodeOf(err), "%v", err)
	assert.EqualError(t, err, `shmarray: stale version: segment "mine": unlink names id `+id1.String()+`, the name holds version 2 (id `+id2.String()+`) now; nothing was removed`)
	assert.Equal(t, []string{"mine"}, filesIn(t, dir))

	require.NoError(t, arena.UnlinkVersion("mine", dir, id2))
	assert.Empty(t, filesIn(t, dir))
	err = arena.UnlinkVersion("mine", dir, id2)
	assert.Equal(t, format.Stale, format.CodeOf(err), "%v", err)
	assert.EqualError(t, err, `shmarray: stale version: segment "mine": unlink names id `+id2.String()+`, no segment has that name now`)

	writeFile(t, dir, "notes", []byte("not a segment at all"))
	assert.Equal(t, format.NotASegment, format.CodeOf(arena.UnlinkVersion("notes", dir, id2)))
}

// TestPublishFile: the descriptor PublishFile hands out is the very file
// published (even once a newer version replaced it), and it does not hold
// the writer's lock: the next replace goes through while it is open.
func TestPublishFile(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	b, err := arena.Create("kept", &arena.CreateOptions{Dir: dir, Replace: true})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "v", []int64{1, 2}))
	f, err := b.PublishFile()
	require.NoError(t, err)
	defer f.Close()
	id1 := b.ID()
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	require.NoError(t, err)
	assert.Equal(t, unix.O_RDONLY, flags&unix.O_ACCMODE, "opened by name, read-only")
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "kept"), link, "maps and lsof show the segment's path")

	defer arena.SetLockTimeout(time.Second)()
	_, v := publishInts(t, "kept", dir, arena.CreateOptions{Replace: true}, 3)
	assert.Equal(t, uint64(2), v, "the kept descriptor holds no lock")

	assertVersion := func(f *os.File, id format.ID, version uint64) {
		t.Helper()
		raw := make([]byte, format.HeaderSizeID)
		_, err := f.ReadAt(raw, 0)
		require.NoError(t, err)
		h, err := format.ReadHeader(raw)
		require.NoError(t, err)
		assert.Equal(t, id, h.ID, "the descriptor is the version published, not the name's")
		assert.Equal(t, version, h.Version)
	}
	assertVersion(f, id1, 1)

	// Replaced between the publication and the descriptor: a duplicate of
	// the writer's, which does not hold its lock.
	other, err := os.ReadFile(filepath.Join(dir, "kept"))
	require.NoError(t, err)
	writeFile(t, dir, "spare", other)
	defer arena.SetBeforeKeep(func(string) {
		require.NoError(t, os.Rename(filepath.Join(dir, "spare"), filepath.Join(dir, "kept")))
	})()
	b, err = arena.Create("kept", &arena.CreateOptions{Dir: dir, Replace: true})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "v", []int64{4}))
	f3, err := b.PublishFile()
	require.NoError(t, err)
	defer f3.Close()
	assertVersion(f3, b.ID(), 3)
	again, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", f3.Fd()))
	require.NoError(t, err)
	defer again.Close()
	assert.NoError(t, unix.Flock(int(again.Fd()), unix.LOCK_EX|unix.LOCK_NB), "the writer's lock was released")
	arena.SetBeforeKeep(nil)

	b, err = arena.Create("kept2", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "v", []int64{1}))
	publishInts(t, "kept2", dir, arena.CreateOptions{}, 9)
	f2, err := b.PublishFile()
	assert.Equal(t, format.Exists, format.CodeOf(err), "%v", err)
	assert.Nil(t, f2)
}
