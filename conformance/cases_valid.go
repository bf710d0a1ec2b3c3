package conformance

import (
	"fmt"
	"math"
	"strings"
)

// ValidCases are the valid vectors, grouped as in README.md's coverage
// section. Every name is also the segment file's base name (<case>.shm), so
// names use only [a-z0-9_].
func ValidCases() []*Case {
	cases := []*Case{
		{Name: "empty_segment", Description: "A segment with zero arrays and no metadata: the file is the 128-byte header alone."},
		{Name: "empty_segment_metadata", Description: "Zero arrays, two segment metadata pairs.",
			Metadata: []KV{{"empty", "yes"}, {"owner", "conformance"}}},
		{Name: "spec_example", Description: "The worked example of spec §16 byte for byte: int64 x = [1, 2, 3], no data CRC; 385 bytes, checksum 0x8FA1045F.",
			Arrays: []Array{col("x", "int64", ints(1, 2, 3)).layout(ArrayLayout{NoDataCRC: true})}},
	}
	cases = append(cases, typeCases()...)
	cases = append(cases, limitCases()...)
	cases = append(cases, boundaryCases()...)
	cases = append(cases, textCases()...)
	cases = append(cases, tensorCases()...)
	cases = append(cases, structureCases()...)
	cases = append(cases, identityCases()...)
	for _, c := range cases {
		c.Format = FormatID
	}
	return cases
}

