package arena_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// Replacing a segment while others race to replace it and read it (spec
// §10.3): the figures of the racing and refresh tests are logged.

const (
	childReplace        = "replace"         // Create with Replace, print "ready", wait for a line on stdin, Publish, print "published VERSION ID"
	childReplacePause   = "replace-pause"   // replace, and stop for good between seal and rename, printing "paused TMP"
	childCreateReplace  = "create-replace"  // publish an ephemeral segment with Replace and exit
	childAttachVersions = "attach-versions" // attach by name in a loop, checking each version, until stdin closes; print the counts
)

func init() {
	childModes[childReplace] = replaceChild
	childModes[childReplacePause] = replacePauseChild
	childModes[childAttachVersions] = attachVersionsChild
	childModes[childCreateReplace] = func(name, dir string) error {
		b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Ephemeral: true, Replace: true})
		if err != nil {
			return err
		}
		defer b.Close()
		if err := arena.AddSlice(b, "v", []int64{1}); err != nil {
			return err
		}
		return b.Publish()
	}
}

func replaceChild(name, dir string) error {
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Replace: true})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := arena.AddSlice(b, "v", []int64{int64(os.Getpid())}); err != nil {
		return err
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	if err := b.Publish(); err != nil {
		return err
	}
	fmt.Printf("published %d %s\n", b.Version(), b.ID())
	return nil
}

// refreshRows is the length of the array "v" of every version published by
// TestRefreshWhileReplacing; each of its values is the version number.
const refreshRows = 4096

// checkVersion checks that s is one whole version of the refresh test's
// segment: refreshRows values, each its version number, a non-zero id, and
// the full validation passes.
func checkVersion(s *arena.Segment) error {
	vals, err := arena.Values[int64](s, "v")
	if err != nil {
		return err
	}
	want := int64(s.Version())
	if len(vals) != refreshRows || s.ID().IsZero() {
		return fmt.Errorf("version %d: %d rows, id %s", want, len(vals), s.ID())
	}
	for i, v := range vals {
		if v != want {
			return fmt.Errorf("version %d: row %d holds %d", want, i, v)
		}
	}
	return s.Validate()
}

// attachVersionsChild is a reader process of the refresh test: it attaches
// by name and checks the version it got, over and over, until its stdin
// closes, then prints "attaches A notfound N bad B" and the first bad read.
func attachVersionsChild(name, dir string) error {
	var stop atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	var attaches, notFound, bad int
	first := "none"
	fmt.Println("ready")
	for !stop.Load() {
		s, err := arena.Attach(name, dir)
		attaches++
		if format.CodeOf(err) == format.NotFound {
			notFound++
			continue
		}
		if err == nil {
			err = checkVersion(s)
			_ = s.Close()
		}
		if err != nil {
			if bad == 0 {
				first = err.Error()
			}
			bad++
		}
	}
	fmt.Printf("attaches %d notfound %d bad %d first %s\n", attaches, notFound, bad, first)
	return nil
}

func replacePauseChild(name, dir string) error {
	arena.SetBeforeRename(func(tmp string) {
		fmt.Printf("paused %s\n", tmp)
		select {} // until killed
	})
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Replace: true})
	if err != nil {
		return err
	}
	if err := arena.AddSlice(b, "v", []int64{-1, -1, -1}); err != nil {
		return err
	}
	return b.Publish()
}

