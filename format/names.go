package format

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxSegmentNameLen is the longest segment name, in bytes.
const MaxSegmentNameLen = 200

// ValidSegmentName checks a segment name against spec §2: 1 to 200 bytes of
// [A-Za-z0-9._-], not starting with '.', not containing "..". Names starting
// with '.' are reserved for writers' temporary files. The error is
// INVALID_ARGUMENT and says which rule failed.
func ValidSegmentName(name string) error {
	switch {
	case name == "":
		return errorf(InvalidArgument, "segment name is empty")
	case len(name) > MaxSegmentNameLen:
		return errorf(InvalidArgument, "segment name is %d bytes, the limit is %d", len(name), MaxSegmentNameLen)
	case name[0] == '.':
		return errorf(InvalidArgument, "segment name %s starts with '.', which is reserved for temporary files", Quote(name))
	case strings.Contains(name, ".."):
		return errorf(InvalidArgument, "segment name %s contains \"..\"", Quote(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errorf(InvalidArgument, "segment name %s has %s at byte %d; use only letters, digits, '.', '_' and '-'", Quote(name), offending(name[i:]), i)
		}
	}
	return nil
}

// offending names the first character of s, which a segment name may not
// hold, as its user typed it: a printable ASCII character or a well-formed
// UTF-8 sequence as itself with its code point ("'€' (U+20AC, not
// ASCII)"), any other byte as 0xHH. capi/sa_path.c says the same.
func offending(s string) string {
	c := s[0]
	if c >= 0x20 && c < 0x7F {
		return fmt.Sprintf("the character '%c'", c)
	}
	if r, size := utf8.DecodeRuneInString(s); c >= 0x80 && (r != utf8.RuneError || size > 1) {
		return fmt.Sprintf("the character '%s' (U+%04X, not ASCII)", s[:size], r)
	}
	return fmt.Sprintf("the byte 0x%02x", c)
}

// ValidArrayName checks an array name a writer is given: 1 to 1024 bytes of
// valid UTF-8 without NUL. The error is INVALID_ARGUMENT.
func ValidArrayName(name string) error {
	return validText("array name", name, 1, MaxNameLen)
}

// ValidKV checks one metadata pair a writer is given. The error is
// INVALID_ARGUMENT.
func ValidKV(kv KV) error {
	if err := validText("metadata key", kv.Key, 1, MaxKeyLen); err != nil {
		return err
	}
	return validText("metadata value of key "+kv.Key, kv.Value, 0, MaxValueLen)
}

func validText(what, s string, minLen, maxLen int) error {
	switch {
	case len(s) < minLen:
		return errorf(InvalidArgument, "%s is empty", what)
	case len(s) > maxLen:
		return errorf(InvalidArgument, "%s is %d bytes, the limit is %d", what, len(s), maxLen)
	case !utf8.ValidString(s):
		return errorf(InvalidArgument, "%s %q is not valid UTF-8", what, s)
	case strings.IndexByte(s, 0) >= 0:
		return errorf(InvalidArgument, "%s %q contains a NUL byte", what, s)
	}
	return nil
}
