package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/internal/sectest"
)

// The command's part of the security suite (issue 19): two unprivileged
// users, A and B, and root. It needs root to run processes as other users
// and is skipped otherwise.

// runAs runs exe with args as u under umask.
func runAs(t *testing.T, u sectest.User, exe string, umask int, args ...string) result {
	t.Helper()
	cmd := u.Command(exe, args...)
	cmd.Env = withoutEnv(os.Environ(), "SHMARRAY_DIR")
	return runCmd(t, umasked(cmd, umask))
}

func TestSecurityTwoUsersCLI(t *testing.T) {
	a, b := sectest.Users(t)
	exe := sectest.Exe(t, cliBinary(t))
	segs := sectest.Dir(t, 0o1777)
	seg := numbersSegment(t, segs, 100)
	sectest.Chown(t, seg, a)
	shared := sectest.Dir(t, 0o1777) // where A exports, like /tmp

	t.Run("exports are private unless asked", func(t *testing.T) {
		private := filepath.Join(shared, "private.csv")
		r := runAs(t, a, exe, 0o022, "export", "numbers", "--to", private, "--dir", segs)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, os.FileMode(0o600), permOf(t, private))
		assert.NotEqual(t, 0, runAs(t, b, "/bin/cat", 0o022, private).code, "B cannot read A's export")

		public := filepath.Join(shared, "public.csv")
		r = runAs(t, a, exe, 0o022, "export", "numbers", "--to", public, "--mode", "0644", "--dir", segs)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, os.FileMode(0o644), permOf(t, public))
		assert.Equal(t, 0, runAs(t, b, "/bin/cat", 0o022, public).code, "B reads what A chose to share")
	})

	t.Run("a link planted in a sticky directory", func(t *testing.T) {
		precious := filepath.Join(sectest.Dir(t, 0o755), "precious")
		require.NoError(t, os.WriteFile(precious, []byte("A's file"), 0o600))
		sectest.Chown(t, precious, a)
		planted := filepath.Join(shared, "out.csv")
		require.NoError(t, os.Symlink(precious, planted))
		sectest.Chown(t, planted, b)

		r := runAs(t, a, exe, 0o022, "export", "numbers", "--to", planted, "--dir", segs)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "symbolic link")
		r = runAs(t, a, exe, 0o022, "export", "numbers", "--to", planted, "--force", "--dir", segs)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, fmt.Sprintf("is a symbolic link owned by uid %d that this user may not replace", b.UID))
		assert.NotContains(t, r.stderr, "arrow instead")
		got, err := os.ReadFile(precious)
		require.NoError(t, err)
		assert.Equal(t, "A's file", string(got), "the link was never written through")
		for _, name := range entries(t, shared) {
			assert.NotContains(t, name, ".tmp-", "no temporary file is left")
		}
	})

	t.Run("a temporary file planted by another user", func(t *testing.T) {
		dead := exec.Command("true")
		require.NoError(t, dead.Run())
		planted := filepath.Join(segs, fmt.Sprintf(".shmarray-tmp-%d-0123", dead.Process.Pid))
		require.NoError(t, os.WriteFile(planted, make([]byte, 64), 0o600))
		sectest.Chown(t, planted, b)
		r := runAs(t, a, exe, 0o022, "gc", "--dir", segs)
		assert.Equal(t, 0, r.code, "A's gc does not fail on B's file: %s", r.stderr)
		assert.Empty(t, r.stderr)
		assert.FileExists(t, planted)
	})

	t.Run("directory swapped by another user", func(t *testing.T) {
		attacker := &sectest.Attacker{User: b, Exe: sectest.Exe(t, os.Args[0])}
		content := orphanBytes(t)
		for _, cmd := range [][]string{{"rm", "canary"}, {"gc"}} {
			sectest.NewSwapRig(t, "canary", content, attacker).Race(t, "canary", content, 60, func(dir string) error {
				runCLI(t, append(cmd, "--dir", dir)...)
				return nil
			})
		}
	})
}
