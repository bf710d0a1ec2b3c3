package arena_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/array"
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

// TestNoSpaceWhenTheDirectoryFillsUp: a writer whose directory fills up
// while it adds arrays (its own reservation grows), while an Arrow builder
// writes in place through its allocator, or when Publish needs room for the
// metadata area, gets NO_SPACE naming the sizes; nothing is left behind and
// every byte comes back.
func TestNoSpaceWhenTheDirectoryFillsUp(t *testing.T) {
	dir := smallTmpfs(t, "8m")
	empty := usedBytes(t, dir)
	fill := func(t *testing.T) func() {
		// A file holding every free byte: the next reservation fails.
		f, err := os.Create(filepath.Join(dir, "filler"))
		require.NoError(t, err)
		defer f.Close()
		var st unix.Statfs_t
		require.NoError(t, unix.Statfs(dir, &st))
		require.NoError(t, unix.Fallocate(int(f.Fd()), 0, 0, int64(st.Bavail)*st.Bsize))
		return func() { require.NoError(t, os.Remove(filepath.Join(dir, "filler"))) }
	}
	t.Run("adding", func(t *testing.T) {
		b, err := arena.Create("grows", &arena.CreateOptions{Dir: dir})
		require.NoError(t, err)
		err = arena.AddSlice(b, "big", make([]byte, 9<<20))
		require.Equal(t, format.NoSpace, format.CodeOf(err), "%v", err)
		assert.Regexp(t, `has [0-9.]+ MiB free, needs [0-9.]+ MiB more \([0-9.]+ MiB in all\)`, err.Error())
		require.NoError(t, b.Close())
	})
	t.Run("allocator", func(t *testing.T) {
		b, err := arena.Create("in-place", &arena.CreateOptions{Dir: dir})
		require.NoError(t, err)
		ib := array.NewInt64Builder(b.Allocator())
		var perr any
		func() {
			defer func() { perr = recover() }()
			for i := 0; i < 2<<20; i++ { // 16 MiB of values into 8
				ib.Append(int64(i))
			}
		}()
		err, _ = perr.(error)
		assert.Equal(t, format.NoSpace, format.CodeOf(err), "the allocator panics with NO_SPACE: %v", perr)
		ib.Release()
		require.NoError(t, b.Close())
	})
	t.Run("publishing", func(t *testing.T) {
		b, err := arena.Create("sealing", &arena.CreateOptions{Dir: dir, Capacity: 4 << 20})
		require.NoError(t, err)
		refill := fill(t)
		// The data fills the reservation; the metadata area does not fit.
		require.NoError(t, arena.AddSlice(b, "x", make([]byte, 4<<20-format.HeaderSizeID)))
		err = b.Publish()
		assert.Equal(t, format.NoSpace, format.CodeOf(err), "%v", err)
		assert.Contains(t, err.Error(), "free, needs")
		refill()
		_, err = arena.Attach("sealing", dir)
		assert.Equal(t, format.NotFound, format.CodeOf(err))
	})
	t.Run("a failed large copy leaves nothing behind in the builder", func(t *testing.T) {
		b, err := arena.Create("dirty", &arena.CreateOptions{Dir: dir})
		require.NoError(t, err)
		defer b.Close()
		big := make([]byte, 12<<20) // written straight to the file until space runs out
		for i := range big {
			big[i] = 0xAB
		}
		err = arena.AddSlice(b, "big", big)
		require.Equal(t, format.NoSpace, format.CodeOf(err), "%v", err)
		next, err := b.AddEmpty(format.ArrayDesc{Name: "next", DType: format.DType{Type: format.Uint8}, Length: 100})
		require.NoError(t, err)
		assert.Equal(t, make([]byte, 100), next, "space handed out again is zero")
		require.NoError(t, arena.AddSlice(b, "small", []int32{1, 2, 3}))
		require.NoError(t, b.Publish())
		seg, err := arena.Attach("dirty", dir)
		require.NoError(t, err)
		raw, err := os.ReadFile(filepath.Join(dir, "dirty"))
		require.NoError(t, err)
		assertGapsZero(t, raw, seg)
		require.NoError(t, seg.Close())
		require.NoError(t, arena.Unlink("dirty", dir))
	})
	assert.Empty(t, filesIn(t, dir), "nothing left behind")
	assert.Equal(t, empty, usedBytes(t, dir), "all space returned")
}

// TestReadingATruncatedSegment: a published file truncated behind the
// reader's back. Attach and List report TRUNCATED; a process that mapped it
// before gets TRUNCATED from Validate and from reads made under
// Segment.Guard (debug.SetPanicOnFault), never a crash; reads of the pages
// that remain still work.
func TestReadingATruncatedSegment(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	b, err := arena.Create("shrinking", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "head", []int64{1, 2, 3}))
	require.NoError(t, arena.AddSlice(b, "big", make([]float64, 1<<17)))
	require.NoError(t, b.AddStrings("words", []string{"a", "b", "c"}))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("shrinking", dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, os.Truncate(filepath.Join(dir, "shrinking"), 8192))

	err = s.Validate()
	assert.Equal(t, format.Truncated, format.CodeOf(err), "%v", err)
	var sum float64
	err = s.Guard(func() error {
		big, err := arena.Values[float64](s, "big")
		if err != nil {
			return err
		}
		for _, v := range big {
			sum += v
		}
		return nil
	})
	assert.Equal(t, format.Truncated, format.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), `segment "shrinking"`)
	err = s.Guard(func() error {
		words, err := s.Array("words")
		if err != nil {
			return err
		}
		defer words.Release()
		_ = words.(*array.String).Value(2) // past the new end of the file
		return nil
	})
	assert.Equal(t, format.Truncated, format.CodeOf(err), "%v", err)
	err = s.Guard(func() error {
		head, err := arena.Values[int64](s, "head")
		if err == nil && head[2] != 3 {
			err = errors.New("wrong value")
		}
		return err
	})
	assert.NoError(t, err, "the first page is still there")
	assert.PanicsWithValue(t, "not a fault", func() { _ = s.Guard(func() error { panic("not a fault") }) })

	_, err = arena.Attach("shrinking", dir)
	assert.Equal(t, format.Truncated, format.CodeOf(err), "%v", err)
	infos, err := arena.List(dir)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, format.Truncated, format.CodeOf(infos[0].Err), "%v", infos[0].Err)
	require.NoError(t, s.Close())
	assert.Equal(t, format.Closed, format.CodeOf(s.Guard(func() error { return nil })))
}