// TestRacingReplacers: 16 writers replace one name at once; every one
// publishes, each a version of its own, 2 to 17 after the first publish:
// none lost, none twice. Once as 16 processes, once as 16 goroutines (each
// Create opens its own descriptors, so their locks exclude each other as
// those of processes do).
func TestRacingReplacers(t *testing.T) {
	const racers = 16
	check := func(t *testing.T, dir string, versions []uint64, elapsed time.Duration) {
		slices.Sort(versions)
		want := make([]uint64, racers)
		for i := range want {
			want[i] = uint64(i + 2)
		}
		assert.Equal(t, want, versions, "every racer publishes a version of its own")
		s, err := arena.Attach("raced", dir)
		require.NoError(t, err)
		defer s.Close()
		assert.Equal(t, uint64(racers+1), s.Version(), "the last version is the one under the name")
		assert.Equal(t, []string{"raced"}, filesIn(t, dir), "no hidden file left behind")
		t.Logf("%d racing replacers: versions %d..%d, each once, none lost; %v in all", racers, versions[0], versions[len(versions)-1], elapsed.Round(time.Millisecond))
	}
	t.Run("processes", func(t *testing.T) {
		dir := tempDir(t)
		publishInts(t, "raced", dir, arena.CreateOptions{}, 0)
		type racer struct {
			cmd *exec.Cmd
			in  io.WriteCloser
			out *bufio.Reader
		}
		var rs []racer
		for i := 0; i < racers; i++ {
			cmd := childCommand(childReplace, "raced", dir)
			in, err := cmd.StdinPipe()
			require.NoError(t, err)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			r := racer{cmd, in, bufio.NewReader(out)}
			rs = append(rs, r)
			line, err := r.out.ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "ready\n", line)
		}
		start := time.Now()
		for _, r := range rs {
			_, err := io.WriteString(r.in, "go\n")
			require.NoError(t, err)
		}
		var versions []uint64
		for _, r := range rs {
			line, err := r.out.ReadString('\n')
			require.NoError(t, err)
			var v uint64
			var id string
			_, err = fmt.Sscanf(line, "published %d %s", &v, &id)
			require.NoError(t, err, line)
			versions = append(versions, v)
			require.NoError(t, r.cmd.Wait())
		}
		check(t, dir, versions, time.Since(start))
	})
	t.Run("goroutines", func(t *testing.T) {
		dir := tempDir(t)
		noLeaks(t, dir)
		publishInts(t, "raced", dir, arena.CreateOptions{}, 0)
		var versions []uint64
		results, elapsed := race(racers, "raced", &arena.CreateOptions{Dir: dir, Replace: true})
		for _, r := range results {
			require.NoError(t, r.err)
			versions = append(versions, r.version)
		}
		check(t, dir, versions, elapsed)
	})
}

// raced is what one racer of race did.
type raced struct {
	err     error
	id      format.ID
	version uint64
}

// race runs n goroutines that each Create name with opts (their own
// descriptors: their locks exclude each other as those of processes do)
// and add an array, then publish all at once; elapsed is the time from the
// start signal to the last publish's end.
func race(n int, name string, opts *arena.CreateOptions) (_ []raced, elapsed time.Duration) {
	out := make([]raced, n)
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for i := range out {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			b, err := arena.Create(name, opts)
			if err == nil {
				defer b.Close()
				err = arena.AddSlice(b, "v", []int64{int64(i)})
			}
			ready.Done()
			<-gate
			if err == nil {
				err = b.Publish()
				out[i] = raced{err, b.ID(), b.Version()}
			} else {
				out[i].err = err
			}
		}()
	}
	ready.Wait()
	start := time.Now()
	close(gate)
	done.Wait()
	return out, time.Since(start)
}

// TestReplaceIfOneWinnerPerRound: in each round 16 writers replace the
// name only if it still holds the version they saw; exactly one wins, the
// others get STALE naming the winner's version.
func TestReplaceIfOneWinnerPerRound(t *testing.T) {
	const racers, rounds = 16, 5
	dir := tempDir(t)
	noLeaks(t, dir)
	seen, _ := publishInts(t, "cond", dir, arena.CreateOptions{}, 0)
	for round := 0; round < rounds; round++ {
		results, _ := race(racers, "cond", &arena.CreateOptions{Dir: dir, ReplaceIf: &seen})
		winners, stale := 0, 0
		var won format.ID
		for i, r := range results {
			switch format.CodeOf(r.err) {
			case format.OK:
				winners++
				won = r.id
			case format.Stale:
				stale++
			default:
				t.Errorf("round %d racer %d: %v", round, i, r.err)
			}
		}
		require.Equal(t, 1, winners, "round %d: exactly one winner", round)
		require.Equal(t, racers-1, stale, "round %d: the others are STALE", round)
		for _, r := range results {
			if r.err != nil {
				assert.Contains(t, r.err.Error(), fmt.Sprintf("the name holds version %d (id %s) now", round+2, won))
			}
		}
		s, err := arena.Attach("cond", dir)
		require.NoError(t, err)
		assert.Equal(t, won, s.ID())
		assert.Equal(t, uint64(round+2), s.Version())
		require.NoError(t, s.Close())
		seen = won
	}
	t.Logf("replace_if: %d rounds of %d racers, exactly one winner each", rounds, racers)
}

