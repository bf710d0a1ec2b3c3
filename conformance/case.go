package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/shmarray/shmarray/format"
)

// FormatID names the JSON form of this suite; it is the "format" field of
// every case file.
const FormatID = "shmarray-conformance/1"

// KV is one metadata pair; in JSON a two-element array [key, value].
type KV [2]string

// Case is a valid vector's expected content in the JSON form of README.md:
// the segment's metadata and its arrays, in directory order. Layout holds
// encoding hints for the generator (how the bytes are laid out); readers and
// writers ignore it, since it changes no value.
type Case struct {
	Format      string         `json:"format"`
	Name        string         `json:"case"`
	Description string         `json:"description"`
	Metadata    []KV           `json:"metadata"`
	Layout      *SegmentLayout `json:"layout,omitempty"`
	// Identity is the segment's id and version (spec §4, minor >= 2);
	// nil for a 1.0 or 1.1 file, which has none (id zero, version 0).
	Identity *Identity `json:"identity,omitempty"`
	Arrays   []Array   `json:"arrays"`
	// Patch, if set, edits the laid-out bytes without changing any value
	// (the header checksum is recomputed afterwards); the description says
	// what it does. It makes the hostile-but-valid vectors.
	Patch func(p *patch) `json:"-"`
}

// Identity is a segment's id (32 lowercase hex digits) and version (a
// decimal string, as integers are in values: a u64 does not fit a JSON
// number everywhere).
type Identity struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// parse returns the id and version of i.
func (i *Identity) parse() (format.ID, uint64, error) {
	id, err := format.ParseID(i.ID)
	if err != nil {
		return id, 0, err
	}
	v, err := strconv.ParseUint(i.Version, 10, 64)
	return id, v, err
}

// Array is one array of a Case. Values has shape[0] entries; an entry is
// null for a null slot, else the value encoded as README.md says (integers
// as decimal strings, floats as hex bit patterns, binary as base64, utf8 as
// JSON strings, bool as JSON booleans) or, for an N-D array, the row as
// nested lists of shape[1:].
type Array struct {
	Name      string       `json:"name"`
	Type      string       `json:"type"`
	Unit      string       `json:"unit,omitempty"`
	Timezone  string       `json:"timezone,omitempty"`
	ByteWidth int          `json:"byte_width,omitempty"`
	Shape     []int64      `json:"shape"`
	Metadata  []KV         `json:"metadata"`
	Layout    *ArrayLayout `json:"layout,omitempty"`
	Values    []any        `json:"values"`
}

// ArrayLayout are encoding hints for one array. The zero value is the plain
// layout of a 1.0 writer: a bitmap only when there are nulls, zeros under
// null slots, length+1 offsets (one entry when empty), buffers exactly as
// long as needed, a data CRC.
type ArrayLayout struct {
	// Validity "always": a bitmap even when no slot is null.
	Validity string `json:"validity,omitempty"`
	// Offsets "empty": no offsets buffer (allowed for length 0 only).
	Offsets string `json:"offsets,omitempty"`
	// Padding declares every non-empty buffer this many bytes longer than
	// needed (the extra bytes are zero).
	Padding int `json:"padding,omitempty"`
	// NullFill "garbage": non-zero bytes under null slots, and non-empty
	// (ASCII) values for null slots of variable-length arrays.
	NullFill string `json:"null_fill,omitempty"`
	// BitmapTail sets the unused bits past length in the last byte of the
	// validity bitmap and of boolean data.
	BitmapTail bool `json:"bitmap_tail,omitempty"`
	// NoDataCRC leaves HAS_DATA_CRC clear.
	NoDataCRC bool `json:"no_data_crc,omitempty"`
}

// SegmentLayout are encoding hints for the whole file.
type SegmentLayout struct {
	HeaderSize uint32 `json:"header_size,omitempty"` // > 128: extra header bytes (a later minor)
	RecordSize uint32 `json:"record_size,omitempty"` // > 192: extra record bytes
	Minor      uint16 `json:"minor,omitempty"`
	// Reserved writes non-zero reserved fields, reserved flag bits and
	// unknown header and record bytes, which readers must ignore.
	Reserved bool `json:"reserved,omitempty"`
	// MetaOrder orders the tables of the metadata area, e.g.
	// "strtab,kv,directory"; default "directory,kv,strtab".
	MetaOrder string `json:"meta_order,omitempty"`
	Gap       int    `json:"gap,omitempty"`      // bytes between the tables of the metadata area
	Trailing  int    `json:"trailing,omitempty"` // bytes past file_size
	Ephemeral bool   `json:"ephemeral,omitempty"`
	// OrphanKV appends key/value records that no owner's range contains,
	// full of garbage (readers do not check them).
	OrphanKV int `json:"orphan_kv,omitempty"`
	MetaTail int `json:"meta_tail,omitempty"` // unused bytes at the end of the metadata area
	Slack    int `json:"slack,omitempty"`     // bytes between the metadata area and file_size
}

