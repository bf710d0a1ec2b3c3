package main

import (
	"errors"
	"fmt"

	"github.com/shmarray/shmarray/arena"
)

const gcAbout = `
Removes orphaned segments: those whose creator asked for them to be removed
when it exits (ephemeral segments) and is proven gone, by its pid and start
time. Segments created without that request, those whose creator may still
run, and those whose creator cannot be judged from here (another pid
namespace) are never removed; remove them with rm. Also removes the hidden
temporary files that writers which died left behind, when they are proven
to be such leftovers (yours, or for root starting with the segment magic).
Every file is judged and removed relative to the directory opened once, so
a directory swapped for a link meanwhile never makes gc remove anything
elsewhere; a directory given as a symbolic link is refused. A file that
cannot be removed is reported and gc goes on; the exit status is then 1.`

func cmdGC(e *env, args []string) error {
	f := newFlags("gc", "[--dry-run]", gcAbout)
	dry := f.Bool("dry-run", false, "only print what would be removed")
	pos, err := f.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return f.fail("gc takes no arguments, got %q", pos)
	}
	removed, err := arena.GC(f.dir, *dry)
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	for _, info := range removed {
		if info.Temporary {
			fmt.Fprintf(e.stdout, "%s %s (%s, temporary file of writer pid %d, which exited)\n", verb, info.Name, sizeText(info.Size), info.CreatorPID)
			continue
		}
		fmt.Fprintf(e.stdout, "%s %s (%s, creator pid %d exited)\n", verb, info.Name, sizeText(info.Size), info.CreatorPID)
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		failed := joined.Unwrap()
		for _, one := range failed {
			fmt.Fprintln(e.stderr, oneLine("shmarray: gc: "+reason(one)))
		}
		why := fmt.Sprintf("%d files were not removed", len(failed))
		if len(failed) == 1 {
			why = "1 file was not removed"
		}
		return &cliError{what: "gc", why: why, fix: "see the messages above"}
	}
	if err != nil {
		return segmentError("gc", "", f.dir, err)
	}
	if len(removed) == 0 {
		fmt.Fprintf(e.stdout, "no orphaned segments in %s\n", arena.Dir(f.dir))
	}
	return nil
}
