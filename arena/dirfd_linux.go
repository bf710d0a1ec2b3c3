package arena

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/format"
)

// Every file operation of the package on a directory's entries goes through
// a dirHandle: the directory is resolved by path once, when it is opened,
// and every later step (open, stat, create, link, rename, unlink) is
// relative to that descriptor. Renaming or swapping the directory's path
// for a symbolic link afterwards changes nothing for the call that holds
// it (spec §15, "Directory-relative operations").

// dirHandle is an open directory. It owns fd; close releases it.
type dirHandle struct {
	fd   int
	path string // absolute and cleaned, for messages and Segment.Dir

	self    *stat // the directory's own fstat, read by entitled
	selfErr error
}

// fileID identifies a file: what a name is checked against before it is
// removed, so that a name swapped since the check is left alone.
type fileID struct{ dev, ino uint64 }

// stat is what fstat and fstatat fill in.
type stat = unix.Stat_t

func idOf(st *stat) fileID { return fileID{uint64(st.Dev), st.Ino} }

// modTime is the file's modification time.
func modTime(st *stat) time.Time { return time.Unix(st.Mtim.Unix()) }

// Directory-opening modes: readers and writers follow a symbolic link that
// is the directory's last component (the caller chose that directory);
// operations that remove files refuse it.
const (
	followDirLink = true
	refuseDirLink = false
)

// errDirLink is the error of opening, with refuseDirLink, a directory
// path whose last component is a symbolic link.
var errDirLink = errors.New("the directory is a symbolic link")

// openDir opens dir (already resolved by Dir) with O_DIRECTORY, and with
// O_NOFOLLOW unless follow: a symbolic link as its last component is then
// refused (errDirLink); links among its parents are followed by path
// resolution either way.
func openDir(dir string, follow bool) (*dirHandle, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Open(abs, flags, 0)
	if err != nil {
		if !follow && (err == unix.ENOTDIR || err == unix.ELOOP) {
			var st unix.Stat_t
			if unix.Lstat(abs, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return nil, errDirLink
			}
		}
		return nil, err
	}
	return &dirHandle{fd: fd, path: abs}, nil
}

// dirError explains an error of openDir for the operation op.
func dirError(op, dir string, err error) error {
	if err == errDirLink {
		target, _ := filepath.EvalSymlinks(dir)
		return fmt.Errorf("%w: %s: segment directory %s is a symbolic link (to %s); files are removed only in a directory named directly, never through a link (pass the directory itself)", format.ErrInvalidArgument, op, dir, target)
	}
	return osError(op, "*", dir, err)
}

func (d *dirHandle) close() {
	if d != nil && d.fd >= 0 {
		_ = unix.Close(d.fd)
		d.fd = -1
	}
}

// join is the path of name in d, for messages.
func (d *dirHandle) join(name string) string { return filepath.Join(d.path, name) }

// entries lists d's entries (names and types), read from a new descriptor
// of the same directory (openat "."), never from its path.
func (d *dirHandle) entries() ([]os.DirEntry, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	list, err := f.ReadDir(-1)
	return list, unwrapPathError(err)
}

// open opens name in d for reading, without following a symbolic link and
// without blocking on a FIFO, and fstat's the descriptor: a file that is
// not regular is errNotRegular. The caller closes fd.
func (d *dirHandle) open(name string) (int, stat, error) {
	var st stat
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, st, err
	}
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return -1, st, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		_ = unix.Close(fd)
		return -1, st, errNotRegular
	}
	return fd, st, nil
}