// typeCases: one case per type of spec §6, each with an array without nulls
// ("plain", no bitmap) and one with nulls ("nulls").
func typeCases() []*Case {
	type tc struct {
		typ    string
		plain  []any
		nulls  []int // slots of plain made null in "nulls"
		mod    func(Array) Array
		extra  []Array
		detail string
	}
	same := func(a Array) Array { return a }
	list := []tc{
		{"bool", bools(true, false, true, true, false, false, true, false, true, true), []int{1, 4, 9}, same, nil, ""},
		{"int8", ints(-128, -1, 0, 1, 127), []int{1, 3}, same, nil, ""},
		{"uint8", ints(0, 1, 2, 254, 255), []int{1, 3}, same, nil, ""},
		{"int16", ints(-32768, -1, 0, 1, 32767), []int{1, 3}, same, nil, ""},
		{"uint16", ints(0, 1, 2, 65534, 65535), []int{1, 3}, same, nil, ""},
		{"int32", ints(-2147483648, -1, 0, 1, 2147483647), []int{1, 3}, same, nil, ""},
		{"uint32", ints(0, 1, 2, 4294967294, 4294967295), []int{1, 3}, same, nil, ""},
		{"int64", ints(int64(math.MinInt64), -1, 0, 1, int64(math.MaxInt64)), []int{1, 3}, same, nil, ""},
		{"uint64", ints(uint64(0), uint64(1), uint64(2), uint64(math.MaxUint64-1), uint64(math.MaxUint64)), []int{1, 3}, same, nil, ""},
		// 1.0, -2.0, 0.5, 65504 (max), 2^-24 (smallest subnormal), 0.333...
		{"float16", f16(0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x3555), []int{1, 3}, same, nil, "; values 1, -2, 0.5, 65504, 2^-24, 0.33325"},
		{"float32", f32(1.5, -0.25, uint32(0x7f7fffff), uint32(0x00000001), 0.1, 16777217.0), []int{1, 3}, same, nil, "; values 1.5, -0.25, max, min subnormal, 0.1, 2^24+1 (rounded)"},
		{"float64", f64(0.1, -1e300, uint64(1), uint64(0x7fefffffffffffff), 1.0/3, 2.0), []int{1, 3}, same, nil, "; values 0.1, -1e300, min subnormal, max, 1/3, 2"},
		{"utf8", strs("", "a", "héllo", "日本語", "🎉", "nul\x00inside"), []int{1, 3}, same, nil, ""},
		{"large_utf8", strs("x", "", "ß", "longer value", "🎉", "z"), []int{0, 2}, same, nil, ""},
		{"binary", bins("", "\x00", "\xff\xfe", "abc", "\x00a\x00", "\x80"), []int{1, 3}, same, nil, ""},
		{"large_binary", bins("abc", "", "\x00", "\xff\xfe", "\x00a\x00", ""), []int{0, 4}, same, nil, ""},
		{"fixed_size_binary", bins("abc", "\x00\x01\x02", "xyz", "\xff\xff\xff", "a\x00\x00", "\x00\x00\x00"), []int{1, 3},
			func(a Array) Array { return a.width(3) }, []Array{
				col("width1", "fixed_size_binary", bins("\x00", "\x7f", "\xff")).width(1),
				col("uuid", "fixed_size_binary", bins("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x23\x45\x67\x89\xab\xcd\xef", nil)).width(16),
			}, "; trailing NUL bytes are part of the value"},
		{"date32", ints(-719162, -1, 0, 1, 2932896, -2147483648, 2147483647), []int{1, 3}, same, nil, "; 0001-01-01, 9999-12-31 and the int32 limits"},
		{"date64", ints(int64(-62135596800000), -86400000, 0, 86400000, int64(253402214400000)), []int{1, 3}, same, nil, ""},
		{"timestamp", ints(-1, 0, 1, 1700000000, 4102444800), []int{1, 3}, func(a Array) Array { return a.unit("s") }, []Array{
			col("ms_utc", "timestamp", ints(-1, 0, int64(1700000000000), nil)).unit("ms").tz("UTC"),
			col("us_paris", "timestamp", ints(int64(1700000000000000), nil, 0)).unit("us").tz("Europe/Paris"),
			col("ns_offset", "timestamp", ints(int64(1700000000000000000), 0, nil)).unit("ns").tz("+07:30"),
			col("ns_limits", "timestamp", ints(int64(math.MinInt64), int64(math.MaxInt64), nil)).unit("ns"),
		}, "; units s, ms, us, ns; time zones none, UTC, Europe/Paris, +07:30; the int64 limits (NumPy reads -2^63 as NaT, Arrow does not)"},
		{"duration", ints(-5, 0, 5, 1000, 123456789), []int{1, 3}, func(a Array) Array { return a.unit("s") }, []Array{
			col("ms", "duration", ints(-1, nil, 86400000)).unit("ms"),
			col("us", "duration", ints(1, 2, nil)).unit("us"),
			col("ns_limits", "duration", ints(int64(math.MinInt64), int64(math.MaxInt64), nil, 0)).unit("ns"),
		}, "; units s, ms, us, ns and the int64 limits"},
	}
	var out []*Case
	for _, t := range list {
		plain := t.mod(col("plain", t.typ, t.plain))
		nulls := t.mod(col("nulls", t.typ, withNulls(t.plain, t.nulls...)))
		out = append(out, &Case{
			Name:        "type_" + t.typ,
			Description: fmt.Sprintf("Type %s: \"plain\" without nulls (no bitmap), \"nulls\" with nulls at slots %s%s.", t.typ, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(t.nulls)), ", "), "[]"), t.detail),
			Arrays:      append([]Array{plain, nulls}, t.extra...),
		})
	}
	return out
}

