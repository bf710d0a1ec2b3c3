package arena_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/shmarray/shmarray/arena"
)

// The benchmarks below are what `make bench` runs (through bench/run.py,
// which sets the sizes); plain `go test -bench .` uses the small defaults.
// Sizes and counts come from the environment:
//
//	SHMARRAY_BENCH_ATTACH_SIZES   segment sizes for BenchmarkAttach (default "1MiB,1GiB")
//	SHMARRAY_BENCH_ATTACH_ARRAYS  array counts for BenchmarkAttachArrays (default "1,100,10000")
//	SHMARRAY_BENCH_CREATE_SIZE    bytes written by each BenchmarkCreate op (default "256MiB")
//
// A size that does not fit in the segment directory is skipped with a
// message saying so, never half-created.

// BenchmarkAttach measures Attach+Close by segment size: the same work at
// every size, since attach maps the file and reads only the header and the
// directory, never a data page.
func BenchmarkAttach(b *testing.B) {
	for _, size := range envSizes(b, "SHMARRAY_BENCH_ATTACH_SIZES", "1MiB,1GiB") {
		b.Run("size="+sizeText(size), func(b *testing.B) {
			dir := benchDir(b)
			needSpace(b, dir, size+1<<20)
			name := fmt.Sprintf("bench-attach-%d-%d", os.Getpid(), size)
			w, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Capacity: size + 1<<20, NoDataChecksum: true})
			if err != nil {
				b.Fatal(err)
			}
			if err := arena.AddSlice(w, "x", make([]byte, size)); err != nil {
				b.Fatal(err)
			}
			if err := w.Publish(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = arena.Unlink(name, dir) })
			attachLoop(b, name, dir)
		})
	}
}

// BenchmarkAttachArrays measures Attach+Close of a small segment by the
// number of arrays in it: attach checks every directory record, so this is
// where its O(arrays) cost shows.
func BenchmarkAttachArrays(b *testing.B) {
	for _, n := range envInts(b, "SHMARRAY_BENCH_ATTACH_ARRAYS", "1,100,10000") {
		b.Run("arrays="+strconv.Itoa(n), func(b *testing.B) {
			dir := benchDir(b)
			name := fmt.Sprintf("bench-arrays-%d-%d", os.Getpid(), n)
			w, err := arena.Create(name, &arena.CreateOptions{Dir: dir, NoDataChecksum: true})
			if err != nil {
				b.Fatal(err)
			}
			values := []int64{1, 2, 3, 4, 5, 6, 7, 8}
			for i := range n {
				if err := arena.AddSlice(w, "a"+strconv.Itoa(i), values); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Publish(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = arena.Unlink(name, dir) })
			attachLoop(b, name, dir)
		})
	}
}

