package arena

import "time"

// Used exposes the builder's bump pointer to tests.
func Used(b *Builder) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.end
}

// ForceTempFileFallback makes Create use the fallback publication path
// (a hidden temporary name, then link) as on a file system without
// O_TMPFILE, until restore is called.
func ForceTempFileFallback() (restore func()) {
	old := noTmpfile
	noTmpfile = true
	return func() { noTmpfile = old }
}

// TempPrefix is the start of the fallback path's hidden names.
const TempPrefix = tempPrefix

// ForceLinkByName makes publication link the fallback path's temporary
// file by its name, as where a descriptor cannot be linked (no /proc, no
// CAP_DAC_READ_SEARCH), until restore is called.
func ForceLinkByName() (restore func()) {
	old := noFDLink
	noFDLink = true
	return func() { noFDLink = old }
}

// SetBeforeLink makes publication call f, with the temporary file's path,
// just before it links the file, until restore is called.
func SetBeforeLink(f func(tmp string)) (restore func()) {
	old := beforeLink
	beforeLink = f
	return func() { beforeLink = old }
}

// SetNoFlock makes the writer's lock of its own file fail with err, as on a
// file system without flock, until restore is called.
func SetNoFlock(err error) (restore func()) {
	old := flockOwn
	flockOwn = func(int, int) error { return err }
	return func() { flockOwn = old }
}

// SetAfterLink makes publication call f, with the name's path, right after
// it links the file and before it verifies the name, until restore is
// called.
func SetAfterLink(f func(path string)) (restore func()) {
	old := afterLink
	afterLink = f
	return func() { afterLink = old }
}

// SetBeforeRename makes a replacing publication call f, with the hidden
// name's path, while it holds the lock, just before the rename that
// publishes, until restore is called.
func SetBeforeRename(f func(tmp string)) (restore func()) {
	old := beforeRename
	beforeRename = f
	return func() { beforeRename = old }
}

// SetBeforeKeep makes PublishFile call f, with the segment's path, between
// the publication and the opening of the descriptor it returns, until
// restore is called.
func SetBeforeKeep(f func(path string)) (restore func()) {
	old := beforeKeep
	beforeKeep = f
	return func() { beforeKeep = old }
}

// SetLockTimeout bounds a replacer's wait for the lock, until restore is
// called.
func SetLockTimeout(d time.Duration) (restore func()) {
	old := lockTimeout
	lockTimeout = d
	return func() { lockTimeout = old }
}

// MappingRefs is the reference count of s's mapping (1 for the segment's
// own reference, one more per Arrow buffer alive), 0 once unmapped.
func MappingRefs(s *Segment) int64 { return s.m.refs.Load() }

// MapsWritable is mapsWritable, for its unit test.
var MapsWritable = mapsWritable
