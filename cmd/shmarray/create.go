package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

const createAbout = `
Imports FILE into a new segment called NAME: one array per column (Arrow
IPC, Parquet, CSV) or one N-D array (.npy). The input is streamed: record
batches go straight into the segment's shared pages, never all at once into
this process's memory. The segment appears under NAME only when it is
complete; if the import fails or is interrupted (Ctrl-C), nothing is left.

The format comes from --format, else the file's extension (.csv, .tsv,
.arrow, .arrows, .feather, .ipc, .parquet, .pq, .npy), else its first bytes.
CSV column types are inferred from the first rows (int64, float64, bool,
date32, timestamp, else utf8); --type overrides them. Empty fields, NULL and
null are nulls in non-text columns. On a terminal a progress bar appears for
imports that take more than a few seconds.

With --replace, an existing segment NAME is replaced by the import, as its
next version, atomically: a process attaching NAME at any moment gets the
old version or the new one, never nothing; processes reading the old
version keep it until they close it. --replace-if ID replaces only while
NAME still holds the version with that id (see shmarray info NAME), and
fails otherwise, naming the version NAME holds.

Types for --type: bool, int8, int16, int32, int64, uint8, uint16, uint32,
uint64, float16, float32, float64, utf8, large_utf8, binary (base64 text),
date32, timestamp[s|ms|us|ns] or timestamp[UNIT, ZONE].`

// input is the file being imported and the options its reader needs.
type input struct {
	path string   // as given on the command line
	file *os.File // open for reading
	size int64    // bytes, 0 when unknown (a pipe or terminal)
	prog *progress

	csv       csvOptions
	arrayName string   // .npy: the array's name
	indexes   []string // columns to build a hash index over
}

// loaders stream one input format into a Builder. They check ctx between
// record batches and return its cause once it is cancelled.
var loaders = map[string]func(ctx context.Context, b *arena.Builder, in *input) error{
	"csv":     loadCSV,
	"arrow":   loadIPC,
	"parquet": loadParquet,
	"npy":     loadNPY,
}

func cmdCreate(e *env, args []string) error {
	f := newFlags("create", "NAME --from FILE [--format csv|arrow|parquet|npy] [--type COL=TYPE]... [--index COL]... [--replace | --replace-if ID]", createAbout)
	from := f.String("from", "", "the input `FILE`; \"-\" reads stdin (then --format is needed)")
	formatName := f.String("format", "", "input `format`: csv, arrow, parquet or npy (default: from the file name or contents)")
	var indexes, types listFlag
	f.Var(&indexes, "index", "build a hash index over column `COL` (may repeat; keys must be unique)")
	f.Var(&types, "type", "CSV: store a column as a type, `COL=TYPE` (may repeat)")
	delim := f.String("delimiter", "", "CSV: the field delimiter, one `character` or \"tab\" (default \",\", tab for .tsv)")
	noHeader := f.Bool("no-header", false, "CSV: the first line is data; columns are named f0, f1, ...")
	arrayName := f.String("name", "", ".npy: the array's `name` (default: the file name without .npy)")
	replace := f.Bool("replace", false, "replace the segment NAME if it exists, as its next version (atomically)")
	replaceIf := f.String("replace-if", "", "replace NAME only while it holds the version whose id is `ID` (32 hex digits, as info prints it)")
	pos, err := f.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.fail("expected one segment name, got %d arguments", len(pos))
	}
	if *from == "" {
		return f.fail("--from FILE is required")
	}
	name := pos[0]
	what := fmt.Sprintf("create %q", name)
	if err := format.ValidSegmentName(name); err != nil {
		return failf(what, "", "%s", reason(err))
	}
	kind, err := inputFormat(*formatName, *from)
	if err != nil {
		return &cliError{what: what, why: err.Error(), fix: "pass --format csv, arrow, parquet or npy"}
	}
	if kind != "csv" && (len(types) > 0 || *delim != "" || *noHeader) {
		return f.fail("--type, --delimiter and --no-header apply to CSV input only, and %s is %s", *from, kind)
	}
	if kind != "npy" && *arrayName != "" {
		return f.fail("--name applies to .npy input only; other inputs name their arrays after their columns")
	}
	in := &input{path: *from, arrayName: *arrayName, indexes: indexes}
	if in.csv, err = csvOptionsFrom(*delim, !*noHeader, types, *from); err != nil {
		return f.fail("%v", err)
	}
	in.csv.used = kind == "csv"
	opts := &arena.CreateOptions{Dir: f.dir, Replace: *replace}
	if *replaceIf != "" {
		if *replace {
			return f.fail("give --replace or --replace-if, not both")
		}
		id, err := format.ParseID(*replaceIf)
		if err != nil {
			return f.fail("--replace-if %q: an id is 32 lowercase hex digits, as shmarray info and ls print it", *replaceIf)
		}
		opts.ReplaceIf = &id
	}
	return create(e, name, kind, in, opts)
}

