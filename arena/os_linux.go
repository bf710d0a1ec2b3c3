package arena

import (
	"errors"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tempPrefix starts the hidden names of the fallback publication path,
// followed by the writer's pid, '-' and random hex; such names are invalid
// segment names, so List never shows them, and GC removes the ones whose
// writer no longer runs.
const tempPrefix = ".shmarray-tmp-"

// noTmpfile makes createFile take the fallback path as if the file system
// had no O_TMPFILE. Only tests set it.
var noTmpfile bool

// createFile makes the file a Builder fills, in d: unnamed (O_TMPFILE) where
// the file system allows it, else under a hidden name tempPrefix+PID-random
// (returned as tmp). Its mode is set exactly, whatever the umask. id is the
// file's identity, which publish and discardFile check names against.
func createFile(d *dirHandle, mode uint32) (fd int, tmp string, id fileID, err error) {
	if noTmpfile {
		err = unix.EOPNOTSUPP
	} else {
		fd, id, err = d.createUnnamed(mode)
	}
	if err != nil && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL)) {
		fd, tmp, id, err = d.createHidden(tempPrefix+strconv.Itoa(os.Getpid())+"-", unix.O_RDWR, mode)
	}
	if err != nil {
		return -1, "", fileID{}, err
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		discardFile(d, fd, tmp, id)
		return -1, "", fileID{}, err
	}
	return fd, tmp, id, nil
}

// discardFile closes a file that will not be published and removes its
// hidden name, if it has one and the name still holds that file. An
// O_TMPFILE file vanishes with its last descriptor.
func discardFile(d *dirHandle, fd int, tmp string, id fileID) {
	if tmp != "" {
		_ = d.remove(tmp, id)
	}
	_ = unix.Close(fd)
}

// reserve makes sure bytes [0, size) of the file are backed by real space,
// so that writing them through a mapping cannot raise SIGBUS. Where the file
// system has no fallocate it only extends the file.
func reserve(fd int, from, size int64) error {
	err := unix.Fallocate(fd, 0, from, size-from)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return unix.Ftruncate(fd, size)
	}
	return err
}

func mapShared(fd int, length int, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(fd, 0, length, prot, unix.MAP_SHARED)
}

func unmap(b []byte) error { return unix.Munmap(b) }

var errNotRegular = errors.New("not a regular file")

func closeFD(fd int) { _ = unix.Close(fd) }

func pread(fd int, b []byte, off int64) (int, error) { return unix.Pread(fd, b, off) }

var errExist error = unix.EEXIST

// errNoEntry is the error of a name that holds nothing (errors.Is).
var errNoEntry error = unix.ENOENT

func isNoSpace(err error) bool { return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) }

func truncate(fd int, size int64) error { return unix.Ftruncate(fd, size) }

// pwrite writes p at off, retrying after a signal; it returns after a
// partial write so that the caller sees where space ran out.
func pwrite(fd int, p []byte, off int64) (int, error) {
	for {
		n, err := unix.Pwrite(fd, p, off)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// prefault maps the pages of b (reserved file space) into the page table in
// one call instead of one page fault per 4 KiB page as a copy first touches
// them, which is most of the cost of writing fresh tmpfs pages. Best effort:
// kernels before 5.14 lack MADV_POPULATE_WRITE and just fault as usual.
// b must lie inside one mapping; its start is rounded down to a page, as
// madvise requires.
func prefault(b []byte) {
	if len(b) == 0 {
		return
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	skew := int(uintptr(p) % uintptr(os.Getpagesize()))
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, -skew)), len(b)+skew), unix.MADV_POPULATE_WRITE)
}
