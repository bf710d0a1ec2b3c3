// Command gen writes the segments the Python reader tests read, with the Go
// reference writer (package arena), and checks files with the Go reference
// reader (package format), so that the Python tests depend on neither the
// Python writer nor on hand-made bytes, and can compare error codes with Go.
//
// Usage, from the repository root:
//
//	go run ./bindings/python/tests/gen write DIR   # writes the segments below into DIR
//	go run ./bindings/python/tests/gen check       # reads file paths on stdin, one a line
//
// check prints one line per path: the spec code name of the first failing
// check of attach (format.Decode, the structural validation of spec §11.2)
// or, if attach succeeds, of full validation (spec §11.3), or OK; then a tab
// and the message.
//
// The segments written by write (names, then contents; "nulls" variants have
// their nulls at slots 1 and 3):
//
//	basic      3 arrays, 3 rows: x int64 [1 2 3] with array metadata
//	           {"k": "v", "unit": "m"}; f float64 [0.5 1.5 2.5]; s utf8
//	           ["a" null "ç"] (has a validity bitmap). Segment metadata
//	           {"owner": "tests", "purpose": "corruption"}. Data CRCs on.
//	           The Python tests corrupt copies of it.
//	example    the docstring examples' segment, 3 rows: price float64
//	           [101.5 101.25 101.75] with metadata {"unit": "EUR"}; qty int64
//	           [10 null 30]; ticker utf8 ["ACME" "INIT" null]. Segment metadata
//	           {"source": "generator"}.
//	types      every type of spec §6, 5 rows each, once without nulls (named
//	           after the type, e.g. "int64", "timestamp_us") and once with
//	           nulls at slots 1 and 3 ("int64_nulls"); the values are in
//	           typeColumns below and repeated in test_reader.py.
//	tensors    4 rows: row int64 [0 1 2 3]; t_int32 shape (4,3) = 0..11;
//	           t_float64 shape (4,2,3) = 0, 0.5, ..., 11.5; t_uint8 shape
//	           (4,1,2,2) = 0..15; t_int16_nulls shape (4,3) = [[1 2 3] null
//	           [7 8 9] null] (row nulls).
//	zerodim    t_float32 shape (4,0): four rows of no elements.
//	strings    6 rows: u utf8 ["" "a" "héllo wörld" "日本語テキスト" "🎉🎊"
//	           "nul\x00inside"]; u_nulls utf8 ["" null "x" null "" "é"];
//	           lu large_utf8 ["ü" null "" "long" null "end"]; b binary
//	           [0x00 null "" 0xfffe null "abc"]; lb large_binary, the same.
//	emptycols  0 rows: i int64 [], s utf8 [] (offsets buffer of one entry).
//	ragged     a int64 [1 2 3]; b int64 [1 2 3 4].
//	many       1000 arrays c0000 ... c0999, int64, 10 rows each (c0042 holds
//	           42*10 ... 42*10+9).
//	empty      no array; segment metadata {"empty": "yes"}.
//	ephemeral  EPHEMERAL flag, written by this process, which has exited by
//	           the time anyone lists it: an orphan. x int64 [1].
//	nocrc      written without data checksums: s utf8 ["a" "b"]; n int64 [1 2].
package main

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	switch {
	case len(os.Args) == 3 && os.Args[1] == "write":
		write(os.Args[2])
	case len(os.Args) == 2 && os.Args[1] == "check":
		check()
	default:
		log.Fatal("usage: gen write DIR | gen check < paths")
	}
}

// check prints, for each file named on stdin, the code of the first failing
// check (attach, then full validation) and its message, tab-separated, on
// one line ("OK\t" when every check passes; newlines in a message become
// "\n").
func check() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<16), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		path := in.Text()
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			log.Fatal(err)
		}
		err = verdict(b)
		msg := ""
		if err != nil {
			msg = strings.ReplaceAll(err.Error(), "\n", `\n`)
		}
		fmt.Fprintf(out, "%s\t%s\n", format.CodeOf(err).Name(), msg)
	}
	if err := in.Err(); err != nil {
		log.Fatal(err)
	}
}

// verdict is the Go reference reader over a whole file: attach, then full
// validation. A file shorter than 8 bytes is NOT_A_SEGMENT there too.
func verdict(b []byte) error {
	s, err := format.Decode(b)
	if err != nil {
		return err
	}
	return s.Validate(b)
}

var mem = memory.DefaultAllocator

// col is one array to add: a name, an Arrow type, JSON values (null for a
// null slot; binary values in base64) and optional field metadata.
type col struct {
	name string
	typ  arrow.DataType
	json string
	meta map[string]string
}

func fromJSON(c col) arrow.Array {
	arr, _, err := array.FromJSON(mem, c.typ, strings.NewReader(c.json), array.WithUseNumber())
	if err != nil {
		log.Fatalf("%s: %v", c.name, err)
	}
	return arr
}

// segment creates name in dir, lets fill add arrays, and publishes it.
func segment(dir, name string, opts arena.CreateOptions, md map[string]string, fill func(b *arena.Builder) error) {
	opts.Dir = dir
	b, err := arena.Create(name, &opts)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if err := fill(b); err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	if md != nil {
		if err := b.SetMetadata(md); err != nil {
			log.Fatal(err)
		}
	}
	if err := b.Publish(); err != nil {
		log.Fatal(err)
	}
}

