package main

import (
	"fmt"

	"github.com/shmarray/shmarray/arena"
)

const verifyAbout = `
Checks a segment completely: its header and directory (as every attach
does), then every data page: offsets, null counts, UTF-8 and the per-array
data checksums. It reads the whole segment. Prints "ok: NAME (...)" and
exits 0, or names the first problem and exits 1.`

func cmdVerify(e *env, args []string) error {
	f := newFlags("verify", "NAME", verifyAbout)
	pos, err := f.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.fail("expected one segment name, got %d arguments", len(pos))
	}
	name := pos[0]
	what := fmt.Sprintf("verify %q", name)
	s, err := arena.Attach(name, f.dir)
	if err != nil {
		return segmentError(what, name, f.dir, err)
	}
	defer s.Close()
	if err := s.Validate(); err != nil {
		return segmentError(what, name, f.dir, err)
	}
	unchecked := 0
	for _, a := range s.Arrays() {
		if !a.HasDataCRC {
			unchecked++
		}
	}
	switch {
	case unchecked == 0:
		fmt.Fprintf(e.stdout, "ok: %s (%d arrays, checksums verified)\n", name, s.Len())
	default:
		fmt.Fprintf(e.stdout, "ok: %s (%d arrays, checksums verified for %d; %d written without one)\n", name, s.Len(), s.Len()-unchecked, unchecked)
	}
	return nil
}
