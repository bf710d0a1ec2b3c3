package arena_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/shmarray/shmarray/arena"
)

// BenchmarkAttach measures Attach+Close of a 1 MiB and a 1 GiB segment: the
// same work, since attach maps the file and reads only the header and the
// directory, never a data page.
func BenchmarkAttach(b *testing.B) {
	for _, size := range []int{1 << 20, 1 << 30} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			dir := benchDir(b)
			name := "bench-attach-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(size)
			w, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Capacity: int64(size) + 1<<20, NoDataChecksum: true})
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
			b.ResetTimer()
			for b.Loop() {
				s, err := arena.Attach(name, dir)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}

// BenchmarkCreate measures writing a segment from a Go slice against a plain
// copy of the same bytes into fresh memory.
func BenchmarkCreate(b *testing.B) {
	const size = 256 << 20
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	dir := benchDir(b)
	b.Run("shmarray", func(b *testing.B) {
		b.SetBytes(size)
		name := "bench-create-" + strconv.Itoa(os.Getpid())
		for b.Loop() {
			w, err := arena.Create(name, &arena.CreateOptions{Dir: dir, Capacity: size + 1<<20})
			if err != nil {
				b.Fatal(err)
			}
			if err := arena.AddSlice(w, "x", src); err != nil {
				b.Fatal(err)
			}
			if err := w.Publish(); err != nil {
				b.Fatal(err)
			}
			_ = arena.Unlink(name, dir)
		}
	})
	b.Run("memcpy", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			dst := make([]byte, size)
			copy(dst, src)
		}
	})
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
