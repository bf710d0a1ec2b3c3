package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// TestUsage: help goes to stdout with status 0; a command line that cannot
// be parsed gets the problem and the usage on stderr with status 2.
func TestUsage(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string // substring of stdout
		stderr string // substring of stderr
	}{
		{[]string{"help"}, 0, "commands:", ""},
		{[]string{"--help"}, 0, "commands:", ""},
		{[]string{"help", "export"}, 0, "usage: shmarray export NAME --to FILE", ""},
		{[]string{}, 2, "", "no command given"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"ls", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"ls", "extra"}, 2, "", "ls takes no arguments"},
		{[]string{"create", "x"}, 2, "", "--from FILE is required"},
		{[]string{"create", "--from", "a.csv"}, 2, "", "expected one segment name"},
		{[]string{"create", "x", "--from", "a.npy", "--type", "a=int8"}, 2, "", "CSV input only"},
		{[]string{"create", "x", "--from", "a.csv", "--type", "nonsense"}, 2, "", "write COL=TYPE"},
		{[]string{"create", "x", "--from", "a.csv", "--type", "a=complex128"}, 2, "", "unknown type"},
		{[]string{"head", "x", "-n", "many"}, 2, "", "invalid value"},
		{[]string{"info"}, 2, "", "expected one segment name"},
		{[]string{"rm"}, 2, "", "at least one segment name"},
		{[]string{"export", "x"}, 2, "", "--to FILE is required"},
	}
	for _, name := range []string{"create", "ls", "info", "head", "verify", "export", "rm", "gc"} {
		cases = append(cases,
			struct {
				args           []string
				code           int
				stdout, stderr string
			}{[]string{name, "--help"}, 0, "usage: shmarray " + name, ""},
			struct {
				args           []string
				code           int
				stdout, stderr string
			}{[]string{name, "-h"}, 0, "--dir DIR", ""})
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := runCLI(t, c.args...)
			assert.Equal(t, c.code, r.code, "stderr: %s", r.stderr)
			assert.Contains(t, r.stdout, c.stdout)
			assert.Contains(t, r.stderr, c.stderr)
			if c.code == 2 {
				assert.Contains(t, r.stderr, "usage: shmarray", "usage follows the problem")
				assert.Empty(t, r.stdout)
			}
			if c.code == 0 {
				assert.Empty(t, r.stderr)
			}
		})
	}
}

