package arena_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
)

// Leaks under load: many processes attach, read and close one segment over
// and over; descriptors and mappings come back to where they started, and
// the segment directory uses no more space than before.

const (
	childAttachLoop = "attach-loop" // attachCycles cycles, then print fds and mappings, wait for stdin
	attachCycles    = 1000
)

func init() { childModes[childAttachLoop] = attachCycleLoop }

// attachCycleLoop attaches, reads every array (Values, Arrow arrays, buffers)
// and closes, attachCycles times, after one warm-up cycle; then it prints
// "fds BEFORE AFTER maps BEFORE AFTER" (mappings of the segment's file) and
// stays alive until its stdin closes, so that the parent measures the
// directory while every reader still runs.
func attachCycleLoop(name, dir string) error {
	path := filepath.Join(dir, name)
	cycle := func() error {
		s, err := arena.Attach(name, dir)
		if err != nil {
			return err
		}
		defer s.Close()
		var sum int64
		for _, a := range s.Arrays() {
			if a.Type.VarLength() || a.NDim() > 1 {
				arr, err := s.Array(a.Name)
				if err != nil {
					return err
				}
				sum += int64(arr.Len() - arr.NullN())
				arr.Release()
				continue
			}
			v, _, d, err := s.Buffers(a.Name)
			if err != nil {
				return err
			}
			for _, b := range d {
				sum += int64(b)
			}
			sum += int64(len(v))
		}
		if sum == 0 {
			return fmt.Errorf("read nothing")
		}
		return nil
	}
	if err := cycle(); err != nil {
		return err
	}
	fds0, maps0, err := procCounts(path)
	if err != nil {
		return err
	}
	for i := 0; i < attachCycles; i++ {
		if err := cycle(); err != nil {
			return fmt.Errorf("cycle %d: %w", i, err)
		}
	}
	fds1, maps1, err := procCounts(path)
	if err != nil {
		return err
	}
	fmt.Printf("fds %d %d maps %d %d\n", fds0, fds1, maps0, maps1)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// procCounts is the number of open descriptors of this process and of its
// mappings of path, from /proc/self. The descriptors the Go runtime opens
// for itself when it likes (the netpoller's epoll and eventfd, the cgroup
// files it rereads to size GOMAXPROCS) are not counted.
func procCounts(path string) (fds, maps int, err error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the descriptor ReadDir itself held, closed since
		}
		if strings.HasPrefix(target, "anon_inode:") || strings.HasPrefix(target, "/sys/fs/cgroup/") {
			continue
		}
		fds++
	}
	raw, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasSuffix(line, " "+path) || strings.HasSuffix(line, " "+path+" (deleted)") {
			maps++
		}
	}
	return fds, maps, nil
}

// TestNoLeaksUnderLoad: 32 processes × 1,000 attach/read/close cycles of a
// segment of every type. Each process reports its descriptors and its
// mappings of the segment before and after: they match, and no mapping is
// left. While all of them still run, the directory's file system (a private
// tmpfs when the test runs as root, so nothing else writes to it) uses
// exactly the space it used before they started.
func TestNoLeaksUnderLoad(t *testing.T) {
	const procs = 32
	var dir string
	if os.Geteuid() == 0 {
		dir = smallTmpfs(t, "64m")
	} else {
		dir = shmTempDir(t)
	}
	b, err := arena.Create("busy", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	for _, dt := range everyType {
		arr := makeArray(t, memory.DefaultAllocator, dt, 100, true)
		require.NoError(t, b.AddArray(dt.String(), arr))
		arr.Release()
	}
	require.NoError(t, b.Publish())
	before := usedBytes(t, dir)

	start := time.Now()
	cmds := make([]*exec.Cmd, procs)
	stdins := make([]io.Closer, procs)
	outs := make([]*bufio.Reader, procs)
	for i := range cmds {
		cmds[i] = child(t, childAttachLoop, "busy", dir)
		stdins[i], err = cmds[i].StdinPipe()
		require.NoError(t, err)
		out, err := cmds[i].StdoutPipe()
		require.NoError(t, err)
		outs[i] = bufio.NewReader(out)
		require.NoError(t, cmds[i].Start())
	}
	defer func() {
		for i, c := range cmds {
			stdins[i].Close()
			_ = c.Wait()
		}
	}()
	for i, out := range outs {
		line, err := readLine(out, 2*time.Minute)
		require.NoError(t, err, "process %d", i)
		var fds0, fds1, maps0, maps1 int
		_, err = fmt.Sscanf(line, "fds %d %d maps %d %d", &fds0, &fds1, &maps0, &maps1)
		require.NoError(t, err, "process %d printed %q", i, line)
		assert.Equal(t, fds0, fds1, "process %d: open descriptors before and after %d cycles", i, attachCycles)
		assert.Zero(t, maps0, "process %d: mappings of the segment after the warm-up cycle", i)
		assert.Zero(t, maps1, "process %d: mappings of the segment after %d cycles", i, attachCycles)
	}
	elapsed := time.Since(start)
	if os.Geteuid() == 0 {
		assert.Equal(t, before, usedBytes(t, dir), "space used on the segment's tmpfs while the readers run")
	}
	t.Logf("%d processes × %d attach/read/close cycles of a %d-array segment in %v; descriptors, mappings and space back to baseline",
		procs, attachCycles, len(everyType), elapsed.Round(time.Millisecond))
	assert.Equal(t, []string{"busy"}, filesIn(t, dir))
}
