package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/internal/sectest"
)

// The tests run the real binary, built once per test run with `go build`
// (without -race even under `go test -race`: a race-instrumented binary
// takes seconds to start, and the tests start it hundreds of times).
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// childEphemeral makes the test binary, re-executed, publish an ephemeral
// segment and exit: an orphan for gc.
const childEnv = "SHMARRAY_CLI_TEST_CHILD"

func TestMain(m *testing.M) {
	sectest.RunChild()
	if os.Getenv(childEnv) == "ephemeral" {
		if err := createEphemeral(os.Getenv("SHMARRAY_CLI_TEST_NAME"), os.Getenv("SHMARRAY_CLI_TEST_DIR")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func createEphemeral(name, dir string) error {
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Ephemeral: true})
	if err != nil {
		return err
	}
	if err := arena.AddSlice(b, "x", []int32{1, 2, 3}); err != nil {
		return err
	}
	return b.Publish()
}

// cliBinary builds the command once and returns its path.
func cliBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "shmarray-cli-test")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "shmarray")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// result is what one run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with args (SHMARRAY_DIR unset, so only --dir counts).
func runCLI(t testing.TB, args ...string) result {
	t.Helper()
	return runCmd(t, execCommand(t, args...))
}

// runCmd runs cmd and returns what it did; a command that cannot be run
// fails the test.
func runCmd(t testing.TB, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return r
}

// umasked is cmd run through a shell that sets umask first, so that only
// the child has it.
func umasked(cmd *exec.Cmd, umask int) *exec.Cmd {
	cmd.Args = append([]string{"sh", "-c", `umask "$0"; exec "$@"`, fmt.Sprintf("%03o", umask), cmd.Path}, cmd.Args[1:]...)
	cmd.Path = "/bin/sh"
	return cmd
}

// ok runs the binary and requires success.
func ok(t testing.TB, args ...string) string {
	t.Helper()
	r := runCLI(t, args...)
	require.Equal(t, 0, r.code, "shmarray %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

// failsWith runs the binary, requires exit status code and one line on
// stderr in the house form, and returns that line.
func failsWith(t testing.TB, code int, args ...string) string {
	t.Helper()
	r := runCLI(t, args...)
	require.Equal(t, code, r.code, "shmarray %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	line := strings.TrimSuffix(r.stderr, "\n")
	require.NotContains(t, line, "\n", "one line on stderr")
	require.True(t, strings.HasPrefix(line, "shmarray: "), "message %q starts with \"shmarray: \"", line)
	return line
}

func withoutEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// segDir is a fresh segment directory whose leftovers fail the test.
func segDir(t *testing.T) string {
	return filepath.Clean(t.TempDir())
}

// entries lists the names in dir, hidden ones included.
func entries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// execCommand is the binary as an *exec.Cmd, for tests that need stdin or
// signals.
func execCommand(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = withoutEnv(os.Environ(), arena.EnvDir)
	return cmd
}

// benchDir is $SHMARRAY_BENCH_DIR, else a temporary directory.
func benchDir(b *testing.B) string {
	if d := os.Getenv("SHMARRAY_BENCH_DIR"); d != "" {
		return d
	}
	return b.TempDir()
}
