package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// statusInterrupted is the exit status of an import stopped by SIGINT or
// SIGTERM (128 + SIGINT, as shells report it).
const statusInterrupted = 130

// errInterrupted is the cause of a context cancelled by a signal.
var errInterrupted = errors.New("interrupted")

// cliError is a failure reported as one line on stderr:
//
//	shmarray: <what>: <why> (<fix>)
//
// what names the command and its object (`create "prices"`), why the
// problem, fix what to do about it ("" when why already says so).
type cliError struct {
	what, why, fix string
	status         int // 0 means 1
}

func (e *cliError) Error() string {
	msg := "shmarray: " + e.what + ": " + e.why
	if e.fix != "" {
		msg += " (" + e.fix + ")"
	}
	return oneLine(msg)
}

func (e *cliError) exitStatus() int {
	if e.status == 0 {
		return 1
	}
	return e.status
}

// failf is a cliError with a formatted why.
func failf(what, fix, why string, args ...any) *cliError {
	return &cliError{what: what, why: fmt.Sprintf(why, args...), fix: fix}
}

// segmentError explains an error of the arena package about the segment
// called name in dir, choosing the message by its format code: the codes
// a user meets most (NOT_FOUND, EXISTS, the invalid-segment codes) get a
// message written for the command line, the others keep arena's text,
// which names its own fix.
func segmentError(what, name, dir string, err error) *cliError {
	dir = arena.Dir(dir)
	why := reason(err)
	fix := ""
	switch code := format.CodeOf(err); {
	case code == format.NotFound && !isDir(dir):
		why = fmt.Sprintf("directory %s does not exist", dir)
		fix = "pass --dir, or set " + arena.EnvDir + " to the directory that holds the segments"
	case code == format.NotFound && (name == "" || errors.Is(err, arena.ErrReplaced) ||
		strings.Contains(why, "no array called")):
	case code == format.NotFound:
		why = fmt.Sprintf("no segment %q in %s", name, dir)
		fix = "list the segments there with: shmarray ls" + dirArg(dir)
	case code == format.Exists:
		why = fmt.Sprintf("a segment %q already exists in %s", name, dir)
		fix = "choose another name, replace it with --replace, or remove the old segment with: shmarray rm " + name + dirArg(dir)
	case code == format.Stale:
		fix = "see the version it holds with: shmarray info " + name + dirArg(dir)
	case code == format.PermissionDenied:
		fix = "check the owner and mode of the file with ls -l, or use --dir"
	case code == format.UnsupportedVersion:
		// the format's message says to upgrade
	case code == format.Closed:
		fix = "this is a bug in shmarray; please report it"
	case code.InvalidSegment():
		fix = "the file is damaged or was not written by shmarray; remove it with: shmarray rm " + name + dirArg(dir)
	}
	if strings.HasSuffix(why, ")") {
		fix = "" // the message already says what to do
	}
	return &cliError{what: what, why: why, fix: fix}
}

// reason is err's text without the "shmarray: " the format codes put in
// front of their text (the command adds its own).
func reason(err error) string {
	return strings.ReplaceAll(err.Error(), "shmarray: ", "")
}

// oneLine keeps a message on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// dirArg is " --dir DIR" when dir is not the default, for commands quoted
// in fixes.
func dirArg(dir string) string {
	if dir == arena.Dir("") {
		return ""
	}
	return " --dir " + dir
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
