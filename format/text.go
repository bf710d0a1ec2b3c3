package format

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Quote shows a name (an array name, a metadata key) in a message, the way
// the C reader core does (capi/sa_text.c sa_quote), so that every language
// prints the same text for the same file: in double quotes, printable ASCII
// as itself except '"' and '\', which get a backslash, well-formed UTF-8
// sequences as themselves (a name is shown as its user wrote it), and every
// other byte as \xHH. Names longer than 256 bytes are cut there, with "..."
// after the closing quote.
func Quote(name string) string { return quote(name, quoteName) }

const (
	quoteName = 256 // bytes of a name shown in a message
	quoteKey  = 64  // bytes of an index key shown in a message
)

func quote(s string, limit int) string {
	var b strings.Builder
	cut := s
	if len(cut) > limit {
		cut = cut[:limit]
	}
	b.WriteByte('"')
	for i := 0; i < len(cut); {
		c := cut[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
			i++
		case c >= 0x20 && c < 0x7F:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(cut[i:])
			if c >= 0x80 && (r != utf8.RuneError || size > 1) { // U+FFFD itself is well formed
				b.WriteString(cut[i : i+size])
				i += size
				continue
			}
			b.WriteString(`\x`)
			if c < 0x10 {
				b.WriteByte('0')
			}
			b.WriteString(strconv.FormatUint(uint64(c), 16))
			i++
		}
	}
	b.WriteByte('"')
	if len(s) > limit {
		b.WriteString("...")
	}
	return b.String()
}
