// Package format is the executable twin of spec/format-v1.md: the byte
// layout of a shmarray segment, its type table, its error codes, and the two
// levels of validation a reader applies to bytes it did not write.
//
// format is pure Go. It MUST NOT use cgo, open files, map memory or make any
// other OS call: it works on byte slices handed to it by the arena package
// (or by a fuzzer, or by a test), so that everything that parses untrusted
// bytes can be tested and fuzzed without a file system.
//
// What lives here:
//   - errors.go:   the numbered error table shared with C and Python.
//   - types.go:    type codes and their widths, Arrow and NumPy names.
//   - header.go:   the fixed header (128 bytes, 192 with the identity of 1.2).
//   - id.go:       the segment id and its text form.
//   - record.go:   directory and key/value records.
//   - names.go:    rules for segment, array and metadata names.
//   - decode.go:   structural validation (run at every attach, O(arrays)).
//   - validate.go: full validation of the data pages (an explicit call).
//   - index.go:    hash indexes (format 1.1): hash, build, probe, checks.
//   - encode.go:   building the metadata area and header when sealing.
//   - arrowtype.go: mapping between format types and Arrow data types.
package format
