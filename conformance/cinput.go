package conformance

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/shmarray/shmarray/format"
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
// A list or dictionary column (format 1.3) is the line "nested list" or
// "nested dictionary", then its block (a dictionary's: its indices, an
// integer array) and its values' block, written with
// shmarray_builder_add_list / _add_dictionary; the child's own block is
// not repeated. A case whose lists or dictionaries nest deeper, or whose
// child has a name or metadata (which those calls do not take), is the one
// line "n/a <reason>": C writes those through shmarray_builder_add_arrow.
//
// ndim is 1 for a plain array (its one shape entry is the length).
func CWriterInput(c *Case, name string) (string, error) {
	var b strings.Builder
	x := func(s []byte) string { return "x" + hex.EncodeToString(s) }
	for _, p := range c.Parents() {
		ch := &c.Arrays[c.Arrays[p].Child]
		if t, _ := format.ParseType(ch.Type); t.Nested() || ch.Name != "" || len(ch.Metadata) > 0 {
			return "n/a " + name + " lists of lists, dictionaries in lists and named children are written from C with shmarray_builder_add_arrow\n", nil
		}
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
		if a.IsChild {
			continue // written right after its parent
		}
		if dt.Type.Nested() {
			ch := &c.Arrays[a.Child]
			kind := "list"
			if dt.Type == format.Dictionary {
				kind, dt.Type, dt.IndexType = "dictionary", dt.IndexType, 0 // the block of its indices
			}
			fmt.Fprintf(&b, "nested %s\n", kind)
			if err := cBlock(&b, a, dt); err != nil {
				return "", err
			}
			cdt, err := ch.DType()
			if err != nil {
				return "", err
			}
			if err := cBlock(&b, ch, cdt); err != nil {
				return "", err
			}
			continue
		}
		if err := cBlock(&b, a, dt); err != nil {
			return "", err
		}
	}
	b.WriteString("end\n")
	return b.String(), nil
}

// cBlock writes the "array" block of a, with the type dt.
func cBlock(b *strings.Builder, a *Array, dt format.DType) error {
	x := func(s []byte) string { return "x" + hex.EncodeToString(s) }
	buf := func(p []byte) string {
		if p == nil {
			return "-"
		}
		return x(p)
	}
	bufs, err := a.Encode(false)
	if err != nil {
		return err
	}
	shape := make([]string, len(a.Shape))
	for k, d := range a.Shape {
		shape[k] = fmt.Sprint(d)
	}
	fmt.Fprintf(b, "array %s %d %d %d %s %d %s %d\n", x([]byte(a.Name)), dt.Type, dt.Unit, dt.ByteWidth,
		x([]byte(dt.TimeZone)), len(a.Shape), strings.Join(shape, " "), len(a.Metadata))
	for _, kv := range a.Metadata {
		fmt.Fprintf(b, "metadata %s %s\n", x([]byte(kv[0])), x([]byte(kv[1])))
	}
	// A non-empty pointer for every data buffer the spec needs, even
	// when it holds zero bytes (an array of empty strings).
	data := bufs.Data
	if data == nil && dt.Type.VarLength() && a.Length() > 0 {
		data = []byte{}
	}
	fmt.Fprintf(b, "validity %s\noffsets %s\ndata %s\n", buf(bufs.Validity), buf(bufs.Offsets), buf(data))
	return nil
}
