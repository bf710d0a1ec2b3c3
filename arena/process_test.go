package arena_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
)

func child(t *testing.T, mode, name, dir string) *exec.Cmd { return childCommand(mode, name, dir) }

// childCommand is the test binary run in child mode on segment name of dir.
func childCommand(mode, name, dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHMARRAY_TEST_CHILD="+mode, "SHMARRAY_TEST_NAME="+name, "SHMARRAY_TEST_DIR="+dir,
		// Under -race a process sleeps 1 s at exit (to catch late reports)
		// unless told not to; the tests start hundreds of children.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Stderr = os.Stderr
	return cmd
}

// TestAttachFromAnotherProcess: a second OS process sees the same bytes.
func TestAttachFromAnotherProcess(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	b, err := arena.Create("cross", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	for _, dt := range everyType {
		arr := makeArray(t, memory.DefaultAllocator, dt, 100, true)
		require.NoError(t, b.AddArray(dt.String(), arr))
		arr.Release()
	}
	require.NoError(t, b.Publish())

	s, err := arena.Attach("cross", dir)
	require.NoError(t, err)
	defer s.Close()
	want, err := digests(s)
	require.NoError(t, err)

	out, err := child(t, childDigest, "cross", dir).Output()
	require.NoError(t, err)
	assert.Equal(t, want, strings.Split(strings.TrimSpace(string(out)), "\n"))
}

// pss reads the proportional set size of a process, in bytes.
func pss(t *testing.T, pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no Pss line in smaps_rollup")
	return 0
}

// TestTwoReadersShareOneCopy: two processes that attach a 256 MiB segment
// and touch every page of it hold, together, one copy of the data.
func TestTwoReadersShareOneCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("maps 256 MiB; run without -short")
	}
	const size = 256 << 20
	dir := shmDir(t)
	name := "pss-" + strconv.Itoa(os.Getpid())
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Capacity: size + 1<<20})
	require.NoError(t, err)
	defer b.Close()
	values := make([]uint64, size/8)
	for i := range values {
		values[i] = uint64(i) * 0x9E3779B97F4A7C15
	}
	require.NoError(t, arena.AddSlice(b, "data", values))
	values = nil
	require.NoError(t, b.Publish())
	t.Cleanup(func() { _ = arena.Unlink(name, dir) })

	var total int64
	var stdins []io.Closer
	var cmds []*exec.Cmd
	for i := 0; i < 2; i++ {
		cmd := child(t, childReader, name, dir)
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		stdins, cmds = append(stdins, in), append(cmds, cmd)
		line, err := readLine(out, 60*time.Second)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(line, "ready"), line)
	}
	for _, cmd := range cmds {
		p := pss(t, cmd.Process.Pid)
		t.Logf("reader %d: PSS %.1f MiB", cmd.Process.Pid, float64(p)/(1<<20))
		total += p
	}
	for i, in := range stdins {
		in.Close()
		require.NoError(t, cmds[i].Wait())
	}
	t.Logf("two readers of a 256 MiB segment: combined PSS %.1f MiB (%.3f × the data)", float64(total)/(1<<20), float64(total)/size)
	assert.Less(t, total, int64(size*12/10), "combined PSS must stay under 1.2 × the data")
}

func readLine(r io.Reader, timeout time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- result{strings.TrimSpace(line), err}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-time.After(timeout):
		return "", os.ErrDeadlineExceeded
	}
}

// shmDir is /dev/shm when it has room for the big tests, else a temp dir.
func shmDir(t *testing.T) string {
	if st, err := os.Stat(arena.DefaultDir); err == nil && st.IsDir() {
		return arena.DefaultDir
	}
	return tempDir(t)
}