func addCols(cols ...col) func(*arena.Builder) error {
	return func(b *arena.Builder) error {
		for _, c := range cols {
			arr := fromJSON(c)
			f := arrow.Field{Name: c.name, Type: c.typ}
			if c.meta != nil {
				keys, vals := make([]string, 0, len(c.meta)), make([]string, 0, len(c.meta))
				for _, k := range sortedKeys(c.meta) {
					keys, vals = append(keys, k), append(vals, c.meta[k])
				}
				f.Metadata = arrow.NewMetadata(keys, vals)
			}
			err := b.AddField(f, arr)
			arr.Release()
			if err != nil {
				return err
			}
		}
		return nil
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// typeColumns are the arrays of segment "types": each value list once as
// is and once with slots 1 and 3 replaced by null. Binary values are base64:
// "" = empty, "AA==" = 00, "//4=" = ff fe, "YWJj" = "abc", "AGEA" = 00 61 00,
// "AAEC" = 00 01 02, "eHl6" = "xyz", "////" = ff ff ff, "YQAA" = 61 00 00.
var typeColumns = []struct {
	name   string
	typ    arrow.DataType
	values []string
}{
	{"bool", arrow.FixedWidthTypes.Boolean, []string{"true", "false", "true", "true", "false"}},
	{"int8", arrow.PrimitiveTypes.Int8, []string{"-128", "-1", "0", "1", "127"}},
	{"uint8", arrow.PrimitiveTypes.Uint8, []string{"0", "1", "2", "254", "255"}},
	{"int16", arrow.PrimitiveTypes.Int16, []string{"-32768", "-1", "0", "1", "32767"}},
	{"uint16", arrow.PrimitiveTypes.Uint16, []string{"0", "1", "2", "65534", "65535"}},
	{"int32", arrow.PrimitiveTypes.Int32, []string{"-2147483648", "-1", "0", "1", "2147483647"}},
	{"uint32", arrow.PrimitiveTypes.Uint32, []string{"0", "1", "2", "4294967294", "4294967295"}},
	{"int64", arrow.PrimitiveTypes.Int64, []string{"-9223372036854775808", "-1", "0", "1", "9223372036854775807"}},
	{"uint64", arrow.PrimitiveTypes.Uint64, []string{"0", "1", "2", "18446744073709551614", "18446744073709551615"}},
	{"float16", arrow.FixedWidthTypes.Float16, []string{"-2.5", "-1", "0", "0.5", "65504"}},
	{"float32", arrow.PrimitiveTypes.Float32, []string{"-1.5", "0", "0.25", "1024", `"Inf"`}},
	{"float64", arrow.PrimitiveTypes.Float64, []string{"-1.5", "0", "0.1", "1e300", `"-Inf"`}},
	{"utf8", arrow.BinaryTypes.String, []string{`""`, `"a"`, `"héllo"`, `"日本語"`, `"🎉"`}},
	{"large_utf8", arrow.BinaryTypes.LargeString, []string{`"x"`, `""`, `"ß"`, `"longer value"`, `"z"`}},
	{"binary", arrow.BinaryTypes.Binary, []string{`""`, `"AA=="`, `"//4="`, `"YWJj"`, `"AGEA"`}},
	{"large_binary", arrow.BinaryTypes.LargeBinary, []string{`"YWJj"`, `""`, `"AA=="`, `"//4="`, `"AGEA"`}},
	{"fixed_size_binary", &arrow.FixedSizeBinaryType{ByteWidth: 3}, []string{`"YWJj"`, `"AAEC"`, `"eHl6"`, `"////"`, `"YQAA"`}},
	{"date32", arrow.FixedWidthTypes.Date32, []string{"-1", "0", "1", "18000", "19000"}},
	{"date64", arrow.FixedWidthTypes.Date64, []string{"-86400000", "0", "86400000", "1555200000000", "1641600000000"}},
	{"timestamp_s", &arrow.TimestampType{Unit: arrow.Second}, []string{"-1", "0", "1", "1700000000", "4102444800"}},
	{"timestamp_ms", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, []string{"-1", "0", "1", "1700000000000", "4102444800000"}},
	{"timestamp_us", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Paris"}, []string{"-1", "0", "1", "1700000000000000", "4102444800000000"}},
	{"timestamp_ns", &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "+07:30"}, []string{"-1", "0", "1", "1700000000000000000", "4102444800000000000"}},
	{"duration_s", &arrow.DurationType{Unit: arrow.Second}, []string{"-5", "0", "5", "1000", "123456789"}},
	{"duration_ms", &arrow.DurationType{Unit: arrow.Millisecond}, []string{"-5", "0", "5", "1000", "123456789"}},
	{"duration_us", &arrow.DurationType{Unit: arrow.Microsecond}, []string{"-5", "0", "5", "1000", "123456789"}},
	{"duration_ns", &arrow.DurationType{Unit: arrow.Nanosecond}, []string{"-5", "0", "5", "1000", "123456789"}},
}

func jsonList(values []string, nulls bool) string {
	out := make([]string, len(values))
	for i, v := range values {
		if nulls && (i == 1 || i == 3) {
			v = "null"
		}
		out[i] = v
	}
	return "[" + strings.Join(out, ",") + "]"
}

func write(dir string) {
	var def arena.CreateOptions

	segment(dir, "basic", def, map[string]string{"owner": "tests", "purpose": "corruption"}, addCols(
		col{name: "x", typ: arrow.PrimitiveTypes.Int64, json: "[1,2,3]", meta: map[string]string{"k": "v", "unit": "m"}},
		col{name: "f", typ: arrow.PrimitiveTypes.Float64, json: "[0.5,1.5,2.5]"},
		col{name: "s", typ: arrow.BinaryTypes.String, json: `["a",null,"ç"]`},
	))

	segment(dir, "example", def, map[string]string{"source": "generator"}, addCols(
		col{name: "price", typ: arrow.PrimitiveTypes.Float64, json: "[101.5,101.25,101.75]", meta: map[string]string{"unit": "EUR"}},
		col{name: "qty", typ: arrow.PrimitiveTypes.Int64, json: "[10,null,30]"},
		col{name: "ticker", typ: arrow.BinaryTypes.String, json: `["ACME","INIT",null]`},
	))

	var types []col
	for _, tc := range typeColumns {
		types = append(types,
			col{name: tc.name, typ: tc.typ, json: jsonList(tc.values, false)},
			col{name: tc.name + "_nulls", typ: tc.typ, json: jsonList(tc.values, true)})
	}
	segment(dir, "types", def, nil, addCols(types...))

	segment(dir, "tensors", def, nil, func(b *arena.Builder) error {
		if err := arena.AddSlice(b, "row", []int64{0, 1, 2, 3}); err != nil {
			return err
		}
		i32 := make([]int32, 12)
		for i := range i32 {
			i32[i] = int32(i)
		}
		if err := arena.AddTensor(b, "t_int32", i32, 4, 3); err != nil {
			return err
		}
		f64 := make([]float64, 24)
		for i := range f64 {
			f64[i] = float64(i) / 2
		}
		if err := arena.AddTensor(b, "t_float64", f64, 4, 2, 3); err != nil {
			return err
		}
		u8 := make([]uint8, 16)
		for i := range u8 {
			u8[i] = uint8(i)
		}
		if err := arena.AddTensor(b, "t_uint8", u8, 4, 1, 2, 2); err != nil {
			return err
		}
		return addCols(col{name: "t_int16_nulls", typ: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Int16),
			json: "[[1,2,3],null,[7,8,9],null]"})(b)
	})

	segment(dir, "zerodim", def, nil, func(b *arena.Builder) error {
		return arena.AddTensor(b, "t_float32", []float32{}, 4, 0)
	})

	segment(dir, "strings", def, nil, addCols(
		col{name: "u", typ: arrow.BinaryTypes.String, json: `["","a","héllo wörld","日本語テキスト","🎉🎊","nul\u0000inside"]`},
		col{name: "u_nulls", typ: arrow.BinaryTypes.String, json: `["",null,"x",null,"","é"]`},
		col{name: "lu", typ: arrow.BinaryTypes.LargeString, json: `["ü",null,"","long",null,"end"]`},
		col{name: "b", typ: arrow.BinaryTypes.Binary, json: `["AA==",null,"","//4=",null,"YWJj"]`},
		col{name: "lb", typ: arrow.BinaryTypes.LargeBinary, json: `["AA==",null,"","//4=",null,"YWJj"]`},
	))

	segment(dir, "emptycols", def, nil, func(b *arena.Builder) error {
		if err := arena.AddSlice(b, "i", []int64{}); err != nil {
			return err
		}
		return b.AddStrings("s", nil)
	})

	segment(dir, "ragged", def, nil, func(b *arena.Builder) error {
		if err := arena.AddSlice(b, "a", []int64{1, 2, 3}); err != nil {
			return err
		}
		return arena.AddSlice(b, "b", []int64{1, 2, 3, 4})
	})

	segment(dir, "many", def, nil, func(b *arena.Builder) error {
		for i := 0; i < 1000; i++ {
			v := make([]int64, 10)
			for j := range v {
				v[j] = int64(i*10 + j)
			}
			if err := arena.AddSlice(b, fmt.Sprintf("c%04d", i), v); err != nil {
				return err
			}
		}
		return nil
	})

	segment(dir, "empty", def, map[string]string{"empty": "yes"}, func(*arena.Builder) error { return nil })

	segment(dir, "ephemeral", arena.CreateOptions{Ephemeral: true}, nil, func(b *arena.Builder) error {
		return arena.AddSlice(b, "x", []int64{1})
	})

	segment(dir, "nocrc", arena.CreateOptions{NoDataChecksum: true}, nil, func(b *arena.Builder) error {
		if err := b.AddStrings("s", []string{"a", "b"}); err != nil {
			return err
		}
		return arena.AddSlice(b, "n", []int64{1, 2})
	})
}