func limitCases() []*Case {
	signed := []struct {
		typ      string
		min, max int64
	}{{"int8", math.MinInt8, math.MaxInt8}, {"int16", math.MinInt16, math.MaxInt16}, {"int32", math.MinInt32, math.MaxInt32}, {"int64", math.MinInt64, math.MaxInt64}}
	unsigned := []struct {
		typ string
		max uint64
	}{{"uint8", math.MaxUint8}, {"uint16", math.MaxUint16}, {"uint32", math.MaxUint32}, {"uint64", math.MaxUint64}}
	var limits []Array
	for _, s := range signed {
		limits = append(limits, col(s.typ, s.typ, ints(s.min, s.max, 0, -1, s.min+1, s.max-1)))
	}
	for _, u := range unsigned {
		limits = append(limits, col(u.typ, u.typ, ints(uint64(0), u.max, uint64(1), u.max-1)))
	}
	return []*Case{
		{Name: "integer_limits", Description: "The minimum and maximum of every integer type, their neighbours, 0 and -1.", Arrays: limits},
		{Name: "float_specials", Description: "+0, -0, +Inf, -Inf, quiet NaN, negative NaN, NaN with a payload and signaling NaN in every float type, bit for bit; NaN next to a null.",
			Arrays: []Array{
				col("f16", "float16", f16(0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7e01, 0x7d00)),
				col("f32", "float32", f32(uint32(0), uint32(0x80000000), uint32(0x7f800000), uint32(0xff800000), uint32(0x7fc00000), uint32(0xffc00000), uint32(0x7fc12345), uint32(0x7fa00000))),
				col("f64", "float64", f64(uint64(0), uint64(0x8000000000000000), uint64(0x7ff0000000000000), uint64(0xfff0000000000000), uint64(0x7ff8000000000000), uint64(0xfff8000000000000), uint64(0x7ff800000000beef), uint64(0x7ff4000000000000))),
				col("f64_nulls", "float64", f64(uint64(0x7ff8000000000000), nil, uint64(0x8000000000000000), nil)),
			}},
	}
}

// boundaryCases: empty arrays, length 1, arrays of different lengths, and
// lengths around the bytes of a bitmap.
func boundaryCases() []*Case {
	empty := []Array{
		col("bool", "bool", nil), col("int8", "int8", nil), col("uint16", "uint16", nil), col("int64", "int64", nil),
		col("float16", "float16", nil), col("float64", "float64", nil),
		col("utf8", "utf8", nil), col("utf8_no_offsets", "utf8", nil).layout(ArrayLayout{Offsets: "empty"}),
		col("large_utf8", "large_utf8", nil), col("binary", "binary", nil).layout(ArrayLayout{Offsets: "empty"}),
		col("large_binary", "large_binary", nil), col("fixed_size_binary", "fixed_size_binary", nil).width(4),
		col("date32", "date32", nil), col("date64", "date64", nil),
		col("timestamp", "timestamp", nil).unit("us").tz("UTC"), col("duration", "duration", nil).unit("ms"),
		tensor("tensor", "int32", []int64{0, 3}, nil),
	}
	one := []Array{
		col("bool", "bool", bools(true)), col("int64", "int64", ints(42)), col("float64_nan", "float64", f64(uint64(0x7ff8000000000000))),
		col("utf8", "utf8", strs("x")), col("binary", "binary", bins("\x00")),
		col("fixed_size_binary", "fixed_size_binary", bins("ab")).width(2),
		col("timestamp", "timestamp", ints(0)).unit("ns"), col("int32_null", "int32", ints(nil)),
		col("utf8_null", "utf8", strs(nil)), col("bool_null", "bool", bools(nil)),
		tensor("tensor", "float32", []int64{1, 2}, rows([]int64{1, 2}, f32(1.0, 2.0))),
	}
	cases := []*Case{
		{Name: "empty_arrays", Description: "Length 0 in every type, one N-D (shape [0, 3]); utf8_no_offsets and binary store no offsets buffer, the others one zero entry.", Arrays: empty},
		{Name: "length_1", Description: "Length 1 in several types, valid and null.", Arrays: one},
		{Name: "different_lengths", Description: "Arrays of lengths 0, 1, 5, 17 and 100 in one segment (not a table).", Arrays: []Array{
			col("len0", "int64", nil), col("len1", "utf8", strs("one")), col("len5", "int16", ints(1, 2, nil, 4, 5)),
			col("len17", "float32", f32(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, nil)),
			col("len100", "bool", boolPattern(100, 7)),
		}},
	}
	for _, n := range []int{7, 8, 9, 63, 64, 65} {
		nullSlots := []int{0, n - 1}
		for s := 3; s < n-1; s += 5 {
			nullSlots = append(nullSlots, s)
		}
		vals := seq(n, 0, 100)
		strVals := make([]any, n)
		for i := range strVals {
			strVals[i] = strings.Repeat("s", i%4)
		}
		cases = append(cases, &Case{
			Name:        fmt.Sprintf("bitmap_%d", n),
			Description: fmt.Sprintf("Length %d, around a bitmap byte boundary: bool with and without nulls, int16 and utf8 with nulls at the first and last slot and every 5th from slot 3, uint8 with an all-valid bitmap.", n),
			Arrays: []Array{
				col("bool", "bool", boolPattern(n, 3)),
				col("bool_nulls", "bool", withNulls(boolPattern(n, 3), nullSlots...)),
				col("int16_nulls", "int16", withNulls(vals, nullSlots...)),
				col("utf8_nulls", "utf8", withNulls(strVals, nullSlots...)),
				col("uint8_bitmap", "uint8", vals).layout(ArrayLayout{Validity: "always"}),
			},
		})
	}
	return cases
}

