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

// The messages name the offending character as its user typed it; the C
// core (capi/sa_path.c) prints the same texts (bindings/c/tests/test_reader.c
// test_name_messages).
func TestSegmentNameMessages(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"prix-€", `segment name "prix-€" has the character '€' (U+20AC, not ASCII) at byte 5; use only letters, digits, '.', '_' and '-'`},
		{"a/b", `segment name "a/b" has the character '/' at byte 1; use only letters, digits, '.', '_' and '-'`},
		{"a\tb", `segment name "a\x09b" has the byte 0x09 at byte 1; use only letters, digits, '.', '_' and '-'`},
		{"ab\xff", `segment name "ab\xff" has the byte 0xff at byte 2; use only letters, digits, '.', '_' and '-'`},
		{".x", `segment name ".x" starts with '.', which is reserved for temporary files`},
		{"a..b", `segment name "a..b" contains ".."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidSegmentName(tc.name)
			assert.Equal(t, InvalidArgument, CodeOf(err))
			assert.Equal(t, "shmarray: invalid argument: "+tc.want, err.Error())
		})
	}
}
