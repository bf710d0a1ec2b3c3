package format

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidSegmentName(t *testing.T) {
	for _, ok := range []string{"prices", "a", "A-b_c.d", "x..y"[0:1], strings.Repeat("n", MaxSegmentNameLen)} {
		assert.NoError(t, ValidSegmentName(ok), ok)
	}
	for _, bad := range []string{"", "a/b", "..", ".", ".hidden", "a..b", "a\x00b", "ü", "a b", strings.Repeat("n", MaxSegmentNameLen+1)} {
		err := ValidSegmentName(bad)
		assert.Equal(t, InvalidArgument, CodeOf(err), "%q: %v", bad, err)
	}
}

func TestValidArrayName(t *testing.T) {
	assert.NoError(t, ValidArrayName("température 🌡"))
	for _, bad := range []string{"", "a\x00", "\xff", strings.Repeat("x", MaxNameLen+1)} {
		assert.Equal(t, InvalidArgument, CodeOf(ValidArrayName(bad)), "%q", bad)
	}
}
