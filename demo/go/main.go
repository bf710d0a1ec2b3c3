// Command demo shows shmarray's main job: one segment of a few hundred MiB,
// several worker processes attached to it at once, each computing the same
// answer from the same physical pages, and the memory that costs compared
// with giving every worker its own copy.
//
//	go run ./demo/go              # create, run Go workers, compare, remove
//	go run ./demo/go worker NAME  # one worker (used by the run above and by demo/demo.py)
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/shmarray/shmarray/arena"
)

// Result is what a worker prints, as one JSON line.
type Result struct {
	Worker    string  `json:"worker"`
	PID       int     `json:"pid"`
	AttachUS  float64 `json:"attach_us"`
	Rows      int64   `json:"rows"`
	PriceSum  float64 `json:"price_sum"`
	QtySum    int64   `json:"qty_sum"`
	ACMECount int64   `json:"acme_count"`
}

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: demo [-rows N] [-workers N] [-dir DIR]\n       demo worker [-copy] [-hold] [-dir DIR] NAME")
		flag.PrintDefaults()
	}
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(workerMain(os.Args[2:]))
	}
	rows := flag.Int64("rows", 16_000_000, "rows in the demo segment")
	workers := flag.Int("workers", 4, "worker processes")
	dir := flag.String("dir", "", "segment directory (default $SHMARRAY_DIR, else /dev/shm)")
	flag.Parse()
	if err := run(*rows, *workers, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(rows int64, workers int, dir string) error {
	name := "shmarray-demo-" + strconv.Itoa(os.Getpid())
	fmt.Printf("creating segment %q: %d rows of price float64, qty int64, symbol utf8 ...\n", name, rows)
	start := time.Now()
	if err := create(name, dir, rows); err != nil {
		return err
	}
	remove := func() {
		if err := arena.Unlink(name, dir); err == nil {
			fmt.Printf("removed segment %q\n", name)
		}
	}
	defer remove()
	// Ctrl-C or a kill must not leave the segment behind either.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		remove()
		os.Exit(130)
	}()
	info, err := arena.List(dir)
	if err != nil {
		return err
	}
	var size int64
	for _, i := range info {
		if i.Name == name {
			size = i.Size
		}
	}
	fmt.Printf("created %.0f MiB in %.2f s\n\n", float64(size)/(1<<20), time.Since(start).Seconds())

	shared, sharedPSS, err := runWorkers(name, dir, workers, false)
	if err != nil {
		return err
	}
	fmt.Printf("%-8s %8s %12s %14s %14s %10s %10s\n", "worker", "pid", "attach", "price_sum", "qty_sum", "ACME", "PSS")
	for i, r := range shared {
		fmt.Printf("%-8s %8d %10.1fµs %14.2f %14d %10d %7.1f MiB\n", r.Worker, r.PID, r.AttachUS, r.PriceSum, r.QtySum, r.ACMECount, mib(sharedPSS[i]))
	}
	for _, r := range shared[1:] {
		if r.PriceSum != shared[0].PriceSum || r.QtySum != shared[0].QtySum || r.ACMECount != shared[0].ACMECount {
			return fmt.Errorf("workers disagree: %+v vs %+v", r, shared[0])
		}
	}
	_, copyPSS, err := runWorkers(name, dir, workers, true)
	if err != nil {
		return err
	}
	fmt.Printf("\nall %d workers agree. Memory while all were alive (PSS, measured):\n", workers)
	fmt.Printf("  attached to one shared segment: %8.1f MiB in total\n", mib(sum(sharedPSS)))
	fmt.Printf("  each with a private copy:       %8.1f MiB in total (%.1f× more)\n", mib(sum(copyPSS)), float64(sum(copyPSS))/float64(sum(sharedPSS)))
	return nil
}