// lstat is fstatat of name in d without following a link.
func (d *dirHandle) lstat(name string) (stat, error) {
	var st stat
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// lstatPath is fstatat of path without following a link as its last
// component: one system call, for Segment.IsCurrent.
func lstatPath(path string) (stat, error) {
	var st stat
	err := unix.Fstatat(unix.AT_FDCWD, path, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// errChanged is the error of an operation that found name no longer
// holding the file it had checked.
var errChanged = errors.New("the name was changed since it was checked")

// holds reports whether name in d is still the file id (fstatat without
// following a link, device and inode compared). A missing name is ENOENT;
// another file is errChanged.
func (d *dirHandle) holds(name string, id fileID) error {
	st, err := d.lstat(name)
	if err != nil {
		return err
	}
	if idOf(&st) != id {
		return errChanged
	}
	return nil
}

// remove unlinks name from d if it still is the file id, which the caller
// has checked. Between the comparison and the unlink only someone who can
// rename entries of d itself can substitute another of d's entries; the
// unlink is on d's descriptor, so it never removes anything outside d.
func (d *dirHandle) remove(name string, id fileID) error {
	if err := d.holds(name, id); err != nil {
		return err
	}
	return unix.Unlinkat(d.fd, name, 0)
}

// entitled reports whether the caller may remove the entry whose file is
// st, by the kernel's rule for a directory with the sticky bit: root, the
// file's owner and the directory's owner may; in a directory without it
// anyone who may write to the directory may (whether the caller may is left
// to unlinkat to say). GC skips what it is not entitled to remove, so that
// other users' files in a shared directory such as /dev/shm are not
// reported as failures on every run.
func (d *dirHandle) entitled(st *stat) bool {
	if d.self == nil && d.selfErr == nil {
		var own stat
		if d.selfErr = unix.Fstat(d.fd, &own); d.selfErr == nil {
			d.self = &own
		}
	}
	euid := uint32(os.Geteuid())
	return euid == 0 || st.Uid == euid || d.self == nil || d.self.Mode&unix.S_ISVTX == 0 || d.self.Uid == euid
}

// createHidden creates a new file in d under a fresh name prefix+random hex
// (O_CREAT|O_EXCL|O_NOFOLLOW, so never an existing name or a link), with
// mode as given to open(2), that is less the umask. It returns the
// descriptor, the name and the file's identity.
func (d *dirHandle) createHidden(prefix string, flags int, mode uint32) (int, string, fileID, error) {
	for try := 0; ; try++ {
		var rnd [8]byte
		_, _ = rand.Read(rnd[:])
		name := prefix + hex.EncodeToString(rnd[:])
		fd, err := unix.Openat(d.fd, name, flags|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
		if errors.Is(err, unix.EEXIST) && try < 16 {
			continue
		}
		if err != nil {
			return -1, "", fileID{}, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			_ = unix.Unlinkat(d.fd, name, 0)
			_ = unix.Close(fd)
			return -1, "", fileID{}, err
		}
		return fd, name, idOf(&st), nil
	}
}

// createUnnamed creates an O_TMPFILE file in d, or fails with EOPNOTSUPP,
// EISDIR or EINVAL where the file system has none.
func (d *dirHandle) createUnnamed(mode uint32) (int, fileID, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, mode)
	if err != nil {
		return -1, fileID{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return -1, fileID{}, err
	}
	return fd, idOf(&st), nil
}

// errNoFDLink means that linking a descriptor is impossible here: no /proc
// and no CAP_DAC_READ_SEARCH.
var errNoFDLink = errors.New("cannot link a file by its descriptor (no /proc/self/fd)")

// noFDLink makes linkFD fail with errNoFDLink, as without /proc and
// privileges. Only tests set it.
var noFDLink bool

// linkFD gives the file open as fd the name name in d, without replacing
// an existing name (EEXIST): linkat of /proc/self/fd/N with
// AT_SYMLINK_FOLLOW, which links the descriptor's own inode whatever names
// it has; without /proc, linkat with AT_EMPTY_PATH, which needs
// CAP_DAC_READ_SEARCH.
func (d *dirHandle) linkFD(fd int, name string) error {
	if noFDLink {
		return errNoFDLink
	}
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), d.fd, name, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.ENOENT) {
		if _, statErr := os.Stat("/proc/self/fd"); statErr != nil {
			err = unix.Linkat(fd, "", d.fd, name, unix.AT_EMPTY_PATH)
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPERM) {
				err = errNoFDLink
			}
		}
	}
	return err
}

// publish gives the file open as fd (identity id) the name name in d,
// never replacing an existing name, and verifies what it linked. tmp is the
// file's hidden name on the fallback path ("" for an O_TMPFILE file).
// keepOnExist keeps tmp when the link fails with EEXIST, for a replacer
// that starts again and renames tmp over the name.
//
//  1. tmp must hold the file (device and inode, fstatat without following).
//  2. Link the descriptor (linkFD); only where that is impossible, link tmp
//     by name.
//  3. Remove tmp if it still holds the file (it is left alone otherwise),
//     unless keepOnExist and the link found the name taken.
//  4. name must now hold the file. If it holds another one and step 2
//     linked by name, that link is this call's and is removed (if it still
//     holds that other file); after a descriptor link it is left alone.
//  5. If tmp no longer held the file at step 3, it was swapped during the
//     call: name, which holds the writer's file, is removed again.
//
// Any swap seen is errSwapped, with nothing left published; an existing
// name is EEXIST from the link; a name that lost the writer's file to
// another process after step 4's link (the file has no name left, or the
// name holds nothing) is errRaced.
func (d *dirHandle) publish(fd int, id fileID, tmp, name string, keepOnExist bool) error {
	if tmp != "" {
		if err := d.holds(tmp, id); err != nil {
			return errSwapped
		}
	}
	if beforeLink != nil {
		beforeLink(d.join(tmp))
	}
	err := d.linkFD(fd, name)
	byName := err == errNoFDLink && tmp != ""
	if byName {
		err = unix.Linkat(d.fd, tmp, d.fd, name, 0)
	}
	if keepOnExist && errors.Is(err, unix.EEXIST) {
		return err
	}
	if afterLink != nil && err == nil {
		afterLink(d.join(name))
	}
	tmpHeld := true
	if tmp != "" {
		tmpHeld = d.remove(tmp, id) == nil
	}
	if err != nil {
		return err
	}
	st, err := d.lstat(name)
	if err != nil || idOf(&st) != id {
		// The writer's own file was linked (by descriptor, or by a name
		// that still held it) and has since lost that name: unlinked, and
		// maybe a new file created, by another process. Ordinary
		// concurrency, not a swap; nothing of anyone else's is published
		// by this call.
		if tmpHeld && (errors.Is(err, unix.ENOENT) || err == nil && !byName && unlinked(fd)) {
			return errRaced
		}
		// Linked by name, the other file is what tmp held: the link is
		// this call's, and goes. Linked by descriptor, the link was of the
		// writer's own file, so another file there is someone else's.
		if err == nil && byName {
			_ = d.remove(name, idOf(&st))
		}
		return errSwapped
	}
	if !tmpHeld {
		_ = d.remove(name, id)
		return errSwapped
	}
	return nil
}

// errRaced is the error of publish when the name no longer holds the
// writer's file right after it was linked, because another process removed
// (and maybe created anew) the name meanwhile.
var errRaced = errors.New("the name was replaced or removed by another process right after it was published")

// unlinked reports whether the file open as fd has no name left (st_nlink
// 0): removed, not renamed elsewhere.
func unlinked(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Nlink == 0
}

// errSwapped is the error of publish when another file took the place of
// the writer's.
var errSwapped = errors.New("the temporary file was replaced by another file")

// beforeLink, when set, runs in publish just before the link, with the
// temporary file's path. Only tests set it.
var beforeLink func(tmp string)

// afterLink, when set, runs in publish right after a successful link,
// before the name is verified, with the name's path. Only tests set it.
var afterLink func(path string)

// rename moves old to new within d: replacing new (a file or a symbolic
// link, never followed) when replace is set, else failing with EEXIST if
// new exists (renameat2 RENAME_NOREPLACE, or link then unlink where the
// file system lacks it).
func (d *dirHandle) rename(old, new string, replace bool) error {
	if replace {
		return unix.Renameat(d.fd, old, d.fd, new)
	}
	err := unix.Renameat2(d.fd, old, d.fd, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if err = unix.Linkat(d.fd, old, d.fd, new, 0); err == nil {
			_ = unix.Unlinkat(d.fd, old, 0)
		}
	}
	return err
}

// freeBytes is the space available to an unprivileged writer in d.
func (d *dirHandle) freeBytes() (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(d.fd, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