// TestRefreshWhileReplacing is the scenario of a table refreshed under
// running workers: readers attach by name in a loop while 100 replaces
// happen. No attach may find nothing (NOT_FOUND) and none may read a mix of
// versions or an invalid file.
func TestRefreshWhileReplacing(t *testing.T) {
	const replaces, readers, processes = 100, 4, 2
	dir := tempDir(t)
	noLeaks(t, dir)
	publish := func(version int64) uint64 {
		vals := make([]int64, refreshRows)
		for i := range vals {
			vals[i] = version
		}
		_, v := publishInts(t, "table", dir, arena.CreateOptions{Replace: true}, vals...)
		return v
	}
	require.Equal(t, uint64(1), publish(1))

	var stop atomic.Bool
	var attaches, notFound, partial, refreshed atomic.Int64
	var firstBad atomic.Value
	bad := func(err error) {
		partial.Add(1)
		firstBad.CompareAndSwap(nil, err)
	}
	readOne := func(s *arena.Segment) {
		if err := checkVersion(s); err != nil {
			bad(err)
		}
	}
	// Reader processes, as the workers of the issue were.
	type reader struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
	}
	var procs []reader
	for p := 0; p < processes; p++ {
		cmd := childCommand(childAttachVersions, "table", dir)
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		r := reader{cmd, in, bufio.NewReader(out)}
		procs = append(procs, r)
		line, err := r.out.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "ready\n", line)
	}
	var wg sync.WaitGroup
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				s, err := arena.Attach("table", dir)
				attaches.Add(1)
				switch {
				case format.CodeOf(err) == format.NotFound:
					notFound.Add(1)
					continue
				case err != nil:
					bad(err)
					continue
				}
				readOne(s)
				_ = s.Close()
			}
		}()
	}
	// A long-lived worker follows the latest with IsCurrent and Refresh.
	wg.Add(1)
	go func() {
		defer wg.Done()
		s, err := arena.Attach("table", dir)
		if err != nil {
			bad(err)
			return
		}
		for !stop.Load() {
			next, err := s.Refresh()
			if err != nil {
				if format.CodeOf(err) == format.NotFound {
					notFound.Add(1)
				} else {
					bad(err)
				}
				continue
			}
			if next != s {
				refreshed.Add(1)
				_ = s.Close()
				s = next
			}
			readOne(s)
		}
		_ = s.Close()
	}()
	start := time.Now()
	for v := int64(2); v <= replaces+1; v++ {
		got := publish(v)
		assert.Equal(t, uint64(v), got)
	}
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	var pAttaches, pNotFound, pBad int
	for i, r := range procs {
		require.NoError(t, r.in.Close())
		line, err := r.out.ReadString('\n')
		require.NoError(t, err)
		require.NoError(t, r.cmd.Wait())
		var a, n, b int
		var first string
		_, err = fmt.Sscanf(line, "attaches %d notfound %d bad %d first %s", &a, &n, &b, &first)
		require.NoError(t, err, line)
		if b > 0 {
			t.Logf("reader process %d, first bad read: %s", i, strings.TrimSpace(line))
		}
		pAttaches, pNotFound, pBad = pAttaches+a, pNotFound+n, pBad+b
	}
	t.Logf("%d replaces in %v while %d reader goroutines attached by name %d times, %d reader processes %d times, and one worker refreshed %d times: %d NOT_FOUND, %d partial or invalid reads",
		replaces, elapsed.Round(time.Millisecond), readers, attaches.Load(), processes, pAttaches, refreshed.Load(),
		notFound.Load()+int64(pNotFound), partial.Load()+int64(pBad))
	assert.Zero(t, pNotFound, "NOT_FOUND in the reader processes")
	assert.Zero(t, pBad, "partial or invalid reads in the reader processes")
	assert.Greater(t, pAttaches, replaces, "the reader processes ran during the replaces")
	if err, _ := firstBad.Load().(error); err != nil {
		t.Logf("first bad read: %v", err)
	}
	assert.Zero(t, notFound.Load(), "NOT_FOUND during replaces")
	assert.Zero(t, partial.Load(), "partial or invalid reads")
	assert.Greater(t, attaches.Load(), int64(replaces), "the readers ran during the replaces")
	assert.Equal(t, []string{"table"}, filesIn(t, dir))
}

