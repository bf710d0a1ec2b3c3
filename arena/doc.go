// Package arena puts shmarray segments on the operating system: it creates
// an unpublished segment with its space reserved, lets Arrow builders and Go
// slices fill it, seals and publishes it atomically, and attaches published
// segments read-only in time independent of their data size.
//
// arena owns every OS call of the project (open, fallocate, mmap, link,
// unlink); the byte layout and every check of untrusted bytes belong to the
// format package, which arena calls and never duplicates. arena MUST NOT use
// cgo: the C ABI in capi/ is built on top of it.
//
// Lifetimes, in one place:
//   - A Builder owns a writable mapping and an unnamed file. Publish makes
//     the file visible under its name and releases both; Close abandons an
//     unpublished segment so that nothing is left behind. Memory handed out
//     by Builder.Allocator dies at Publish or Close.
//   - A Segment holds a read-only mapping of one version of a segment,
//     reference counted (mapping.go). Every arrow.Array and arrow.Record
//     obtained from it holds a reference too and stays valid, even after
//     Segment.Close, until its last Release; typed slices and buffers
//     (Values, Buffers) hold none and die with Segment.Close: using one
//     afterwards is a use-after-free. If the file's owner truncates it meanwhile, touching a lost page is
//     fatal, except inside Segment.Validate and Segment.Guard, which turn
//     the fault into a TRUNCATED error; AttachWith with
//     AttachOptions.Owners refuses, before mapping, owners the caller does
//     not trust.
//   - A Builder may share arrays from AddEmpty with other processes
//     (shared_linux.go, spec §10.6): Output gives its file a hidden name and
//     returns an OutputHandle; an OutputWriter (OpenOutput, in any process)
//     maps one array writable and holds flock(LOCK_SH) until Close. Publish
//     waits for every writer (WaitWriters), then no writer opens again.
//   - A Receiver owns an unnamed file with its whole size reserved, into
//     which a published segment's file is copied in pieces; Publish checks
//     it fully and names it, Close abandons it.
//   - A published segment persists until Unlink, whoever created it, or
//     until a writer with CreateOptions.Replace publishes its next version
//     under the name (replace_linux.go, spec §10.3); readers of the old
//     version keep it. Attach and Close never unlink.
//
// Segments live in a directory: the dir argument, else $SHMARRAY_DIR, else
// /dev/shm. Every call opens that directory once and reaches its entries
// only relative to the descriptor (dirfd_linux.go holds the one
// implementation of each such step), so renaming or swapping the path
// meanwhile never makes a call act in another directory; a name is removed
// only while it still holds the file that was checked, and calls that
// remove files (Unlink, GC) refuse a directory given as a symbolic link.
// Output applies the same rules to files other than segments (the CLI's
// export). Errors wrap the numbered codes of package format.
package arena
