package format

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The error table exists in four places: the spec (§13), this package, the
// C header and the Python package. These tests keep the first three equal;
// the Python tests compare Python with the C library.

func TestErrorTableMatchesSpec(t *testing.T) {
	spec, err := os.ReadFile("../spec/format-v1.md")
	require.NoError(t, err)
	rows := regexp.MustCompile("(?m)^\\| (\\d+) \\| `([A-Z_0-9]+)` \\|").FindAllStringSubmatch(string(spec), -1)
	require.Len(t, rows, len(Codes()), "one spec row per code")
	for _, r := range rows {
		n, _ := strconv.Atoi(r[1])
		assert.Equal(t, r[2], Code(n).Name(), "spec code %d", n)
	}
}

func TestErrorTableMatchesCHeader(t *testing.T) {
	hdr, err := os.ReadFile("../bindings/c/shmarray.h")
	require.NoError(t, err)
	seen := 0
	for _, c := range Codes() {
		m := regexp.MustCompile(`(?m)^#define SHMARRAY_` + c.Name() + `\s+(\d+)\s*$`).FindStringSubmatch(string(hdr))
		if assert.NotNil(t, m, "SHMARRAY_%s in shmarray.h", c.Name()) {
			n, _ := strconv.Atoi(m[1])
			assert.Equal(t, int(c), n, c.Name())
			seen++
		}
	}
	assert.Equal(t, len(Codes()), seen)
}

func TestTypeTableMatchesCHeader(t *testing.T) {
	hdr, err := os.ReadFile("../bindings/c/shmarray.h")
	require.NoError(t, err)
	for code := Type(1); code.Known(); code++ {
		name := regexp.MustCompile(`[a-z0-9_]+`).FindString(code.String())
		m := regexp.MustCompile(`(?mi)^#define SHMARRAY_TYPE_` + name + `\s+(\d+)\s*$`).FindStringSubmatch(string(hdr))
		if assert.NotNil(t, m, "SHMARRAY_TYPE_%s", name) {
			n, _ := strconv.Atoi(m[1])
			assert.Equal(t, int(code), n, name)
		}
	}
}
