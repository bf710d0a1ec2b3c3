package arena_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// sourceFile publishes the crash-test segment (every layout, about 1 MiB)
// in a directory of its own and returns the bytes of its file.
func sourceFile(t *testing.T) []byte {
	t.Helper()
	dir := tempDir(t)
	b, err := arena.Create("source", &arena.CreateOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, fillCrashSegment(b))
	require.NoError(t, b.Publish())
	file, err := os.ReadFile(filepath.Join(dir, "source"))
	require.NoError(t, err)
	return file
}

// chunks cuts file into pieces of at most n bytes, in random order.
func chunks(file []byte, n int, seed uint64) [][2]int {
	var out [][2]int
	for off := 0; off < len(file); off += n {
		out = append(out, [2]int{off, min(off+n, len(file))})
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestReceivePublishes: a file written in shuffled pieces (some twice) is
// invisible until Publish, then is byte for byte the source, with mode
// 0600, and attaches and validates; on both publication paths.
func TestReceivePublishes(t *testing.T) {
	file := sourceFile(t)
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", fallback), func(t *testing.T) {
			if fallback {
				defer arena.ForceTempFileFallback()()
			}
			dir := shmTempDir(t)
			noLeaks(t, dir)
			r, err := arena.Receive("copy", int64(len(file)), &arena.ReceiveOptions{Dir: dir})
			require.NoError(t, err)
			defer r.Close()
			pieces := chunks(file, 100_000, 7)
			pieces = append(pieces, pieces[0], [2]int{50, 150_000}) // repeats and overlaps are harmless
			for _, p := range pieces {
				n, err := r.WriteAt(file[p[0]:p[1]], int64(p[0]))
				require.NoError(t, err)
				require.Equal(t, p[1]-p[0], n)
				for _, name := range filesIn(t, dir) {
					require.True(t, strings.HasPrefix(name, arena.TempPrefix), "only a hidden name before Publish: %s", name)
				}
			}
			require.NoError(t, r.Publish())
			assert.Equal(t, []string{"copy"}, filesIn(t, dir), "the temporary name is gone")
			got, err := os.ReadFile(filepath.Join(dir, "copy"))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(file, got), "the copy has the source's bytes")
			assert.Equal(t, uint32(0o600), fileMode(t, dir, "copy"))
			s, err := arena.Attach("copy", dir)
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.Validate())
			assert.ErrorIs(t, r.Publish(), format.ErrClosed)
			_, err = r.WriteAt(file[:1], 0)
			assert.ErrorIs(t, err, format.ErrClosed)
		})
	}
}

// TestReceiveRefuses: a file that is incomplete, corrupted or of the wrong
// size is never published, and nothing at all is left in the directory.
func TestReceiveRefuses(t *testing.T) {
	file := sourceFile(t)
	flip := func(at int) []byte {
		b := bytes.Clone(file)
		b[at] ^= 0x40
		return b
	}
	for _, tc := range []struct {
		name  string
		data  []byte // what is sent
		size  int64  // what Receive is told; 0: len(data)
		skip  [2]int // a range never sent
		code  format.Code
		wants string
	}{
		{name: "a chunk never arrived", data: file, skip: [2]int{300_000, 400_000}, code: format.Truncated, wants: "bytes [300000, 400000) never arrived"},
		{name: "the end never arrived", data: file, skip: [2]int{len(file) - 10, len(file)}, code: format.Truncated, wants: "never arrived"},
		{name: "a data byte changed", data: flip(len(file) / 2), code: format.ChecksumMismatch},
		{name: "a header byte changed", data: flip(40), code: format.ChecksumMismatch},
		{name: "a metadata byte changed", data: flip(len(file) - 20), code: format.ChecksumMismatch},
		{name: "bytes past the end", data: append(bytes.Clone(file), 0, 0, 0, 0), code: format.BadSize, wants: "header says"},
		{name: "the file is cut short", data: file[:len(file)-64], code: format.Truncated},
		{name: "not a segment", data: make([]byte, 4096), code: format.NotASegment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := shmTempDir(t)
			noLeaks(t, dir)
			size := tc.size
			if size == 0 {
				size = int64(len(tc.data))
			}
			r, err := arena.Receive("bad", size, &arena.ReceiveOptions{Dir: dir})
			require.NoError(t, err)
			for _, p := range chunks(tc.data, 64<<10, 3) {
				from, to := p[0], p[1]
				if tc.skip != [2]int{} && from < tc.skip[1] && to > tc.skip[0] {
					// send only what lies outside the skipped range
					if from < tc.skip[0] {
						_, err = r.WriteAt(tc.data[from:tc.skip[0]], int64(from))
						require.NoError(t, err)
					}
					if to > tc.skip[1] {
						_, err = r.WriteAt(tc.data[tc.skip[1]:to], int64(tc.skip[1]))
						require.NoError(t, err)
					}
					continue
				}
				_, err = r.WriteAt(tc.data[from:to], int64(from))
				require.NoError(t, err)
			}
			err = r.Publish()
			assert.Equal(t, tc.code, format.CodeOf(err), "%v", err)
			assert.ErrorContains(t, err, tc.wants)
			assert.ErrorContains(t, err, `segment "bad"`)
			assert.Empty(t, filesIn(t, dir), "nothing is left behind")
		})
	}
}

