package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand: its name, a one-line summary for the overview,
// and the function that parses its arguments and runs it.
type command struct {
	name, summary string
	run           func(e *env, args []string) error
}

var commands = []command{
	{"create", "import an Arrow IPC, Parquet, CSV or .npy file into a new segment", cmdCreate},
	{"ls", "list segments: size, arrays, rows, creator, age", cmdLs},
	{"info", "show a segment's arrays, types, shapes, null counts and metadata", cmdInfo},
	{"head", "print the first rows of a segment as a table", cmdHead},
	{"verify", "validate a segment completely, data checksums included", cmdVerify},
	{"export", "write a segment to an Arrow IPC, Parquet or CSV file", cmdExport},
	{"rm", "remove segments", cmdRm},
	{"gc", "remove orphaned segments (ephemeral, creator no longer running)", cmdGC},
}

// env is what a command writes to; main passes the process's streams and
// tests may pass buffers.
type env struct {
	stdout, stderr io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr}))
}

// run dispatches args to a command and turns its outcome into an exit
// status: 0, 1 for a failure (one line on stderr), 2 for a command line
// that cannot be parsed (the problem and the usage on stderr), 130 for an
// interrupted import.
func run(args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "shmarray: no command given")
		overview(e.stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			if c := lookup(args[1]); c != nil {
				return status(e, c.run(e, []string{"--help"}))
			}
			fmt.Fprintf(e.stderr, "shmarray help: unknown command %q\n", args[1])
			overview(e.stderr)
			return 2
		}
		overview(e.stdout)
		return 0
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "shmarray: unknown command %q\n", name)
		overview(e.stderr)
		return 2
	}
	return status(e, c.run(e, args[1:]))
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// status reports err and returns the exit status it stands for.
func status(e *env, err error) int {
	var ue *usageError
	var ce *cliError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "shmarray %s: %s\n", ue.cmd, ue.msg)
		ue.usage(e.stderr)
		return 2
	case errors.As(err, &ce):
		fmt.Fprintln(e.stderr, ce.Error())
		return ce.exitStatus()
	}
	fmt.Fprintln(e.stderr, oneLine("shmarray: "+reason(err)))
	return 1
}

func overview(w io.Writer) {
	var b strings.Builder
	b.WriteString("usage: shmarray COMMAND [arguments] [--dir DIR]\n\n")
	b.WriteString("Typed column arrays in named shared-memory segments, readable in place from Go,\n")
	b.WriteString("Python/NumPy and C.\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-7s  %s\n", c.name, c.summary)
	}
	b.WriteString("\nEvery command takes --dir DIR (default $SHMARRAY_DIR, else /dev/shm).\n")
	b.WriteString("\"shmarray COMMAND --help\" or \"shmarray help COMMAND\" describes one command.\n")
	fmt.Fprint(w, b.String())
}
