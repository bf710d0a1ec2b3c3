// Command capi is built with -buildmode=c-shared into libshmarray.so, whose
// ABI of record is the hand-written bindings/c/shmarray.h.
//
// It holds two kinds of code and nothing else:
//   - thin //export shims (exports.go) for the writing half: create, add,
//     publish, and receiving a segment's file from elsewhere. They are named shmarraygo_* and are reached only through the
//     C wrappers in sa_fork.c, which refuse with SHMARRAY_FORKED in a child
//     made by fork() — a Go runtime does not survive fork, and entering it
//     there would hang.
//   - the reading half in plain C (sa_*.c): attach, views, validation, Arrow
//     C Data export, list, unlink, gc (directory-relative, sa_dir.c; creators
//     judged across pid namespaces, sa_proc.c), hash index lookups
//     (sa_index.c), and opening an output handle of an unpublished segment
//     to fill one array in place (sa_output.c, spec §10.6). It never enters
//     Go, so it works in any process, forked or not.
//
// Every piece of logic lives in packages arena and format; a shim converts
// arguments, calls one function and converts the error.
package main
