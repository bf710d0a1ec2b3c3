//go:build !linux

package arena

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/shmarray/shmarray/format"
)

// Segments need Linux today: O_TMPFILE publication, fallocate and /proc.
// These stubs keep the package compiling elsewhere and fail every OS call.

var errUnsupported = errors.New("shmarray segments need Linux; this is " + runtime.GOOS)

var (
	errExist      = errors.New("file exists")
	errNotRegular = errors.New("not a regular file")
)

const tempPrefix = ".shmarray-tmp-"

var noTmpfile bool

func createFile(string, uint32) (int, string, error) { return -1, "", errUnsupported }
func discardFile(int, string)                        {}
func reserve(int, int64, int64) error                { return errUnsupported }
func freeBytes(string) (uint64, error)               { return 0, errUnsupported }
func mapShared(int, int, bool) ([]byte, error)       { return nil, errUnsupported }
func unmap([]byte) error                             { return errUnsupported }
func link(int, string, string) error                 { return errUnsupported }
func openSegment(string) (int, int64, error)         { return -1, 0, errUnsupported }
func closeFD(int)                                    {}
func pread(int, []byte, int64) (int, error)          { return 0, errUnsupported }
func pwrite(int, []byte, int64) (int, error)         { return 0, errUnsupported }
func unlinkPath(string) error                        { return errUnsupported }
func startTime(int) (uint64, bool)                   { return 0, false }
func processAlive(uint32, uint64) bool               { return false }
func isNoSpace(error) bool                           { return false }
func truncate(int, int64) error                      { return errUnsupported }

func osError(op, name, path string, err error) error {
	return fmt.Errorf("%w: %s segment %q (%s): %v", format.ErrIO, op, name, path, err)
}

func prefault([]byte) {}
