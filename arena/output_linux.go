package arena

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/format"
)

// Output is a file being written in place of a path, for tools that write
// files other than segments (the CLI's export). It is created under a
// hidden name (".BASE.tmp-RANDOM") in the path's directory, relative to a
// descriptor of that directory opened once, and takes the path's name only
// at Commit, so a failed or interrupted write never leaves a partial file
// under the path. Discard, or a failed Commit, removes the hidden name if it
// still holds the file (never anything else). Write and Commit are not safe
// for concurrent use; Discard may be called at any time, from any
// goroutine (a signal handler), and makes later calls fail.
type Output struct {
	mu        sync.Mutex
	d         *dirHandle
	f         *os.File
	path      string
	base, tmp string
	id        fileID
	replace   bool
	done      bool
}

// CreateOutput starts writing path. The file is created with mode (0600
// when 0; permission bits only) less the process umask, as open(2) does.
// Without replace, an existing path (a file, a symbolic link, anything) is
// EXISTS, checked now and, atomically, again at Commit. With replace,
// Commit replaces the file or link that is there (a link is replaced, never
// followed) and never widens an existing file's mode: the new file gets the
// bits both modes share. The directory part of path is an ordinary path
// (symbolic links in it are followed), resolved once. Errors:
// INVALID_ARGUMENT (mode, or path names a directory), EXISTS, NOT_FOUND (no
// such directory), PERMISSION_DENIED, NO_SPACE, IO_ERROR.
func CreateOutput(path string, mode os.FileMode, replace bool) (*Output, error) {
	if mode == 0 {
		mode = 0o600
	}
	if mode&^os.ModePerm != 0 {
		return nil, fmt.Errorf("%w: %s: mode %#o is not a file permission (use 0600, 0640, 0644...)", format.ErrInvalidArgument, path, mode)
	}
	dir, base := filepath.Split(filepath.Clean(path))
	if base == "." || base == ".." || base == string(filepath.Separator) {
		return nil, fmt.Errorf("%w: %s names a directory, not a file", format.ErrInvalidArgument, path)
	}
	if dir == "" {
		dir = "."
	}
	d, err := openDir(dir, followDirLink)
	if err != nil {
		return nil, outputError("create", path, err)
	}
	o := &Output{d: d, path: path, base: base, replace: replace}
	if err := o.checkTarget(); err != nil {
		d.close()
		return nil, err
	}
	fd, tmp, id, err := d.createHidden("."+base+".tmp-", unix.O_WRONLY, uint32(mode))
	if err != nil {
		d.close()
		return nil, outputError("create a temporary file next to", path, err)
	}
	o.f, o.tmp, o.id = os.NewFile(uintptr(fd), d.join(tmp)), tmp, id
	return o, nil
}

// checkTarget refuses what is at the final name: anything without replace,
// a directory with it.
func (o *Output) checkTarget() error {
	st, err := o.d.lstat(o.base)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case err != nil:
		return outputError("check", o.path, err)
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return fmt.Errorf("%w: %s is a directory (name a file inside it)", format.ErrInvalidArgument, o.path)
	case o.replace:
		return nil
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("%w: %s already exists and is a symbolic link; it is never written through (remove the link or choose another file; replacing replaces the link itself)", format.ErrExists, o.path)
	}
	return fmt.Errorf("%w: %s already exists (replace it, or choose another file)", format.ErrExists, o.path)
}

// Write writes to the hidden file.
func (o *Output) Write(p []byte) (int, error) { return o.f.Write(p) }

// Commit gives the hidden file the final name (see CreateOutput) and closes
// it; the Output is then finished. On error nothing is left under the
// hidden name and the final name is not touched. Errors: as CreateOutput.
func (o *Output) Commit() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return fmt.Errorf("%w: %s: the output was already committed or discarded", format.ErrClosed, o.path)
	}
	err := o.commit()
	if err != nil {
		o.discard()
	}
	o.done = true
	o.d.close()
	return err
}

func (o *Output) commit() error {
	if err := o.checkTarget(); err != nil {
		return err
	}
	if o.replace {
		if err := o.narrowMode(); err != nil {
			return err
		}
	}
	if err := o.f.Close(); err != nil {
		return outputError("write", o.path, err)
	}
	if o.d.holds(o.tmp, o.id) != nil {
		return fmt.Errorf("%w: %s: the temporary file %s was replaced by another file; nothing was written (someone else can rename files in %s: choose a directory only you can write to)", format.ErrPermissionDenied, o.path, o.d.join(o.tmp), o.d.path)
	}
	if err := o.d.rename(o.tmp, o.base, o.replace); err != nil {
		if st, lerr := o.d.lstat(o.base); lerr == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)) {
			return fmt.Errorf("%w: %s is a symbolic link owned by uid %d that this user may not replace (in a directory with the sticky bit only its owner may); it was not followed and nothing was written (remove it, or choose another file)", format.ErrPermissionDenied, o.path, st.Uid)
		}
		return outputError("replace", o.path, err)
	}
	if o.d.holds(o.base, o.id) != nil {
		return fmt.Errorf("%w: %s was replaced by another file as it was written (someone else can rename files in %s: choose a directory only you can write to)", format.ErrPermissionDenied, o.path, o.d.path)
	}
	return nil
}

// narrowMode drops from the new file's mode the bits the file it replaces
// lacks, so that replacing never widens access.
func (o *Output) narrowMode() error {
	old, err := o.d.lstat(o.base)
	if err != nil || old.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil // nothing there, or a link: no mode to keep
	}
	st, err := o.f.Stat()
	if err != nil {
		return outputError("write", o.path, err)
	}
	mine := st.Mode().Perm()
	if keep := mine & os.FileMode(old.Mode) & os.ModePerm; keep != mine {
		if err := o.f.Chmod(keep); err != nil {
			return outputError("set the mode of", o.path, err)
		}
	}
	return nil
}

// Discard abandons the output: the hidden file is closed and its name
// removed if it still holds the file. It is idempotent.
func (o *Output) Discard() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.discard()
	o.done = true
	o.d.close()
}

func (o *Output) discard() {
	_ = o.f.Close()
	_ = o.d.remove(o.tmp, o.id)
}

// outputError turns an OS error met while doing op to the output path into
// one of the spec's codes, with the fix.
func outputError(op, path string, err error) error {
	var errno unix.Errno
	if pe := unwrapPathError(err); errors.As(pe, &errno) {
		switch errno {
		case unix.ENOENT, unix.ENOTDIR:
			return fmt.Errorf("%w: %s %s: its directory does not exist (create it, or choose another file)", format.ErrNotFound, op, path)
		case unix.EEXIST:
			return fmt.Errorf("%w: %s %s: it already exists (replace it, or choose another file)", format.ErrExists, op, path)
		case unix.EACCES, unix.EPERM, unix.EROFS:
			return fmt.Errorf("%w: %s %s: %v (the directory does not let this user write there or replace that file, which in a directory with the sticky bit such as /tmp only the file's owner may do: choose another file)", format.ErrPermissionDenied, op, path, errno)
		case unix.EISDIR:
			return fmt.Errorf("%w: %s %s: it is a directory (name a file inside it)", format.ErrInvalidArgument, op, path)
		case unix.ENOSPC, unix.EDQUOT:
			return fmt.Errorf("%w: %s %s: %v (free some space, or choose another directory)", format.ErrNoSpace, op, path, errno)
		}
	}
	return fmt.Errorf("%w: %s %s: %v", format.ErrIO, op, path, unwrapPathError(err))
}
