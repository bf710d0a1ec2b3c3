package arena_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// childOutputWriter opens the output token of $SHMARRAY_TEST_TOKEN, fills
// it with byte $SHMARRAY_TEST_BYTE, prints "ready" and holds it open until
// stdin closes.
const childOutputWriter = "output-writer"

func init() {
	childModes[childOutputWriter] = func(string, string) error {
		h, err := arena.ParseOutputToken(os.Getenv("SHMARRAY_TEST_TOKEN"))
		if err != nil {
			return err
		}
		w, err := arena.OpenOutput(h)
		if err != nil {
			return err
		}
		v, _ := strconv.Atoi(os.Getenv("SHMARRAY_TEST_BYTE"))
		for i := range w.Bytes() {
			w.Bytes()[i] = byte(v)
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		return w.Close()
	}
}

// startWriter runs the child that holds h open; closing the returned
// writer lets it finish, and wait waits for it.
func startWriter(t *testing.T, h arena.OutputHandle, value byte) (stdin io.WriteCloser, cmd *exec.Cmd) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHMARRAY_TEST_CHILD="+childOutputWriter,
		"SHMARRAY_TEST_TOKEN="+h.Token(), "SHMARRAY_TEST_BYTE="+strconv.Itoa(int(value)))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	return stdin, cmd
}

func emptyBuilder(t *testing.T, dir, name string, n int64) *arena.Builder {
	t.Helper()
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	_, err = b.AddEmpty(format.ArrayDesc{Name: "a", DType: format.DType{Type: format.Uint8}, Length: n})
	require.NoError(t, err)
	_, err = b.AddEmpty(format.ArrayDesc{Name: "b", DType: format.DType{Type: format.Uint8}, Length: n})
	require.NoError(t, err)
	return b
}

func hiddenFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range filesIn(t, dir) {
		if strings.HasPrefix(n, arena.TempPrefix) {
			out = append(out, n)
		}
	}
	return out
}

// TestOutputFilledByOtherProcesses: two processes fill one array each
// through handles; publish waits for them and seals their bytes.
func TestOutputFilledByOtherProcesses(t *testing.T) {
	dir := tempDir(t)
	b := emptyBuilder(t, dir, "shared", 10000)
	ha, err := b.Output("a")
	require.NoError(t, err)
	hb, err := b.Output("b")
	require.NoError(t, err)
	require.Equal(t, ha.File, hb.File, "one hidden name per builder")
	require.Equal(t, []string{ha.File}, hiddenFiles(t, dir))
	require.Equal(t, "shared", ha.Name)

	inA, childA := startWriter(t, ha, 7)
	inB, childB := startWriter(t, hb, 9)

	err = b.WaitWriters(200 * time.Millisecond)
	require.ErrorIs(t, err, format.ErrIO)
	require.Contains(t, err.Error(), strconv.Itoa(childA.Process.Pid))
	require.Contains(t, err.Error(), strconv.Itoa(childB.Process.Pid))
	require.Equal(t, []string{ha.File}, hiddenFiles(t, dir), "a timed-out wait leaves the builder as it was")

	require.NoError(t, inA.Close())
	require.NoError(t, childA.Wait())
	require.NoError(t, inB.Close())
	require.NoError(t, childB.Wait())
	require.NoError(t, b.Publish())
	require.Empty(t, hiddenFiles(t, dir))

	s, err := arena.Attach("shared", dir)
	require.NoError(t, err)
	defer s.Close()
	for name, want := range map[string]byte{"a": 7, "b": 9} {
		_, _, data, err := s.Buffers(name)
		require.NoError(t, err)
		require.Len(t, data, 10000)
		require.Equal(t, strings.Repeat(string([]byte{want}), 10000), string(data), name)
	}
	require.NoError(t, s.Validate())

	_, err = arena.OpenOutput(ha)
	require.ErrorIs(t, err, format.ErrClosed, "no handle opens after publish")
}