// Stage says when a reader must detect an invalid vector.
type Stage string

const (
	// Structural errors are reported by attach (spec §11.2).
	Structural Stage = "structural"
	// Full errors are reported only by full validation (spec §11.3), after
	// attach succeeded.
	Full Stage = "full"
)

// InvalidCase is an invalid vector's JSON: the code and stage every reader
// must report, and what was broken.
type InvalidCase struct {
	Format      string `json:"format"`
	Name        string `json:"case"`
	Description string `json:"description"`
	Expect      string `json:"expect"` // spec code name, e.g. "CHECKSUM_MISMATCH"
	Code        int    `json:"code"`
	Stage       Stage  `json:"stage"`
	Spec        string `json:"spec"` // the spec's rule, e.g. "§11.2 step 9.4"
	Base        string `json:"base"` // the valid vector it was patched from
}

// Length is the number of slots, shape[0].
func (a *Array) Length() int64 {
	if len(a.Shape) == 0 {
		return int64(len(a.Values))
	}
	return a.Shape[0]
}

// DType parses the array's type name and parameters.
func (a *Array) DType() (format.DType, error) {
	t, err := format.ParseType(a.Type)
	if err != nil {
		return format.DType{}, err
	}
	d := format.DType{Type: t, TimeZone: a.Timezone, ByteWidth: a.ByteWidth}
	if t.Timed() {
		u, ok := unitByName[a.Unit]
		if !ok {
			return d, fmt.Errorf("array %q: unit %q is not s, ms, us or ns", a.Name, a.Unit)
		}
		d.Unit = u
	} else if a.Unit != "" {
		return d, fmt.Errorf("array %q: type %s takes no unit", a.Name, a.Type)
	}
	return d, nil
}

var unitByName = map[string]format.TimeUnit{"s": format.Second, "ms": format.Millisecond, "us": format.Microsecond, "ns": format.Nanosecond}

// ReadCase loads a valid case's JSON file.
func ReadCase(path string) (*Case, error) {
	var c Case
	if err := readJSON(path, &c); err != nil {
		return nil, err
	}
	if c.Format != FormatID {
		return nil, fmt.Errorf("%s: format is %q, expected %q", path, c.Format, FormatID)
	}
	return &c, nil
}

// ReadInvalidCase loads an invalid case's JSON file.
func ReadInvalidCase(path string) (*InvalidCase, error) {
	var c InvalidCase
	if err := readJSON(path, &c); err != nil {
		return nil, err
	}
	if c.Format != FormatID {
		return nil, fmt.Errorf("%s: format is %q, expected %q", path, c.Format, FormatID)
	}
	return &c, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// MarshalJSON-like writers: the committed files are formatted by hand so
// that each array is one line (a 1,000-array case stays readable) and the
// bytes are stable.

func compact(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only our own plain types are encoded
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// Marshal is the committed JSON text of c.
func (c *Case) Marshal() []byte {
	var b strings.Builder
	b.WriteString("{\n")
	fmt.Fprintf(&b, "  \"format\": %s,\n", compact(c.Format))
	fmt.Fprintf(&b, "  \"case\": %s,\n", compact(c.Name))
	fmt.Fprintf(&b, "  \"description\": %s,\n", compact(c.Description))
	fmt.Fprintf(&b, "  \"metadata\": %s,\n", compact(nonNilKV(c.Metadata)))
	if c.Layout != nil {
		fmt.Fprintf(&b, "  \"layout\": %s,\n", compact(c.Layout))
	}
	if c.Identity != nil {
		fmt.Fprintf(&b, "  \"identity\": %s,\n", compact(c.Identity))
	}
	if len(c.Arrays) == 0 {
		b.WriteString("  \"arrays\": []\n}\n")
		return []byte(b.String())
	}
	b.WriteString("  \"arrays\": [\n")
	for i := range c.Arrays {
		a := c.Arrays[i]
		a.Metadata = nonNilKV(a.Metadata)
		if a.Values == nil {
			a.Values = []any{}
		}
		sep := ","
		if i == len(c.Arrays)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s%s\n", compact(a), sep)
	}
	b.WriteString("  ]\n}\n")
	return []byte(b.String())
}

// Marshal is the committed JSON text of c.
func (c *InvalidCase) Marshal() []byte {
	var b strings.Builder
	b.WriteString("{\n")
	fields := []struct {
		k string
		v any
	}{{"format", c.Format}, {"case", c.Name}, {"description", c.Description}, {"expect", c.Expect},
		{"code", c.Code}, {"stage", c.Stage}, {"spec", c.Spec}, {"base", c.Base}}
	for i, f := range fields {
		sep := ","
		if i == len(fields)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %q: %s%s\n", f.k, compact(f.v), sep)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

func nonNilKV(kv []KV) []KV {
	if kv == nil {
		return []KV{}
	}
	return kv
}
