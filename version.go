// Package shmarray holds what the whole module shares: its version. The
// format lives in package format, segments on the file system in package
// arena; see docs/architecture.md.
package shmarray

import (
	_ "embed"
	"strings"
)

//go:embed VERSION
var version string

// Version is the version of the module, of libshmarray.so
// (shmarray_version) and of the Python package (shmarray.__version__): all
// are taken from the file VERSION at the root of the repository.
var Version = strings.TrimSpace(version)