// TestPublishWaitsForHandle: Publish blocks until the writer closes.
func TestPublishWaitsForHandle(t *testing.T) {
	dir := tempDir(t)
	b := emptyBuilder(t, dir, "waits", 100)
	h, err := b.Output("a")
	require.NoError(t, err)
	w, err := arena.OpenOutput(h)
	require.NoError(t, err)
	copy(w.Bytes(), "hello")
	done := make(chan error, 1)
	go func() { done <- b.Publish() }()
	select {
	case err := <-done:
		t.Fatalf("publish returned with a writer open: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, w.Close())
	require.NoError(t, <-done)
	s, err := arena.Attach("waits", dir)
	require.NoError(t, err)
	defer s.Close()
	_, _, data, err := s.Buffers("a")
	require.NoError(t, err)
	require.Equal(t, "hello", string(data[:5]))
	require.NoError(t, w.Close(), "Close is idempotent")
}

func TestOutputErrors(t *testing.T) {
	dir := tempDir(t)
	b := emptyBuilder(t, dir, "errs", 100)
	require.NoError(t, arena.AddSlice(b, "copied", []int32{1, 2}))
	_, err := b.Output("nope")
	require.ErrorIs(t, err, format.ErrNotFound)
	_, err = b.Output("copied")
	require.ErrorIs(t, err, format.ErrInvalidArgument)
	h, err := b.Output("a")
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		edit func(h *arena.OutputHandle)
		want error
	}{
		{"other inode", func(h *arena.OutputHandle) { h.Ino++ }, format.ErrPermissionDenied},
		{"beyond the file", func(h *arena.OutputHandle) { h.Offset = 1 << 40 }, format.ErrOutOfBounds},
		{"missing file", func(h *arena.OutputHandle) { h.File = arena.TempPrefix + "1-0000000000000000" }, format.ErrClosed},
		{"not the builder's name form", func(h *arena.OutputHandle) { h.File = arena.TempPrefix + "anything" }, format.ErrInvalidArgument},
		{"relative directory", func(h *arena.OutputHandle) { h.Dir = "." }, format.ErrInvalidArgument},
		{"unclean directory", func(h *arena.OutputHandle) { h.Dir += "/../" + filepath.Base(h.Dir) }, format.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := h
			tc.edit(&bad)
			_, err := arena.OpenOutput(bad)
			require.ErrorIs(t, err, tc.want)
		})
	}
	path := filepath.Join(dir, h.File)
	t.Run("two links", func(t *testing.T) {
		other := filepath.Join(dir, "other-name")
		require.NoError(t, os.Link(path, other))
		defer os.Remove(other)
		_, err := arena.OpenOutput(h)
		require.ErrorIs(t, err, format.ErrPermissionDenied)
		require.ErrorContains(t, err, "2 links")
	})
	t.Run("another user's file", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the file away")
		}
		require.NoError(t, os.Chown(path, 65534, 65534))
		defer os.Chown(path, 0, 0)
		_, err := arena.OpenOutput(h)
		require.ErrorIs(t, err, format.ErrPermissionDenied)
		require.ErrorContains(t, err, "not owned")
	})
	t.Run("a symbolic link", func(t *testing.T) {
		link := h
		link.File = arena.TempPrefix + "1-0000000000000000-errs"
		require.NoError(t, os.Symlink(path, filepath.Join(dir, link.File)))
		defer os.Remove(filepath.Join(dir, link.File))
		_, err := arena.OpenOutput(link)
		require.Error(t, err)
		require.NotErrorIs(t, err, format.ErrClosed)
	})
	w, err := arena.OpenOutput(h)
	require.NoError(t, err, "the unchanged handle opens")
	require.NoError(t, w.Close())

	require.NoError(t, b.Close())
	require.Empty(t, hiddenFiles(t, dir), "discard removes the hidden name")
	_, err = arena.OpenOutput(h)
	require.ErrorIs(t, err, format.ErrClosed)
	_, err = b.Output("a")
	require.ErrorIs(t, err, format.ErrClosed)
}