// TestErrors: every failure is one line, "shmarray: <what>: <why> (<fix>)",
// with status 1, and leaves no segment behind.
func TestErrors(t *testing.T) {
	src := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(src, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	good := write("good.csv", "a,b\n1,x\n2,y\n")
	ragged := write("ragged.csv", "a,b\n1,x\n2\n")
	text := write("text.csv", "a\n1\n2\nthree\n")
	empty := write("empty.csv", "")
	dup := write("dup.csv", "a,a\n1,2\n")
	fortran := filepath.Join(src, "f.npy")
	require.NoError(t, os.WriteFile(fortran, npyFile(1, "<f8", true, []int{2, 2}, le([]float64{1, 2, 3, 4})), 0o600))
	big := filepath.Join(src, "b.npy")
	require.NoError(t, os.WriteFile(big, npyFile(1, ">i4", false, []int{1}, []byte{0, 0, 0, 1}), 0o600))
	short := filepath.Join(src, "short.npy")
	require.NoError(t, os.WriteFile(short, npyFile(1, "<i8", false, []int{4}, le([]int64{1, 2})), 0o600))
	notParquet := write("bad.parquet", "PAR1 but not really")
	fifo := filepath.Join(src, "pipe")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	dir := segDir(t)
	ok(t, "create", "taken", "--from", good, "--dir", dir)

	cases := []struct {
		name string
		args []string
		want []string // substrings of the message
	}{
		{"info missing", []string{"info", "nope", "--dir", dir}, []string{`info "nope"`, `no segment "nope"`, "shmarray ls --dir " + dir}},
		{"no such dir", []string{"ls", "--dir", filepath.Join(src, "missing")}, []string{"does not exist", "--dir"}},
		{"bad name", []string{"create", "a/b", "--from", good, "--dir", dir}, []string{"segment name", "'/'"}},
		{"exists", []string{"create", "taken", "--from", good, "--dir", dir}, []string{"already exists", "shmarray rm taken"}},
		{"index", []string{"create", "x", "--from", good, "--index", "nope", "--dir", dir}, []string{"--index nope", "unique keys"}},
		{"missing input", []string{"create", "x", "--from", filepath.Join(src, "nope.csv"), "--dir", dir}, []string{"no such file", "--from"}},
		{"unknown format", []string{"create", "x", "--from", write("data.xyz", "??"), "--dir", dir}, []string{"cannot tell the format", "--format"}},
		{"fifo, no format", []string{"create", "x", "--from", fifo, "--dir", dir}, []string{"not a regular file", "--format"}},
		{"ragged csv", []string{"create", "x", "--from", ragged, "--dir", dir}, []string{"line 3", "wrong number of fields"}},
		{"bad value", []string{"create", "x", "--from", text, "--type", "a=int64", "--dir", dir}, []string{`"three"`, `column "a"`, "--type a="}},
		{"empty csv", []string{"create", "x", "--from", empty, "--dir", dir}, []string{"empty"}},
		{"duplicate header", []string{"create", "x", "--from", dup, "--dir", dir}, []string{`"a" appears twice`}},
		{"unknown --type column", []string{"create", "x", "--from", good, "--type", "zzz=int8", "--dir", dir}, []string{`"zzz"`, "columns: a, b"}},
		{"fortran npy", []string{"create", "x", "--from", fortran, "--dir", dir}, []string{"Fortran order", "ascontiguousarray"}},
		{"big-endian npy", []string{"create", "x", "--from", big, "--dir", dir}, []string{"big-endian", "newbyteorder"}},
		{"short npy", []string{"create", "x", "--from", short, "--dir", dir}, []string{"truncated"}},
		{"bad parquet", []string{"create", "x", "--from", notParquet, "--dir", dir}, []string{"Parquet"}},
		{"rm missing", []string{"rm", "nope", "--dir", dir}, []string{`rm "nope"`, "no segment"}},
		{"verify missing", []string{"verify", "nope", "--dir", dir}, []string{"no segment"}},
		{"head missing", []string{"head", "nope", "--dir", dir}, []string{"no segment"}},
		{"export missing", []string{"export", "nope", "--to", filepath.Join(src, "o.arrow"), "--dir", dir}, []string{"no segment"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := failsWith(t, 1, c.args...)
			for _, w := range c.want {
				assert.Contains(t, msg, w)
			}
			assert.Equal(t, []string{"taken"}, entries(t, dir), "a failed command leaves nothing behind")
		})
	}
}

// TestVerify: a sound segment verifies; one whose data or header bytes were
// changed fails with a clear message and status 1.
func TestVerify(t *testing.T) {
	src := t.TempDir()
	in := filepath.Join(src, "in.npy")
	require.NoError(t, os.WriteFile(in, npyFile(1, "<i8", false, []int{1000}, le(make([]int64, 1000))), 0o600))
	dir := segDir(t)
	for _, name := range []string{"sound", "data", "header"} {
		ok(t, "create", name, "--from", in, "--dir", dir)
	}
	out := ok(t, "verify", "sound", "--dir", dir)
	assert.Equal(t, "ok: sound (1 arrays, checksums verified)\n", out)

	s, err := arena.Attach("data", dir)
	require.NoError(t, err)
	dataAt := int64(s.Arrays()[0].Data.Offset) + 100
	require.NoError(t, s.Close())
	flipByte(t, filepath.Join(dir, "data"), dataAt)
	flipByte(t, filepath.Join(dir, "header"), 100) // the creation time, under the header checksum

	msg := failsWith(t, 1, "verify", "data", "--dir", dir)
	assert.Contains(t, msg, "checksum")
	assert.Contains(t, msg, `verify "data"`)
	assert.Contains(t, msg, "damaged")
	msg = failsWith(t, 1, "verify", "header", "--dir", dir)
	assert.Contains(t, msg, "checksum")
	ok(t, "verify", "sound", "--dir", dir)
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, at)
	require.NoError(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, at)
	require.NoError(t, err)
}

