package arena_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// Publication is atomic (spec §10.3): a name shows a complete, sealed
// segment or nothing, whenever the writer dies. These tests kill writers
// with SIGKILL at random moments of a create and look at what is left.

const (
	childCrashCreate = "crash-create" // build crashArrays, publish; prints its progress
	envFallback      = "SHMARRAY_TEST_FALLBACK"
)

func init() { childModes[childCrashCreate] = crashCreate }

// crashCreate is the writer the crash tests kill. It prints one line as it
// reaches each step, so the parent knows how far it got.
func crashCreate(name, dir string) error {
	if os.Getenv(envFallback) != "" {
		arena.ForceTempFileFallback()
	}
	fmt.Println("start")
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Ephemeral: true})
	if err != nil {
		return err
	}
	fmt.Println("created")
	if err := fillCrashSegment(b); err != nil {
		return err
	}
	fmt.Println("publishing")
	if err := b.Publish(); err != nil {
		return err
	}
	fmt.Println("published")
	return nil
}

// fillCrashSegment adds arrays of every layout, 1 MiB in all, so that a
// create takes long enough to be killed in each of its steps.
func fillCrashSegment(b *arena.Builder) error {
	ints := make([]int64, 32<<10)
	floats := make([]float64, 32<<10)
	for i := range ints {
		ints[i] = int64(i) * 7919
		floats[i] = float64(i) / 3
	}
	bytes := make([]uint8, 256<<10)
	for i := range bytes {
		bytes[i] = uint8(i * 31)
	}
	tensor := make([]int32, 1024*64)
	for i := range tensor {
		tensor[i] = int32(-i)
	}
	words := make([]string, 5000)
	for i := range words {
		words[i] = fmt.Sprintf("word %d ü", i)
	}
	ib := array.NewInt32Builder(b.Allocator())
	for i := 0; i < 20000; i++ {
		if i%7 == 3 {
			ib.AppendNull()
		} else {
			ib.Append(int32(i))
		}
	}
	withNulls := ib.NewArray()
	ib.Release()
	defer withNulls.Release()
	for _, add := range []func() error{
		func() error { return arena.AddSlice(b, "ints", ints) },
		func() error { return arena.AddSlice(b, "floats", floats) },
		func() error { return arena.AddSlice(b, "bytes", bytes) },
		func() error { return arena.AddTensor(b, "tensor", tensor, 1024, 8, 8) },
		func() error { return b.AddStrings("words", words) },
		func() error { return b.AddArray("with nulls", withNulls) },
		func() error { return b.SetMetadata(map[string]string{"made by": "crash test"}) },
	} {
		if err := add(); err != nil {
			return err
		}
	}
	return nil
}

// crashReference is what a complete crash-test segment holds: the lines
// digests() gives for it.
func crashReference(t *testing.T) []string {
	dir := tempDir(t)
	b, err := arena.Create("reference", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, fillCrashSegment(b))
	require.NoError(t, b.Publish())
	s, err := arena.Attach("reference", dir)
	require.NoError(t, err)
	defer s.Close()
	want, err := digests(s)
	require.NoError(t, err)
	return want
}

// TestUnpublishedSegmentHasNoName: while a segment is being built, nothing
// at all is in its directory (O_TMPFILE: the file has no name); with the
// fallback path only a hidden name, which List does not show.
func TestUnpublishedSegmentHasNoName(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", fallback), func(t *testing.T) {
			if fallback {
				defer arena.ForceTempFileFallback()()
			}
			dir := shmTempDir(t)
			noLeaks(t, dir)
			b, err := arena.Create("building", &arena.CreateOptions{Dir: dir, Capacity: 1 << 20})
			require.NoError(t, err)
			require.NoError(t, arena.AddSlice(b, "x", make([]int64, 1000)))
			names := filesIn(t, dir)
			if fallback {
				require.Len(t, names, 1)
				assert.True(t, strings.HasPrefix(names[0], arena.TempPrefix+fmt.Sprint(os.Getpid())+"-"), names[0])
			} else {
				assert.Empty(t, names, "O_TMPFILE: an unpublished segment has no name")
			}
			infos, err := arena.List(dir)
			require.NoError(t, err)
			assert.Empty(t, infos)
			gone, err := arena.GC(dir, false)
			require.NoError(t, err)
			assert.Empty(t, gone, "a live writer's temporary file is not garbage")
			require.NoError(t, b.Publish())
			assert.Equal(t, []string{"building"}, filesIn(t, dir), "published, and the hidden name is gone")
		})
	}
}

