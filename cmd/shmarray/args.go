package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errHelpShown ends a command after --help printed its usage to stdout.
var errHelpShown = errors.New("help shown")

// usageError is a command line the command cannot parse: exit status 2,
// the problem and the command's usage on stderr.
type usageError struct {
	cmd, msg string
	usage    func(io.Writer)
}

func (e *usageError) Error() string { return "shmarray " + e.cmd + ": " + e.msg }

// cmdFlags is one command's flag set (the standard flag package, one set per
// command) with the text of its --help.
type cmdFlags struct {
	*flag.FlagSet
	name, synopsis, about string
	dir                   string
}

// newFlags starts the flag set of command name; every command has --dir.
// synopsis follows "shmarray NAME" on the usage line; about is a paragraph.
func newFlags(name, synopsis, about string) *cmdFlags {
	f := &cmdFlags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), name: name, synopsis: synopsis, about: about}
	f.SetOutput(io.Discard) // errors are reported by status, usage by usage
	f.StringVar(&f.dir, "dir", "", "segments live in `DIR` (default $SHMARRAY_DIR, else /dev/shm)")
	return f
}

// usage writes the command's help.
func (f *cmdFlags) usage(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: shmarray %s %s\n\n%s\n\nflags:\n", f.name, f.synopsis, strings.TrimSpace(f.about))
	f.VisitAll(func(fl *flag.Flag) {
		kind, text := flag.UnquoteUsage(fl)
		left := "--" + fl.Name
		if len(fl.Name) == 1 {
			left = "-" + fl.Name
		}
		if kind != "" {
			left += " " + strings.ToUpper(kind)
		}
		fmt.Fprintf(&b, "  %-22s %s", left, text)
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "[]" {
			fmt.Fprintf(&b, " (default %s)", fl.DefValue)
		}
		b.WriteString("\n")
	})
	fmt.Fprint(w, b.String())
}

// fail is a usage error of this command.
func (f *cmdFlags) fail(format string, args ...any) error {
	return &usageError{cmd: f.name, msg: fmt.Sprintf(format, args...), usage: f.usage}
}

// parse parses args and returns the positional arguments. Flags may come
// before, between or after them ("shmarray create NAME --from f.csv");
// "--" ends the flags. -h, -help and --help print the usage to stdout and
// return errHelpShown.
func (f *cmdFlags) parse(e *env, args []string) ([]string, error) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			f.usage(e.stdout)
			return nil, errHelpShown
		}
	}
	var pos []string
	for len(args) > 0 {
		if err := f.Parse(args); err != nil {
			return nil, f.fail("%v", err)
		}
		rest := f.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return pos, nil
}

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