// TestRmThenInfo: rm removes, info then fails cleanly; rm of several names
// goes on past a missing one.
func TestRmThenInfo(t *testing.T) {
	src := t.TempDir()
	in := filepath.Join(src, "in.csv")
	require.NoError(t, os.WriteFile(in, []byte("a\n1\n"), 0o600))
	dir := segDir(t)
	for _, n := range []string{"one", "two", "three"} {
		ok(t, "create", n, "--from", in, "--dir", dir)
	}
	assert.Equal(t, "removed one\n", ok(t, "rm", "one", "--dir", dir))
	msg := failsWith(t, 1, "info", "one", "--dir", dir)
	assert.Equal(t, fmt.Sprintf(`shmarray: info "one": no segment "one" in %s (list the segments there with: shmarray ls --dir %s)`, dir, dir), msg)

	r := runCLI(t, "rm", "two", "nope", "three", "--dir", dir)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "removed two\nremoved three\n", r.stdout)
	assert.Contains(t, r.stderr, `shmarray: rm "nope": no segment "nope"`)
	assert.Empty(t, entries(t, dir))

	other := filepath.Join(dir, "notes")
	require.NoError(t, os.WriteFile(other, []byte("not a segment, keep me"), 0o600))
	msg = failsWith(t, 1, "rm", "notes", "--dir", dir)
	assert.Contains(t, msg, "not a shmarray segment")
	assert.FileExists(t, other)
}

// TestLsAndGC lists segments as a table and as JSON, marks an ephemeral
// segment whose creator exited as an orphan, and gc removes only that.
func TestLsAndGC(t *testing.T) {
	src := t.TempDir()
	in := filepath.Join(src, "in.csv")
	require.NoError(t, os.WriteFile(in, []byte("a,b\n1,x\n2,y\n3,z\n"), 0o600))
	dir := segDir(t)
	assert.Equal(t, "no segments in "+dir+"\n", ok(t, "ls", "--dir", dir))
	assert.Equal(t, "[]\n", ok(t, "ls", "--json", "--dir", dir))
	ok(t, "create", "table", "--from", in, "--dir", dir)
	ragged := raggedSegment(t, dir)

	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), childEnv+"=ephemeral", "SHMARRAY_CLI_TEST_NAME=eph", "SHMARRAY_CLI_TEST_DIR="+dir)
	out, err := child.CombinedOutput()
	require.NoError(t, err, string(out))

	table := ok(t, "ls", "--dir", dir)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 4, table)
	assert.Regexp(t, `^NAME\s+SIZE\s+ARRAYS\s+ROWS\s+VERSION\s+CREATOR\s+AGE\s+ID$`, lines[0])
	assert.Regexp(t, `^eph\s+\d+ B\s+1\s+3\s+1\s+\d+ exited \(orphan\)\s+\d+s\s+[0-9a-f]{32}$`, lines[1])
	assert.Regexp(t, `^ragged\s.*\s2\s+-\s+1\s+\d+ alive\s`, lines[2], "rows differ: -; the creator is this test")
	assert.Regexp(t, `^table\s.*\s2\s+3\s+1\s+\d+ exited\s`, lines[3])

	var listed []lsEntry
	require.NoError(t, json.Unmarshal([]byte(ok(t, "ls", "--json", "--dir", dir)), &listed))
	require.Len(t, listed, 3)
	byName := map[string]lsEntry{}
	for _, e := range listed {
		byName[e.Name] = e
	}
	assert.True(t, byName["eph"].Orphan)
	assert.True(t, byName["eph"].Ephemeral)
	require.NotNil(t, byName["table"].Rows)
	assert.Equal(t, int64(3), *byName["table"].Rows)
	assert.Nil(t, byName["ragged"].Rows)
	assert.Equal(t, ragged, byName["ragged"].CreatorPID)
	assert.True(t, byName["ragged"].CreatorAlive)
	assert.False(t, byName["table"].CreatorAlive)
	assert.Less(t, byName["table"].AgeSeconds, 600.0)

	assert.Regexp(t, `^would remove eph \(.*creator pid \d+ exited\)\n$`, ok(t, "gc", "--dry-run", "--dir", dir))
	assert.Len(t, entries(t, dir), 3)
	assert.Regexp(t, `^removed eph `, ok(t, "gc", "--dir", dir))
	assert.ElementsMatch(t, []string{"ragged", "table"}, entries(t, dir))
	assert.Equal(t, "no orphaned segments in "+dir+"\n", ok(t, "gc", "--dir", dir))
}

