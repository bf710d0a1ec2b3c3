package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/bitutil"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// .npy files (NumPy's NEP 1 format): the magic "\x93NUMPY", a major and
// minor version byte, a little-endian header length (2 bytes in version
// 1.0, 4 in 2.0 and 3.0), then a Python dict literal such as
//
//	{'descr': '<i8', 'fortran_order': False, 'shape': (3, 4), }
//
// and then the array's bytes. One array is stored, named after the file.

const npyChunk = 8 << 20 // bytes read at a time, between checks for Ctrl-C

// npyHeader is the decoded header of a .npy file.
type npyHeader struct {
	dtype format.Type
	width int // bytes per element in the file
	shape []int64
}

// elems is the number of elements, or an error when it overflows.
func (h *npyHeader) elems() (int64, error) {
	n := int64(1)
	for _, d := range h.shape {
		if d < 0 || (d > 0 && n > math.MaxInt64/d) {
			return 0, fmt.Errorf("shape %v is negative or too large", h.shape)
		}
		n *= d
	}
	if n > math.MaxInt64/int64(h.width) {
		return 0, fmt.Errorf("shape %v is too large", h.shape)
	}
	return n, nil
}

var npyTypes = map[string]format.Type{
	"b1": format.Bool,
	"i1": format.Int8, "i2": format.Int16, "i4": format.Int32, "i8": format.Int64,
	"u1": format.Uint8, "u2": format.Uint16, "u4": format.Uint32, "u8": format.Uint64,
	"f2": format.Float16, "f4": format.Float32, "f8": format.Float64,
}

// readNPYHeader reads and checks the header; r is left at the data.
func readNPYHeader(r io.Reader) (*npyHeader, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, errors.New("not a .npy file: shorter than its 8-byte preamble")
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, errors.New("not a .npy file: it does not start with \\x93NUMPY")
	}
	var hlen int
	switch major, minor := pre[6], pre[7]; {
	case major == 1 && minor == 0:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, errors.New(".npy header is truncated")
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case (major == 2 || major == 3) && minor == 0:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, errors.New(".npy header is truncated")
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		if hlen > 1<<24 {
			return nil, fmt.Errorf(".npy header claims %d bytes", hlen)
		}
	default:
		return nil, fmt.Errorf(".npy format version %d.%d is not supported (1.0, 2.0 and 3.0 are)", major, minor)
	}
	text := make([]byte, hlen)
	if _, err := io.ReadFull(r, text); err != nil {
		return nil, errors.New(".npy header is truncated")
	}
	return parseNPYHeader(string(text))
}

// parseNPYHeader decodes the header dict.
func parseNPYHeader(text string) (*npyHeader, error) {
	v, err := parsePyLiteral(strings.TrimRight(text, " \n\x00"))
	if err != nil {
		return nil, fmt.Errorf(".npy header %q: %v", strings.TrimSpace(text), err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf(".npy header %q is not a dict", strings.TrimSpace(text))
	}
	descr, ok := d["descr"].(string)
	if !ok {
		return nil, fmt.Errorf(".npy header has no descr string; structured dtypes are not supported")
	}
	if fo, ok := d["fortran_order"].(bool); !ok {
		return nil, errors.New(".npy header has no fortran_order")
	} else if fo {
		return nil, &cliError{why: "the .npy array is in Fortran order", fix: "save it in C order: np.save(path, np.ascontiguousarray(a))"}
	}
	shapeV, ok := d["shape"].([]any)
	if !ok {
		return nil, errors.New(".npy header has no shape tuple")
	}
	h := &npyHeader{}
	for _, s := range shapeV {
		n, ok := s.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf(".npy shape %v is not a tuple of sizes", shapeV)
		}
		h.shape = append(h.shape, n)
	}
	if len(h.shape) == 0 {
		h.shape = []int64{1} // a 0-d array: one value
	}
	if len(descr) < 2 {
		return nil, fmt.Errorf(".npy dtype %q is not understood", descr)
	}
	order, code := descr[0], descr[1:]
	t, known := npyTypes[code]
	switch {
	case order == '>' && known && code != "b1" && code != "i1" && code != "u1":
		return nil, &cliError{why: fmt.Sprintf(".npy dtype %q is big-endian", descr), fix: "save a little-endian copy: np.save(path, a.astype(a.dtype.newbyteorder('<')))"}
	case !known || (order != '<' && order != '|' && order != '=' && order != '>'):
		return nil, &cliError{why: fmt.Sprintf(".npy dtype %q is not supported", descr), fix: "save bool, integer or float arrays (b1, i1-i8, u1-u8, f2-f8)"}
	}
	h.dtype = t
	h.width, _ = strconv.Atoi(code[1:])
	if len(h.shape) > format.MaxNDim {
		return nil, fmt.Errorf(".npy shape %v has %d dimensions; at most %d are stored", h.shape, len(h.shape), format.MaxNDim)
	}
	if t == format.Bool && len(h.shape) > 1 {
		return nil, &cliError{why: fmt.Sprintf(".npy bool array has shape %v", h.shape), fix: "N-D arrays hold integers or floats; save a.astype(np.uint8) or a.ravel()"}
	}
	return h, nil
}

