package main

import (
	"fmt"

	"github.com/shmarray/shmarray/arena"
)

const gcAbout = `
Removes orphaned segments: those whose creator asked for them to be removed
when it exits (ephemeral segments) and is no longer running, as recorded by
its pid and start time. Segments created without that request, and those
whose creator still runs, are never removed; remove them with rm.`

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
		fmt.Fprintf(e.stdout, "%s %s (%s, creator pid %d exited)\n", verb, info.Name, sizeText(info.Size), info.CreatorPID)
	}
	if err != nil {
		return segmentError("gc", "", f.dir, err)
	}
	if len(removed) == 0 {
		fmt.Fprintf(e.stdout, "no orphaned segments in %s\n", arena.Dir(f.dir))
	}
	return nil
}
