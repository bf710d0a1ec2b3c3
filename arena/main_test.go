package arena_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/internal/sectest"
)

// Child processes: the test binary re-executes itself with
// SHMARRAY_TEST_CHILD set to one of these modes, and SHMARRAY_TEST_NAME /
// SHMARRAY_TEST_DIR naming the segment.
const (
	childDigest = "digest" // print one line per array: name and SHA-256 of its buffers
	childReader = "reader" // read every data byte, print "ready", wait for stdin to close
	childCreate = "create" // publish an ephemeral segment and exit
)

func TestMain(m *testing.M) {
	sectest.RunChild()
	if mode := os.Getenv("SHMARRAY_TEST_CHILD"); mode != "" {
		if err := runChild(mode, os.Getenv("SHMARRAY_TEST_NAME"), os.Getenv("SHMARRAY_TEST_DIR")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childModes holds the child behaviours that other test files register
// from their init functions, by mode name.
var childModes = map[string]func(name, dir string) error{}

func runChild(mode, name, dir string) error {
	if f, ok := childModes[mode]; ok {
		return f(name, dir)
	}
	if mode == childCreate {
		b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Ephemeral: true})
		if err != nil {
			return err
		}
		if err := arena.AddSlice(b, "x", []int32{1}); err != nil {
			return err
		}
		return b.Publish()
	}
	s, err := arena.Attach(name, dir)
	if err != nil {
		return err
	}
	defer s.Close()
	switch mode {
	case childDigest:
		lines, err := digests(s)
		if err != nil {
			return err
		}
		for _, l := range lines {
			fmt.Println(l)
		}
	case childReader:
		var sum byte
		for _, a := range s.Arrays() {
			_, _, data, err := s.Buffers(a.Name)
			if err != nil {
				return err
			}
			for i := 0; i < len(data); i += 64 {
				sum ^= data[i]
			}
		}
		fmt.Printf("ready %d\n", sum)
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	default:
		return fmt.Errorf("unknown child mode %q", mode)
	}
	return nil
}

// digests lists "name sha256(validity|offsets|data)" for every array.
func digests(s *arena.Segment) ([]string, error) {
	var out []string
	for _, a := range s.Arrays() {
		v, o, d, err := s.Buffers(a.Name)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		for _, b := range [][]byte{v, o, d} {
			fmt.Fprintf(h, "%d:", len(b))
			h.Write(b)
		}
		out = append(out, fmt.Sprintf("%q %s", a.Name, hex.EncodeToString(h.Sum(nil))))
	}
	return out, nil
}
