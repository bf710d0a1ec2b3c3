package arena_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
	"github.com/shmarray/shmarray/internal/sectest"
)

// The security suite (issue 19): two unprivileged users, A and B, on one
// machine, with root running maintenance, as an attacker would try it. It
// needs root to run processes as other users and is skipped otherwise.
// Each user's actions run in a child process (this test binary, as that
// user) that performs one operation and prints its outcome.

const childSecOp = "sec-op" // perform $SHMARRAY_SEC_OP on the segment; print the outcome

func init() { childModes[childSecOp] = secOp }

// secOp performs one operation, chosen by $SHMARRAY_SEC_OP, and prints its
// outcome as a code name (OK for success) and details:
//
//	create       publish x=[1,2,3] with $SHMARRAY_SEC_MODE (octal) under $SHMARRAY_SEC_UMASK,
//	             ephemeral if $SHMARRAY_SEC_EPHEMERAL is set
//	attach       attach (with $SHMARRAY_SEC_OWNERS, uids joined by ",", as Owners) and print sum(x)
//	unlink, gc   Unlink; GC (and print what it removed)
//	hold         create on the fallback path, print "tmp PATH", publish once stdin gives a line
//	swap         replace the file $SHMARRAY_SEC_PATH by one of this user (mode 0666, x=[666,666,666])
//	attach-loop  attach and close for 300 ms; print counts per code and "bad N", N errors
//	             that are not invalid-segment errors
//	truncate     truncate and rewrite the segment in a loop until stdin closes
func secOp(name, dir string) error {
	if u := os.Getenv("SHMARRAY_SEC_UMASK"); u != "" {
		m, _ := strconv.ParseUint(u, 8, 32)
		unix.Umask(int(m))
	}
	switch op := os.Getenv("SHMARRAY_SEC_OP"); op {
	case "create", "hold":
		mode, _ := strconv.ParseUint(os.Getenv("SHMARRAY_SEC_MODE"), 8, 32)
		if op == "hold" {
			arena.ForceTempFileFallback()
		}
		b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Mode: os.FileMode(mode), Ephemeral: os.Getenv("SHMARRAY_SEC_EPHEMERAL") != ""})
		if err == nil {
			err = arena.AddSlice(b, "x", []int64{1, 2, 3})
		}
		if err == nil && op == "hold" {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), arena.TempPrefix) {
					fmt.Println("tmp", filepath.Join(dir, e.Name()))
				}
			}
			_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		}
		if err == nil {
			err = b.Publish()
		}
		fmt.Println(format.CodeOf(err).Name())
	case "swap":
		path := os.Getenv("SHMARRAY_SEC_PATH")
		if err := os.Rename(path, path+".stolen"); err != nil {
			return err
		}
		other := filepath.Join(filepath.Dir(path), "other-"+strconv.Itoa(os.Getpid()))
		b, err := arena.Create(filepath.Base(other), &arena.CreateOptions{Dir: filepath.Dir(path)})
		if err != nil {
			return err
		}
		if err := arena.AddSlice(b, "x", []int64{666, 666, 666}); err != nil {
			return err
		}
		if err := b.Publish(); err != nil {
			return err
		}
		if err := os.Chmod(other, 0o666); err != nil {
			return err
		}
		if err := os.Rename(other, path); err != nil {
			return err
		}
		fmt.Println("OK")
	case "attach":
		opts := &arena.AttachOptions{Dir: dir}
		for _, u := range strings.FieldsFunc(os.Getenv("SHMARRAY_SEC_OWNERS"), func(r rune) bool { return r == ',' }) {
			uid, _ := strconv.ParseUint(u, 10, 32)
			opts.Owners = append(opts.Owners, uint32(uid))
		}
		s, err := arena.AttachWith(name, opts)
		if err != nil {
			fmt.Println(format.CodeOf(err).Name())
			return nil
		}
		defer s.Close()
		x, err := arena.Values[int64](s, "x")
		if err != nil {
			return err
		}
		var sum int64
		for _, v := range x {
			sum += v
		}
		fmt.Println("OK", sum)
	case "unlink":
		fmt.Println(format.CodeOf(arena.Unlink(name, dir)).Name())
	case "gc":
		gone, err := arena.GC(dir, false)
		names := []string{}
		for _, g := range gone {
			names = append(names, g.Name)
		}
		fmt.Println(format.CodeOf(err).Name(), strings.Join(names, ","))
	case "attach-loop":
		counts := map[string]int{}
		bad := 0
		for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
			s, err := arena.Attach(name, dir)
			counts[format.CodeOf(err).Name()]++
			if err != nil && !errors.Is(err, format.ErrInvalidSegment) {
				bad++
				fmt.Fprintln(os.Stderr, err)
			}
			if s != nil {
				_ = s.Close()
			}
		}
		fmt.Println(counts, "bad", bad)
	case "truncate":
		path := filepath.Join(dir, name)
		whole, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		stop := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(stop)
		}()
		fmt.Println("truncating")
		for i := 0; ; i++ {
			select {
			case <-stop:
				_, _ = unix.Pwrite(fd, whole, 0)
				return unix.Close(fd)
			default:
			}
			_ = unix.Ftruncate(fd, int64([]int{0, 64, 130, len(whole) - 1}[i%4]))
			_, _ = unix.Pwrite(fd, whole, 0)
		}
	default:
		return fmt.Errorf("unknown operation %q", op)
	}
	return nil
}

// secExe is this test binary, copied where the test users may run it, for
// the duration of TestSecurityTwoUsers.
var secExe string

// as runs operation op of secOp on segment name of dir as user u, with
// extra environment, and returns what it printed (trimmed); the process
// must succeed.
func as(t *testing.T, u sectest.User, op, name, dir string, env ...string) string {
	t.Helper()
	cmd := asCommand(t, u, op, name, dir, env...)
	out, err := cmd.Output()
	require.NoError(t, err, "%s as uid %d: %s", op, u.UID, out)
	return strings.TrimSpace(string(out))
}

func asCommand(t *testing.T, u sectest.User, op, name, dir string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := u.Command(secExe, "-test.run=^$")
	cmd.Env = append(childCommand(childSecOp, name, dir).Env, append(env, "SHMARRAY_SEC_OP="+op)...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestSecurityTwoUsers(t *testing.T) {
	a, b := sectest.Users(t)
	secExe = sectest.Exe(t, os.Args[0])
	t.Cleanup(func() { secExe = "" })

	t.Run("squatting on names", func(t *testing.T) {
		dir := sectest.Dir(t, 0o1777) // shared and sticky, like /dev/shm
		secret := filepath.Join(sectest.Dir(t, 0o755), "secret")
		require.NoError(t, os.WriteFile(secret, []byte("A's secret"), 0o600))
		sectest.Chown(t, secret, a)
		// B plants a file, a link, a FIFO, a directory and a segment of
		// its own under the names A is about to use.
		plant := map[string]func(path string) error{
			"sq-file": func(p string) error { return os.WriteFile(p, []byte("not a segment"), 0o644) },
			"sq-link": func(p string) error { return os.Symlink(secret, p) },
			"sq-fifo": func(p string) error { return unix.Mkfifo(p, 0o644) },
			"sq-dir":  func(p string) error { return os.Mkdir(p, 0o755) },
		}
		for name, mk := range plant {
			require.NoError(t, mk(filepath.Join(dir, name)))
			sectest.Chown(t, filepath.Join(dir, name), b)
		}
		require.Equal(t, "OK", as(t, b, "create", "sq-seg", dir, "SHMARRAY_SEC_MODE=0640"))
		require.Equal(t, "OK", as(t, b, "create", "sq-orphan", dir, "SHMARRAY_SEC_EPHEMERAL=1")) // B has exited
		deadTemp := deadTempName(t)
		writeFile(t, dir, deadTemp, append([]byte(format.Magic), make([]byte, 120)...))
		zeroTemp := deadTempName(t)
		writeFile(t, dir, zeroTemp, make([]byte, 128))
		for _, n := range []string{deadTemp, zeroTemp} {
			sectest.Chown(t, filepath.Join(dir, n), b)
		}

		reader := a.WithGroup(b.GID) // A may read B's 0640 segment
		for _, name := range []string{"sq-file", "sq-link", "sq-fifo", "sq-dir", "sq-seg"} {
			assert.Equal(t, "EXISTS", as(t, a, "create", name, dir), "create over %s", name)
			wantAttach, wantUnlink := "NOT_A_SEGMENT", "NOT_A_SEGMENT"
			if name == "sq-seg" {
				wantAttach, wantUnlink = "OK 6", "PERMISSION_DENIED"
				assert.Equal(t, "PERMISSION_DENIED", as(t, reader, "attach", name, dir, fmt.Sprintf("SHMARRAY_SEC_OWNERS=%d", a.UID)), "B's segment, A trusting only A")
			}
			assert.Equal(t, wantAttach, as(t, reader, "attach", name, dir), "attach %s", name)
			assert.Equal(t, wantUnlink, as(t, reader, "unlink", name, dir), "unlink %s", name)
		}
		assert.Equal(t, "OK", as(t, a, "gc", "", dir), "B's orphan and planted temporary files do not make A's gc fail")
		got, err := os.ReadFile(secret)
		require.NoError(t, err)
		assert.Equal(t, "A's secret", string(got), "the link was never followed")

		gone, err := arena.GC(dir, false) // root's gc
		require.NoError(t, err)
		var names []string
		for _, g := range gone {
			names = append(names, g.Name)
		}
		assert.ElementsMatch(t, []string{deadTemp, "sq-orphan"}, names, "root removes another user's temporary file only when it carries the magic")
		assert.FileExists(t, filepath.Join(dir, zeroTemp))
	})

	t.Run("temporary file swapped before publication", func(t *testing.T) {
		dir := sectest.Dir(t, 0o777) // world-writable, not sticky: B may rename A's files
		hold := asCommand(t, a, "hold", "target", dir)
		in, err := hold.StdinPipe()
		require.NoError(t, err)
		out, err := hold.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, hold.Start())
		lines := bufio.NewReader(out)
		line, err := lines.ReadString('\n')
		require.NoError(t, err)
		tmp, ok := strings.CutPrefix(strings.TrimSpace(line), "tmp ")
		require.True(t, ok, line)
		require.Equal(t, "OK", as(t, b, "swap", "", dir, "SHMARRAY_SEC_PATH="+tmp))
		_, err = in.Write([]byte("go\n"))
		require.NoError(t, err)
		rest, _ := io.ReadAll(lines)
		require.NoError(t, hold.Wait())
		assert.Equal(t, "PERMISSION_DENIED", strings.TrimSpace(string(rest)), "a swapped temporary file is never published")
		assert.NoFileExists(t, filepath.Join(dir, "target"))
	})

	t.Run("directory swapped by another user", func(t *testing.T) {
		attacker := &sectest.Attacker{User: b, Exe: secExe}
		content := orphanBytes(t)
		sectest.NewSwapRig(t, "canary", content, attacker).Race(t, "canary", content, 150, func(dir string) error { return arena.Unlink("canary", dir) })
		sectest.NewSwapRig(t, "canary", content, attacker).Race(t, "canary", content, 150, func(dir string) error { _, err := arena.GC(dir, false); return err })
	})

	t.Run("modes under umask 000 and 077", func(t *testing.T) {
		dir := sectest.Dir(t, 0o1777)
		for _, umask := range []string{"000", "077"} {
			for _, mode := range []string{"0", "0640", "0660"} {
				name := "u" + umask + "-m" + mode
				require.Equal(t, "OK", as(t, a, "create", name, dir, "SHMARRAY_SEC_UMASK="+umask, "SHMARRAY_SEC_MODE="+mode))
				want := uint32(0o600)
				if mode != "0" {
					m, _ := strconv.ParseUint(mode, 8, 32)
					want = uint32(m)
				}
				assert.Equal(t, want, fileMode(t, dir, name), name)
			}
		}
	})

	t.Run("reads across users at 0600 and 0640", func(t *testing.T) {
		dir := sectest.Dir(t, 0o1777)
		require.Equal(t, "OK", as(t, a, "create", "private", dir, "SHMARRAY_SEC_MODE=0600"))
		require.Equal(t, "OK", as(t, a, "create", "grouped", dir, "SHMARRAY_SEC_MODE=0640"))
		member := b.WithGroup(a.GID)
		for _, tc := range []struct {
			who        sectest.User
			name, want string
		}{
			{a, "private", "OK 6"}, {a, "grouped", "OK 6"},
			{b, "private", "PERMISSION_DENIED"}, {b, "grouped", "PERMISSION_DENIED"},
			{member, "private", "PERMISSION_DENIED"}, {member, "grouped", "OK 6"},
		} {
			assert.Equal(t, tc.want, as(t, tc.who, "attach", tc.name, dir), "uid %d groups %v reads %s", tc.who.UID, tc.who.Groups, tc.name)
		}
	})

	t.Run("truncation during attach", func(t *testing.T) {
		dir := sectest.Dir(t, 0o1777)
		require.Equal(t, "OK", as(t, a, "create", "shrinking", dir, "SHMARRAY_SEC_MODE=0640"))
		owner := asCommand(t, a, "truncate", "shrinking", dir)
		in, err := owner.StdinPipe()
		require.NoError(t, err)
		out, err := owner.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, owner.Start())
		line, err := readLine(out, 30*time.Second)
		require.NoError(t, err)
		require.Equal(t, "truncating", line)
		got := as(t, b.WithGroup(a.GID), "attach-loop", "shrinking", dir)
		require.NoError(t, in.Close())
		require.NoError(t, owner.Wait())
		t.Logf("B's attaches while A truncated: %s", got)
		assert.True(t, strings.HasSuffix(got, "bad 0"), "every failed attach is an invalid-segment error: %s", got)
	})
}
