package sectest

import (
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// User is an unprivileged identity that a root test runs processes as.
type User struct {
	UID, GID uint32
	Groups   []uint32 // supplementary groups
}

// firstID is where the search for unused ids starts: above the ranges
// distributions hand out to people and services.
const firstID = 61000

// Users returns two unprivileged users with distinct uids and gids that
// no account of the machine uses. It skips the test, saying why, unless
// the process is root.
func Users(t testing.TB) (a, b User) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the multi-user security tests run processes as two unprivileged users, which needs root; skipped (run the tests as root to include them)")
	}
	var ids []uint32
	for id := uint32(firstID); len(ids) < 2 && id < firstID+1000; id++ {
		s := strconv.FormatUint(uint64(id), 10)
		if _, err := user.LookupId(s); err == nil {
			continue
		}
		if _, err := user.LookupGroupId(s); err == nil {
			continue
		}
		ids = append(ids, id)
	}
	require.Len(t, ids, 2, "no free uids above %d", firstID)
	return User{UID: ids[0], GID: ids[0]}, User{UID: ids[1], GID: ids[1]}
}

// WithGroup is u with gid added to its supplementary groups.
func (u User) WithGroup(gid uint32) User {
	u.Groups = append(append([]uint32{}, u.Groups...), gid)
	return u
}

// Command is exe run as u, with the test process's environment.
func (u User) Command(exe string, args ...string) *exec.Cmd {
	cmd := exec.Command(exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups}}
	cmd.Dir = "/"
	return cmd
}

// Exe copies the executable at path into a fresh directory that everyone
// may enter and returns the copy's path, so that other users can run it
// (go test keeps its binaries under a directory only its user may enter).
// The copy goes when the test ends.
func Exe(t testing.TB, path string) string {
	t.Helper()
	dir := Dir(t, 0o755)
	dst := filepath.Join(dir, filepath.Base(path))
	src, err := os.Open(path)
	require.NoError(t, err)
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, src)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	return dst
}

// Dir is a fresh directory with exactly the Unix mode bits mode (0o1777 is
// world-writable with the sticky bit, like /dev/shm), inside a parent that
// everyone may enter, removed with all it holds when the test ends.
func Dir(t testing.TB, mode uint32) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "shmarray-sec-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	require.NoError(t, os.Chmod(parent, 0o755))
	dir := filepath.Join(parent, "d")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, unix.Chmod(dir, mode))
	return dir
}

// Chown gives path (not following a link) to u.
func Chown(t testing.TB, path string, u User) {
	t.Helper()
	require.NoError(t, os.Lchown(path, int(u.UID), int(u.GID)))
}
