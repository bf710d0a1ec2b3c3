package arena

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmarray/shmarray/format"
)

// Publication with an identity, and replace (spec §10.3). The file is
// sealed; what is left to decide is its id and version, which depend on
// what the name holds when it is published. A replacing writer decides them
// holding flock(LOCK_EX) on the file the name holds, so that racing
// replacers are serialized and each publishes the version after the one it
// replaced. Readers never take the lock: they see the old file or the new
// one under the name, never a gap (rename(2) replaces atomically).

// lockTimeout bounds the wait for another replacer's lock. Tests lower it.
var lockTimeout = 60 * time.Second

// beforeRename, when set, runs while a replacer holds the lock, after the
// sealed file has its identity and hidden name and just before the rename
// that publishes it, with the hidden name's path. Only tests set it.
var beforeRename func(tmp string)

// beforeKeep, when set, runs in PublishFile after the publication, before
// the descriptor is opened, with the segment's path. Only tests set it.
var beforeKeep func(path string)

// newSegmentID draws a random id, never the zero one (which means "none").
func newSegmentID() format.ID {
	for {
		var id format.ID
		_, _ = rand.Read(id[:])
		if !id.IsZero() {
			return id
		}
	}
}

// publishVersion gives the sealed file its identity and its name: version 1
// where the name is free, else (with replace) the version after the one the
// name holds, published by rename over it. Called with mu held, after seal.
func (b *Builder) publishVersion() error {
	replace := b.opts.Replace || b.opts.ReplaceIf != nil
	// The writer locks its own file before it gives it the name, and keeps
	// the lock until release closes the descriptor: a replacer that finds
	// the file under the name waits until this writer has verified that
	// the name holds it, instead of replacing it in between. No one else
	// knows the file yet, so the lock is free.
	if err := unix.Flock(b.fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return osError("lock", b.name, b.path, err)
	}
	for {
		// Without replace the name is linked, never replacing (EEXIST if
		// it is taken): no need to look at what it holds.
		cur, st, err := -1, stat{}, error(unix.ENOENT)
		if replace {
			cur, st, err = b.d.open(b.name)
		}
		switch {
		case errors.Is(err, unix.ENOENT):
			if b.opts.ReplaceIf != nil {
				return fmt.Errorf("%w: segment %q: replace_if names id %s, no segment has that name now", format.ErrStale, b.name, *b.opts.ReplaceIf)
			}
			if err := b.stamp(newSegmentID(), 1); err != nil {
				return err
			}
			tmp := b.tmp
			err := b.d.publish(b.fd, b.id, tmp, b.name)
			b.tmp = "" // publish removed it, whatever the outcome
			if replace && errors.Is(err, unix.EEXIST) {
				continue // another writer published first: replace that
			}
			return publishError(b.d, tmp, b.name, err)
		case err == errNotRegular:
			return fmt.Errorf("%w: segment %q: %s is not a regular file, so it cannot be replaced; nothing was published (unlink it first)", format.ErrNotASegment, b.name, b.path)
		case err != nil:
			return osError("publish", b.name, b.path, err)
		}
		done, err := b.replaceLocked(cur, idOf(&st))
		closeFD(cur) // releases the lock
		if done || err != nil {
			return err
		}
	}
}

