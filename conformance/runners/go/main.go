package main

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/conformance"
	"github.com/shmarray/shmarray/format"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("runner: ")
	if len(os.Args) < 3 {
		log.Fatal("usage: runner read DIR NAME... | write DIR CASE.json... | cinput OUTDIR CASE.json...")
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	dir, args := os.Args[2], os.Args[3:]
	switch os.Args[1] {
	case "read":
		for _, name := range args {
			read(out, dir, name)
			out.Flush()
		}
	case "write":
		for _, path := range args {
			c, err := conformance.ReadCase(path)
			if err != nil {
				log.Fatal(err)
			}
			if err := conformance.WriteGo(c, dir, c.Name); err != nil {
				fmt.Fprintf(out, "error %s %s %s\n", c.Name, format.CodeOf(err).Name(), oneLine(err))
			} else {
				fmt.Fprintf(out, "ok %s\n", c.Name)
			}
		}
	case "cinput":
		for _, path := range args {
			c, err := conformance.ReadCase(path)
			if err != nil {
				log.Fatal(err)
			}
			text, err := conformance.CWriterInput(c, c.Name)
			if err != nil {
				log.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, c.Name+".txt"), []byte(text), 0o644); err != nil {
				log.Fatal(err)
			}
		}
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

func read(out *bufio.Writer, dir, name string) {
	fmt.Fprintf(out, "case %s\n", name)
	defer fmt.Fprintln(out, "end")
	s, err := arena.Attach(name, dir)
	if err != nil {
		fmt.Fprintf(out, "error %s attach %s\n", format.CodeOf(err).Name(), oneLine(err))
		return
	}
	defer s.Close()
	if err := s.Validate(); err != nil {
		fmt.Fprintf(out, "error %s validate %s\n", format.CodeOf(err).Name(), oneLine(err))
		return
	}
	lines, err := conformance.SegmentDump(s)
	if err != nil {
		fmt.Fprintf(out, "error INTERNAL dump %s\n", oneLine(err))
		return
	}
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }
