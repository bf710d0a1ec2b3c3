package arena

import (
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// liveness is what can be said, from this process, about whether the
// process that created a segment (or a temporary file) still runs.
type liveness int

const (
	// creatorAlive: a process with the recorded pid runs, with the
	// recorded start time where both are known.
	creatorAlive liveness = iota
	// creatorGone: proven gone in this pid namespace and every pid
	// namespace below it.
	creatorGone
	// creatorUnknown: the pid cannot be judged from here (pid 0, a creator
	// that started before this pid namespace existed, or a /proc that
	// does not show this namespace); such a creator is never taken for
	// dead.
	creatorUnknown
)

// procView judges creators by pid for one List or GC call. Pids name
// processes only within a pid namespace, and a segment records no
// namespace, so a pid is judged as follows (spec §10.5):
//
//  1. pid 0 is unknown.
//  2. /proc must be this pid namespace's (field 1 of /proc/self/stat is
//     our own pid); else every creator is unknown.
//  3. A recorded start time earlier than that of this namespace's pid 1
//     means the creator started before the namespace existed, so it ran in
//     an ancestor or unrelated namespace: unknown. (Every process of a
//     namespace and of those below it starts after its pid 1.) If pid 1's
//     start time cannot be read, every creator with a start time is
//     unknown.
//  4. kill(pid, 0) succeeding or failing with EPERM means a process with
//     that pid exists here: alive if its start time (field 22 of
//     /proc/PID/stat) equals the recorded one, or either is unknown.
//  5. Otherwise, or when that process is a different one (pid reused), a
//     process of a pid namespace below this one may be the creator: any
//     process whose innermost pid (last field of NSpid in
//     /proc/P/status) is pid and whose start time matches (or is not
//     recorded) is alive.
//  6. Otherwise the creator is gone, if /proc could be listed for step 5;
//     if not, unknown.
//
// It reads /proc lazily and at most once per step for the whole call.
type procView struct {
	checked    bool
	consistent bool   // /proc shows this pid namespace
	initKnown  bool   // initStart could be read
	initStart  uint64 // start time of this namespace's pid 1
	nested     map[uint32][]uint64
	// nestedComplete: all of /proc was listed for nested
	nestedComplete bool
}

// creator judges the process recorded as pid, started at start (clock
// ticks after boot, 0 if not recorded).
func (v *procView) creator(pid uint32, start uint64) liveness {
	if pid == 0 {
		return creatorUnknown
	}
	if !v.checked {
		v.checked = true
		self, ok := statFields("self")
		v.consistent = ok && len(self) > 0 && self[0] == strconv.Itoa(os.Getpid())
		v.initStart, v.initKnown = startTime(1)
	}
	if !v.consistent {
		return creatorUnknown
	}
	if start != 0 && (!v.initKnown || start < v.initStart) {
		return creatorUnknown
	}
	// A pid above 2^31-1 names no process: kill(2) would read it as a
	// negative pid_t, a process group or (2^32-1) every process.
	if pid <= math.MaxInt32 {
		if err := unix.Kill(int(pid), 0); err == nil || err == unix.EPERM {
			now, ok := startTime(int(pid))
			if !ok || start == 0 || now == 0 || now == start {
				return creatorAlive
			}
		}
	}
	if v.nested == nil {
		v.nested, v.nestedComplete = nestedPIDs()
	}
	for _, s := range v.nested[pid] {
		if start == 0 || s == 0 || s == start {
			return creatorAlive
		}
	}
	if !v.nestedComplete {
		return creatorUnknown // /proc could not be read to its end: nothing is proven
	}
	return creatorGone
}

// nestedPIDs maps the innermost pid of every visible process that runs in
// a pid namespace below this one to the start times of those processes;
// complete is false if /proc could not be listed.
func nestedPIDs() (out map[uint32][]uint64, complete bool) {
	out = map[uint32][]uint64{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out, false
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			rest, ok := strings.CutPrefix(line, "NSpid:")
			if !ok {
				continue
			}
			ids := strings.Fields(rest)
			if len(ids) < 2 {
				break
			}
			inner, err := strconv.ParseUint(ids[len(ids)-1], 10, 32)
			if err != nil {
				break
			}
			outer, _ := strconv.Atoi(ids[0])
			start, _ := startTime(outer)
			out[uint32(inner)] = append(out[uint32(inner)], start)
			break
		}
	}
	return out, true
}

// statFields are the fields of /proc/WHO/stat ("self" or a pid): the pid,
// then, from the state on, the fields after the command name (which may
// hold spaces and parentheses and ends at the last ')'). ok is false when
// the file cannot be read.
func statFields(who string) ([]string, bool) {
	raw, err := os.ReadFile("/proc/" + who + "/stat")
	if err != nil {
		return nil, false
	}
	s := string(raw)
	open := strings.IndexByte(s, ' ')
	i := strings.LastIndexByte(s, ')')
	if open < 0 || i < open {
		return nil, true
	}
	return append([]string{s[:open]}, strings.Fields(s[i+1:])...), true
}

// startTime is a process's start time in clock ticks since boot, field 22
// of /proc/PID/stat; ok is false when it cannot be read (no such process,
// or /proc hides it). 0 with ok means the field was not understood.
func startTime(pid int) (uint64, bool) {
	return startTimeOf(strconv.Itoa(pid))
}

// selfStartTime is this process's start time, read through /proc/self so
// that it is right even when /proc belongs to another pid namespace.
func selfStartTime() uint64 {
	v, _ := startTimeOf("self")
	return v
}

func startTimeOf(who string) (uint64, bool) {
	f, ok := statFields(who)
	if !ok {
		return 0, false
	}
	// f[0] is field 1 (pid), f[1] field 3 (state): field 22 is f[20].
	if len(f) < 21 {
		return 0, true
	}
	v, err := strconv.ParseUint(f[20], 10, 64)
	if err != nil {
		return 0, true
	}
	return v, true
}
