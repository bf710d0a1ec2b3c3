package arena_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

func publishSmall(t *testing.T, dir, name string) string {
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "x", []int64{1, 2, 3}))
	require.NoError(t, b.Publish())
	return filepath.Join(dir, name)
}

func TestAttachBadInput(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	// A file shorter than its header claims.
	short := publishSmall(t, dir, "short")
	st, _ := os.Stat(short)
	require.NoError(t, os.Truncate(short, st.Size()-1))
	// A newer major version.
	newer := publishSmall(t, dir, "newer")
	raw, _ := os.ReadFile(newer)
	binary.LittleEndian.PutUint16(raw[8:], format.Major+1)
	require.NoError(t, os.WriteFile(newer, raw, 0o600))
	// Not segments at all.
	writeFile(t, dir, "text", []byte("just some text that is long enough to have a header... "+strings.Repeat(".", 200)))
	writeFile(t, dir, "tiny", []byte("SHM"))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "subdir"), 0o700))
	require.NoError(t, os.Symlink(short, filepath.Join(dir, "link")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))

	for _, tc := range []struct {
		name string
		want format.Code
	}{
		{"missing", format.NotFound},
		{"text", format.NotASegment},
		{"tiny", format.NotASegment},
		{"subdir", format.NotASegment},
		{"link", format.NotASegment},
		{"fifo", format.NotASegment},
		{"short", format.Truncated},
		{"newer", format.UnsupportedVersion},
		{"a/b", format.InvalidArgument},
		{"..", format.InvalidArgument},
		{"", format.InvalidArgument},
		{"a\x00b", format.InvalidArgument},
		{strings.Repeat("n", format.MaxSegmentNameLen+1), format.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				s, err := arena.Attach(tc.name, dir)
				if s != nil {
					s.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.Equal(t, tc.want.Name(), format.CodeOf(err).Name(), "%v", err)
				assert.Contains(t, err.Error(), "shmarray: ", "messages say where they come from")
			case <-time.After(10 * time.Second):
				t.Fatal("attach hung")
			}
		})
	}
}

func TestInvalidNamesEverywhere(t *testing.T) {
	dir := tempDir(t)
	for _, name := range []string{"a/b", "..", "", "a\x00b", ".hidden", strings.Repeat("n", 201)} {
		_, err := arena.Create(name, &arena.CreateOptions{Dir: dir})
		assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "create %q", name)
		assert.Equal(t, format.InvalidArgument, format.CodeOf(arena.Unlink(name, dir)), "unlink %q", name)
	}
	assert.Empty(t, filesIn(t, dir))
}

func TestCreateInMissingDirectory(t *testing.T) {
	_, err := arena.Create("x", &arena.CreateOptions{Dir: filepath.Join(tempDir(t), "nope")})
	assert.Equal(t, format.NotFound, format.CodeOf(err), "%v", err)
}

func TestDirFromEnvironment(t *testing.T) {
	dir := tempDir(t)
	t.Setenv(arena.EnvDir, dir)
	publishSmall(t, "", "via-env")
	assert.Equal(t, []string{"via-env"}, filesIn(t, dir))
	s, err := arena.Attach("via-env", "")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "via-env"), s.Path())
	require.NoError(t, s.Close())
}

func TestNoSpaceOverMaxSize(t *testing.T) {
	dir := tempDir(t)
	b, err := arena.Create("capped", &arena.CreateOptions{Dir: dir, MaxSize: 1 << 20})
	require.NoError(t, err)
	defer b.Close()
	err = arena.AddSlice(b, "big", make([]byte, 2<<20))
	assert.Equal(t, format.NoSpace, format.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "MaxSize")
}

// TestNoSpaceOnSmallTmpfs mounts an 8 MiB tmpfs (needs root) and asks for
// more: NO_SPACE names the sizes, no SIGBUS, and no file is left behind.
func TestNoSpaceOnSmallTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := tempDir(t)
	require.NoError(t, unix.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"))
	t.Cleanup(func() { _ = unix.Unmount(dir, 0) })

	_, err := arena.Create("too-big", &arena.CreateOptions{Dir: dir, Capacity: 64 << 20})
	require.Error(t, err)
	assert.Equal(t, format.NoSpace, format.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "free, needs")
	assert.Contains(t, err.Error(), arena.EnvDir)

	b, err := arena.Create("grows", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "small", make([]byte, 1<<20)))
	err = arena.AddSlice(b, "large", make([]byte, 16<<20))
	assert.True(t, errors.Is(err, format.ErrNoSpace), "%v", err)
	require.NoError(t, b.Close())
	assert.Empty(t, filesIn(t, dir), "nothing left behind")
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	assert.Equal(t, st.Blocks, st.Bfree, "all space returned")
}

// TestTruncatedUnderTheMapping: a published file truncated while attached
// gives TRUNCATED from Validate instead of killing the process with SIGBUS.
func TestTruncatedUnderTheMapping(t *testing.T) {
	dir := tempDir(t)
	b, err := arena.Create("shrinks", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "x", make([]int64, 1<<16)))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("shrinks", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, os.Truncate(filepath.Join(dir, "shrinks"), 4096))
	err = s.Validate()
	assert.Equal(t, format.Truncated, format.CodeOf(err), "%v", err)
	_, err = arena.Attach("shrinks", dir)
	assert.Equal(t, format.Truncated, format.CodeOf(err), "%v", err)
}
