package arena_test

import (
	"fmt"
	"log"
	"os"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// A builder hands an output handle (as a token) to a writer in another
// process, which fills its array in place; Publish waits until the writer
// has closed it. Here the writer's side runs in the same process.
func ExampleBuilder_Output() {
	dir, _ := os.MkdirTemp("", "shmarray-example")
	defer os.RemoveAll(dir)

	b, err := arena.Create("squares", &arena.CreateOptions{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if _, err := b.AddEmpty(format.ArrayDesc{Name: "n", DType: format.DType{Type: format.Uint8}, Length: 5}); err != nil {
		log.Fatal(err)
	}
	h, err := b.Output("n")
	if err != nil {
		log.Fatal(err)
	}
	token := h.Token() // what a worker gets: a command-line argument, an environment variable...

	// The worker's side: any process, started any way.
	wh, err := arena.ParseOutputToken(token)
	if err != nil {
		log.Fatal(err)
	}
	w, err := arena.OpenOutput(wh)
	if err != nil {
		log.Fatal(err)
	}
	for i := range w.Bytes() {
		w.Bytes()[i] = byte(i * i)
	}
	if err := w.Close(); err != nil { // Publish waits for this
		log.Fatal(err)
	}

	if err := b.Publish(); err != nil {
		log.Fatal(err)
	}
	s, err := arena.Attach("squares", dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	_, _, data, _ := s.Buffers("n")
	fmt.Println(data)
	_, err = arena.OpenOutput(wh)
	fmt.Println(format.CodeOf(err).Name())
	// Output:
	// [0 1 4 9 16]
	// CLOSED
}
