package main

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkCSVImport measures `shmarray create` end to end (process start,
// type inference, parsing, writing into the segment, checksums, publish)
// on a generated CSV of 1M rows × 4 columns (int64, float64, int64, utf8;
// 22 MB), and reports rows/s. The segment directory is a temporary
// directory, which need not be tmpfs; run with SHMARRAY_BENCH_DIR=/dev/shm
// to measure shared memory itself.
func BenchmarkCSVImport(b *testing.B) {
	const rows = 1_000_000
	path := filepath.Join(b.TempDir(), "bench.csv")
	writeBigCSV(b, path, rows)
	dir := benchDir(b)
	bin := cliBinary(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench-csv-%d", i)
		out, err := execCommand(b, "create", name, "--from", path, "--dir", dir).CombinedOutput()
		if err != nil {
			b.Fatalf("%s: %v\n%s", bin, err, out)
		}
		b.StopTimer()
		ok(b, "rm", name, "--dir", dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