func TestOutputToken(t *testing.T) {
	h := arena.OutputHandle{Dir: "/dev/shm/a:b", File: arena.TempPrefix + "12-0123456789abcdef-seg", Name: "seg", Dev: 27,
		Ino: 1 << 40, Array: "x:y", Offset: 192, Length: 1 << 33}
	got, err := arena.ParseOutputToken(h.Token())
	require.NoError(t, err)
	require.Equal(t, h, got)
	fallback := h
	fallback.File = arena.TempPrefix + "12-0123456789abcdef"
	_, err = arena.ParseOutputToken(fallback.Token())
	require.NoError(t, err, "the fallback path's name, without the segment name")
	hexOf := func(s string) string { return fmt.Sprintf("%x", s) }
	with := func(edit func(h *arena.OutputHandle)) string {
		e := h
		edit(&e)
		return e.Token()
	}
	for _, tc := range []struct{ name, token string }{
		{"leading zero", strings.Replace(h.Token(), ":27:", ":027:", 1)},
		{"21 digits", strings.Replace(h.Token(), ":27:", ":000000000000000000027:", 1)},
		{"a sign", strings.Replace(h.Token(), ":27:", ":+27:", 1)},
		{"relative directory", with(func(h *arena.OutputHandle) { h.Dir = "dev/shm" })},
		{"dot-dot directory", with(func(h *arena.OutputHandle) { h.Dir = "/dev/shm/../tmp" })},
		{"trailing slash", with(func(h *arena.OutputHandle) { h.Dir = "/dev/shm/" })},
		{"double slash", with(func(h *arena.OutputHandle) { h.Dir = "/dev//shm" })},
		{"any hidden name", with(func(h *arena.OutputHandle) { h.File = arena.TempPrefix + "anything" })},
		{"other segment's name", with(func(h *arena.OutputHandle) { h.File = arena.TempPrefix + "12-0123456789abcdef-other" })},
		{"short random", with(func(h *arena.OutputHandle) { h.File = arena.TempPrefix + "12-0123-seg" })},
		{"uppercase random", with(func(h *arena.OutputHandle) { h.File = arena.TempPrefix + "12-0123456789ABCDEF-seg" })},
		{"not a segment name", with(func(h *arena.OutputHandle) { h.Name, h.File = "..", arena.TempPrefix+"12-0123456789abcdef-.." })},
		{"pid with leading zero", with(func(h *arena.OutputHandle) { h.File = arena.TempPrefix + "012-0123456789abcdef-seg" })},
		{"empty", ""},
		{"other prefix", strings.Replace(h.Token(), "shmout1", "shmout2", 1)},
		{"too few fields", "shmout1:1:2:3:4:" + hexOf("/d") + ":" + hexOf(".shmarray-tmp-1-a") + ":" + hexOf("s")},
		{"not a number", "shmout1:x:2:3:4:" + hexOf("/d") + ":" + hexOf(".shmarray-tmp-1-a") + ":" + hexOf("s") + ":" + hexOf("a")},
		{"overflow", "shmout1:1:2:18446744073709551615:4:" + hexOf("/d") + ":" + hexOf(".shmarray-tmp-1-a") + ":" + hexOf("s") + ":" + hexOf("a")},
		{"not hex", "shmout1:1:2:3:4:zz:" + hexOf(".shmarray-tmp-1-a") + ":" + hexOf("s") + ":" + hexOf("a")},
		{"not a hidden name", "shmout1:1:2:3:4:" + hexOf("/d") + ":" + hexOf("seg") + ":" + hexOf("s") + ":" + hexOf("a")},
		{"a path", "shmout1:1:2:3:4:" + hexOf("/d") + ":" + hexOf(".shmarray-tmp-1/../x") + ":" + hexOf("s") + ":" + hexOf("a")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := arena.ParseOutputToken(tc.token)
			require.ErrorIs(t, err, format.ErrInvalidArgument)
		})
	}
}

// TestOutputGC: the hidden name of a builder that died is removed by gc.
func TestOutputGC(t *testing.T) {
	dir := tempDir(t)
	b := emptyBuilder(t, dir, "gc", 10)
	h, err := b.Output("a")
	require.NoError(t, err)
	removed, err := arena.GC(dir, true)
	require.NoError(t, err)
	require.Empty(t, removed, "the builder lives: its file is not garbage")
	// A dead writer's name: the same file under a name with a dead pid.
	dead := arena.TempPrefix + "999999999-00"
	require.NoError(t, os.Link(filepath.Join(dir, h.File), filepath.Join(dir, dead)))
	require.NoError(t, os.Remove(filepath.Join(dir, h.File)))
	removed, err = arena.GC(dir, false)
	require.NoError(t, err)
	require.Len(t, removed, 1)
	require.Equal(t, dead, removed[0].Name)
}

