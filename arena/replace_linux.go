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

// withOwnLock runs publish, which gives the writer's file fd its name and
// verifies it, holding flock(LOCK_EX) on that file (spec §10.3 step 5):
// a replacer that finds the file under the name waits until the writer
// has verified that the name holds it, instead of replacing it in
// between. No one else knows the file yet, so the lock is free. Builder
// and Receiver both publish through here. The lock is released as soon as
// publish returns, explicitly rather than by closing the descriptor: a
// child forked meanwhile shares the open file description, and would
// otherwise hold the lock for its whole life. Where the file system has
// no flock (ENOLCK, EOPNOTSUPP, ENOSYS) a publication that does not
// replace goes on without it, as no replacer can lock the file there
// either; a replace cannot.
func withOwnLock(fd int, name, path string, replace bool, publish func() error) error {
	if err := flockOwn(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if replace || !noFlock(err) {
			return osError("lock", name, path, err)
		}
		return publish()
	}
	defer func() { _ = unix.Flock(fd, unix.LOCK_UN) }()
	return publish()
}

// flockOwn is flock(2) of withOwnLock. Only tests replace it, to play a
// file system without flock.
var flockOwn = unix.Flock

// noFlock reports whether err says that the file system has no flock.
func noFlock(err error) bool {
	return errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}

// publishVersion gives the sealed file its identity and its name: version 1
// where the name is free, else (with replace) the version after the one the
// name holds, published by rename over it. Called with mu held, after seal.
func (b *Builder) publishVersion() error {
	replace := b.opts.Replace // Create and SetReplace set it with ReplaceIf
	return withOwnLock(b.fd, b.name, b.path, replace, func() error { return b.publishLoop(replace) })
}

// publishLoop is publishVersion holding the writer's own lock. Racing
// writers make it start again (the name was taken, replaced or removed
// meanwhile), within one deadline, lockTimeout, for the whole publication.
func (b *Builder) publishLoop(replace bool) error {
	deadline := time.Now().Add(lockTimeout)
	for {
		if time.Now().After(deadline) {
			return b.timeoutError("the name kept changing, replaced or removed by other processes,")
		}
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
			// A replace that finds the name taken starts again and renames
			// over it, from the hidden name it keeps (publish removes it
			// otherwise, whatever the outcome).
			err := b.d.publish(b.fd, b.id, tmp, b.name, replace)
			if replace && errors.Is(err, unix.EEXIST) {
				continue // another writer published first: replace that
			}
			b.tmp = ""
			return publishError(b.d, tmp, b.name, err)
		case err == errNotRegular:
			return fmt.Errorf("%w: segment %q: %s is not a regular file, so it cannot be replaced; nothing was published (unlink it first)", format.ErrNotASegment, b.name, b.path)
		case err != nil:
			return osError("publish", b.name, b.path, err)
		}
		done, err := b.replaceLocked(cur, idOf(&st), deadline)
		// Unlock before close: a child forked meanwhile shares cur's open
		// file description, and closing ours would not release the lock.
		_ = unix.Flock(cur, unix.LOCK_UN)
		closeFD(cur)
		if done || err != nil {
			return err
		}
	}
}

// timeoutError is the IO_ERROR of a publication that did not finish within
// lockTimeout; why says what kept it.
func (b *Builder) timeoutError(why string) error {
	return fmt.Errorf("%w: segment %q: %s for %v; nothing was published (try again, or find the processes that have %s open with fuser %s)", format.ErrIO, b.name, why, lockTimeout, b.path, b.path)
}

// replaceLocked publishes the sealed file over old, the file open as cur
// that the name held when it was opened: it locks cur (waiting until
// deadline at most), checks that the name still holds it (done is false if
// not: the caller starts again), reads its identity, and renames the
// sealed file, under a hidden name, over it. The caller unlocks cur.
func (b *Builder) replaceLocked(cur int, old fileID, deadline time.Time) (done bool, err error) {
	if err := lockWait(cur, time.Until(deadline)); err != nil {
		if err == errLockTimeout {
			return false, b.timeoutError("another process has held the lock of " + b.path + " (a replace running or stuck there, or a child process forked by a writer while it held the lock, which shares it)")
		}
		return false, osError("lock", b.name, b.path, err)
	}
	if err := b.d.holds(b.name, old); err != nil {
		if errors.Is(err, unix.ENOENT) || err == errChanged {
			return false, nil // replaced or removed meanwhile: look again
		}
		return false, osError("check", b.name, b.path, err)
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
		// The writer's file went under the name and has no name left:
		// another process removed it (and maybe published anew) since.
		if errors.Is(err, unix.ENOENT) || unlinked(b.fd) {
			return false, publishError(b.d, "", b.name, errRaced)
		}
		return false, b.swappedAtRename(tmp, h.Version)
	}
	return true, nil
}

// swappedAtRename is the error of a replace whose name, right after the
// rename, does not hold the writer's file: someone who can rename entries
// of the directory swapped the hidden name tmp before the rename, which
// then published their file over version v. That file is removed again
// (only it, only while the name holds it), and the message says what the
// name holds now.
func (b *Builder) swappedAtRename(tmp string, v uint64) error {
	now := "the name holds another file now"
	if st, err := b.d.lstat(b.name); err == nil && idOf(&st) != b.id {
		if b.d.remove(b.name, idOf(&st)) == nil {
			now = "that file was removed again, so the name holds no version now"
		}
	} else if errors.Is(err, unix.ENOENT) {
		now = "the name holds no version now"
	}
	return fmt.Errorf("%w: segment %q: its temporary file %s was replaced, just before the rename that publishes it, by a file that is not the writer's (someone else can rename files in %s), and the rename replaced version %d with that file; %s; the writer's version was not published (use a directory that only you can write to)", format.ErrPermissionDenied, b.name, b.d.join(tmp), b.d.path, v, now)
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
		// The segment name last (spec §10.6): listings say what is built.
		tmp := tempPrefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd[:]) + "-" + b.name
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
	// Replaced already: a duplicate of the writer's descriptor, whose lock
	// withOwnLock has released.
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