// create runs one import with opts: builder, signals, loader, publish.
func create(e *env, name, kind string, in *input, opts *arena.CreateOptions) error {
	what := fmt.Sprintf("create %q", name)
	dir := opts.Dir
	started := time.Now()
	if st, err := os.Stat(in.path); err == nil && st.Mode().IsRegular() {
		// The reservation (address space only) must hold what the input
		// expands to: up to 8 bytes of int64 or float64 per byte of CSV.
		opts.MaxSize = max(64<<30, 8*st.Size())
	}
	b, err := arena.Create(name, opts)
	if err != nil {
		return segmentError(what, name, dir, err)
	}
	defer b.Close() // nothing is left unless Publish succeeded

	ctx, stop := catchSignals(b)
	defer stop()
	interrupted := func() error {
		return &cliError{what: what, why: "interrupted; nothing was created", status: statusInterrupted}
	}

	if err := openInput(in); err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		return &cliError{what: what, why: reason(err), fix: "check the path given to --from"}
	}
	defer in.file.Close()
	setCloser(in.file)
	if ctx.Err() != nil {
		return interrupted()
	}
	in.prog = startProgress(e.stderr, in.size*progressPasses(kind, in))
	err = loaders[kind](ctx, b, in)
	in.prog.finish()
	switch {
	case ctx.Err() != nil:
		return interrupted()
	case err != nil:
		return importError(what, name, dir, in, err)
	}
	for _, col := range in.indexes {
		if err := b.AddIndex(col); err != nil {
			return &cliError{what: what, why: fmt.Sprintf("--index %s: %v", col, err), fix: "index a column that exists, holds integers, strings or binary, and has unique keys"}
		}
	}
	if err := b.Publish(); err != nil {
		return segmentError(what, name, dir, err)
	}
	if ctx.Err() != nil {
		if opts.Replace || opts.ReplaceIf != nil {
			// The version replaced is gone: removing the new one would
			// leave nothing under the name.
			return &cliError{what: what, why: fmt.Sprintf("interrupted, but only after version %d was published; it stays", b.Version()), status: statusInterrupted}
		}
		// The signal came while publishing: honour it all the same, and
		// remove only the version published here.
		_ = arena.UnlinkVersion(name, dir, b.ID())
		return interrupted()
	}
	return reportCreated(e, name, dir, b.ID(), b.Version(), time.Since(started))
}

// importError explains a failed load: errors of the segment (NO_SPACE,
// invalid arrays) keep their code's message, input errors name the file.
func importError(what, name, dir string, in *input, err error) error {
	var ce *cliError
	switch {
	case errors.As(err, &ce):
		if ce.what == "" {
			ce.what = what
		}
		if !strings.HasPrefix(ce.why, in.path) {
			ce.why = in.path + ": " + ce.why
		}
		return ce
	case errors.Is(err, errUnsupported):
		fix := "drop or convert that column before importing"
		if in.csv.used {
			fix = "store it as text with --type COL=utf8"
		}
		return &cliError{what: what, why: in.path + ": " + reason(err), fix: fix}
	case format.CodeOf(err) != format.Internal:
		return segmentError(what, name, dir, err)
	}
	return &cliError{what: what, why: in.path + ": " + reason(err), fix: "check that the file is complete and in the format given"}
}

