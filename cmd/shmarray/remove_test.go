package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
	"github.com/shmarray/shmarray/internal/sectest"
)

// The commands that remove files (rm, gc) against the directory-swap race
// (issue 19, sectest.SwapRig): a goroutine swaps the segment directory for
// a symbolic link to another directory holding a file of the same name,
// with the same bytes, in a loop; the file outside is never removed.

// orphanBytes is the content of an ephemeral segment whose creator exited.
func orphanBytes(t *testing.T) []byte {
	dir := segDir(t)
	publishOrphan(t, dir, "orphan")
	raw, err := os.ReadFile(filepath.Join(dir, "orphan"))
	require.NoError(t, err)
	return raw
}

// publishOrphan has a child process publish an ephemeral segment name in
// dir and exit.
func publishOrphan(t *testing.T, dir, name string) {
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), childEnv+"=ephemeral", "SHMARRAY_CLI_TEST_NAME="+name, "SHMARRAY_CLI_TEST_DIR="+dir)
	out, err := child.CombinedOutput()
	require.NoError(t, err, string(out))
}

func TestDirectorySwapRaceRm(t *testing.T) {
	content := orphanBytes(t)
	sectest.NewSwapRig(t, "canary", content, nil).Race(t, "canary", content, 100, func(dir string) error {
		runCLI(t, "rm", "canary", "--dir", dir)
		return nil
	})
}

func TestDirectorySwapRaceGC(t *testing.T) {
	content := orphanBytes(t)
	sectest.NewSwapRig(t, "canary", content, nil).Race(t, "canary", content, 100, func(dir string) error {
		runCLI(t, "gc", "--dir", dir)
		return nil
	})
}

// TestRmAndGCRefuseALinkedDirectory: rm and gc do not follow a symbolic link
// given as the directory, and say what to pass instead.
func TestRmAndGCRefuseALinkedDirectory(t *testing.T) {
	dir := segDir(t)
	publishOrphan(t, dir, "eph")
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(dir, link))
	for _, args := range [][]string{{"rm", "eph"}, {"gc"}} {
		msg := failsWith(t, 1, append(args, "--dir", link)...)
		assert.Contains(t, msg, "is a symbolic link", args[0])
		assert.Contains(t, msg, "pass the directory itself", args[0])
	}
	assert.Equal(t, []string{"eph"}, entries(t, dir))
}

// TestGCReportsAndGoesOn: a file gc means to remove and cannot (a mount
// point, set up as root) is reported on stderr, the others are removed and
// listed, and the exit status is 1.
func TestGCReportsAndGoesOn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a file gc cannot remove (a bind mount) needs root; skipped")
	}
	dir := segDir(t)
	publishOrphan(t, dir, "a-stuck")
	publishOrphan(t, dir, "b-free")
	stuck := filepath.Join(dir, "a-stuck")
	require.NoError(t, unix.Mount(stuck, stuck, "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = unix.Unmount(stuck, unix.MNT_DETACH) })

	r := runCLI(t, "gc", "--dir", dir)
	assert.Equal(t, 1, r.code)
	assert.Regexp(t, `^removed b-free \(.*creator pid \d+ exited\)\n$`, r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.Len(t, lines, 2, r.stderr)
	assert.Contains(t, lines[0], `shmarray: gc: I/O error: remove orphaned segment "a-stuck"`)
	assert.Contains(t, lines[0], "busy")
	assert.Equal(t, "shmarray: gc: 1 file was not removed (see the messages above)", lines[1])
	assert.Equal(t, []string{"a-stuck"}, entries(t, dir))
}

// TestRmKeepsTheReplacedMessage: an rm that found another file under the
// name says so, not "no segment" (the NOT_FOUND it carries is not a missing
// name).
func TestRmKeepsTheReplacedMessage(t *testing.T) {
	dir := t.TempDir()
	err := errors.Join(format.ErrNotFound, arena.ErrReplaced)
	got := segmentError("rm", "seg", dir, err).Error()
	assert.Contains(t, got, arena.ErrReplaced.Error())
	assert.NotContains(t, got, "no segment")
	plain := segmentError("rm", "seg", dir, format.ErrNotFound).Error()
	assert.Contains(t, plain, `no segment "seg"`, "a missing name still says so")
}
