package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/shmarray/shmarray/conformance"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("golden: ")
	dir := flag.String("dir", conformance.VectorsDir, "vectors directory (holds valid/ and invalid/)")
	check := flag.Bool("check", false, "compare the files with a regeneration instead of writing them")
	flag.Parse()
	if *check {
		diffs, err := conformance.CheckGolden(*dir)
		if err != nil {
			log.Fatal(err)
		}
		if len(diffs) > 0 {
			for _, d := range diffs {
				fmt.Fprintln(os.Stderr, d)
			}
			log.Fatalf("%d vector files differ from the definitions: run `make golden` and commit the result", len(diffs))
		}
		fmt.Printf("golden: %s matches the definitions\n", *dir)
		return
	}
	if err := conformance.WriteGolden(*dir); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("golden: wrote %s\n", *dir)
}