// boolPattern is n booleans, true where i % k != 0.
func boolPattern(n, k int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = i%k != 0
	}
	return out
}

func textCases() []*Case {
	longName := strings.Repeat("n", 1024) // the maximum; array 0, so that an invalid vector can lengthen it
	names := []string{longName, "ü", "日本語", "🎉 party", "a b", "é", "e\u0301", "tab\there", "Ω", "quote\"back\\slash", "%41"}
	var named []Array
	for i, n := range names {
		named = append(named, col(n, "int8", ints(i)))
	}
	values := []any{"ASCII", "ü", "日本語", "🎉", "\x00", "a\x00b", "\ufeff", "\uffff", "\U0010ffff", "\ue000", "e\u0301", "𝄞", "\u0080", "\u07ff", "\u0800", "\ud7ff", "\U00010000", "\u2028", " spaced ", "%"}
	return []*Case{
		{Name: "unicode_names", Description: "Array names: 1024 bytes (the maximum), non-ASCII, emoji, spaces, a tab, composed and decomposed é (distinct names: names are compared byte for byte), quotes, a percent sign.", Arrays: named},
		{Name: "unicode_values", Description: "UTF-8 values: 1 to 4 byte characters, the first and last code points of each length (and around the surrogates), NUL inside a value, BOM, U+FFFF, U+10FFFF, private use, combining marks; \"pair\" is [\"aé\", \"b\"] (a later invalid vector moves its boundary into the é).", Arrays: []Array{
			col("pair", "utf8", strs("aé", "b")),
			col("utf8", "utf8", values),
			col("large_utf8", "large_utf8", values),
			col("utf8_nulls", "utf8", withNulls(values, 1, 5, 9)),
		}},
		{Name: "empty_strings_vs_nulls", Description: "Empty values and nulls are different: utf8, large_utf8, binary and large_binary mixing \"\" and null, all \"\", all null; fixed_size_binary with all-zero values and nulls.", Arrays: []Array{
			col("utf8", "utf8", strs("", nil, "", "a", nil, "")),
			col("utf8_all_empty", "utf8", strs("", "", "")),
			col("utf8_all_null", "utf8", strs(nil, nil, nil)),
			col("large_utf8", "large_utf8", strs(nil, "", nil, "")),
			col("binary", "binary", bins("", nil, "", "\x00", nil)),
			col("binary_all_empty", "binary", bins("", "")),
			col("binary_all_null", "binary", bins(nil, nil)),
			col("large_binary", "large_binary", bins(nil, "", "\x00")),
			col("fixed_size_binary", "fixed_size_binary", bins("\x00\x00\x00", nil, "\x00\x00\x00")).width(3),
		}},
	}
}