// TestKilledReplacerLeavesTheOldVersion: a replacer killed (SIGKILL)
// between sealing its file and renaming it over the name leaves the old
// version under the name, whole; its hidden file is removed by GC, and the
// lock died with it, so the next replace goes through.
func TestKilledReplacerLeavesTheOldVersion(t *testing.T) {
	dir := tempDir(t)
	id1, _ := publishInts(t, "victim", dir, arena.CreateOptions{}, 1, 2, 3)
	cmd := childCommand(childReplacePause, "victim", dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := readLine(out, 60*time.Second)
	if err != nil {
		_ = cmd.Process.Kill()
	}
	require.NoError(t, err)
	tmp, ok := strings.CutPrefix(line, "paused ")
	require.True(t, ok, line)
	raw, err := os.ReadFile(tmp)
	require.NoError(t, err, "the sealed file has its hidden name")
	require.True(t, strings.HasPrefix(string(raw), format.Magic))

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)

	s, err := arena.Attach("victim", dir)
	require.NoError(t, err)
	assert.Equal(t, id1, s.ID())
	assert.Equal(t, uint64(1), s.Version())
	vals, err := arena.Values[int64](s, "v")
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 3}, vals)
	require.NoError(t, s.Close())
	assert.ElementsMatch(t, []string{"victim", filepath.Base(tmp)}, filesIn(t, dir))

	removed, err := arena.GC(dir, false)
	require.NoError(t, err)
	require.Len(t, removed, 1)
	assert.True(t, removed[0].Temporary)
	assert.Equal(t, filepath.Base(tmp), removed[0].Name)
	assert.Equal(t, uint32(cmd.Process.Pid), removed[0].CreatorPID)
	assert.Equal(t, []string{"victim"}, filesIn(t, dir), "gc removed the leftover, not the segment")

	_, v := publishInts(t, "victim", dir, arena.CreateOptions{Replace: true}, 4)
	assert.Equal(t, uint64(2), v, "the dead replacer's lock went with it")
}

// TestReplaceFallbackPaths: replace works where the file is created under a
// hidden name (no O_TMPFILE), and where a descriptor cannot be linked.
func TestReplaceFallbackPaths(t *testing.T) {
	for _, tc := range []struct {
		name  string
		force func() func()
	}{
		{"no O_TMPFILE", arena.ForceTempFileFallback},
		{"no O_TMPFILE, link by name", func() func() {
			a, b := arena.ForceTempFileFallback(), arena.ForceLinkByName()
			return func() { b(); a() }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.force()()
			dir := tempDir(t)
			noLeaks(t, dir)
			_, v1 := publishInts(t, "fb", dir, arena.CreateOptions{Replace: true}, 1)
			id2, v2 := publishInts(t, "fb", dir, arena.CreateOptions{Replace: true}, 2)
			assert.Equal(t, []uint64{1, 2}, []uint64{v1, v2})
			s, err := arena.Attach("fb", dir)
			require.NoError(t, err)
			assert.Equal(t, id2, s.ID())
			require.NoError(t, s.Close())
			assert.Equal(t, []string{"fb"}, filesIn(t, dir))
		})
	}
}

