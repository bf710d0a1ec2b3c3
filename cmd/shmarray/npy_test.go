package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/format"
)

// TestNPYHeader decodes the headers NumPy writes (every version, Python 2
// longs, odd spacing) and refuses the ones it cannot store, saying why.
func TestNPYHeader(t *testing.T) {
	cases := []struct {
		name  string
		file  []byte
		typ   format.Type
		shape []int64
		err   string
	}{
		{name: "v1 1-d", file: npyFile(1, "<i8", false, []int{5}, nil), typ: format.Int64, shape: []int64{5}},
		{name: "v2 3-d", file: npyFile(2, "<f4", false, []int{2, 3, 4}, nil), typ: format.Float32, shape: []int64{2, 3, 4}},
		{name: "v3", file: npyFile(3, "|u1", false, []int{7}, nil), typ: format.Uint8, shape: []int64{7}},
		{name: "0-d", file: npyFile(1, "<f8", false, []int{}, nil), typ: format.Float64, shape: []int64{1}},
		{name: "bool", file: npyFile(1, "|b1", false, []int{3}, nil), typ: format.Bool, shape: []int64{3}},
		{name: "native order", file: raw(1, "{'descr': '=u2', 'fortran_order': False, 'shape': (2,)}"), typ: format.Uint16, shape: []int64{2}},
		{name: "python 2 longs", file: raw(1, `{"descr": "<i2", "fortran_order": False, "shape": (3L, 2L)}`), typ: format.Int16, shape: []int64{3, 2}},
		{name: "big-endian byte", file: raw(1, "{'descr': '>i1', 'fortran_order': False, 'shape': (1,)}"), typ: format.Int8, shape: []int64{1}},
		{name: "not npy", file: []byte("PK\x03\x04 a zip file"), err: "not a .npy file"},
		{name: "short", file: []byte("\x93NUM"), err: "shorter than"},
		{name: "version 4", file: append([]byte("\x93NUMPY\x04\x00"), 0, 0), err: "version 4.0 is not supported"},
		{name: "truncated header", file: append([]byte("\x93NUMPY\x01\x00\xff\x00"), "{'descr'"...), err: "truncated"},
		{name: "fortran", file: npyFile(1, "<f8", true, []int{2, 2}, nil), err: "Fortran order"},
		{name: "big-endian", file: npyFile(1, ">f8", false, []int{2}, nil), err: "big-endian"},
		{name: "complex", file: npyFile(1, "<c16", false, []int{2}, nil), err: `"<c16" is not supported`},
		{name: "unicode", file: npyFile(1, "<U5", false, []int{2}, nil), err: "not supported"},
		{name: "structured", file: raw(1, "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,)}"), err: "structured dtypes"},
		{name: "bool 2-d", file: npyFile(1, "|b1", false, []int{2, 2}, nil), err: "N-D arrays hold integers or floats"},
		{name: "9-d", file: npyFile(1, "<i1", false, []int{1, 1, 1, 1, 1, 1, 1, 1, 1}, nil), err: "9 dimensions"},
		{name: "negative", file: raw(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (-1,)}"), err: "not a tuple of sizes"},
		{name: "no shape", file: raw(1, "{'descr': '<i8', 'fortran_order': False}"), err: "no shape"},
		{name: "garbage", file: raw(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), @}"), err: "unexpected"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := readNPYHeader(bytes.NewReader(c.file))
			if c.err != "" {
				require.Error(t, err)
				msg := err.Error()
				if ce, ok := err.(*cliError); ok {
					msg = ce.why + " " + ce.fix
				}
				assert.Contains(t, msg, c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.typ, h.dtype)
			assert.Equal(t, c.shape, h.shape)
		})
	}
}

// raw is a version-1 .npy preamble and header around dict text.
func raw(version byte, dict string) []byte {
	h := dict + "\n"
	return append([]byte{0x93, 'N', 'U', 'M', 'P', 'Y', version, 0, byte(len(h)), byte(len(h) >> 8)}, h...)
}

// FuzzNPYHeader: no header bytes make the parser panic.
func FuzzNPYHeader(f *testing.F) {
	f.Add(npyFile(1, "<i8", false, []int{3, 4}, nil))
	f.Add(raw(1, "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,)}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = readNPYHeader(bytes.NewReader(b))
	})
}