func attachLoop(b *testing.B, name, dir string) {
	b.ResetTimer()
	for b.Loop() {
		s, err := arena.Attach(name, dir)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkCreate measures writing a segment (create, copy in, checksum,
// publish; the unlink after each is not timed) against a plain copy of the same bytes: into memory
// already touched ("memcpy", the machine's copy bandwidth) and into fresh
// pages from the kernel ("memcpy-fresh", which pays the page faults a new
// segment pays too). Numeric: one float64 array. Strings: one utf8 array
// from Arrow, whose offsets and data are the bytes copied.
func BenchmarkCreate(b *testing.B) {
	size := envSizes(b, "SHMARRAY_BENCH_CREATE_SIZE", "256MiB")[0]
	dir := benchDir(b)
	needSpace(b, dir, 2*size+1<<20)
	name := "bench-create-" + strconv.Itoa(os.Getpid())

	numeric := make([]float64, size/8)
	for i := range numeric {
		numeric[i] = float64(i%1000) * 0.25
	}
	numBytes := int64(len(numeric) * 8)
	publish := func(b *testing.B, opts arena.CreateOptions, add func(w *arena.Builder) error) {
		opts.Dir, opts.Capacity = dir, size+1<<20
		w, err := arena.Create(name, &opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := add(w); err != nil {
			b.Fatal(err)
		}
		if err := w.Publish(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer() // freeing the pages is not part of creating
		if err := arena.Unlink(name, dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.Run("numeric/shmarray", func(b *testing.B) {
		b.SetBytes(numBytes)
		for b.Loop() {
			publish(b, arena.CreateOptions{}, func(w *arena.Builder) error { return arena.AddSlice(w, "x", numeric) })
		}
	})
	b.Run("numeric/shmarray-nocrc", func(b *testing.B) {
		b.SetBytes(numBytes)
		for b.Loop() {
			publish(b, arena.CreateOptions{NoDataChecksum: true}, func(w *arena.Builder) error { return arena.AddSlice(w, "x", numeric) })
		}
	})
	numRaw := bytesOfFloats(numeric)
	copyBenchmarks(b, "numeric", numRaw)

	// Strings of 8 to 24 ASCII bytes (offsets and data about size bytes),
	// built once with Arrow.
	var words []string
	for i := range 26 * 17 {
		words = append(words, strings.Repeat(string(rune('a'+i%26)), 8+i%17))
	}
	sb := array.NewStringBuilder(memory.NewGoAllocator())
	for i, total := 0, int64(0); total < size*9/10; i++ {
		w := words[i%len(words)]
		sb.Append(w)
		total += int64(len(w)) + 4
	}
	strs := sb.NewStringArray()
	sb.Release()
	defer strs.Release()
	bufs := strs.Data().Buffers()
	strRaw := append(append([]byte(nil), bufs[1].Bytes()...), bufs[2].Bytes()...)
	b.Run("strings/shmarray", func(b *testing.B) {
		b.SetBytes(int64(len(strRaw)))
		for b.Loop() {
			publish(b, arena.CreateOptions{}, func(w *arena.Builder) error { return w.AddArray("s", strs) })
		}
	})
	copyBenchmarks(b, "strings", strRaw)
}

// copyBenchmarks adds the two memcpy baselines for src under prefix.
func copyBenchmarks(b *testing.B, prefix string, src []byte) {
	b.Run(prefix+"/memcpy", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		dst := make([]byte, len(src))
		copy(dst, src) // touch every page first: this measures the copy alone
		b.ResetTimer()
		for b.Loop() {
			copy(dst, src)
		}
	})
	b.Run(prefix+"/memcpy-fresh", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			dst, err := syscall.Mmap(-1, 0, len(src), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
			if err != nil {
				b.Fatal(err)
			}
			copy(dst, src)
			if err := syscall.Munmap(dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func bytesOfFloats(v []float64) []byte {
	out := make([]byte, 8*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(f))
	}
	return out
}

func benchDir(b *testing.B) string {
	if d := os.Getenv(arena.EnvDir); d != "" {
		return d
	}
	if st, err := os.Stat(arena.DefaultDir); err == nil && st.IsDir() {
		return arena.DefaultDir
	}
	return b.TempDir()
}

// needSpace skips the benchmark when dir has fewer than need bytes free.
func needSpace(b *testing.B, dir string, need int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		b.Fatal(err)
	}
	if free := int64(st.Bavail) * st.Bsize; free < need {
		b.Skipf("skipped: needs %s in %s, which has %s free (enlarge it or set %s)",
			sizeText(need), dir, sizeText(free), arena.EnvDir)
	}
}

// envSizes parses a comma-separated list of sizes such as "1MiB,4GiB" or
// plain byte counts from the variable env, else from def.
func envSizes(b *testing.B, env, def string) []int64 {
	text := os.Getenv(env)
	if text == "" {
		text = def
	}
	var out []int64
	for _, f := range strings.Split(text, ",") {
		f = strings.TrimSpace(f)
		mult := int64(1)
		for _, u := range []struct {
			suffix string
			mult   int64
		}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
			if strings.HasSuffix(f, u.suffix) {
				f, mult = strings.TrimSuffix(f, u.suffix), u.mult
				break
			}
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("%s: %q is not a size (e.g. 1MiB, 4GiB or 4096)", env, text)
		}
		out = append(out, n*mult)
	}
	return out
}

func envInts(b *testing.B, env, def string) []int {
	var out []int
	for _, n := range envSizes(b, env, def) {
		out = append(out, int(n))
	}
	return out
}

// sizeText is the shortest exact binary-unit spelling of n ("1MiB", "4GiB").
func sizeText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}
