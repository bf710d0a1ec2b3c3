package arena_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// Processes racing for one name: publication never replaces (spec §10.3),
// and a reader sees a whole segment or none while the name comes and goes.

const (
	childRaceCreate = "race-create" // build, wait for stdin to close, publish; print the code
	childChurn      = "churn"       // publish and unlink the name over and over
	envIndex        = "SHMARRAY_TEST_INDEX"
	churnCycles     = 300
)

func init() {
	childModes[childRaceCreate] = raceCreate
	childModes[childChurn] = churn
}

// raceCreate builds a segment holding its index, prints "ready", waits for
// the barrier (its stdin reaching EOF) and publishes; it prints the outcome
// as a code name ("OK" for success).
func raceCreate(name, dir string) error {
	idx, _ := strconv.ParseInt(os.Getenv(envIndex), 10, 64)
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir})
	if err == nil {
		if err = arena.AddSlice(b, "who", []int64{idx}); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	if err == nil {
		err = b.Publish()
	}
	fmt.Println(format.CodeOf(err).Name())
	return nil
}

// churn publishes generation g = 0, 1, ... of the segment (two arrays
// filled with g) and unlinks it, churnCycles times.
func churn(name, dir string) error {
	for g := int64(0); g < churnCycles; g++ {
		b, err := arena.Create(name, &arena.CreateOptions{Dir: dir})
		if err != nil {
			return err
		}
		vals := make([]int64, 4096)
		for i := range vals {
			vals[i] = g
		}
		if err := arena.AddSlice(b, "a", vals); err != nil {
			return err
		}
		if err := arena.AddSlice(b, "b", vals[:100]); err != nil {
			return err
		}
		if err := b.Publish(); err != nil {
			return err
		}
		if err := arena.Unlink(name, dir); err != nil {
			return err
		}
	}
	return nil
}

// TestRacingCreators: 16 processes build a segment under the same name and
// publish at the same instant (they wait on one pipe, which the test
// closes); in each of 5 rounds exactly one succeeds, the 15 others get
// EXISTS, and the segment is the winner's.
func TestRacingCreators(t *testing.T) {
	const procs, rounds = 16, 5
	dir := shmTempDir(t)
	for round := 0; round < rounds; round++ {
		name := fmt.Sprintf("contested-%d", round)
		barrier, release, err := os.Pipe()
		require.NoError(t, err)
		cmds := make([]*exec.Cmd, procs)
		outs := make([]*bufio.Reader, procs)
		for i := range cmds {
			cmds[i] = child(t, childRaceCreate, name, dir)
			cmds[i].Env = append(cmds[i].Env, envIndex+"="+strconv.Itoa(i))
			cmds[i].Stdin = barrier
			out, err := cmds[i].StdoutPipe()
			require.NoError(t, err)
			outs[i] = bufio.NewReader(out)
			require.NoError(t, cmds[i].Start())
		}
		barrier.Close()
		for i, out := range outs {
			line, err := out.ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "ready", strings.TrimSpace(line), "process %d", i)
		}
		release.Close() // every process sees EOF at once and publishes
		winners, exists := []int{}, 0
		for i, out := range outs {
			line, err := out.ReadString('\n')
			require.NoError(t, err)
			switch code := strings.TrimSpace(line); code {
			case "OK":
				winners = append(winners, i)
			case "EXISTS":
				exists++
			default:
				t.Errorf("round %d: process %d got %s", round, i, code)
			}
			require.NoError(t, cmds[i].Wait())
		}
		require.Len(t, winners, 1, "round %d: exactly one creator succeeds", round)
		assert.Equal(t, procs-1, exists, "round %d: the others get EXISTS", round)
		s, err := arena.Attach(name, dir)
		require.NoError(t, err)
		who, err := arena.Values[int64](s, "who")
		require.NoError(t, err)
		assert.Equal(t, []int64{int64(winners[0])}, who, "the segment is the winner's")
		require.NoError(t, s.Close())
	}
	names := filesIn(t, dir)
	assert.Len(t, names, rounds, "one segment per round and nothing else: %v", names)
}

// TestAttachRacingUnlink: while another process publishes and unlinks a
// name 300 times, readers attach it in a loop: each attach gives a whole,
// valid segment of one generation, or NOT_FOUND; nothing else.
func TestAttachRacingUnlink(t *testing.T) {
	dir := shmTempDir(t)
	noLeaks(t, dir)
	cmd := child(t, childChurn, "flicker", dir)
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var stop atomic.Bool
	var ok, notFound atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(bad) < 10 {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				s, err := arena.Attach("flicker", dir)
				if errors.Is(err, format.ErrNotFound) {
					notFound.Add(1)
					continue
				}
				if err != nil {
					report("attach: %v", err)
					continue
				}
				if err := s.Validate(); err != nil {
					report("validate: %v", err)
				}
				a, errA := arena.Values[int64](s, "a")
				b, errB := arena.Values[int64](s, "b")
				if errA != nil || errB != nil || len(a) != 4096 || len(b) != 100 {
					report("arrays: %v %v %d %d", errA, errB, len(a), len(b))
				} else if g := a[0]; a[len(a)-1] != g || b[0] != g || b[99] != g {
					report("generations mixed: %d %d %d %d", g, a[len(a)-1], b[0], b[99])
				}
				_ = s.Close()
				ok.Add(1)
			}
		}()
	}
	select {
	case err := <-done:
		require.NoError(t, err, "the churning process")
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the churning process hung")
	}
	stop.Store(true)
	wg.Wait()
	assert.Empty(t, bad, "attach gives a whole segment or NOT_FOUND")
	t.Logf("%d publish/unlink cycles: %d attaches found a whole segment, %d found nothing", churnCycles, ok.Load(), notFound.Load())
	assert.Positive(t, ok.Load(), "some attaches won the race")
	assert.Positive(t, notFound.Load(), "some attaches lost it")
	assert.Empty(t, filesIn(t, dir))
}
