package arena

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/format"
)

// osError turns an OS error into one of the spec's codes, naming what was
// being done (op) to which segment and how to fix it where there is a fix.
func osError(op, name, path string, err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("%w: %s segment %q (%s): %v", format.ErrIO, op, name, path, err)
	}
	switch errno {
	case unix.ENOENT:
		return fmt.Errorf("%w: %s segment %q: %s does not exist (check the name and the directory; list segments with arena.List)", format.ErrNotFound, op, name, path)
	case unix.EEXIST:
		return fmt.Errorf("%w: %s segment %q: %s already exists (choose another name, or unlink the old segment first)", format.ErrExists, op, name, path)
	case unix.ENOSPC, unix.EDQUOT:
		return fmt.Errorf("%w: %s segment %q: %s: %v (set %s or the dir option to a larger directory, or enlarge it)", format.ErrNoSpace, op, name, path, errno, EnvDir)
	case unix.EACCES, unix.EPERM, unix.EROFS:
		return fmt.Errorf("%w: %s segment %q: %s: %v", format.ErrPermissionDenied, op, name, path, errno)
	case unix.ELOOP:
		return fmt.Errorf("%w: %s segment %q: %s is a symbolic link; segments are regular files and links are not followed", format.ErrNotASegment, op, name, path)
	case unix.ENOTDIR:
		return fmt.Errorf("%w: %s segment %q: a component of %s is not a directory", format.ErrNotFound, op, name, path)
	case unix.ENAMETOOLONG:
		return fmt.Errorf("%w: %s segment %q: path %s is too long", format.ErrInvalidArgument, op, name, path)
	}
	return fmt.Errorf("%w: %s segment %q (%s): %v", format.ErrIO, op, name, path, errno)
}
