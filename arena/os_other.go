//go:build !linux

package arena

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/shmarray/shmarray/format"
)

// Segments need Linux today: O_TMPFILE publication, fallocate, /proc and
// directory-relative calls. These stubs keep the package compiling
// elsewhere and fail every OS call.

var errUnsupported = errors.New("shmarray segments need Linux; this is " + runtime.GOOS)

var (
	errExist      = errors.New("file exists")
	errNotRegular = errors.New("not a regular file")
	errDirLink    = errors.New("the directory is a symbolic link")
	errChanged    = errors.New("the name was changed since it was checked")
	errSwapped    = errors.New("the temporary file was replaced by another file")
	errRaced      = errors.New("the name was replaced or removed by another process right after it was published")
	errNoEntry    = errors.New("no such file")
)

const tempPrefix = ".shmarray-tmp-"

const (
	followDirLink = true
	refuseDirLink = false
)

var (
	noTmpfile  bool
	noFDLink   bool
	beforeLink func(string)
)

type fileID struct{ dev, ino uint64 }

type stat struct {
	Uid   uint32
	Mode  uint32
	Size  int64
	Nlink uint64
}

func idOf(*stat) fileID { return fileID{} }

func modTime(*stat) time.Time { return time.Time{} }

type dirHandle struct {
	fd   int
	path string
}

func openDir(string, bool) (*dirHandle, error)                       { return nil, errUnsupported }
func dirError(op, dir string, err error) error                       { return osError(op, "*", dir, err) }
func (d *dirHandle) close()                                          {}
func (d *dirHandle) join(name string) string                         { return d.path + "/" + name }
func (d *dirHandle) entries() ([]os.DirEntry, error)                 { return nil, errUnsupported }
func (d *dirHandle) open(string) (int, stat, error)                  { return -1, stat{}, errUnsupported }
func (d *dirHandle) remove(string, fileID) error                     { return errUnsupported }
func (d *dirHandle) publish(int, fileID, string, string, bool) error { return errUnsupported }
func (d *dirHandle) freeBytes() (uint64, error)                      { return 0, errUnsupported }
func (d *dirHandle) lstat(string) (stat, error)                      { return stat{}, errUnsupported }
func (d *dirHandle) entitled(*stat) bool                             { return false }
func lstatPath(string) (stat, error)                                 { return stat{}, errUnsupported }
func (b *Builder) publishVersion() error                             { return errUnsupported }
func (b *Builder) publishedFile() (*os.File, error)                  { return nil, errUnsupported }

func withOwnLock(_ int, _, _ string, _ bool, publish func() error) error { return publish() }

type liveness int

const (
	creatorAlive liveness = iota
	creatorGone
	creatorUnknown
)

type procView struct{}

func (*procView) creator(uint32, uint64) liveness { return creatorUnknown }

func createFile(*dirHandle, uint32) (int, string, fileID, error) {
	return -1, "", fileID{}, errUnsupported
}
func discardFile(*dirHandle, int, string, fileID) {}
func reserve(int, int64, int64) error             { return errUnsupported }
func mapShared(int, int, bool) ([]byte, error)    { return nil, errUnsupported }
func unmap([]byte) error                          { return errUnsupported }
func closeFD(int)                                 {}
func pread(int, []byte, int64) (int, error)       { return 0, errUnsupported }
func pwrite(int, []byte, int64) (int, error)      { return 0, errUnsupported }
func selfStartTime() uint64                       { return 0 }
func isNoSpace(error) bool                        { return false }
func truncate(int, int64) error                   { return errUnsupported }

func osError(op, name, path string, err error) error {
	return fmt.Errorf("%w: %s segment %q (%s): %v", format.ErrIO, op, name, path, err)
}

func prefault([]byte) {}

// Output is a file being written in place of a path; see the Linux
// documentation. Elsewhere every call fails.
type Output struct{}

// CreateOutput fails: Outputs need Linux.
func CreateOutput(string, os.FileMode, bool) (*Output, error) { return nil, errUnsupported }

// Write fails.
func (*Output) Write([]byte) (int, error) { return 0, errUnsupported }

// Commit fails.
func (*Output) Commit() error { return errUnsupported }

// Discard does nothing.
func (*Output) Discard() {}
