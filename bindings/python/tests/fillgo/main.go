// Command fillgo is the Go worker of a shared output (spec §10.6) in the
// Python tests: it opens the output a token names (arena.OpenOutput) and
// writes rows [LO, HI) of a float64 array, value i at row i, in place.
//
//	fillgo TOKEN LO HI
package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/shmarray/shmarray/arena"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fillgo:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: fillgo TOKEN LO HI")
	}
	h, err := arena.ParseOutputToken(args[0])
	if err != nil {
		return err
	}
	lo, err1 := strconv.Atoi(args[1])
	hi, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || lo < 0 || hi < lo || uint64(hi)*8 > h.Length {
		return fmt.Errorf("rows [%s, %s) are not inside the array's %d rows", args[1], args[2], h.Length/8)
	}
	w, err := arena.OpenOutput(h)
	if err != nil {
		return err
	}
	defer w.Close()
	rows := w.Bytes()
	for i := lo; i < hi; i++ {
		binary.LittleEndian.PutUint64(rows[8*i:], math.Float64bits(float64(i)))
	}
	fmt.Println("filled", lo, hi)
	return w.Close()
}