func TestReceiveArguments(t *testing.T) {
	file := sourceFile(t)
	dir := shmTempDir(t)
	noLeaks(t, dir)
	writeFile(t, dir, "taken", []byte("someone else's"))
	for _, tc := range []struct {
		name, seg string
		size      int64
		mode      os.FileMode
		code      format.Code
	}{
		{"bad name", "a/b", 4096, 0, format.InvalidArgument},
		{"world-readable", "w", 4096, 0o644, format.InvalidArgument},
		{"smaller than a header", "tiny", 100, 0, format.InvalidArgument},
		{"name taken", "taken", 4096, 0, format.Exists},
	} {
		_, err := arena.Receive(tc.seg, tc.size, &arena.ReceiveOptions{Dir: dir, Mode: tc.mode})
		assert.Equal(t, tc.code, format.CodeOf(err), "%s: %v", tc.name, err)
	}
	_, err := arena.Receive("x", 4096, &arena.ReceiveOptions{Dir: filepath.Join(dir, "missing")})
	assert.Equal(t, format.NotFound, format.CodeOf(err), "%v", err)

	r, err := arena.Receive("out", int64(len(file)), &arena.ReceiveOptions{Dir: dir, Mode: 0o640})
	require.NoError(t, err)
	for _, off := range []int64{-1, int64(len(file)) - 2} {
		_, err = r.WriteAt([]byte("abc"), off)
		assert.Equal(t, format.InvalidArgument, format.CodeOf(err), "write at %d: %v", off, err)
	}
	_, err = r.WriteAt(file, 0)
	require.NoError(t, err)
	// The name is taken while the file arrives: Publish refuses and the
	// other file is untouched.
	writeFile(t, dir, "out", []byte("first"))
	err = r.Publish()
	assert.Equal(t, format.Exists, format.CodeOf(err), "%v", err)
	got, _ := os.ReadFile(filepath.Join(dir, "out"))
	assert.Equal(t, "first", string(got))

	// Close abandons the file; the mode asked for is the mode published.
	r, err = arena.Receive("closed", int64(len(file)), &arena.ReceiveOptions{Dir: dir})
	require.NoError(t, err)
	_, _ = r.WriteAt(file, 0)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	assert.ElementsMatch(t, []string{"taken", "out"}, filesIn(t, dir))
	r, err = arena.Receive("group", int64(len(file)), &arena.ReceiveOptions{Dir: dir, Mode: 0o640})
	require.NoError(t, err)
	_, _ = r.WriteAt(file, 0)
	require.NoError(t, r.Publish())
	assert.Equal(t, uint32(0o640), fileMode(t, dir, "group"))
}

// TestReceiveNoSpace: the whole size is reserved at Receive, so a
// directory too small fails at once, naming what is needed and free.
func TestReceiveNoSpace(t *testing.T) {
	dir := smallTmpfs(t, "4m")
	_, err := arena.Receive("big", 8<<20, &arena.ReceiveOptions{Dir: dir})
	assert.Equal(t, format.NoSpace, format.CodeOf(err), "%v", err)
	assert.ErrorContains(t, err, "8.0 MiB in all")
	assert.Empty(t, filesIn(t, dir))
	assert.Less(t, usedBytes(t, dir), uint64(1<<20), "the failed reservation was given back")
}
