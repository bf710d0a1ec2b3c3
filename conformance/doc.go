// Package conformance is the shmarray conformance suite's Go half: the
// definitions of the golden vectors, the code that lays them out byte for
// byte, and the canonical dump every reader's runner prints.
//
// A valid vector is a segment file (<case>.shm) with its expected content in
// a language-neutral JSON form (<case>.json, type Case); an invalid vector is
// a segment file patched from a valid one, with a JSON file naming the error
// code every reader must report (type InvalidCase). Runners in any language
// read the vectors and print the canonical dump (dump.go), which the driver
// (conformance/run.py) compares with the dump derived from the JSON. The
// format of both, and how a new implementation runs the suite, are in
// README.md.
//
// Vectors are a pure function of the case definitions in this package:
// created_ns, creator_pid and creator_start are 0, and the bytes come from
// format.Encode and the layout routine of layout.go, never from the clock or
// the machine. cmd/golden writes them; a test fails when the committed files
// differ from a regeneration.
//
// Nothing in the library (format, arena, capi, bindings) may import this
// package. It touches the file system only where its callers say.
package conformance
