package arena_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/shmarray/shmarray/arena"
)

// A writer creates a segment, adds arrays and publishes it; until Publish
// nothing is visible under the name.
func ExampleCreate() {
	dir, _ := os.MkdirTemp("", "shmarray-example")
	defer os.RemoveAll(dir)

	b, err := arena.Create("prices", &arena.CreateOptions{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close() // abandons the segment if Publish is never reached
	if err := arena.AddSlice(b, "bid", []float64{101.5, 101.25, 101.75}); err != nil {
		log.Fatal(err)
	}
	if err := b.AddStrings("ticker", []string{"ACME", "INIT", "ZETA"}); err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(); err != nil {
		log.Fatal(err)
	}
	infos, _ := arena.List(dir)
	fmt.Println(infos[0].Name, infos[0].Arrays, "arrays")
	// Output: prices 2 arrays
}

// Any process attaches by name and reads the same pages, without copying.
func ExampleAttach() {
	dir, _ := os.MkdirTemp("", "shmarray-example")
	defer os.RemoveAll(dir)
	b, _ := arena.Create("counts", &arena.CreateOptions{Dir: dir})
	_ = arena.AddSlice(b, "n", []int64{3, 1, 4, 1, 5})
	_ = b.Publish()

	s, err := arena.Attach("counts", dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // the slice below dies with the segment
	n, err := arena.Values[int64](s, "n")
	if err != nil {
		log.Fatal(err)
	}
	sum := int64(0)
	for _, v := range n {
		sum += v
	}
	fmt.Println(len(n), "values, sum", sum)
	// Output: 5 values, sum 14
}

// Arrow builders can write straight into the segment through its allocator;
// adding the result copies nothing. Attached arrays come back as Arrow
// arrays over the shared pages.
func ExampleBuilder_Allocator() {
	dir, _ := os.MkdirTemp("", "shmarray-example")
	defer os.RemoveAll(dir)
	b, _ := arena.Create("names", &arena.CreateOptions{Dir: dir})
	sb := array.NewStringBuilder(b.Allocator())
	sb.AppendValues([]string{"ada", "grace"}, nil)
	sb.AppendNull()
	names := sb.NewArray()
	_ = b.AddArray("name", names)
	names.Release()
	_ = b.Publish()

	s, _ := arena.Attach("names", dir)
	defer s.Close()
	rec, _ := s.Record()
	defer rec.Release()
	fmt.Println(rec.Column(0))
	// Output: ["ada" "grace" (null)]
}

// A segment's file crosses to another directory (another host, in real
// use) in pieces, in any order; the copy gets its name only once it is
// complete and passes full validation.
func ExampleReceive() {
	src, _ := os.MkdirTemp("", "shmarray-example")
	dst, _ := os.MkdirTemp("", "shmarray-example")
	defer os.RemoveAll(src)
	defer os.RemoveAll(dst)
	b, _ := arena.Create("table", &arena.CreateOptions{Dir: src})
	_ = arena.AddSlice(b, "x", []float64{1, 2, 3})
	_ = b.Publish()
	file, _ := os.ReadFile(filepath.Join(src, "table"))

	r, err := arena.Receive("table", int64(len(file)), &arena.ReceiveOptions{Dir: dst})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close() // nothing is left behind if Publish is never reached
	half := len(file) / 2
	_, _ = r.WriteAt(file[half:], int64(half)) // pieces in any order
	_, _ = r.WriteAt(file[:half], 0)
	if err := r.Publish(); err != nil {
		log.Fatal(err)
	}
	s, _ := arena.Attach("table", dst)
	defer s.Close()
	x, _ := arena.Values[float64](s, "x")
	fmt.Println(x)
	// Output: [1 2 3]
}

// Rows of different lengths are a list column (format 1.3): one record for
// the column, one for its values; each row is a view of the values.
func ExampleAddLists() {
	dir, _ := os.MkdirTemp("", "shmarray-example")
	defer os.RemoveAll(dir)

	b, err := arena.Create("hits", &arena.CreateOptions{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if err := arena.AddLists(b, "hits", [][]int64{{3, 9}, {}, nil, {4}}); err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(); err != nil {
		log.Fatal(err)
	}
	s, err := arena.Attach("hits", dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	arr, err := s.Array("hits")
	if err != nil {
		log.Fatal(err)
	}
	defer arr.Release()
	fmt.Println(s.TypeName(0), arr, len(s.Columns()), "column,", s.Len(), "records")
	// Output: list<int64> [[3 9] [] (null) [4]] 1 column, 2 records
}
