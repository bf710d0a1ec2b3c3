// Package creader compiles the plain-C reader core of libshmarray.so
// (capi/sa_*.c, the same files, linked here) into a Go package, so
// that Go tests and fuzz targets can run it next to the Go reference reader
// (package format) on the same bytes: the same verdict code and the same
// message for every input (spec §13), and no out-of-bounds access under
// AddressSanitizer (go test -asan).
//
// It exists for tests only: nothing outside tests may import it, and it adds
// no logic of its own beyond converting arguments.
package creader
