package format

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCodes(t *testing.T) {
	seen := map[string]bool{}
	for i, c := range Codes() {
		assert.Equal(t, Code(i), c)
		assert.NotContains(t, c.Name(), "CODE_", "every code has a name")
		assert.False(t, seen[c.Name()], "names are unique")
		seen[c.Name()] = true
	}
	assert.Equal(t, "NOT_FOUND", NotFound.Name())
	assert.Equal(t, 24, len(Codes()))
	assert.Equal(t, "STALE", Stale.Name())
	assert.False(t, Stale.InvalidSegment(), "a stale version is not a broken file")
}

func TestCodeWrapping(t *testing.T) {
	err := fmt.Errorf("%w: segment %q", ErrNotFound, "prices")
	assert.True(t, errors.Is(err, ErrNotFound))
	assert.False(t, errors.Is(err, ErrExists))
	assert.False(t, errors.Is(err, ErrInvalidSegment))
	assert.Equal(t, NotFound, CodeOf(err))
	assert.Equal(t, `shmarray: not found: segment "prices"`, err.Error())

	bad := fmt.Errorf("ctx: %w", ErrChecksumMismatch)
	assert.True(t, errors.Is(bad, ErrInvalidSegment))
	assert.Equal(t, OK, CodeOf(nil))
	assert.Equal(t, Internal, CodeOf(errors.New("plain")))
}

func TestInvalidSegmentRange(t *testing.T) {
	for _, c := range Codes() {
		want := c >= NotASegment && c <= DuplicateName
		assert.Equal(t, want, errors.Is(c, ErrInvalidSegment), c.Name())
	}
}