func tensorCases() []*Case {
	s := func(d ...int64) []int64 { return d }
	return []*Case{
		{Name: "ndarray_2d", Description: "2-D arrays of int32 (4, 3), float64 (3, 2), uint8 (2, 5) and float16 (2, 2).", Arrays: []Array{
			tensor("int32", "int32", s(4, 3), rows(s(4, 3), seq(12, -6, 0))),
			tensor("float64", "float64", s(3, 2), rows(s(3, 2), f64(0.5, -1.5, 2.25, uint64(0x7ff8000000000000), math.Inf(1), -0.0))),
			tensor("uint8", "uint8", s(2, 5), rows(s(2, 5), seq(10, 246, 0))),
			tensor("float16", "float16", s(2, 2), rows(s(2, 2), f16(0x3c00, 0x4000, 0x4200, 0x7c00))),
		}},
		{Name: "ndarray_3d", Description: "3-D arrays: float32 (2, 3, 4), int64 (2, 2, 2), int16 (3, 1, 2).", Arrays: []Array{
			tensor("float32", "float32", s(2, 3, 4), rows(s(2, 3, 4), floats32(24))),
			tensor("int64", "int64", s(2, 2, 2), rows(s(2, 2, 2), ints(int64(math.MinInt64), -1, 0, 1, 2, 3, 4, int64(math.MaxInt64)))),
			tensor("int16", "int16", s(3, 1, 2), rows(s(3, 1, 2), seq(6, -3, 0))),
		}},
		{Name: "ndarray_4d", Description: "4-D arrays: uint16 (2, 2, 2, 2), float64 (1, 2, 3, 4), int8 (3, 2, 1, 2).", Arrays: []Array{
			tensor("uint16", "uint16", s(2, 2, 2, 2), rows(s(2, 2, 2, 2), seq(16, 65520, 0))),
			tensor("float64", "float64", s(1, 2, 3, 4), rows(s(1, 2, 3, 4), floats64(24))),
			tensor("int8", "int8", s(3, 2, 1, 2), rows(s(3, 2, 1, 2), seq(12, -128, 0))),
		}},
		{Name: "ndarray_nulls", Description: "N-D arrays with null rows (validity is per row): int16 (4, 3) rows 1 and 3 null, float64 (5, 2, 2) rows 0 and 4, uint64 (9, 2) rows 0 and 8, uint32 (3, 2) all rows null.", Arrays: []Array{
			tensor("int16", "int16", s(4, 3), rows(s(4, 3), seq(6, 1, 0), 1, 3)),
			tensor("float64", "float64", s(5, 2, 2), rows(s(5, 2, 2), floats64(12), 0, 4)),
			tensor("uint64", "uint64", s(9, 2), rows(s(9, 2), seq(14, 100, 0), 0, 8)),
			tensor("uint32", "uint32", s(3, 2), rows(s(3, 2), nil, 0, 1, 2)),
		}},
		{Name: "ndarray_edge", Description: "N-D edge cases: a zero dimension (4, 0), length 0 (0, 3, 2), the maximum of 8 dimensions (1, 1, 1, 1, 1, 1, 1, 2), a unit dimension (3, 1), and 5 dimensions (2, 1, 2, 1, 2).", Arrays: []Array{
			tensor("zero_dim", "float32", s(4, 0), rows(s(4, 0), nil)),
			tensor("zero_length", "int32", s(0, 3, 2), nil),
			tensor("eight_dims", "int8", s(1, 1, 1, 1, 1, 1, 1, 2), rows(s(1, 1, 1, 1, 1, 1, 1, 2), ints(-1, 1))),
			tensor("unit_dim", "uint32", s(3, 1), rows(s(3, 1), ints(uint64(0), uint64(math.MaxUint32), uint64(7)))),
			tensor("five_dims", "float32", s(2, 1, 2, 1, 2), rows(s(2, 1, 2, 1, 2), floats32(8))),
		}},
	}
}

func floats32(n int) []any {
	vs := make([]any, n)
	for i := range vs {
		vs[i] = float64(i) / 4
	}
	return f32(vs...)
}

func floats64(n int) []any {
	vs := make([]any, n)
	for i := range vs {
		vs[i] = float64(i)*1.5 - 3
	}
	return f64(vs...)
}