// reportCreated prints one line about the new segment, version version
// with id id (attached pinned to it: a later version may have replaced it
// already, and this line is about the one published here).
func reportCreated(e *env, name, dir string, id format.ID, version uint64, took time.Duration) error {
	s, err := arena.AttachWith(name, &arena.AttachOptions{Dir: dir, Pin: &arena.Pin{ID: id, Version: version}})
	if format.CodeOf(err) == format.Stale {
		fmt.Fprintf(e.stdout, "created %q in %s: version %d (id %s), already replaced, in %s\n", name, arena.Dir(dir), version, id, roundDuration(took))
		return nil
	}
	if err != nil {
		return segmentError(fmt.Sprintf("create %q", name), name, dir, err)
	}
	defer s.Close()
	st, _ := os.Stat(s.Path())
	var size int64
	if st != nil {
		size = st.Size()
	}
	rows := "rows differ"
	if n, ok := commonLength(s.Arrays()); ok {
		rows = countText(n) + " rows"
	}
	fmt.Fprintf(e.stdout, "created %q in %s: version %d (id %s), %d arrays, %s, %s in %s\n", name, arena.Dir(dir), version, id, s.Len(), rows, sizeText(size), roundDuration(took))
	return nil
}

// inputFormat is the format named by --format, else guessed from the
// file's extension, else from its first bytes.
func inputFormat(given, path string) (string, error) {
	if given != "" {
		g := strings.ToLower(given)
		switch g {
		case "ipc", "feather":
			g = "arrow"
		}
		if _, ok := loaders[g]; !ok {
			return "", fmt.Errorf("unknown input format %q", given)
		}
		return g, nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv", ".tsv":
		return "csv", nil
	case ".arrow", ".arrows", ".feather", ".ipc":
		return "arrow", nil
	case ".parquet", ".pq":
		return "parquet", nil
	case ".npy":
		return "npy", nil
	}
	if path == "-" {
		return "", errors.New("reading stdin, the format cannot be guessed")
	}
	if st, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("open %s: %v", path, unwrapPath(err))
	} else if !st.Mode().IsRegular() {
		// Reading a pipe to guess would consume what the import needs.
		return "", fmt.Errorf("%s is not a regular file, so its format cannot be guessed", path)
	}
	head := make([]byte, 8)
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open %s: %v", path, unwrapPath(err))
	}
	n, _ := f.ReadAt(head, 0)
	f.Close()
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PAR1")):
		return "parquet", nil
	case bytes.HasPrefix(head, []byte("ARROW1")), bytes.HasPrefix(head, []byte{0xff, 0xff, 0xff, 0xff}):
		return "arrow", nil
	case bytes.HasPrefix(head, []byte("\x93NUMPY")):
		return "npy", nil
	}
	return "", fmt.Errorf("cannot tell the format of %s from its name or contents", path)
}

// progressPasses is how many times a loader reads its input: twice for an
// Arrow IPC file (sizes first, then values), else once.
func progressPasses(kind string, in *input) int64 {
	if kind == "arrow" && in.size > 0 {
		return 2
	}
	return 1
}

// openInput opens in.path ("-" is stdin) and finds its size when it is a
// regular file.
func openInput(in *input) error {
	if in.path == "-" {
		in.file = os.Stdin
	} else {
		f, err := os.Open(in.path)
		if err != nil {
			return fmt.Errorf("open %s: %v", in.path, unwrapPath(err))
		}
		in.file = f
	}
	st, err := in.file.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", in.path)
	}
	if st.Mode().IsRegular() {
		in.size = st.Size()
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Signals: the first SIGINT or SIGTERM cancels the import (the loader
// stops at the next batch, the deferred Builder.Close discards the
// segment, the process exits with 130) and closes the input so that a read
// blocked on a pipe returns; before the input is open (a FIFO without a
// writer blocks in open) it discards the builder and exits at once. A
// second signal does the same, for a loader stuck where it does not look.
var sigState struct {
	mu     sync.Mutex
	closer interface{ Close() error }
}

func setCloser(c interface{ Close() error }) {
	sigState.mu.Lock()
	sigState.closer = c
	sigState.mu.Unlock()
}

func catchSignals(b *arena.Builder) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		cancel(errInterrupted)
		sigState.mu.Lock()
		if sigState.closer == nil {
			// Still opening the input (a FIFO waits for its writer):
			// nothing writes into the builder yet, so stop here.
			_ = b.Close()
			fmt.Fprintln(os.Stderr, "shmarray: create: interrupted; nothing was created")
			os.Exit(statusInterrupted)
		}
		_ = sigState.closer.Close()
		sigState.mu.Unlock()
		select {
		case <-sigs:
		case <-done:
			return
		}
		_ = b.Close()
		fmt.Fprintln(os.Stderr, "shmarray: create: interrupted twice; nothing was created")
		os.Exit(statusInterrupted)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
		setCloser(nil)
	}
}
