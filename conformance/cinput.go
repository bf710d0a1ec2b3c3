package conformance

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// CWriterInput is the text form of c that the C writer runner
// (runners/c/writer.c) reads: the buffers of each array (spec §7, plain
// layout, Array.Encode without hints) and the fields of
// shmarray_array_spec, one item per line, so that a C program needs no JSON
// parser. Strings and buffers are "x" followed by lower-case hex ("x" alone
// is empty); "-" is an absent buffer (a NULL pointer).
//
//	segment x<name-hex> <metadata count>
//	metadata x<key> x<value>
//	array x<name> <type code> <time unit> <byte width> x<timezone> <ndim> <shape...> <metadata count>
//	metadata x<key> x<value>
//	validity -|x<hex>
//	offsets -|x<hex>
//	data -|x<hex>
//	end
//
// A case with lists or dictionaries (format 1.3) is the one line
// "n/a <reason>": raw buffers (shmarray_builder_add) cannot give child
// records; C writes those through shmarray_builder_add_arrow.
//
// ndim is 1 for a plain array (its one shape entry is the length).
func CWriterInput(c *Case, name string) (string, error) {
	var b strings.Builder
	x := func(s []byte) string { return "x" + hex.EncodeToString(s) }
	buf := func(p []byte) string {
		if p == nil {
			return "-"
		}
		return x(p)
	}
	if c.Nested() {
		return "n/a " + name + " lists and dictionaries are written from C with shmarray_builder_add_arrow, not from raw buffers\n", nil
	}
	fmt.Fprintf(&b, "segment %s %d\n", x([]byte(name)), len(c.Metadata))
	for _, kv := range c.Metadata {
		fmt.Fprintf(&b, "metadata %s %s\n", x([]byte(kv[0])), x([]byte(kv[1])))
	}
	for i := range c.Arrays {
		a := &c.Arrays[i]
		dt, err := a.DType()
		if err != nil {
			return "", err
		}
		bufs, err := a.Encode(false)
		if err != nil {
			return "", err
		}
		shape := make([]string, len(a.Shape))
		for k, d := range a.Shape {
			shape[k] = fmt.Sprint(d)
		}
		fmt.Fprintf(&b, "array %s %d %d %d %s %d %s %d\n", x([]byte(a.Name)), dt.Type, dt.Unit, dt.ByteWidth,
			x([]byte(dt.TimeZone)), len(a.Shape), strings.Join(shape, " "), len(a.Metadata))
		for _, kv := range a.Metadata {
			fmt.Fprintf(&b, "metadata %s %s\n", x([]byte(kv[0])), x([]byte(kv[1])))
		}
		// A non-empty pointer for every data buffer the spec needs, even
		// when it holds zero bytes (an array of empty strings).
		data := bufs.Data
		if data == nil && dt.Type.VarLength() && a.Length() > 0 {
			data = []byte{}
		}
		fmt.Fprintf(&b, "validity %s\noffsets %s\ndata %s\n", buf(bufs.Validity), buf(bufs.Offsets), buf(data))
	}
	b.WriteString("end\n")
	return b.String(), nil
}
