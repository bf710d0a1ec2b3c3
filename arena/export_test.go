package arena

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
