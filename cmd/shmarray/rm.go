package main

import (
	"fmt"

	"github.com/shmarray/shmarray/arena"
)

const rmAbout = `
Removes (unlinks) each named segment. Processes that have it attached keep
reading it; its memory is freed when the last one detaches. Files that are
not shmarray segments are never removed. The directory is opened once and
each name is removed from it only if it still holds the file that was
checked, so a directory swapped for a link meanwhile never makes rm remove
anything elsewhere; a directory given as a symbolic link is refused. Every
name is tried; the exit status is 1 if any failed.`

func cmdRm(e *env, args []string) error {
	f := newFlags("rm", "NAME...", rmAbout)
	pos, err := f.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return f.fail("expected at least one segment name")
	}
	var last error
	for _, name := range pos {
		if err := arena.Unlink(name, f.dir); err != nil {
			last = segmentError(fmt.Sprintf("rm %q", name), name, f.dir, err)
			if len(pos) > 1 {
				fmt.Fprintln(e.stderr, last.Error())
			}
			continue
		}
		fmt.Fprintf(e.stdout, "removed %s\n", name)
	}
	if last != nil && len(pos) > 1 {
		return &cliError{what: "rm", why: "some segments were not removed", fix: "see the messages above"}
	}
	return last
}
