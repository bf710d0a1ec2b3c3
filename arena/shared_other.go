//go:build !linux

package arena

import (
	"time"
)

// Shared outputs need Linux (flock, /proc/*/maps), as segments do; these
// stubs keep the package compiling elsewhere (shared_linux.go is the real
// thing).

// DefaultWriterTimeout is how long Publish waits for writers when
// WaitWriters was not called first.
const DefaultWriterTimeout = 60 * time.Second

// Output fails: shared outputs need Linux.
func (b *Builder) Output(string) (OutputHandle, error) { return OutputHandle{}, errUnsupported }

// SetWriterTimeout fails: shared outputs need Linux.
func (b *Builder) SetWriterTimeout(time.Duration) error { return errUnsupported }

// WaitWriters fails: shared outputs need Linux.
func (b *Builder) WaitWriters(time.Duration) error { return errUnsupported }

// waitWriters has no writers to wait for: no handle is ever handed out.
func (b *Builder) waitWriters(time.Duration) error { return nil }

// OutputWriter is an open output handle (Linux only).
type OutputWriter struct{}

// OpenOutput fails: shared outputs need Linux.
func OpenOutput(OutputHandle) (*OutputWriter, error) { return nil, errUnsupported }

// Bytes is nil: nothing is ever open.
func (w *OutputWriter) Bytes() []byte { return nil }

// Handle is the zero handle.
func (w *OutputWriter) Handle() OutputHandle { return OutputHandle{} }

// Close does nothing.
func (w *OutputWriter) Close() error { return nil }