// structureCases: many arrays, metadata, layout variants a reader must
// accept, and files of a later minor version.
func structureCases() []*Case {
	var many []Array
	kinds := []string{"int64", "float64", "utf8", "bool"}
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("a%04d", i)
		switch kinds[i%4] {
		case "int64":
			many = append(many, col(name, "int64", ints(i)))
		case "float64":
			many = append(many, col(name, "float64", f64(float64(i)/2)))
		case "utf8":
			many = append(many, col(name, "utf8", strs(fmt.Sprint(i), nil)))
		case "bool":
			many = append(many, col(name, "bool", bools(i%8 == 0, true, false)))
		}
	}
	longKey := strings.Repeat("k", 4096)
	return []*Case{
		{Name: "many_arrays", Description: "1,000 arrays a0000 to a0999 in one segment, cycling int64 [i], float64 [i/2], utf8 [\"i\", null] and bool.", Arrays: many},
		{Name: "metadata", Description: "Key/value metadata on the segment and on arrays: unicode keys and values, an empty value, a 4096-byte key (the maximum), JSON text, metadata on an N-D array; all arrays have 3 rows.",
			Metadata: []KV{{"app.name", "conformance"}, {"empty", ""}, {"ключ ü", "värde 🎉"}, {longKey, "long key"}, {"json", `{"a": [1, 2], "b": "c"}`}},
			Arrays: []Array{
				col("with_meta", "int32", ints(1, 2, 3)).meta(KV{"unit", "m"}, KV{"desc", "distance in metres"}),
				col("no_meta", "float64", f64(1.0, 2.0, 3.0)),
				col("utf8_meta", "utf8", strs("a", nil, "c")).meta(KV{"encoding", "utf-8"}, KV{"empty", ""}),
				tensor("tensor_meta", "int16", []int64{3, 2}, rows([]int64{3, 2}, seq(6, 0, 0))).meta(KV{"role", "weights"}),
			}},
		{Name: "layout_variants", Description: "Valid layouts readers must accept: a bitmap without nulls, buffers longer than needed, non-zero bytes under null slots and non-empty null strings, set bits past the length, no data CRC.", Arrays: []Array{
			col("bitmap_no_nulls", "int32", ints(1, 2, 3)).layout(ArrayLayout{Validity: "always"}),
			col("padded", "int64", ints(1, nil, 3)).layout(ArrayLayout{Padding: 24}),
			col("padded_utf8", "utf8", strs("ab", nil, "c")).layout(ArrayLayout{Padding: 13}),
			col("garbage_int32", "int32", ints(nil, 7, nil)).layout(ArrayLayout{NullFill: "garbage"}),
			col("garbage_utf8", "utf8", strs("a", nil, "b", nil)).layout(ArrayLayout{NullFill: "garbage"}),
			col("garbage_bool", "bool", bools(nil, false, nil, true)).layout(ArrayLayout{NullFill: "garbage"}),
			col("bitmap_tail", "bool", bools(true, nil, false)).layout(ArrayLayout{BitmapTail: true}),
			col("no_crc", "float64", f64(1.0, nil)).layout(ArrayLayout{NoDataCRC: true}),
		}},
		{Name: "all_nulls", Description: "Every slot null, in several types and an N-D array.", Arrays: []Array{
			col("int64", "int64", ints(nil, nil, nil, nil, nil)), col("bool", "bool", bools(nil, nil, nil, nil, nil, nil, nil, nil, nil)),
			col("utf8", "utf8", strs(nil, nil, nil)), col("binary", "binary", bins(nil, nil)),
			col("fixed_size_binary", "fixed_size_binary", bins(nil, nil)).width(5), col("float64", "float64", f64(nil)),
			col("timestamp", "timestamp", ints(nil, nil)).unit("ms").tz("UTC"),
			tensor("tensor", "float32", []int64{3, 2}, rows([]int64{3, 2}, nil, 0, 1, 2)),
		}},
		{Name: "future_minor", Description: "A file of minor version 3 (a later 1.x): header_size 200 and record_size 256; header bytes 128-199 are all 0x5A, which a 1.2 reader reads as the identity (id 5a...5a, version 0x5A5A5A5A5A5A5A5A) and then reserved and unknown bytes (all covered by the checksum); non-zero reserved fields and flag bits, record bytes 168-191 set to 0xEE (index_kind 0xEE, a kind a reader does not know and ignores); data from offset 256.",
			Layout:   &SegmentLayout{HeaderSize: 200, RecordSize: 256, Minor: 3, Reserved: true},
			Identity: &Identity{ID: strings.Repeat("5a", 16), Version: "6510615555426900570"},
			Metadata: []KV{{"minor", "3"}},
			Arrays: []Array{
				col("int32", "int32", ints(1, 2, 3)).meta(KV{"k", "v"}),
				col("utf8", "utf8", strs("a", nil, "b")),
			}},
		{Name: "meta_reordered", Description: "The metadata area holds the string table first, then the key/value table, then the directory, with 5-byte gaps: tables are found only through the header, and the directory is not aligned.",
			Layout:   &SegmentLayout{MetaOrder: "strtab,kv,directory", Gap: 5},
			Metadata: []KV{{"order", "strtab,kv,directory"}},
			Arrays: []Array{
				col("abc", "int16", ints(1, -1)).meta(KV{"x", "y"}),
				col("de", "utf8", strs("é", "")),
			}},
		{Name: "ignored_fields", Description: "Fields readers must ignore hold garbage: the offset of every empty buffer (validity 12345, offsets 7, data 2^60), tz_offset without a time zone, kv_first of an array without metadata, seg_kv_first without segment metadata, data_crc without HAS_DATA_CRC.",
			Arrays: []Array{
				col("no_bitmap", "int32", ints(1, 2)),
				col("empty_no_offsets", "utf8", nil).layout(ArrayLayout{Offsets: "empty"}),
				col("no_tz", "timestamp", ints(5)).unit("ns"),
				col("no_meta", "int8", ints(1)),
				col("crc_ignored", "float32", f32(1.0)).layout(ArrayLayout{NoDataCRC: true}),
			},
			Patch: func(p *patch) {
				p.field(0, 40, 8, 12345)
				p.field(1, 56, 8, 7)
				p.field(1, 72, 8, 1<<60)
				p.field(2, 16, 4, 99999)
				p.field(3, 88, 4, 777)
				p.field(4, 96, 4, 0xDEADBEEF)
				p.hdr(88, 4, 555)
			}},
		{Name: "shared_strings", Description: "String references that overlap or sit at the end: the segment metadata value \"shared\" points at the bytes of the array name \"shared\" (the string table keeps an unused copy, so the total of the references stays within it), and the empty value of key \"empty\" has the offset strtab_length (an empty string may sit at the very end).",
			Metadata: []KV{{"name", "shared"}, {"empty", ""}},
			Arrays:   []Array{col("shared", "int8", ints(1))},
			Patch: func(p *patch) {
				kv := p.h.KVOffset + 16*uint64(p.h.SegKVFirst)
				le.PutUint32(p.b[kv+8:], p.get32(0, 0))
				le.PutUint32(p.b[kv+16+8:], uint32(p.h.StrtabLength))
			}},
		{Name: "shared_buffers", Description: "Arrays share buffers (allowed: readers need not check overlap): b uses a's data buffer, t uses s's offsets and data, m uses n's validity bitmap.",
			Arrays: []Array{
				col("a", "int64", ints(1, 2, 3)), col("b", "int64", ints(1, 2, 3)),
				col("s", "utf8", strs("x", "yz")), col("t", "utf8", strs("x", "yz")),
				col("n", "int32", ints(1, nil, 3)), col("m", "int32", ints(4, nil, 6)),
			},
			Patch: func(p *patch) {
				p.field(1, 72, 8, p.get64(0, 72))
				p.field(3, 56, 8, p.get64(2, 56))
				p.field(3, 72, 8, p.get64(2, 72))
				p.field(5, 40, 8, p.get64(4, 40))
			}},
		{Name: "kv_ranges_reordered", Description: "The key/value table holds the segment's pair first, then array 1's, then array 0's: owners' ranges may come in any order.",
			Metadata: []KV{{"seg", "s"}},
			Arrays:   []Array{col("a0", "int8", ints(1)).meta(KV{"k0", "v0"}), col("a1", "int8", ints(2)).meta(KV{"k1", "v1"})},
			Patch: func(p *patch) {
				kv := p.b[p.h.KVOffset : p.h.KVOffset+48] // encoded as [a0, a1, seg]
				a0, a1, seg := append([]byte(nil), kv[0:16]...), append([]byte(nil), kv[16:32]...), append([]byte(nil), kv[32:48]...)
				copy(kv[0:], seg)
				copy(kv[16:], a1)
				copy(kv[32:], a0)
				p.hdr(88, 4, 0)
				p.field(1, 88, 4, 1)
				p.field(0, 88, 4, 2)
			}},
		{Name: "orphan_kv_records", Description: "The key/value table ends with 2 records in no owner's range, pointing outside the string table: records no range contains are not checked.",
			Layout:   &SegmentLayout{OrphanKV: 2},
			Metadata: []KV{{"s", "t"}},
			Arrays:   []Array{col("x", "int8", ints(1)).meta(KV{"a", "b"})}},
		{Name: "slack_bytes", Description: "7 unused bytes at the end of the metadata area and 9 bytes between it and file_size (writers SHOULD NOT leave them; readers accept them).",
			Layout: &SegmentLayout{MetaTail: 7, Slack: 9},
			Arrays: []Array{col("x", "uint16", ints(1, 2))}},
		{Name: "trailing_bytes", Description: "The file is 100 bytes longer than file_size (0xFF bytes); readers ignore bytes past file_size.",
			Layout: &SegmentLayout{Trailing: 100},
			Arrays: []Array{col("x", "int16", ints(1, 2))}},
		{Name: "ephemeral_flag", Description: "The EPHEMERAL header flag is set; it means nothing to a reader.",
			Layout: &SegmentLayout{Ephemeral: true},
			Arrays: []Array{col("x", "uint8", ints(1))}},
	}
}