// TestListShowsBuilding: List marks the hidden file of a builder that
// handed out outputs as building, under its segment's name; Attach never
// opens it.
func TestListShowsBuilding(t *testing.T) {
	dir := tempDir(t)
	b := emptyBuilder(t, dir, "built", 10)
	infos, err := arena.List(dir)
	require.NoError(t, err)
	require.Empty(t, infos, "no output handed out yet: nothing listed")
	h, err := b.Output("a")
	require.NoError(t, err)
	infos, err = arena.List(dir)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.True(t, infos[0].Building)
	require.Equal(t, h.File, infos[0].Name)
	require.Equal(t, "built", infos[0].Segment)
	require.ErrorIs(t, infos[0].Err, format.ErrNotSealed)
	_, err = arena.Attach(h.File, dir)
	require.ErrorIs(t, err, format.ErrInvalidArgument)
	require.NoError(t, b.Publish())
	infos, err = arena.List(dir)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.False(t, infos[0].Building)
	require.Equal(t, "built", infos[0].Name)
}

// FuzzParseOutputToken: any text either fails INVALID_ARGUMENT or parses
// to a handle whose Token parses back to the same handle.
func FuzzParseOutputToken(f *testing.F) {
	h := arena.OutputHandle{Dir: "/dev/shm", File: arena.TempPrefix + "1-0000000000000000-s", Name: "s", Dev: 1, Ino: 2, Array: "a", Offset: 192, Length: 8}
	f.Add(h.Token())
	f.Add("shmout1:1:2:3:4:2f:2e:73:61")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		got, err := arena.ParseOutputToken(token)
		if err != nil {
			require.ErrorIs(t, err, format.ErrInvalidArgument)
			return
		}
		again, err := arena.ParseOutputToken(got.Token())
		require.NoError(t, err)
		require.Equal(t, got, again)
	})
}

// TestOutputsWithoutFlock: on a file system without flock, a builder that
// handed out no output handle publishes as before; one that did refuses,
// naming the limitation.
func TestOutputsWithoutFlock(t *testing.T) {
	for _, errno := range []error{unix.ENOLCK, unix.EOPNOTSUPP, unix.ENOSYS} {
		t.Run(errno.Error(), func(t *testing.T) {
			dir := tempDir(t)
			defer arena.SetNoFlock(errno)()
			b := emptyBuilder(t, dir, "plain", 10)
			require.NoError(t, b.Publish(), "no handle handed out: no lock needed")
			b = emptyBuilder(t, dir, "shared", 10)
			_, err := b.Output("a")
			require.NoError(t, err)
			err = b.Publish()
			require.ErrorIs(t, err, format.ErrIO)
			require.ErrorContains(t, err, "no flock")
		})
	}
}

// TestMapsWritable: only a shared writable mapping of the file counts.
func TestMapsWritable(t *testing.T) {
	line := func(perms string) string {
		return "7f0000000000-7f0000001000 " + perms + " 00000000 00:1a 4242 /dev/shm/.shmarray-tmp-1-x\n"
	}
	for _, tc := range []struct {
		perms string
		want  bool
	}{{"rw-s", true}, {"rw-p", false}, {"r--s", false}, {"r--p", false}} {
		require.Equal(t, tc.want, arena.MapsWritable(line(tc.perms), "00:1a", "4242"), tc.perms)
	}
	require.False(t, arena.MapsWritable(line("rw-s"), "00:1b", "4242"), "other device")
	require.False(t, arena.MapsWritable(line("rw-s"), "00:1a", "4243"), "other inode")
}

// A list's child may carry a name (format 1.3); Output names a column, so
// a later column of the same name is the one handed out.
func TestOutputNamesAColumnNotAChild(t *testing.T) {
	b, err := arena.Create("named-child", &arena.CreateOptions{Dir: tempDir(t)})
	require.NoError(t, err)
	defer b.Close()
	lb := array.NewBuilder(memory.DefaultAllocator, arrow.ListOfField(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true})).(*array.ListBuilder)
	defer lb.Release()
	lb.Append(true)
	lb.ValueBuilder().(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	lists := lb.NewArray()
	defer lists.Release()
	require.NoError(t, b.AddArray("lists", lists))
	_, err = b.AddEmpty(format.ArrayDesc{Name: "x", DType: format.DType{Type: format.Uint8}, Length: 100})
	require.NoError(t, err)
	h, err := b.Output("x")
	require.NoError(t, err)
	require.Equal(t, uint64(100), h.Length, "the column x, not the list's child x (3 int64s)")
}