// TestReplaceRefusesWhatIsNotASegment: replace never overwrites a file that
// is not a segment; the message says to unlink it first.
func TestReplaceRefusesWhatIsNotASegment(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	writeFile(t, dir, "notes", []byte("dear diary, this is not a segment"))
	b, err := arena.Create("notes", &arena.CreateOptions{Dir: dir, Replace: true})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "v", []int64{1}))
	err = b.Publish()
	assert.Equal(t, format.NotASegment, format.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "unlink it first")
	raw, err := os.ReadFile(filepath.Join(dir, "notes"))
	require.NoError(t, err)
	assert.Equal(t, "dear diary, this is not a segment", string(raw))
	assert.Equal(t, []string{"notes"}, filesIn(t, dir))

	// Nor a symbolic link, whose target is never touched.
	elsewhere := tempDir(t)
	target := filepath.Join(elsewhere, "target")
	writeFile(t, elsewhere, "target", []byte("precious"))
	require.NoError(t, os.Symlink(target, filepath.Join(dir, "link")))
	b, err = arena.Create("link", &arena.CreateOptions{Dir: dir, Replace: true})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "v", []int64{1}))
	err = b.Publish()
	assert.Equal(t, format.NotASegment, format.CodeOf(err), "%v", err)
	raw, err = os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(raw))
	fi, err := os.Lstat(filepath.Join(dir, "link"))
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode().Type(), "the link is still there")
}

// TestReplaceWaitsForTheLockBoundedly: a replacer stuck while holding the
// lock makes the next one fail after the lock timeout, naming the file and
// the lock; nothing is published.
func TestReplaceWaitsForTheLockBoundedly(t *testing.T) {
	dir := tempDir(t)
	publishInts(t, "locked", dir, arena.CreateOptions{}, 1)
	f, err := os.Open(filepath.Join(dir, "locked"))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	defer arena.SetLockTimeout(200 * time.Millisecond)()
	b, err := arena.Create("locked", &arena.CreateOptions{Dir: dir, Replace: true})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "v", []int64{2}))
	err = b.Publish()
	assert.Equal(t, format.IOError, format.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "another process has held the lock of "+filepath.Join(dir, "locked"))
	assert.Contains(t, err.Error(), "forked", "a forked child is a possible holder")
	assert.Equal(t, []string{"locked"}, filesIn(t, dir))
	s, err := arena.Attach("locked", dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), s.Version())
	require.NoError(t, s.Close())
}

