package format

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// conformanceDir holds the golden vectors (valid/ and invalid/, one .shm
// file each); the fuzz targets take every one of them as a seed when the
// directory exists, so new vectors seed the fuzzers without a code change.
const conformanceDir = "../conformance/vectors/v1"

// fuzzSeeds are whole segment files to start the fuzzers from: format's own
// test constructions (the sample segment, a segment of every type, every
// structural and full-validation corruption of the tests) and the
// conformance vectors.
func fuzzSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{sampleSegment(tb), buildSegment(tb, nil, nil), everyTypeSegment(tb)}
	for _, tc := range structuralCases {
		b := tc.edit(sampleSegment(tb))
		if tc.reseal {
			reseal(b)
		}
		seeds = append(seeds, b)
	}
	for _, tc := range fullCases {
		seeds = append(seeds, buildSegment(tb, []testArray{tc.array}, nil))
	}
	return append(seeds, conformanceVectors(tb)...)
}

// conformanceVectors reads every .shm file under conformanceDir, or none if
// the directory does not exist.
func conformanceVectors(tb testing.TB) [][]byte {
	var out [][]byte
	err := filepath.WalkDir(conformanceDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == conformanceDir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(path, ".shm") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("reading the conformance vectors: %v", err)
	}
	return out
}

// everyTypeSegment has one small array of each of the 21 types, with nulls
// in some, a large and an N-D array, a time zone and array metadata: a seed
// that reaches every type's branch of the checks.
func everyTypeSegment(tb testing.TB) []byte {
	fixed := func(t Type, width int) testArray {
		return testArray{desc: ArrayDesc{Name: t.String(), DType: DType{Type: t}, Length: 3, NullCount: 1},
			validity: []byte{0b101}, data: make([]byte, 3*width)}
	}
	arrays := []testArray{
		{desc: ArrayDesc{Name: "bool", DType: DType{Type: Bool}, Length: 10}, data: []byte{0xff, 0x03}},
	}
	for _, t := range []Type{Int8, Uint8, Int16, Uint16, Int32, Uint32, Int64, Uint64, Float16, Float32, Float64, Date32, Date64} {
		arrays = append(arrays, fixed(t, t.Width()))
	}
	arrays = append(arrays,
		testArray{desc: ArrayDesc{Name: "utf8", DType: DType{Type: Utf8}, Length: 2, NullCount: 1},
			validity: []byte{0b01}, offsets: le32(0, 3, 3), data: []byte("héx")},
		testArray{desc: ArrayDesc{Name: "large_utf8", DType: DType{Type: LargeUtf8}, Length: 2},
			offsets: le64(0, 1, 2), data: []byte("ab")},
		testArray{desc: ArrayDesc{Name: "binary", DType: DType{Type: Binary}, Length: 1},
			offsets: le32(0, 2), data: []byte{0xff, 0x00}},
		testArray{desc: ArrayDesc{Name: "large_binary", DType: DType{Type: LargeBinary}, Length: 0}},
		testArray{desc: ArrayDesc{Name: "fixed_size_binary", DType: DType{Type: FixedSizeBinary, ByteWidth: 4}, Length: 2},
			data: []byte("abcdefgh")},
		testArray{desc: ArrayDesc{Name: "timestamp", DType: DType{Type: Timestamp, Unit: Nanosecond, TimeZone: "Europe/Paris"}, Length: 1,
			Metadata: []KV{{"k", "v"}, {"empty", ""}}}, data: le64(1)},
		testArray{desc: ArrayDesc{Name: "duration", DType: DType{Type: Duration, Unit: Millisecond}, Length: 1}, data: le64(-1)},
		testArray{desc: ArrayDesc{Name: "tensor", DType: DType{Type: Int16}, Length: 2, Shape: []int64{2, 1, 3}, NullCount: 1},
			validity: []byte{0b10}, data: make([]byte, 2*3*2)},
		testArray{desc: ArrayDesc{Name: "rows of nothing", DType: DType{Type: Float64}, Length: 4, Shape: []int64{4, 0}}},
	)
	return buildSegment(tb, arrays, []KV{{"segment", "every type"}})
}