// crashSteps are the lines the writer prints, in order; a kill is timed
// from the start of the process, from "created" (Create returned) or from
// "publishing" (Publish starts).
var crashSteps = []string{"start", "created", "publishing", "published"}

// writerRun is one run of the crash-test writer: when each step's line
// arrived (absent if it never did) and when the process ended, measured
// from its start.
type writerRun struct {
	at   map[string]time.Duration
	took time.Duration
	err  error
}

func (r writerRun) reached() string {
	last := ""
	for _, step := range crashSteps {
		if _, ok := r.at[step]; ok {
			last = step
		}
	}
	return last
}

// runWriter starts the crash-test writer and, if anchor is not "never",
// kills it with SIGKILL delay after anchor ("" is the start of the
// process, else a step line).
func runWriter(t *testing.T, dir string, fallback bool, anchor string, delay time.Duration) writerRun {
	cmd := child(t, childCrashCreate, "victim", dir)
	if fallback {
		cmd.Env = append(cmd.Env, envFallback+"=1")
	}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = nil
	start := time.Now()
	require.NoError(t, cmd.Start())
	kill := func() { _ = cmd.Process.Signal(syscall.SIGKILL) }
	if anchor == "" {
		time.AfterFunc(delay, kill)
	}
	run := writerRun{at: map[string]time.Duration{}}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		run.at[line] = time.Since(start)
		if line == anchor {
			time.AfterFunc(delay, kill)
		}
	}
	run.err = cmd.Wait()
	run.took = time.Since(start)
	return run
}

// TestCrashMidCreate kills writers with SIGKILL at random moments of a
// create (200 on the O_TMPFILE path, 80 on the fallback path) and checks
// after each one: the name is absent or holds a segment that attaches,
// fully validates and has every array complete; nothing else is visible;
// List shows that segment or nothing; on the fallback path the hidden file
// left behind is not listed, and GC removes it. Kills are timed at random
// from the start of the process, from the end of Create, or from the start
// of Publish, each over the span that step takes undisturbed, so that each
// step gets its share of kills however slow the machine is.
func TestCrashMidCreate(t *testing.T) {
	want := crashReference(t)
	inPublish := 0
	for _, tc := range []struct {
		fallback bool
		trials   int
	}{{false, 200}, {true, 80}} {
		t.Run(fmt.Sprintf("fallback=%v", tc.fallback), func(t *testing.T) {
			dir := shmTempDir(t)
			// How long each step takes undisturbed (after a first run that
			// warms the caches): the median of three runs.
			var total, adding, publishing []time.Duration
			for i := 0; i < 4; i++ {
				r := runWriter(t, dir, tc.fallback, "never", 0)
				require.NoError(t, r.err, "an undisturbed writer succeeds")
				require.Equal(t, "published", r.reached())
				checkCrashDir(t, dir, want, "published", tc.fallback)
				if i > 0 {
					total = append(total, r.took)
					adding = append(adding, r.at["publishing"]-r.at["created"])
					publishing = append(publishing, r.at["published"]-r.at["publishing"])
				}
			}
			median := func(d []time.Duration) time.Duration { slices.Sort(d); return max(d[len(d)/2], time.Millisecond) }
			spans := map[string]time.Duration{"": median(total) * 6 / 5, "created": median(adding) * 6 / 5, "publishing": median(publishing)}
			anchors := []string{"", "", "created", "created", "publishing"}
			seed := uint64(time.Now().UnixNano())
			rng := rand.New(rand.NewPCG(seed, 0))
			t.Logf("undisturbed: %v from start to exit, %v adding arrays, %v publishing; random kills timed from the start "+
				"(2/5), the end of Create (2/5) or the start of Publish (1/5), within 1-1.2 times that (seed %d)",
				median(total), median(adding), median(publishing), seed)

			counts := map[string]int{}
			var segments, temps int
			for i := 0; i < tc.trials; i++ {
				anchor := anchors[rng.IntN(len(anchors))]
				delay := time.Duration(rng.Int64N(int64(spans[anchor])))
				r := runWriter(t, dir, tc.fallback, anchor, delay)
				counts[r.reached()]++
				published, hidden := checkCrashDir(t, dir, want, r.reached(), tc.fallback)
				temps += hidden
				if published {
					segments++
				}
				if t.Failed() {
					t.Fatalf("trial %d (kill %v after %q, writer reached %q) left a bad state", i, delay, anchor, r.reached())
				}
			}
			t.Logf("%d writers killed: %d before Create returned, %d while adding arrays, %d in Publish, %d after it; "+
				"they left %d complete segments and %d hidden temporary files (all removed by GC), nothing else",
				tc.trials, counts[""]+counts["start"], counts["created"], counts["publishing"], counts["published"], segments, temps)
			// The kills must have landed in every step.
			assert.Positive(t, counts[""]+counts["start"], "some writers were killed before Create returned")
			assert.Positive(t, counts["created"], "some writers were killed while adding arrays")
			assert.Positive(t, segments, "some writers published before being killed")
			inPublish += counts["publishing"]
		})
	}
	// Publish takes a millisecond or two: over both paths, some kills land in it.
	assert.Positive(t, inPublish, "some writers were killed in Publish")
}

