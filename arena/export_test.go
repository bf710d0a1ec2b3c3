package arena

// Used exposes the builder's bump pointer to tests.
func Used(b *Builder) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.end
}