// replaceLocked publishes the sealed file over old, the file open as cur
// that the name held when it was opened: it locks cur, checks that the name
// still holds it (done is false if not: the caller starts again), reads its
// identity, and renames the sealed file, under a hidden name, over it.
// Closing cur releases the lock.
func (b *Builder) replaceLocked(cur int, old fileID) (done bool, err error) {
	if err := lockWait(cur, lockTimeout); err != nil {
		if err == errLockTimeout {
			return false, fmt.Errorf("%w: segment %q: another process has held the lock of %s for %v (a replace running or stuck there); nothing was published (try again, or find the process with fuser %s)", format.ErrIO, b.name, b.path, lockTimeout, b.path)
		}
		return false, osError("lock", b.name, b.path, err)
	}
	if err := b.d.holds(b.name, old); err != nil {
		return false, nil // replaced or removed meanwhile: look again
	}
	var buf [format.HeaderSizeID]byte
	n, _ := pread(cur, buf[:], 0)
	h, err := format.ReadHeader(buf[:max(n, 0)])
	if err != nil {
		return false, format.Wrapf(err, "segment %q: %s cannot be replaced, it is not a segment of this format; nothing was published (unlink it first)", b.name, b.path)
	}
	if want := b.opts.ReplaceIf; want != nil && h.ID != *want {
		return false, fmt.Errorf("%w: segment %q: replace_if names id %s, the name holds version %d (id %s) now", format.ErrStale, b.name, *want, h.Version, h.ID)
	}
	if h.Version == math.MaxUint64 {
		return false, fmt.Errorf("%w: segment %q holds version %d, the last a version number can say; nothing was published (unlink it, then publish anew: the next is version 1)", format.ErrInvalidArgument, b.name, h.Version)
	}
	if err := b.stamp(newSegmentID(), h.Version+1); err != nil {
		return false, err
	}
	tmp, err := b.hiddenName()
	if err != nil {
		return false, err
	}
	if beforeRename != nil {
		beforeRename(b.d.join(tmp))
	}
	if err := unix.Renameat(b.d.fd, tmp, b.d.fd, b.name); err != nil {
		return false, osError("publish", b.name, b.path, err)
	}
	b.tmp = ""
	if err := b.d.holds(b.name, b.id); err != nil {
		// The hidden name held another file by the time of the rename:
		// someone who can rename entries of the directory swapped it.
		return false, publishError(b.d, tmp, b.name, errSwapped)
	}
	return true, nil
}

// hiddenName gives the sealed file a hidden name to rename from: the one it
// was created under on the fallback path, checked to still hold it, or a
// new one linked from the descriptor.
func (b *Builder) hiddenName() (string, error) {
	if b.tmp != "" {
		if err := b.d.holds(b.tmp, b.id); err != nil {
			return "", publishError(b.d, b.tmp, b.name, errSwapped)
		}
		return b.tmp, nil
	}
	for try := 0; ; try++ {
		var rnd [8]byte
		_, _ = rand.Read(rnd[:])
		tmp := tempPrefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd[:])
		err := b.d.linkFD(b.fd, tmp)
		if errors.Is(err, unix.EEXIST) && try < 16 {
			continue
		}
		if err != nil {
			return "", osError("publish", b.name, b.d.join(tmp), err)
		}
		b.tmp = tmp
		if err := b.d.holds(tmp, b.id); err != nil {
			return "", publishError(b.d, tmp, b.name, errSwapped)
		}
		return tmp, nil
	}
}

// stamp writes id and version into the sealed header in the file (and
// the checksum that covers them), and records them as the published
// identity. Called with mu held, after seal, before the file has its name.
func (b *Builder) stamp(id format.ID, version uint64) error {
	if err := format.SetIdentity(b.header, b.metaArea, id, version); err != nil {
		return fmt.Errorf("%w: segment %q: %v", format.ErrInternal, b.name, err)
	}
	if n, err := pwrite(b.fd, b.header, 0); err != nil || n != len(b.header) {
		if err == nil {
			err = unix.EIO
		}
		return osError("write the header of", b.name, b.path, err)
	}
	b.pubID, b.pubVersion = id, version
	return nil
}

// publishedFile is the descriptor PublishFile hands out. Called with mu
// held, after a successful publishVersion, before release.
func (b *Builder) publishedFile() (*os.File, error) {
	if beforeKeep != nil {
		beforeKeep(b.path)
	}
	fd, st, err := b.d.open(b.name)
	if err == nil && idOf(&st) == b.id {
		return os.NewFile(uintptr(fd), b.path), nil
	}
	if err == nil {
		closeFD(fd)
	}
	// Replaced already. flock belongs to the open file description, which
	// a duplicate shares: release the writer's lock first.
	if err := unix.Flock(b.fd, unix.LOCK_UN); err != nil {
		return nil, osError("unlock", b.name, b.path, err)
	}
	dup, err := unix.FcntlInt(uintptr(b.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, osError("keep a descriptor of", b.name, b.path, err)
	}
	return os.NewFile(uintptr(dup), b.path), nil
}

// errLockTimeout is the error of lockWait when the lock stayed taken.
var errLockTimeout = errors.New("lock wait timed out")

// lockWait takes flock(LOCK_EX) on fd, polling LOCK_NB with a growing
// pause, for at most timeout. A signal (EINTR) is retried.
func lockWait(fd int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	pause := 100 * time.Microsecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return err
		}
		if time.Now().After(deadline) {
			return errLockTimeout
		}
		time.Sleep(pause)
		pause = min(2*pause, 10*time.Millisecond)
	}
}