// TestTmpfsUsageReturnsToOneVersion: replacing keeps the old version's
// memory while a reader (or an Arrow array of it) holds it, and frees it
// when the last one lets go, so that the directory uses one version's worth
// again. On a private tmpfs when run as root; else on /dev/shm, shared with
// other processes, with a wider tolerance.
func TestTmpfsUsageReturnsToOneVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2 × 96 MiB; run without -short")
	}
	const size = 96 << 20
	var dir string
	tolerance := uint64(4 << 20)
	if os.Geteuid() == 0 {
		dir = smallTmpfs(t, "512m")
	} else {
		dir = shmTempDir(t)
		tolerance = 24 << 20
	}
	noLeaks(t, dir)
	base := usedBytes(t, dir)
	publishBig := func(fill int64) {
		b, err := arena.Create("big", &arena.CreateOptions{Dir: dir, Replace: true, Capacity: size + 1<<20})
		require.NoError(t, err)
		defer b.Close()
		vals := make([]int64, size/8)
		for i := range vals {
			vals[i] = fill
		}
		require.NoError(t, arena.AddSlice(b, "v", vals))
		require.NoError(t, b.Publish())
	}
	mib := func(n uint64) float64 { return float64(n) / (1 << 20) }
	publishBig(1)
	one := usedBytes(t, dir) - base
	old, err := arena.Attach("big", dir)
	require.NoError(t, err)
	arr, err := old.Array("v")
	require.NoError(t, err)
	publishBig(2)
	two := usedBytes(t, dir) - base
	require.NoError(t, old.Close())
	runtime.GC()
	held := usedBytes(t, dir) - base
	assert.Equal(t, int64(1), arr.(*array.Int64).Value(size/8-1), "the array still reads the old version")
	arr.Release()
	after := usedBytes(t, dir) - base
	t.Logf("tmpfs use above the start: one version %.1f MiB; after the replace, old reader open %.1f MiB; reader closed, its array alive %.1f MiB; array released %.1f MiB",
		mib(one), mib(two), mib(held), mib(after))
	assert.InDelta(t, float64(size), float64(one), float64(tolerance), "one version")
	assert.InDelta(t, float64(2*size), float64(two), float64(2*tolerance), "two versions while the old one is read")
	assert.InDelta(t, float64(2*size), float64(held), float64(2*tolerance), "an Arrow array keeps the old version")
	assert.InDelta(t, float64(one), float64(after), float64(tolerance), "back to one version's worth")
	require.NoError(t, arena.Unlink("big", dir))
}

// TestArrowArraysOutliveClose: arrays and records from a segment keep its
// mapping until their last Release (item 6 of the versions issue): read
// after Close and a forced GC they are intact, and once all are released
// the mapping is gone.
func TestArrowArraysOutliveClose(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	b, err := arena.Create("kept", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	vals := make([]int64, 10000)
	for i := range vals {
		vals[i] = int64(i) * 3
	}
	require.NoError(t, arena.AddSlice(b, "n", vals))
	words := make([]string, 10000)
	for i := range words {
		words[i] = "w" + strconv.Itoa(i)
	}
	require.NoError(t, b.AddStrings("s", words))
	require.NoError(t, b.Publish())
	before := countMappings(t, dir)

	s, err := arena.Attach("kept", dir)
	require.NoError(t, err)
	n, err := s.Array("n")
	require.NoError(t, err)
	rec, err := s.Record()
	require.NoError(t, err)
	slice := array.NewSlice(rec.Column(1), 5000, 5010)
	rec.Release() // the slice holds the column's data on its own
	require.NoError(t, s.Close())
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	assert.Equal(t, before+1, countMappings(t, dir), "the mapping lives on for the arrays")
	ints := n.(*array.Int64)
	for i := range vals {
		if ints.Value(i) != vals[i] {
			t.Fatalf("row %d: %d after Close, want %d", i, ints.Value(i), vals[i])
		}
	}
	assert.Equal(t, "w5003", slice.(*array.String).Value(3))
	_, err = s.Array("n")
	assert.Equal(t, format.Closed, format.CodeOf(err), "a closed segment hands out nothing more")
	n.Release()
	assert.Equal(t, before+1, countMappings(t, dir), "the slice still holds it")
	slice.Release()
	assert.Equal(t, before, countMappings(t, dir), "the last Release unmaps")
}

// TestCloseRacesWithArray: Close concurrent with Array and Record (run
// with -race): each call either fails with CLOSED or returns arrays that
// read correctly, and the mapping goes once they are released.
func TestCloseRacesWithArray(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	publishInts(t, "racy", dir, arena.CreateOptions{}, 7, 8, 9)
	for round := 0; round < 20; round++ {
		s, err := arena.Attach("racy", dir)
		require.NoError(t, err)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					a, err := s.Array("v")
					if err != nil {
						assert.Equal(t, format.Closed, format.CodeOf(err))
						return
					}
					runtime.Gosched()
					assert.Equal(t, int64(9), a.(*array.Int64).Value(2))
					a.Release()
				}
			}()
		}
		runtime.Gosched()
		require.NoError(t, s.Close())
		wg.Wait()
		assert.Zero(t, arena.MappingRefs(s), "round %d: every reference dropped", round)
	}
}