func loadNPY(ctx context.Context, b *arena.Builder, in *input) error {
	r := &countingReader{r: in.file, p: in.prog}
	h, err := readNPYHeader(r)
	if err != nil {
		return err
	}
	total, err := h.elems()
	if err != nil {
		return err
	}
	rows := h.shape[0]
	rowElems := int64(1)
	if rows > 0 {
		rowElems = total / rows
	} else {
		for _, d := range h.shape[1:] {
			rowElems *= d
		}
	}
	name := in.arrayName
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(in.path), filepath.Ext(in.path))
		if in.path == "-" {
			name = "array"
		}
	}
	field := arrow.Field{Name: name, Type: format.DType{Type: h.dtype}.ArrowType(), Nullable: true}
	if len(h.shape) > 1 {
		if rowElems > math.MaxInt32 {
			return fmt.Errorf(".npy shape %v has rows of %d elements, more than an Arrow fixed-size list holds", h.shape, rowElems)
		}
		field.Type = arrow.FixedSizeListOf(int32(rowElems), field.Type)
		if len(h.shape) > 2 {
			shape, _ := json.Marshal(map[string][]int64{"shape": h.shape[1:]})
			field.Metadata = arrow.NewMetadata([]string{format.ExtensionNameKey, format.ExtensionMetaKey}, []string{format.TensorExtensionName, string(shape)})
		}
	}
	c, err := newColumn(field, b.Allocator())
	if err != nil {
		return err
	}
	if err := c.reserve(int(rows), 0, false); err != nil {
		return err
	}
	if h.dtype == format.Bool {
		err = readNPYBools(ctx, r, c, int(total))
	} else {
		err = readNPYValues(ctx, r, c.data[:total*int64(h.width)])
	}
	if err != nil {
		return err
	}
	c.rows = int(rows)
	return c.add(b)
}

// readNPYValues reads the values straight into the segment.
func readNPYValues(ctx context.Context, r io.Reader, dst []byte) error {
	for len(dst) > 0 {
		n := min(len(dst), npyChunk)
		if _, err := io.ReadFull(r, dst[:n]); err != nil {
			return truncatedNPY(err)
		}
		dst = dst[n:]
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	return nil
}

// readNPYBools packs NumPy's one byte per bool into bits.
func readNPYBools(ctx context.Context, r io.Reader, c *column, n int) error {
	buf := make([]byte, min(n, npyChunk))
	for at := 0; at < n; {
		k := min(n-at, len(buf))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			return truncatedNPY(err)
		}
		for i, v := range buf[:k] {
			if v != 0 {
				bitutil.SetBit(c.data, at+i)
			}
		}
		at += k
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	return nil
}

func truncatedNPY(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the .npy file is truncated: it holds fewer bytes than its shape needs")
	}
	return err
}

// parsePyLiteral parses the Python literals of a .npy header: dicts,
// tuples and lists, strings, integers, True, False and None.
func parsePyLiteral(s string) (any, error) {
	p := &pyParser{s: s}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q at byte %d", p.s[p.i:], p.i)
	}
	return v, nil
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\n\r", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) value() (any, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.dict()
	case c == '(' || c == '[':
		return p.sequence()
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		return p.integer()
	}
	for word, v := range map[string]any{"True": true, "False": false, "None": nil} {
		if strings.HasPrefix(p.s[p.i:], word) {
			p.i += len(word)
			return v, nil
		}
	}
	return nil, fmt.Errorf("unexpected %q at byte %d", p.s[p.i:], p.i)
}

func (p *pyParser) dict() (any, error) {
	p.i++ // {
	d := map[string]any{}
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return d, nil
		}
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("dict key %v is not a string", k)
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, fmt.Errorf("expected ':' after key %q", key)
		}
		p.i++
		if d[key], err = p.value(); err != nil {
			return nil, err
		}
		if err := p.separator('}'); err != nil {
			return nil, err
		}
	}
}

func (p *pyParser) sequence() (any, error) {
	end := byte(')')
	if p.s[p.i] == '[' {
		end = ']'
	}
	p.i++
	var out []any
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == end {
			p.i++
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if err := p.separator(end); err != nil {
			return nil, err
		}
	}
}

// separator consumes a ',' or sees the closing byte.
func (p *pyParser) separator(end byte) error {
	p.space()
	switch {
	case p.i < len(p.s) && p.s[p.i] == ',':
		p.i++
		return nil
	case p.i < len(p.s) && p.s[p.i] == end:
		return nil
	}
	return fmt.Errorf("expected ',' or %q at byte %d", end, p.i)
}

func (p *pyParser) str() (any, error) {
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return nil, errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.IndexByte(v, '\\') >= 0 {
		return nil, fmt.Errorf("escapes in string %q are not supported", v)
	}
	p.i += end + 2
	return v, nil
}

func (p *pyParser) integer() (any, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("integer %q: %v", p.s[start:p.i], err)
	}
	if p.i < len(p.s) && p.s[p.i] == 'L' { // Python 2 long
		p.i++
	}
	return n, nil
}