func create(name, dir string, rows int64) error {
	b, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Ephemeral: true})
	if err != nil {
		return err
	}
	defer b.Close()
	mem := b.Allocator()
	price := array.NewFloat64Builder(mem)
	qty := array.NewInt64Builder(mem)
	price.Resize(int(rows))
	qty.Resize(int(rows))
	for i := int64(0); i < rows; i++ {
		price.UnsafeAppend(float64(i%1000) * 0.25)
		qty.UnsafeAppend(i % 7)
	}
	symbols := []string{"ACME", "INIT", "ZETA", "QUUX", "BOLT"}
	sym := array.NewStringBuilder(mem)
	sym.Reserve(int(rows))
	sym.ReserveData(int(rows) * 4)
	for i := int64(0); i < rows; i++ {
		sym.Append(symbols[i%int64(len(symbols))])
	}
	columns := []struct {
		name string
		arr  arrow.Array
	}{{"price", price.NewArray()}, {"qty", qty.NewArray()}, {"symbol", sym.NewArray()}}
	for _, c := range columns {
		err := b.AddArray(c.name, c.arr)
		c.arr.Release()
		if err != nil {
			return err
		}
	}
	return b.Publish()
}

// runWorkers starts n workers, waits until each has its answer (so all are
// alive at once), reads their PSS, then lets them exit.
func runWorkers(name, dir string, n int, private bool) ([]Result, []int64, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	var cmds []*exec.Cmd
	var holds []interface{ Close() error }
	results := make([]Result, n)
	defer func() {
		for _, h := range holds {
			h.Close()
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}()
	for i := 0; i < n; i++ {
		args := []string{"worker", "-hold", "-dir", dir}
		if private {
			args = append(args, "-copy")
		}
		cmd := exec.Command(self, append(args, name)...)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		cmds, holds = append(cmds, cmd), append(holds, in)
		go func(i int) {
			line, _ := bufio.NewReader(out).ReadString('\n')
			_ = json.Unmarshal([]byte(line), &results[i])
			done <- i
		}(i)
	}
	for range n {
		<-done
	}
	pss := make([]int64, n)
	for i, c := range cmds {
		if results[i].PID == 0 {
			return nil, nil, fmt.Errorf("worker %d gave no result", i)
		}
		pss[i] = readPSS(c.Process.Pid)
	}
	return results, pss, nil
}

var done = make(chan int, 64)

func workerMain(args []string) int {
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	private := fs.Bool("copy", false, "copy the columns into private memory first (what pickling to a worker amounts to)")
	hold := fs.Bool("hold", false, "after printing the result, wait for stdin to close")
	dir := fs.String("dir", "", "segment directory")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	s, err := arena.Attach(fs.Arg(0), *dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer s.Close() // only after the hold: PSS is measured while attached
	r, err := work(s, *private)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	line, _ := json.Marshal(r)
	fmt.Println(string(line))
	if *hold {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	}
	return 0
}

// work reads every column of the demo segment s. With private set it first
// copies them into its own heap, as a worker sent pickled data would hold them.
func work(s *arena.Segment, private bool) (Result, error) {
	start := time.Now()
	attached, err := arena.Attach(s.Name(), filepath.Dir(s.Path()))
	if err != nil {
		return Result{}, err
	}
	attach := time.Since(start)
	attached.Close()
	price, err := arena.Values[float64](s, "price")
	if err != nil {
		return Result{}, err
	}
	qty, err := arena.Values[int64](s, "qty")
	if err != nil {
		return Result{}, err
	}
	_, offsetBytes, data, err := s.Buffers("symbol")
	if err != nil {
		return Result{}, err
	}
	kind := "go"
	if private {
		kind = "go-copy"
		price = append([]float64(nil), price...)
		qty = append([]int64(nil), qty...)
		offsetBytes = append([]byte(nil), offsetBytes...)
		data = append([]byte(nil), data...)
	}
	r := Result{Worker: kind, PID: os.Getpid(), AttachUS: float64(attach.Nanoseconds()) / 1e3, Rows: int64(len(price))}
	for _, v := range price {
		r.PriceSum += v
	}
	for _, v := range qty {
		r.QtySum += v
	}
	offsets := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(offsetBytes))), len(offsetBytes)/4)
	for i := 0; i+1 < len(offsets); i++ {
		if string(data[offsets[i]:offsets[i+1]]) == "ACME" {
			r.ACMECount++
		}
	}
	return r, nil
}

func readPSS(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func sum(v []int64) int64 {
	t := int64(0)
	for _, x := range v {
		t += x
	}
	return t
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
