package format

import (
	"encoding/hex"
	"strings"
)

// ID is a segment's identity (spec §4, minor >= 2): 16 random bytes chosen
// by the writer when it publishes, never all zero in a file it wrote. A file
// of minor < 2 has none and reads as the zero ID.
type ID [16]byte

// String is the text form of the id: 32 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID (no identity).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID reads the text form of an id, exactly as String writes it: 32
// lowercase hex digits. Anything else is INVALID_ARGUMENT.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) || strings.IndexFunc(s, notLowerHex) >= 0 {
		return id, errorf(InvalidArgument, "segment id %s is not 32 lowercase hex digits (as ls and info print it)", Quote(s))
	}
	_, _ = hex.Decode(id[:], []byte(s))
	return id, nil
}

func notLowerHex(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') }