// checkCrashDir checks the directory after one writer ended and cleans it
// for the next: reports whether the segment was there and how many hidden
// temporary files were.
func checkCrashDir(t *testing.T, dir string, want []string, reached string, fallback bool) (published bool, temps int) {
	t.Helper()
	names := filesIn(t, dir)
	sort.Strings(names)
	for _, n := range names {
		switch {
		case n == "victim":
			published = true
		case strings.HasPrefix(n, arena.TempPrefix):
			temps++
		default:
			t.Errorf("unexpected file %q left in the directory", n)
		}
	}
	if temps > 0 && !fallback {
		t.Errorf("hidden files %v on the O_TMPFILE path", names)
	}
	switch reached {
	case "", "start", "created":
		assert.False(t, published, "killed before Publish began, yet the name exists")
	case "published":
		assert.True(t, published, "Publish returned, yet the name is missing")
	}
	infos, err := arena.List(dir)
	require.NoError(t, err)
	if published {
		require.Len(t, infos, 1, "List shows the segment and nothing else")
		assert.Equal(t, "victim", infos[0].Name)
		assert.NoError(t, infos[0].Err)
		assert.True(t, infos[0].Orphan(), "its ephemeral creator is dead")
		s, err := arena.Attach("victim", dir)
		require.NoError(t, err, "a visible segment attaches")
		assert.NoError(t, s.Validate(), "a visible segment is complete")
		got, err := digests(s)
		require.NoError(t, err)
		assert.Equal(t, want, got, "a visible segment holds every byte written")
		assert.Equal(t, []format.KV{{Key: "made by", Value: "crash test"}}, s.Metadata())
		require.NoError(t, s.Close())
	} else {
		assert.Empty(t, infos, "List shows nothing")
	}
	// GC removes the orphan and any hidden file of the dead writer.
	gone, err := arena.GC(dir, false)
	require.NoError(t, err)
	var goneTemps int
	for _, g := range gone {
		if g.Temporary {
			goneTemps++
			assert.Equal(t, format.NotSealed, format.CodeOf(g.Err))
		}
	}
	assert.Equal(t, temps, goneTemps, "GC removes the dead writer's temporary files")
	assert.Len(t, gone, temps+map[bool]int{true: 1}[published])
	assert.Empty(t, filesIn(t, dir), "GC leaves nothing")
	return published, temps
}
