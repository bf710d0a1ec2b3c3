package sectest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The directory-swap race (issue 19): between a tool's check of dir/name
// and its unlink, whoever can rename entries of dir's parent swaps dir for
// a symbolic link to another directory holding a file of the same name. A
// tool that resolves the path afresh at each step then removes the file
// outside. A SwapRig makes that swap in a loop, from a goroutine or from a
// process of another user, while the test runs the tool.

// SwapRig is a parent directory whose entry "segs" flips between the real
// segment directory and a symbolic link to the directory "outside".
type SwapRig struct {
	Segs    string // base/segs: the path the tool is given
	Outside string // the other directory, holding the canary
	base    string
	realFD  int // the real segment directory, to refill it without a path
	canary  []byte

	stop  func() int64 // stops the swapping, returns how many swaps were made
	swaps int64
	once  sync.Once
}

// Attacker runs the swapping in a process of its own, as User, from Exe
// (the test binary, copied by Exe(), whose TestMain calls RunChild).
type Attacker struct {
	User User
	Exe  string
}

// NewSwapRig makes the rig and starts swapping: from a goroutine when
// attacker is nil, else from the attacker's process, which then owns the
// parent directory and the real segment directory. name is the canary's
// name; outside/name is created holding content, the same bytes as the
// file the tool is meant to remove, so only the directory tells them
// apart.
func NewSwapRig(t testing.TB, name string, content []byte, attacker *Attacker) *SwapRig {
	t.Helper()
	base := Dir(t, 0o755)
	r := &SwapRig{Segs: filepath.Join(base, "segs"), Outside: filepath.Join(base, "outside"), base: base, canary: content}
	require.NoError(t, os.Mkdir(r.Segs, 0o755))
	require.NoError(t, os.Mkdir(r.Outside, 0o700))
	require.NoError(t, os.Symlink(r.Outside, filepath.Join(base, "swap")))
	require.NoError(t, os.WriteFile(filepath.Join(r.Outside, name), content, 0o600))
	fd, err := unix.Open(r.Segs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	r.realFD = fd
	t.Cleanup(func() {
		r.Halt()
		_ = unix.Close(r.realFD)
	})
	a, b := r.Segs, filepath.Join(base, "swap")
	if attacker == nil {
		stop := make(chan struct{})
		got := make(chan int64, 1)
		go func() { got <- SwapLoop(a, b, stop) }()
		r.stop = func() int64 { close(stop); return <-got }
		return r
	}
	for _, p := range []string{base, r.Segs, b} {
		Chown(t, p, attacker.User)
	}
	cmd := attacker.User.Command(attacker.Exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=swap", "SHMARRAY_SECTEST_A="+a, "SHMARRAY_SECTEST_B="+b)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewReader(out)
	line, err := lines.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "swapping\n", line)
	r.stop = func() int64 {
		in.Close()
		last, _ := io.ReadAll(lines)
		require.NoError(t, cmd.Wait())
		n, _ := strconv.ParseInt(strings.TrimSpace(string(last)), 10, 64)
		return n
	}
	return r
}

// SwapLoop exchanges the entries a and b (renameat2 RENAME_EXCHANGE) until
// stop is closed and returns how many exchanges it made.
func SwapLoop(a, b string, stop <-chan struct{}) int64 {
	var n int64
	for {
		select {
		case <-stop:
			return n
		default:
		}
		if unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE) == nil {
			n++
		}
	}
}

// Halt stops the swapping and leaves Segs the real directory.
func (r *SwapRig) Halt() {
	r.once.Do(func() {
		r.swaps = r.stop()
		if st, err := os.Lstat(r.Segs); err == nil && st.Mode()&os.ModeSymlink != 0 {
			_ = unix.Renameat2(unix.AT_FDCWD, r.Segs, unix.AT_FDCWD, filepath.Join(r.base, "swap"), unix.RENAME_EXCHANGE)
		}
	})
}

// Refill puts name, holding content, back into the real directory, through
// its descriptor, if the tool removed it; it reports whether it had to.
func (r *SwapRig) Refill(t testing.TB, name string, content []byte) bool {
	t.Helper()
	var st unix.Stat_t
	if unix.Fstatat(r.realFD, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		return false
	}
	fd, err := unix.Openat(r.realFD, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	require.NoError(t, err)
	_, err = unix.Write(fd, content)
	require.NoError(t, err)
	require.NoError(t, unix.Close(fd))
	return true
}

// RequireCanary fails the test at once if the file outside is gone or
// changed.
func (r *SwapRig) RequireCanary(t testing.TB, name string, round int) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(r.Outside, name))
	require.NoError(t, err, "round %d: the file outside the segment directory was removed", round)
	require.Equal(t, r.canary, got, "round %d: the file outside was changed", round)
}

// Race runs op, which should remove name from the real directory, rounds
// times against the swapping, refilling the real directory as op empties
// it. It requires the canary to survive every round, and op to have
// removed the real file at least once and the directory to have been
// swapped, so that the race was run, not dodged.
func (r *SwapRig) Race(t testing.TB, name string, content []byte, rounds int, op func(dir string) error) {
	t.Helper()
	r.Refill(t, name, content)
	removed := 0
	for i := 0; i < rounds; i++ {
		_ = op(r.Segs) // errors are expected while segs is a link
		if r.Refill(t, name, content) {
			removed++
		}
		r.RequireCanary(t, name, i)
	}
	r.Halt()
	r.RequireCanary(t, name, rounds)
	t.Logf("%d rounds, %d removals from the real directory, %d swaps", rounds, removed, r.swaps)
	require.Positive(t, removed, "the tool never removed the file it was meant to: the race was not exercised")
	require.Positive(t, r.swaps, "the directory was never swapped")
}

// childEnv selects a sectest child mode in a re-executed test binary.
const childEnv = "SHMARRAY_SECTEST_CHILD"

// RunChild runs the sectest child mode named by the environment, if any,
// and exits; test binaries that use an Attacker call it first thing in
// their TestMain. The "swap" mode prints "swapping", exchanges
// $SHMARRAY_SECTEST_A and $SHMARRAY_SECTEST_B until its stdin closes, and
// prints the number of exchanges.
func RunChild() {
	switch os.Getenv(childEnv) {
	case "":
		return
	case "swap":
		stop := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(stop)
		}()
		fmt.Println("swapping")
		fmt.Println(SwapLoop(os.Getenv("SHMARRAY_SECTEST_A"), os.Getenv("SHMARRAY_SECTEST_B"), stop))
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "sectest: unknown child mode", os.Getenv(childEnv))
		os.Exit(2)
	}
}