// TestUnlinkAndGCWithVersions (spec §10.5): Unlink removes the version the
// name holds, whatever its number; readers of any version keep theirs. GC
// judges the version under the name alone: an ephemeral version whose
// creator died is removed even if it replaced a durable one, and a durable
// version that replaced an orphan-to-be is kept.
func TestUnlinkAndGCWithVersions(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	publishInts(t, "u", dir, arena.CreateOptions{}, 1)
	v1, err := arena.Attach("u", dir)
	require.NoError(t, err)
	defer v1.Close()
	publishInts(t, "u", dir, arena.CreateOptions{Replace: true}, 2)
	v2, err := arena.Attach("u", dir)
	require.NoError(t, err)
	defer v2.Close()
	require.NoError(t, arena.Unlink("u", dir))
	for _, s := range []*arena.Segment{v1, v2} {
		vals, err := arena.Values[int64](s, "v")
		require.NoError(t, err)
		assert.Equal(t, []int64{int64(s.Version())}, vals, "version %d still reads", s.Version())
		cur, err := s.IsCurrent()
		require.NoError(t, err)
		assert.False(t, cur)
	}
	_, err = v2.Refresh()
	assert.Equal(t, format.NotFound, format.CodeOf(err), "%v", err)

	// An ephemeral version from a process that has exited, over a durable one.
	publishInts(t, "e", dir, arena.CreateOptions{}, 1)
	cmd := childCommand(childCreateReplace, "e", dir)
	require.NoError(t, cmd.Run())
	infos, err := arena.List(dir)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, uint64(2), infos[0].Version)
	assert.True(t, infos[0].Orphan())
	removed, err := arena.GC(dir, false)
	require.NoError(t, err)
	require.Len(t, removed, 1)
	assert.Equal(t, "e", removed[0].Name)
	assert.Equal(t, uint64(2), removed[0].Version)
	assert.Empty(t, filesIn(t, dir))

	// A durable version over an ephemeral one of a dead creator: kept.
	require.NoError(t, childCommand(childCreateReplace, "d", dir).Run())
	_, v := publishInts(t, "d", dir, arena.CreateOptions{Replace: true}, 2)
	assert.Equal(t, uint64(2), v)
	removed, err = arena.GC(dir, false)
	require.NoError(t, err)
	assert.Empty(t, removed)
	require.NoError(t, arena.Unlink("d", dir))
}

// TestReplaceOfOlderAndLastVersions: replacing a file of format 1.0 (no
// identity, version 0) publishes version 1; a file of version 2^64-1 has
// no next version and is left alone.
func TestReplaceOfOlderAndLastVersions(t *testing.T) {
	dir := tempDir(t)
	noLeaks(t, dir)
	vectors := filepath.Join("..", "conformance", "vectors", "v1", "valid")
	for _, tc := range []struct{ vector, name string }{{"spec_example.shm", "old"}, {"identity_max_version.shm", "last"}} {
		raw, err := os.ReadFile(filepath.Join(vectors, tc.vector))
		require.NoError(t, err)
		writeFile(t, dir, tc.name, raw)
	}
	_, v := publishInts(t, "old", dir, arena.CreateOptions{Replace: true}, 1)
	assert.Equal(t, uint64(1), v, "a 1.0 file counts as version 0")

	b, err := arena.Create("last", &arena.CreateOptions{Dir: dir, Replace: true})
	require.NoError(t, err)
	require.NoError(t, arena.AddSlice(b, "v", []int64{1}))
	err = b.Publish()
	assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "holds version 18446744073709551615, the last a version number can say")
	s, err := arena.Attach("last", dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(math.MaxUint64), s.Version(), "left alone")
	require.NoError(t, s.Close())
	assert.ElementsMatch(t, []string{"old", "last"}, filesIn(t, dir))
}
