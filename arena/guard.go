package arena

import (
	"fmt"
	"runtime/debug"

	"github.com/shmarray/shmarray/format"
)

// guard runs f with faults turned into panics and the panic into an error,
// so that reading a mapped file that another process truncated (SIGBUS) is
// a TRUNCATED error rather than the death of the process.
func guard(f func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if _, isFault := r.(interface{ Addr() uintptr }); isFault {
				err = fmt.Errorf("%w: the file shrank while it was being read (someone truncated a published segment)", format.ErrTruncated)
				return
			}
			panic(r)
		}
	}()
	return f()
}
