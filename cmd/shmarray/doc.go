// Command shmarray puts data files into shmarray segments, shows what
// segments a directory holds, checks them, writes them back out to files
// and removes them.
//
//	shmarray create prices --from prices.parquet   # Arrow IPC, Parquet, CSV or .npy in
//	shmarray create prices --from p.csv --replace  # its next version, atomically
//	shmarray ls                                    # what is there, versions, who made it
//	shmarray info prices                           # version, arrays, types, shapes, metadata
//	shmarray head prices -n 5                      # the first rows as a table
//	shmarray verify prices                         # full validation and checksums
//	shmarray export prices --to prices.arrow       # Arrow IPC, Parquet or CSV out
//	shmarray rm prices                             # unlink
//	shmarray gc --dry-run                          # orphans whose creator died
//
// Every command takes --dir (default $SHMARRAY_DIR, else /dev/shm) and
// --help. Errors print one line, "shmarray: <what>: <why> (<fix>)", and exit
// with status 1; a command line the tool cannot parse exits with status 2;
// an import interrupted by SIGINT or SIGTERM exits with status 130 and
// leaves nothing behind (a replace interrupted after its publish keeps the
// version it published: the one it replaced is gone).
//
// Imports stream: record batches are read one at a time and appended to
// buffers allocated inside the unpublished segment (column.go), so the data
// is held once, in shared memory, and never as a whole on the Go heap.
//
// This package is the command line only. It MUST NOT reach past the arena
// and format packages to the segment bytes: everything it knows about a
// segment comes from arena.Attach, arena.List and format's descriptions, and
// everything it writes goes through arena.Builder.
package main
