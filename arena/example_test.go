package arena_test

import (
	"fmt"
	"log"
	"os"

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
