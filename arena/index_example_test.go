package arena_test

import (
	"fmt"
	"log"
	"os"

	"github.com/shmarray/shmarray/arena"
)

// A segment can carry a hash index over a column of unique keys; every
// process that attaches looks keys up in it from the shared pages, without
// building a dictionary of its own.
func ExampleLookup() {
	dir, _ := os.MkdirTemp("", "shmarray-example")
	defer os.RemoveAll(dir)
	b, _ := arena.Create("users", &arena.CreateOptions{Dir: dir, Index: []string{"login"}})
	_ = b.AddStrings("login", []string{"ada", "grace", "linus"})
	_ = arena.AddSlice(b, "karma", []int64{36, 85, 29})
	if err := b.Publish(); err != nil {
		log.Fatal(err)
	}

	s, err := arena.Attach("users", dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	rows, err := arena.Lookup(s, "login", []string{"grace", "bob"})
	if err != nil {
		log.Fatal(err)
	}
	karma, _ := arena.Values[int64](s, "karma")
	fmt.Println(rows, karma[rows[0]])
	// Output: [1 -1] 85
}