// raggedSegment publishes, from this process, a segment "ragged" with
// arrays of different lengths, and returns this process's pid.
func raggedSegment(t *testing.T, dir string) uint32 {
	t.Helper()
	b, err := arena.Create("ragged", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, arena.AddSlice(b, "short", []int64{1, 2}))
	require.NoError(t, arena.AddSlice(b, "long", []float64{1, 2, 3, 4}))
	require.NoError(t, b.Publish())
	return uint32(os.Getpid())
}

// TestInfo shows names, types, lengths, null counts, shapes, metadata and
// "indexes: none", as text and as JSON.
func TestInfo(t *testing.T) {
	recs := sampleBatches(t, 20, 20, true)
	src := t.TempDir()
	in := filepath.Join(src, "in.arrow")
	writeIPCFile(t, in, recs)
	dir := segDir(t)
	ok(t, "create", "table", "--from", in, "--dir", dir)
	text := ok(t, "info", "table", "--dir", dir)
	assert.Regexp(t, `(?m)^indexes\s+none$`, text)
	assert.Regexp(t, `(?m)^metadata\s+source=cli-test$`, text)
	assert.Regexp(t, `(?m)^arrays\s+13, 20 rows$`, text)
	assert.Regexp(t, `(?m)^cube\s+float32\s+20\s+2\s+\[20 2 3\]\s+unit=m$`, text)
	assert.Regexp(t, `(?m)^when\s+timestamp\[us, UTC\]\s+20\s+3\s+\[20\]$`, text)

	var seg infoSegment
	require.NoError(t, json.Unmarshal([]byte(ok(t, "info", "table", "--json", "--dir", dir)), &seg))
	assert.Equal(t, "table", seg.Name)
	assert.Equal(t, "1.2", seg.FormatVersion)
	assert.Equal(t, uint64(1), seg.Version)
	require.NotNil(t, seg.ID)
	assert.Regexp(t, `^[0-9a-f]{32}$`, *seg.ID)
	assert.Regexp(t, `(?m)^version\s+1 \(id `+*seg.ID+`\)$`, text)
	assert.Equal(t, []string{}, seg.Indexes)
	assert.Equal(t, map[string]string{"source": "cli-test"}, seg.Metadata)
	require.Len(t, seg.Arrays, 13)
	assert.Equal(t, infoArray{Name: "cube", Type: "float32", Length: 20, NullCount: 2, Shape: []int64{20, 2, 3},
		Metadata: map[string]string{"unit": "m"}, Checksum: true}, seg.Arrays[11])
	assert.Equal(t, int64(3), seg.Arrays[0].NullCount)
}

// TestHead prints the first rows aligned, with nulls, quoting, hex and N-D
// rows in brackets.
func TestHead(t *testing.T) {
	src := t.TempDir()
	in := filepath.Join(src, "in.csv")
	require.NoError(t, os.WriteFile(in, []byte("id,name,price\n1,plain,1.5\n2,two words,\n3,,2.25\n4,x,3\n"), 0o600))
	cube := filepath.Join(src, "cube.npy")
	vals := make([]int32, 3*2*8)
	for i := range vals {
		vals[i] = int32(i)
	}
	require.NoError(t, os.WriteFile(cube, npyFile(1, "<i4", false, []int{3, 2, 8}, le(vals)), 0o600))
	dir := segDir(t)
	ok(t, "create", "t", "--from", in, "--dir", dir)
	ok(t, "create", "c", "--from", cube, "--dir", dir)

	assert.Equal(t, ""+
		"id  name         price\n"+
		" 1  plain          1.5\n"+
		" 2  \"two words\"   null\n"+
		" 3  \"\"            2.25\n"+
		"(3 of 4 rows)\n", ok(t, "head", "t", "-n", "3", "--dir", dir))
	assert.Equal(t, ""+
		"cube\n"+
		"[[0 1 2 3 4 … 7] [8 9 10 11 12 … 15]]\n"+
		"(1 of 3 rows)\n", ok(t, "head", "c", "-n", "1", "--dir", dir))
	assert.Equal(t, "id  name  price\n", ok(t, "head", "t", "-n", "0", "--dir", dir)[:len("id  name  price\n")])
}