// identityCases: files of version 1.2, whose 192-byte header holds the
// segment's id and version (spec §4). Every other case is a 1.0 or 1.1
// file, whose identity readers report as zero.
func identityCases() []*Case {
	return []*Case{
		{Name: "identity_first_version", Description: "A 1.2 file as a writer publishes it the first time under a name: header_size 192, id 0123456789abcdeffedcba9876543210, version 1; data from offset 192.",
			Identity: &Identity{ID: "0123456789abcdeffedcba9876543210", Version: "1"},
			Metadata: []KV{{"source", "identity"}},
			Arrays: []Array{
				col("x", "int64", ints(1, 2, 3)),
				col("s", "utf8", strs("a", nil, "ccc")),
			}},
		{Name: "identity_max_version", Description: "A 1.2 file of version 2^64-1 and id ff...ff: the version is a u64, read whole.",
			Identity: &Identity{ID: strings.Repeat("ff", 16), Version: "18446744073709551615"},
			Arrays:   []Array{col("f", "float64", f64(0.5, nil))}},
		{Name: "identity_zero", Description: "A 1.2 file whose id is all zero and version 0 (a writer never writes them, readers do not check them): read as they are.",
			Identity: &Identity{ID: strings.Repeat("00", 16), Version: "0"},
			Arrays:   []Array{col("b", "bool", bools(true, false))}},
		{Name: "identity_empty_segment", Description: "A 1.2 file with zero arrays and no metadata: the 192-byte header alone, id 00000000000000000000000000000001, version 7.",
			Identity: &Identity{ID: strings.Repeat("00", 15) + "01", Version: "7"}},
	}
}
