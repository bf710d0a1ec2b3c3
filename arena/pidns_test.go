package arena_test

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/arena"
)

// Pids name processes only within a pid namespace, and a segment records no
// namespace (spec §10.5). These tests create segments and run gc in new pid
// namespaces, as containers do.

const (
	childPidnsCreator = "pidns-creator" // in a new pid namespace: publish an ephemeral segment, wait for stdin to close
	childPidnsGC      = "pidns-gc"      // in a new pid namespace: let a child publish an orphan, run GC, print what it removed
)

func init() {
	childModes[childPidnsCreator] = pidnsCreator
	childModes[childPidnsGC] = pidnsGC
}

// ownProc gives a process that is pid 1 of a new pid and mount namespace
// its own /proc, as a container has.
func ownProc() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	return unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

func pidnsCreator(name, dir string) error {
	if err := ownProc(); err != nil {
		return err
	}
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Ephemeral: true})
	if err != nil {
		return err
	}
	if err := b.Publish(); err != nil {
		return err
	}
	fmt.Printf("ready %d\n", os.Getpid())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

func pidnsGC(name, dir string) error {
	if err := ownProc(); err != nil {
		return err
	}
	inner := childCommand(childCreate, name, dir)
	inner.Stderr = nil
	if out, err := inner.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	gone, err := arena.GC(dir, false)
	for _, g := range gone {
		fmt.Println(g.Name)
	}
	return err
}

// TestGCAcrossPidNamespaces: a segment whose creator runs in a child pid
// namespace (recorded as pid 1 there) is alive for a gc outside it, and an
// orphan once the creator exits; a gc inside a child namespace removes the
// orphans of its own namespace and never the segments of creators that
// started before the namespace (outside it: it cannot see them), alive or
// not.
func TestGCAcrossPidNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating pid namespaces needs root; skipped")
	}
	newNS := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}

	t.Run("creator in a child namespace", func(t *testing.T) {
		dir := tempDir(t)
		cmd := child(t, childPidnsCreator, "inner", dir)
		cmd.SysProcAttr = newNS
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		line, err := readLine(out, 30*time.Second)
		require.NoError(t, err)
		require.Equal(t, "ready 1", line, "the creator is pid 1 of its namespace")

		infos, err := arena.List(dir)
		require.NoError(t, err)
		require.Len(t, infos, 1)
		assert.Equal(t, uint32(1), infos[0].CreatorPID)
		assert.True(t, infos[0].CreatorAlive, "pid 1 here is another process, but the creator runs below")
		assert.False(t, infos[0].Orphan())
		gone, err := arena.GC(dir, false)
		require.NoError(t, err)
		assert.Empty(t, gone)

		require.NoError(t, in.Close())
		require.NoError(t, cmd.Wait())
		infos, err = arena.List(dir)
		require.NoError(t, err)
		require.Len(t, infos, 1)
		assert.True(t, infos[0].Orphan(), "%+v", infos[0])
		gone, err = arena.GC(dir, false)
		require.NoError(t, err)
		require.Len(t, gone, 1)
		assert.Equal(t, "inner", gone[0].Name)
	})

	t.Run("gc inside a child namespace", func(t *testing.T) {
		dir := tempDir(t)
		b, err := arena.Create("outside-alive", &arena.CreateOptions{Dir: dir, Ephemeral: true})
		require.NoError(t, err)
		require.NoError(t, b.Publish())
		require.NoError(t, child(t, childCreate, "outside-dead", dir).Run())
		// Start times count clock ticks (100 a second): the namespace must
		// start a tick later than the creators outside, or they could pass
		// for its own.
		time.Sleep(50 * time.Millisecond)

		cmd := child(t, childPidnsGC, "inner", dir)
		cmd.SysProcAttr = newNS
		out, err := cmd.Output()
		require.NoError(t, err)
		assert.Equal(t, []string{"inner"}, strings.Fields(string(out)), "only the namespace's own orphan")
		assert.ElementsMatch(t, []string{"outside-alive", "outside-dead"}, filesIn(t, dir))

		infos, err := arena.List(dir)
		require.NoError(t, err)
		for _, i := range infos {
			assert.False(t, i.CreatorUnknown, "judged from the namespace that created them: %s", i.Name)
		}
		gone, err := arena.GC(dir, false)
		require.NoError(t, err)
		require.Len(t, gone, 1)
		assert.Equal(t, "outside-dead", gone[0].Name)
	})
}