// TestInterruptLeavesNothing sends SIGINT to imports that are waiting for
// more input through a FIFO: before the FIFO has a writer, and halfway
// through the data. The command exits with 130 and the directory stays
// empty; the name is free afterwards.
func TestInterruptLeavesNothing(t *testing.T) {
	for _, stage := range []string{"waiting-for-writer", "halfway"} {
		t.Run(stage, func(t *testing.T) {
			src := t.TempDir()
			fifo := filepath.Join(src, "in.csv")
			require.NoError(t, syscall.Mkfifo(fifo, 0o600))
			dir := segDir(t)
			cmd := execCommand(t, "create", "slow", "--from", fifo, "--dir", dir)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			waited := false
			defer func() {
				if !waited {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			}()
			var w *os.File
			if stage == "halfway" {
				var err error
				w, err = os.OpenFile(fifo, os.O_WRONLY, 0) // returns once the command opened it
				require.NoError(t, err)
				defer w.Close()
				var b strings.Builder
				b.WriteString("id,price\n")
				for i := 0; b.Len() < 6<<20; i++ {
					fmt.Fprintf(&b, "%d,%d.5\n", i, i)
				}
				_, err = w.WriteString(b.String()) // returns once the command read all but a pipe's worth
				require.NoError(t, err)
			} else {
				// The builder's unnamed file shows among the command's open
				// files once the segment is being created; then the command
				// blocks opening the FIFO.
				waitFor(t, "the builder", func() bool { return holdsFileIn(cmd.Process.Pid, dir) })
				// (Where the kernel hides wchan, 3 s is time enough.)
				for deadline := time.Now().Add(3 * time.Second); !blockedOnFIFO(cmd.Process.Pid) && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
			}
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
			err := cmd.Wait()
			waited = true
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "exit error, got %v", err)
			assert.Equal(t, statusInterrupted, ee.ExitCode(), "stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), "interrupted; nothing was created")
			assert.Empty(t, entries(t, dir), "nothing is left in the directory")
			if w != nil {
				w.Close()
			}
			ok(t, "create", "slow", "--from", writeTemp(t, "a\n1\n"), "--format", "csv", "--dir", dir)
		})
	}
}

// holdsFileIn reports whether process pid has a file of dir open.
func holdsFileIn(pid int, dir string) bool {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+"/") {
			return true
		}
	}
	return false
}

// blockedOnFIFO reports whether a thread of process pid waits in the open
// of a FIFO for its writer.
func blockedOnFIFO(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
	for _, w := range tasks {
		if b, err := os.ReadFile(w); err == nil && strings.Contains(string(b), "partner") {
			return true
		}
	}
	return false
}

func writeTemp(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.csv")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

// TestFailedImportLeavesNothing: an import that fails halfway (a value
// that does not fit the column, far past the sample) exits 1 and leaves an
// empty directory.
func TestFailedImportLeavesNothing(t *testing.T) {
	src := t.TempDir()
	path := filepath.Join(src, "in.csv")
	var b strings.Builder
	b.WriteString("n\n")
	for i := 0; i < 200_000; i++ {
		fmt.Fprintf(&b, "%d\n", i%100)
	}
	b.WriteString("1000\n")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	dir := segDir(t)
	msg := failsWith(t, 1, "create", "x", "--from", path, "--type", "n=int8", "--dir", dir)
	assert.Contains(t, msg, `"1000" in column "n" does not parse`)
	assert.Contains(t, msg, "rows 196609-200001")
	assert.Empty(t, entries(t, dir))
}

// TestLsShowsBuilding: a segment whose builder handed out an output handle
// is listed under its hidden name, marked building, with no warning.
func TestLsShowsBuilding(t *testing.T) {
	dir := segDir(t)
	b, err := arena.Create("wip", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	_, err = b.AddEmpty(format.ArrayDesc{Name: "x", DType: format.DType{Type: format.Int64}, Length: 4})
	require.NoError(t, err)
	h, err := b.Output("x")
	require.NoError(t, err)
	r := runCLI(t, "ls", "--dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2, r.stdout)
	assert.Regexp(t, `^`+h.File+`\s.*building wip\s.*\d+ alive\s`, lines[1])
	var listed []lsEntry
	require.NoError(t, json.Unmarshal([]byte(ok(t, "ls", "--json", "--dir", dir)), &listed))
	require.Len(t, listed, 1)
	assert.True(t, listed[0].Building)
	assert.Equal(t, "wip", listed[0].Segment)
	assert.Equal(t, uint32(os.Getpid()), listed[0].CreatorPID)
}