// TestCreateNeverFollowsALink: a symbolic link planted under the name, before
// Create or between Create and Publish, makes the writer fail with EXISTS;
// the link's target is never created or written, and Unlink refuses the link.
func TestCreateNeverFollowsALink(t *testing.T) {
	dir, elsewhere := tempDir(t), tempDir(t)
	target := filepath.Join(elsewhere, "target")
	require.NoError(t, os.Symlink(target, filepath.Join(dir, "planted")))
	_, err := arena.Create("planted", &arena.CreateOptions{Dir: dir})
	assert.Equal(t, format.Exists, format.CodeOf(err), "%v", err)

	b, err := arena.Create("late", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "x", []int64{1}))
	require.NoError(t, os.Symlink(target, filepath.Join(dir, "late")))
	assert.Equal(t, format.Exists, format.CodeOf(b.Publish()))
	assert.NoFileExists(t, target, "the link was not followed")

	for _, name := range []string{"planted", "late"} {
		assert.Equal(t, format.NotASegment, format.CodeOf(arena.Unlink(name, dir)), name)
		_, err := os.Lstat(filepath.Join(dir, name))
		assert.NoError(t, err, "the link stays")
	}
	infos, err := arena.List(dir)
	require.NoError(t, err)
	assert.Empty(t, infos)
}

// TestModeIgnoresTheUmask: the mode asked for is the mode the file gets,
// whatever the process umask; the default is 0600.
func TestModeIgnoresTheUmask(t *testing.T) {
	dir := tempDir(t)
	for _, umask := range []int{0, 0o077, 0o022} {
		for _, mode := range []uint32{0, 0o640, 0o660} {
			name := fmt.Sprintf("u%o-m%o", umask, mode)
			old := unix.Umask(umask)
			b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Mode: osMode(mode)})
			unix.Umask(old)
			require.NoError(t, err)
			require.NoError(t, b.Publish())
			want := mode
			if want == 0 {
				want = 0o600
			}
			assert.Equal(t, want, fileMode(t, dir, name), name)
		}
	}
}

// TestValidateWhileTheOwnerRewrites: the owner of a published segment can
// still write to it (spec §15). Full validation while another mapping keeps
// changing the offsets of a utf8 array returns OK or an invalid-segment
// error, never a panic: the offsets that full validation reads twice (once
// for the bounds, once for the UTF-8 of each value) are checked both times.
func TestValidateWhileTheOwnerRewrites(t *testing.T) {
	dir := tempDir(t)
	words := make([]string, 50000)
	for i := range words {
		words[i] = "é"
	}
	b, err := arena.Create("rewritten", &arena.CreateOptions{Dir: dir, NoDataChecksum: true})
	require.NoError(t, err)
	require.NoError(t, b.AddStrings("w", words))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("rewritten", dir)
	require.NoError(t, err)
	defer s.Close()
	_, offsets, _, err := s.Buffers("w")
	require.NoError(t, err)
	desc, _ := s.Desc("w")

	// The owner's writable mapping of the same file.
	f, err := os.OpenFile(filepath.Join(dir, "rewritten"), os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	st, _ := f.Stat()
	rw, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(t, err)
	defer unix.Munmap(rw)
	last := rw[desc.Offsets.Offset+desc.Offsets.Length-4:]
	good := binary.LittleEndian.Uint32(last)
	require.Equal(t, uint32(len(offsets)/4-1)*2, good)

	stop := make(chan struct{})
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				binary.LittleEndian.PutUint32(last, good)
				return
			default:
			}
			if i%2 == 0 {
				binary.LittleEndian.PutUint32(last, good)
			} else {
				binary.LittleEndian.PutUint32(last, good+1000) // beyond the data: bad
			}
		}
	}()
	codes := map[string]int{}
	var panicked any
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) && panicked == nil {
		err := func() error {
			// A panic must not unwind past the owner's mapping while the
			// goroutine above still writes to it.
			defer func() { panicked = recover() }()
			return s.Validate()
		}()
		codes[format.CodeOf(err).Name()]++
		if err != nil {
			assert.True(t, errors.Is(err, format.ErrInvalidSegment), "%v", err)
		}
	}
	close(stop)
	<-flipped
	require.Nil(t, panicked, "Validate panicked")
	t.Logf("full validations while the offsets changed: %v", codes)
	assert.NoError(t, s.Validate(), "valid again once the owner stops")
}
