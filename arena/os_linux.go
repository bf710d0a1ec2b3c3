package arena

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// createFile makes the file a Builder fills: unnamed (O_TMPFILE) where the
// file system allows it, else under a hidden random name (returned as tmp).
// Its mode is set exactly, whatever the umask.
func createFile(dir string, mode uint32) (fd int, tmp string, err error) {
	if noTmpfile {
		err = unix.EOPNOTSUPP
	} else {
		fd, err = unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, mode)
	}
	if err != nil && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL)) {
		for try := 0; try < 16; try++ {
			var rnd [8]byte
			_, _ = rand.Read(rnd[:])
			tmp = filepath.Join(dir, tempPrefix+strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(rnd[:]))
			fd, err = unix.Open(tmp, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
			if !errors.Is(err, unix.EEXIST) {
				break
			}
		}
	}
	if err != nil {
		return -1, "", err
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		discardFile(fd, tmp)
		return -1, "", err
	}
	return fd, tmp, nil
}

// discardFile closes a file that will not be published and removes its
// hidden name, if it has one. An O_TMPFILE file vanishes with its last fd.
func discardFile(fd int, tmp string) {
	if tmp != "" {
		_ = unix.Unlink(tmp)
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

// freeBytes is the space available to an unprivileged writer in dir.
func freeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

func mapShared(fd int, length int, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(fd, 0, length, prot, unix.MAP_SHARED)
}

func unmap(b []byte) error { return unix.Munmap(b) }

// link gives the finished file its name. link(2) and linkat(2) never replace
// an existing name: EEXIST comes back instead.
func link(fd int, tmp, path string) error {
	if tmp != "" {
		err := unix.Link(tmp, path)
		_ = unix.Unlink(tmp)
		return err
	}
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.ENOENT) {
		if _, statErr := os.Stat("/proc/self/fd"); statErr != nil {
			// No /proc: linking by descriptor needs CAP_DAC_READ_SEARCH.
			err = unix.Linkat(fd, "", unix.AT_FDCWD, path, unix.AT_EMPTY_PATH)
		}
	}
	return err
}

// openSegment opens a published segment for reading without following a
// symbolic link and without blocking on a FIFO, and checks it is a regular
// file. It returns the descriptor and the file's size.
func openSegment(path string) (int, int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return -1, 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		_ = unix.Close(fd)
		return -1, 0, errNotRegular
	}
	return fd, st.Size, nil
}

var errNotRegular = errors.New("not a regular file")

func closeFD(fd int) { _ = unix.Close(fd) }

func pread(fd int, b []byte, off int64) (int, error) { return unix.Pread(fd, b, off) }

func unlinkPath(path string) error { return unix.Unlink(path) }

// startTime is a process's start time in clock ticks since boot, from field
// 22 of /proc/PID/stat; ok is false when the process does not exist.
func startTime(pid int) (uint64, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(raw)
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after it start after the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, true
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, true
	}
	v, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, true
	}
	return v, true
}

// processAlive reports whether the process that created a segment still
// runs: pid exists and, where both are known, has the recorded start time
// (so a recycled pid does not count).
func processAlive(pid uint32, start uint64) bool {
	if pid == 0 {
		return false
	}
	now, ok := startTime(int(pid))
	if !ok {
		return false
	}
	return start == 0 || now == 0 || now == start
}

var errExist error = unix.EEXIST

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
