package creader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/shmarray/shmarray/format"
)

// The C reader core and the Go reference reader must agree on every input:
// the same verdict code and the same message text (spec §13), for
// structural validation, full validation and index lookups. Run over every
// conformance vector and the fuzz corpora here, and coverage-guided in
// FuzzCReader (go test -fuzz, with -asan for the C side).

// compare runs both readers over b and fails t on any difference.
func compare(t testing.TB, b []byte) {
	t.Helper()
	desc, gerr := format.Decode(b)
	seg, ccode, cmsg := Decode(b)
	if seg != nil {
		defer seg.Close()
	}
	if got := int(format.CodeOf(gerr)); got != ccode || message(gerr) != cmsg {
		t.Fatalf("attach differs:\n go: %d %s\n  c: %d %s", got, message(gerr), ccode, cmsg)
	}
	// Attach reads the file with pread, not from memory: the same verdict.
	if fcode, fmsg := DecodeFD(b, int64(len(b))); fcode != ccode || fmsg != cmsg {
		t.Fatalf("attach from a descriptor differs:\n memory: %d %s\n     fd: %d %s", ccode, cmsg, fcode, fmsg)
	}
	if gerr != nil {
		return
	}
	if id, version := seg.Identity(); id != desc.Header.ID || version != desc.Header.Version {
		t.Fatalf("identity differs:\n go: %s %d\n  c: %x %d", desc.Header.ID, desc.Header.Version, id, version)
	}
	seg.ExportAll()
	verr := desc.Validate(b)
	vcode, vmsg := seg.Validate()
	if got := int(format.CodeOf(verr)); got != vcode || message(verr) != vmsg {
		t.Fatalf("full validation differs:\n go: %d %s\n  c: %d %s", got, message(verr), vcode, vmsg)
	}
	for i := range desc.Arrays {
		a := &desc.Arrays[i]
		if a.Index.Present() != seg.HasIndex(i) {
			t.Fatalf("array %d: Go sees an index: %v, C: %v", i, a.Index.Present(), !a.Index.Present())
		}
		if a.Index.Present() {
			compareLookups(t, b, seg, i, a)
		}
	}
}

