package arena

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shmarray/shmarray/format"
)

// OutputHandle names one array of an unpublished segment for a writer in
// another process (spec §10.6, "Shared outputs"): the builder's file under
// its hidden name, the file's identity, and the array's bytes in it. It is
// plain data: pass it (or its Token) to a worker, which opens it with
// OpenOutput (Go) or shmarray_output_open (C, Python). Whoever holds it can
// write the array until the segment is published; it grants nothing else.
type OutputHandle struct {
	Dir    string // the segment directory, absolute
	File   string // the file's hidden name in Dir (".shmarray-tmp-PID-…")
	Name   string // the segment's name, for messages
	Dev    uint64 // the file's st_dev, checked by the opener
	Ino    uint64 // the file's st_ino, checked by the opener
	Array  string // the array's name, for messages
	Offset uint64 // the array's first byte in the file
	Length uint64 // the array's size in bytes
}

// tokenPrefix starts every output token and names its version.
const tokenPrefix = "shmout1"

// Token is the handle as one line of printable ASCII, for a command line
// or an environment variable:
// "shmout1:DEV:INO:OFFSET:LENGTH:DIR:FILE:NAME:ARRAY", numbers in decimal
// and the four names in lowercase hex (so that any
// byte of a name is unambiguous). ParseOutputToken and the C core's
// shmarray_output_open read it.
func (h OutputHandle) Token() string {
	return strings.Join([]string{tokenPrefix,
		strconv.FormatUint(h.Dev, 10), strconv.FormatUint(h.Ino, 10),
		strconv.FormatUint(h.Offset, 10), strconv.FormatUint(h.Length, 10),
		hex.EncodeToString([]byte(h.Dir)), hex.EncodeToString([]byte(h.File)),
		hex.EncodeToString([]byte(h.Name)), hex.EncodeToString([]byte(h.Array)),
	}, ":")
}

// ParseOutputToken reads a Token. Anything else is INVALID_ARGUMENT; a
// token that parses is still checked against the file when opened.
func ParseOutputToken(token string) (OutputHandle, error) {
	bad := func(why string) (OutputHandle, error) {
		return OutputHandle{}, fmt.Errorf("%w: output token %.40q...: %s (pass the token Builder.Output made, unchanged)", format.ErrInvalidArgument, token, why)
	}
	f := strings.Split(token, ":")
	if len(f) != 9 || f[0] != tokenPrefix {
		return bad("not a shmarray output token (" + tokenPrefix + ":DEV:INO:OFFSET:LENGTH:DIR:FILE:NAME:ARRAY)")
	}
	var nums [4]uint64
	for i := range nums {
		v, ok := tokenNumber(f[1+i])
		if !ok {
			return bad("field " + strconv.Itoa(2+i) + " is not a decimal number (digits only, no leading zero, at most 20)")
		}
		nums[i] = v
	}
	var names [4]string
	for i := range names {
		raw, err := hex.DecodeString(f[5+i])
		if err != nil || len(raw) == 0 || strings.ContainsRune(string(raw), 0) {
			return bad("field " + strconv.Itoa(6+i) + " is not a name in hex")
		}
		names[i] = string(raw)
	}
	h := OutputHandle{Dev: nums[0], Ino: nums[1], Offset: nums[2], Length: nums[3],
		Dir: names[0], File: names[1], Name: names[2], Array: names[3]}
	if why := h.wrong(); why != "" {
		return bad(why)
	}
	return h, nil
}

// wrong says what makes h a handle no builder hands out ("" if nothing):
// ParseOutputToken refuses such a token and OpenOutput such a handle
// (spec §10.6 step 2).
func (h OutputHandle) wrong() string {
	switch {
	case h.Offset+h.Length < h.Offset:
		return "offset + length overflows"
	case format.ValidSegmentName(h.Name) != nil:
		return "the segment name is not a valid segment name"
	case !filepath.IsAbs(h.Dir) || filepath.Clean(h.Dir) != h.Dir:
		return "the directory is not an absolute, clean path"
	case !builderFileName(h.File, h.Name):
		return "the file is not the builder's hidden name (" + tempPrefix + "PID-HEX16[-NAME], NAME the segment's)"
	}
	return ""
}

// tokenNumber parses a number field of a token: decimal digits, at most
// 20, no leading zero (the C core's parse_u64 has the same rule).
func tokenNumber(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 20 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// builderFileName reports whether file is a hidden name a builder of
// segment name gives its file (spec §10.6): tempPrefix + PID (decimal, no
// leading zero) + "-" + 16 lowercase hex digits, then nothing (the
// fallback path's name) or "-" + name (hiddenName's). The C core's
// builder_file_name has the same rule.
func builderFileName(file, name string) bool {
	rest, ok := strings.CutPrefix(file, tempPrefix)
	if !ok {
		return false
	}
	pid, rest, ok := strings.Cut(rest, "-")
	if !ok || pid == "" || pid[0] == '0' || len(pid) > 10 || strings.Trim(pid, "0123456789") != "" {
		return false
	}
	if len(rest) < 16 || strings.Trim(rest[:16], "0123456789abcdef") != "" {
		return false
	}
	return rest[16:] == "" || rest[16:] == "-"+name
}
