package format

import (
	"errors"
	"fmt"
	"strings"
)

// Code is a numbered error from the spec's error table. The same numbers are
// returned by the C ABI and mapped to one Python exception class each.
// A Code is itself an error, so a Code value is a sentinel: wrap it with
// fmt.Errorf("%w: ...", format.ErrNotFound) and test with errors.Is.
type Code uint32

// The error table (spec/format-v1.md, "Error codes"). Numbers are stable:
// new codes are only ever appended.
const (
	OK                 Code = 0
	InvalidArgument    Code = 1
	NotFound           Code = 2
	Exists             Code = 3
	NoSpace            Code = 4
	PermissionDenied   Code = 5
	NotASegment        Code = 6
	UnsupportedVersion Code = 7
	Truncated          Code = 8
	NotSealed          Code = 9
	ChecksumMismatch   Code = 10
	OutOfBounds        Code = 11
	Misaligned         Code = 12
	BadType            Code = 13
	BadShape           Code = 14
	BadSize            Code = 15
	BadOffsets         Code = 16
	BadUTF8            Code = 17
	DuplicateName      Code = 18
	Closed             Code = 19
	Forked             Code = 20
	IOError            Code = 21
	Internal           Code = 22
	// Stale: the name no longer refers to the version the caller named
	// (a pinned attach, a conditional replace).
	Stale Code = 23
)

// Sentinel errors, one per code. errors.Is(err, ErrNotFound) holds for any
// error that wraps NotFound.
var (
	ErrInvalidArgument    error = InvalidArgument
	ErrNotFound           error = NotFound
	ErrExists             error = Exists
	ErrNoSpace            error = NoSpace
	ErrPermissionDenied   error = PermissionDenied
	ErrNotASegment        error = NotASegment
	ErrUnsupportedVersion error = UnsupportedVersion
	ErrTruncated          error = Truncated
	ErrNotSealed          error = NotSealed
	ErrChecksumMismatch   error = ChecksumMismatch
	ErrOutOfBounds        error = OutOfBounds
	ErrMisaligned         error = Misaligned
	ErrBadType            error = BadType
	ErrBadShape           error = BadShape
	ErrBadSize            error = BadSize
	ErrBadOffsets         error = BadOffsets
	ErrBadUTF8            error = BadUTF8
	ErrDuplicateName      error = DuplicateName
	ErrClosed             error = Closed
	ErrForked             error = Forked
	ErrIO                 error = IOError
	ErrInternal           error = Internal
	ErrStale              error = Stale
)

// ErrInvalidSegment is the category of codes 6..18: the bytes of a segment
// break the format. errors.Is(err, ErrInvalidSegment) holds for any of them.
var ErrInvalidSegment error = invalidSegment{}

type invalidSegment struct{}

func (invalidSegment) Error() string { return "invalid segment" }

var codeNames = [...]string{
	OK:                 "OK",
	InvalidArgument:    "INVALID_ARGUMENT",
	NotFound:           "NOT_FOUND",
	Exists:             "EXISTS",
	NoSpace:            "NO_SPACE",
	PermissionDenied:   "PERMISSION_DENIED",
	NotASegment:        "NOT_A_SEGMENT",
	UnsupportedVersion: "UNSUPPORTED_VERSION",
	Truncated:          "TRUNCATED",
	NotSealed:          "NOT_SEALED",
	ChecksumMismatch:   "CHECKSUM_MISMATCH",
	OutOfBounds:        "OUT_OF_BOUNDS",
	Misaligned:         "MISALIGNED",
	BadType:            "BAD_TYPE",
	BadShape:           "BAD_SHAPE",
	BadSize:            "BAD_SIZE",
	BadOffsets:         "BAD_OFFSETS",
	BadUTF8:            "BAD_UTF8",
	DuplicateName:      "DUPLICATE_NAME",
	Closed:             "CLOSED",
	Forked:             "FORKED",
	IOError:            "IO_ERROR",
	Internal:           "INTERNAL",
	Stale:              "STALE",
}

var codeTexts = [...]string{
	OK:                 "ok",
	InvalidArgument:    "invalid argument",
	NotFound:           "not found",
	Exists:             "already exists",
	NoSpace:            "no space",
	PermissionDenied:   "permission denied",
	NotASegment:        "not a shmarray segment",
	UnsupportedVersion: "unsupported format version",
	Truncated:          "truncated segment",
	NotSealed:          "segment not sealed",
	ChecksumMismatch:   "checksum mismatch",
	OutOfBounds:        "out of bounds",
	Misaligned:         "misaligned buffer",
	BadType:            "bad type",
	BadShape:           "bad shape",
	BadSize:            "bad size",
	BadOffsets:         "bad offsets",
	BadUTF8:            "invalid UTF-8",
	DuplicateName:      "duplicate name",
	Closed:             "closed",
	Forked:             "called in a forked child",
	IOError:            "I/O error",
	Internal:           "internal error",
	Stale:              "stale version",
}

// Codes lists every code of the table in order, for bindings and tests.
func Codes() []Code {
	out := make([]Code, len(codeNames))
	for i := range out {
		out[i] = Code(i)
	}
	return out
}

// Name is the code's spec name, e.g. "NOT_FOUND".
func (c Code) Name() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE_%d", uint32(c))
}

func (c Code) Error() string {
	if int(c) < len(codeTexts) {
		return "shmarray: " + codeTexts[c]
	}
	return fmt.Sprintf("shmarray: error code %d", uint32(c))
}

// InvalidSegment reports whether c is one of the codes that mean "these bytes
// break the format" (6..18).
func (c Code) InvalidSegment() bool { return c >= NotASegment && c <= DuplicateName }

// Is makes errors.Is(code, ErrInvalidSegment) true for the invalid-segment codes.
func (c Code) Is(target error) bool {
	if _, ok := target.(invalidSegment); ok {
		return c.InvalidSegment()
	}
	return false
}

// CodeOf returns the code carried by err: OK for nil, Internal for an error
// that wraps no Code.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	return Internal
}

// Wrapf adds context to the message of err, after its code's text and
// before the rest: "shmarray: bad size: <context>: <message>", the order
// in which the C reader core writes its messages, so that Go and C print
// the same text (spec §13). The result wraps the same Code; an error that
// wraps none gets the context in front.
func Wrapf(err error, format string, args ...any) error {
	var c Code
	if !errors.As(err, &c) {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	msg := strings.TrimPrefix(err.Error(), c.Error()+": ")
	return errorf(c, format+": %s", append(args, msg)...)
}

// errorf wraps code with a message; the code's text comes first.
func errorf(code Code, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{code}, args...)...)
}