func message(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// compareLookups looks up, in both readers, the keys of the first rows of
// array i and a few that are not keys.
func compareLookups(t testing.TB, b []byte, seg *Segment, i int, a *format.ArrayDesc) {
	p, err := format.NewProbe(b, a)
	if err != nil {
		t.Fatalf("array %d: NewProbe: %v", i, err)
	}
	check := func(what string, grow int64, gerr error, crow int64, ccode int, cmsg string) {
		t.Helper()
		if got := int(format.CodeOf(gerr)); got != ccode || message(gerr) != cmsg || (gerr == nil && grow != crow) {
			t.Fatalf("array %d: lookup of %s differs:\n go: row %d, %d %s\n  c: row %d, %d %s", i, what, grow, got, message(gerr), crow, ccode, cmsg)
		}
	}
	rows := min(a.Length, 16)
	if p.IntKeys() {
		w := uint64(a.Type.Width())
		queries := []uint64{0, 1, math.MaxUint64, 1 << 63, 255, 256}
		for r := int64(0); r < rows && a.Data.Length >= uint64(r+1)*w; r++ {
			var buf [8]byte
			copy(buf[:], b[a.Data.Offset+uint64(r)*w:a.Data.Offset+uint64(r+1)*w])
			queries = append(queries, binary.LittleEndian.Uint64(buf[:]))
		}
		for _, signed := range []bool{true, false} {
			var want []int64
			var werr error
			for _, q := range queries {
				grow, gerr := p.LookupUint(q)
				if signed {
					grow, gerr = p.LookupInt(int64(q))
				}
				crow, ccode, cmsg := seg.FindInt(i, q, signed)
				check(fmt.Sprintf("the integer %d (signed: %v)", q, signed), grow, gerr, crow, ccode, cmsg)
				want = append(want, grow)
				werr = errors.Join(werr, gerr)
			}
			got, code, msg := seg.Batch(i, nil, queries, signed)
			compareBatch(t, i, want, werr, got, code, msg)
		}
		return
	}
	queries := [][]byte{nil, []byte("a"), make([]byte, min(a.ByteWidth, 1<<12))}
	data := bytesOf(b, a.Data)
	for r := int64(0); r < rows; r++ {
		if w := int64(a.ByteWidth); w > 0 {
			if int64(len(data)) >= (r+1)*w {
				queries = append(queries, data[r*w:(r+1)*w])
			}
			continue
		}
		ow := uint64(a.Type.OffsetWidth())
		offs := bytesOf(b, a.Offsets)
		at := func(k uint64) int64 {
			if ow == 4 {
				return int64(int32(binary.LittleEndian.Uint32(offs[k*4:])))
			}
			return int64(binary.LittleEndian.Uint64(offs[k*8:]))
		}
		if uint64(len(offs)) < (uint64(r)+2)*ow {
			break
		}
		s, e := at(uint64(r)), at(uint64(r)+1)
		if s >= 0 && s <= e && e <= int64(len(data)) {
			k := data[s:e]
			queries = append(queries, k, append(append([]byte(nil), k...), 'x'))
		}
	}
	var want []int64
	var werr error
	for _, q := range queries {
		grow, gerr := p.LookupBytes(q)
		crow, ccode, cmsg := seg.FindBytes(i, q)
		check("bytes "+format.Quote(string(q)), grow, gerr, crow, ccode, cmsg)
		want = append(want, grow)
		werr = errors.Join(werr, gerr)
	}
	got, code, msg := seg.Batch(i, queries, nil, false)
	compareBatch(t, i, want, werr, got, code, msg)
}

// bytesOf is the buffer's bytes; an empty buffer's offset means nothing
// (spec §1.2).
func bytesOf(b []byte, buf format.Buffer) []byte {
	if buf.Length == 0 {
		return nil
	}
	return b[buf.Offset : buf.Offset+buf.Length]
}

// compareBatch checks the batch prober against one-key lookups: the same
// rows, or an error when some key's lookup fails (which key the interleaved
// prober meets first may differ, so only the failure is compared).
func compareBatch(t testing.TB, i int, want []int64, werr error, rows []int64, code int, msg string) {
	t.Helper()
	if werr != nil {
		if code == 0 {
			t.Fatalf("array %d: one-key lookups fail (%v), the batch does not", i, werr)
		}
		return
	}
	if code != 0 {
		t.Fatalf("array %d: the batch fails (%d %s), one-key lookups do not", i, code, msg)
	}
	for j := range want {
		if rows[j] != want[j] {
			t.Fatalf("array %d: key %d: batch row %d, one-key row %d", i, j, rows[j], want[j])
		}
	}
}

// corpus is every conformance vector and every fuzz corpus entry of
// package format, with the file each came from.
func corpus(tb testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, root := range []string{"../../conformance/vectors", "../../format/testdata/fuzz", "testdata/fuzz"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if path == root && errors.Is(err, fs.ErrNotExist) {
					return fs.SkipAll
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			switch {
			case strings.HasSuffix(path, ".shm"):
				out[path] = raw
			case strings.Contains(path, "testdata/fuzz"):
				for _, v := range fuzzValues(raw) {
					out[path] = v
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("reading %s: %v", root, err)
		}
	}
	return out
}

// fuzzValues decodes the []byte arguments of a Go fuzz corpus file
// ("go test fuzz v1", then one Go literal per line).
func fuzzValues(raw []byte) [][]byte {
	var out [][]byte
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		if v, ok := strings.CutPrefix(line, "[]byte("); ok {
			if s, err := unquoteGo(strings.TrimSuffix(v, ")")); err == nil {
				out = append(out, []byte(s))
			}
		}
	}
	return out
}

func TestCAndGoReadersAgreeOnTheCorpus(t *testing.T) {
	c := corpus(t)
	if len(c) < 100 {
		t.Fatalf("only %d files in the corpus: are the conformance vectors there?", len(c))
	}
	for name, b := range c {
		t.Run(filepath.Base(name), func(t *testing.T) {
			compare(t, b)
			compare(t, resealed(b))
		})
	}
}

// TestDecodeOfAFileThatShrank: a file shorter than its fstat said when it
// is read (truncated by its owner during attach) is TRUNCATED, with the
// message of arena's fault guard, wherever the read falls short: in the
// header or in the metadata area.
func TestDecodeOfAFileThatShrank(t *testing.T) {
	// A valid vector whose metadata area ends the file, so that losing its
	// last byte loses part of what attach reads (the corpus is a map: pick
	// by sorted name, so that every run tests the same file).
	c := corpus(t)
	names := make([]string, 0, len(c))
	for name := range c {
		names = append(names, name)
	}
	sort.Strings(names)
	var valid []byte
	for _, name := range names {
		b := c[name]
		h, err := format.ReadHeader(b)
		if strings.Contains(name, "/valid/") && len(b) > 256 && err == nil &&
			h.FileSize == uint64(len(b)) && h.MetaOffset+h.MetaLength == h.FileSize {
			valid = b
			break
		}
	}
	if valid == nil {
		t.Fatal("no valid vector of more than 256 bytes ending with its metadata area in the corpus")
	}
	const want = "shmarray: truncated segment: the file shrank while it was being read (someone truncated a published segment)"
	for _, keep := range []int{0, 7, 64, 127, len(valid) - 1} {
		code, msg := DecodeFD(valid[:keep], int64(len(valid)))
		if code != int(format.Truncated) || msg != want {
			t.Errorf("%d of %d bytes left: %d %s", keep, len(valid), code, msg)
		}
	}
	if code, msg := DecodeFD(valid, int64(len(valid))); code != 0 {
		t.Errorf("the whole file: %d %s", code, msg)
	}
}

func TestQuoteMatchesGo(t *testing.T) {
	for _, s := range []string{"", "x", "prix-€", `a"b\c`, "tab\there", "\x00\x7f\xff", "日本語", "\xe2\x82", "p\uFFFD", "\xef\xbf", strings.Repeat("é", 200)} {
		if got, want := Quote(s), format.Quote(s); got != want {
			t.Errorf("Quote(%q): C %s, Go %s", s, got, want)
		}
	}
}

// resealed is b with its header checksum made right (when the header lets
// one be computed), so that mutations reach the checks behind it.
func resealed(b []byte) []byte {
	h, err := format.ReadHeader(b)
	if err != nil || h.MetaOffset > uint64(len(b)) || h.MetaLength > uint64(len(b))-h.MetaOffset {
		return b
	}
	hs := uint64(format.HeaderSize)
	if uint64(h.HeaderSize) > hs && uint64(h.HeaderSize) <= uint64(len(b)) {
		hs = uint64(h.HeaderSize)
	}
	out := append([]byte(nil), b...)
	sum := format.Checksum(out[:hs], out[h.MetaOffset:h.MetaOffset+h.MetaLength])
	binary.LittleEndian.PutUint32(out[120:], sum)
	return out
}

// FuzzCReader is the coverage-guided differential target of the C reader:
// attach, full validation, Arrow export and index lookups, on the input
// as it comes and resealed. `make test` runs a short pass under
// AddressSanitizer (go test -asan), `make fuzz` a long one; crashers go to
// testdata/fuzz/FuzzCReader and are replayed by every go test.
func FuzzCReader(f *testing.F) {
	for _, b := range corpus(f) {
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, b []byte, reseal bool) {
		if reseal {
			b = resealed(b)
		}
		compare(t, b)
	})
}

func unquoteGo(s string) (string, error) { return strconv.Unquote(s) }
