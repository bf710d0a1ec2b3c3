package conformance

import (
	"math"

	"github.com/shmarray/shmarray/format"
)

// Lists and dictionaries (format 1.3, spec §6.1). A list slot's JSON value
// is its number of elements (the child's slots follow one another); a
// dictionary slot's is its index. Children are records of their own, after
// their parents, marked is_child, here without names.

// child is an unnamed child record.
func child(typ string, values []any) Array {
	a := col("", typ, values)
	a.IsChild = true
	return a
}

// list is a list record (typ list or large_list) whose child is record c.
func list(name, typ string, c int, counts []any) Array {
	a := col(name, typ, counts)
	a.Child = c
	return a
}

// dict is a dictionary record with indices of type ix and child record c.
func dict(name, ix string, c int, indices []any) Array {
	a := col(name, "dictionary", indices)
	a.IndexType, a.Child = ix, c
	return a
}

func (a Array) asChild() Array { a.IsChild = true; return a }

func nestedCases() []*Case {
	deep := []Array{}
	for i := 0; i < format.MaxDepth; i++ {
		name := ""
		if i == 0 {
			name = "deep"
		}
		a := list(name, "list", i+1, ints(1))
		a.IsChild = i > 0
		deep = append(deep, a)
	}
	deep = append(deep, child("int8", ints(7)), col("z", "int8", ints(1)))
	return []*Case{
		{Name: "list_int32", Description: "tags: list<int32> [[1, null], null, [], [3, 4, 5]] (nulls at both levels, an empty list), its values in record 1, then a column ids int64.",
			Arrays: []Array{
				list("tags", "list", 1, ints(2, nil, 0, 3)),
				child("int32", withNulls(ints(1, 0, 3, 4, 5), 1)),
				col("ids", "int64", ints(10, 11, 12, 13)),
			}},
		{Name: "large_list_utf8", Description: "words: large_list<utf8> [[\"a\", \"héllo\"], [null], null, [\"\"]].",
			Arrays: []Array{
				list("words", "large_list", 1, ints(2, 1, nil, 1)),
				child("utf8", []any{"a", "héllo", nil, ""}),
			}},
		{Name: "list_nested", Description: "m: list<list<float64>> [[[1.5], []], null, [[2, 3]]]: depth 2.",
			Arrays: []Array{
				list("m", "list", 1, ints(2, nil, 1)),
				list("", "list", 2, ints(1, 0, 2)).asChild(),
				child("float64", f64(1.5, 2.0, 3.0)),
			}},
		{Name: "list_empty", Description: "A list of length 0 without offsets buffer and a list of two empty lists, both over empty children.",
			Arrays: []Array{
				list("none", "list", 2, []any{}).layout(ArrayLayout{Offsets: "empty"}),
				list("empties", "large_list", 3, ints(0, 0)),
				child("int64", []any{}),
				child("utf8", []any{}),
			}},
		{Name: "list_two_columns", Description: "Two list columns a and b, then their children: children need not follow their parent at once.",
			Arrays: []Array{
				list("a", "list", 2, ints(1, 2)),
				list("b", "list", 3, ints(0, 1)),
				child("uint8", ints(1, 2, 3)),
				child("bool", bools(true)),
			}},
		{Name: "list_named_child", Description: "A list whose child has a name (element), which Arrow takes as the child field's name.",
			Arrays: []Array{
				list("xs", "list", 1, ints(1, 1)),
				col("element", "int16", ints(-1, 1)).asChild(),
			}},
		{Name: "list_max_depth", Description: "deep: 8 levels of list, one inside the other, over an int8 value: the deepest nesting allowed; then a column z.",
			Arrays: deep},
		{Name: "dictionary_utf8", Description: "sym: dictionary<int8, utf8> [\"AAPL\", \"GOOG\", null, \"MSFT\", \"AAPL\"]; px: dictionary<uint16, int64> whose dictionary holds a null.",
			Arrays: []Array{
				dict("sym", "int8", 1, ints(0, 2, nil, 1, 0)),
				child("utf8", []any{"AAPL", "MSFT", "GOOG"}),
				dict("px", "uint16", 3, ints(1, 0, 1, 2, 2)),
				child("int64", ints(100, nil, -5)),
			}},
		{Name: "dictionary_int64_index", Description: "A dictionary<int64, large_utf8> and a dictionary<uint32, fixed_size_binary[2]>.",
			Arrays: []Array{
				dict("k", "int64", 1, ints(1, 1, 0)),
				child("large_utf8", []any{"x", "yy"}),
				dict("f", "uint32", 3, ints(0, nil, 0)),
				child("fixed_size_binary", bins("ab")).width(2),
			}},
		{Name: "list_of_dictionary", Description: "l: list<dictionary<int16, utf8>> [[\"a\", \"b\"], [], [\"b\"]].",
			Arrays: []Array{
				list("l", "list", 1, ints(2, 0, 1)),
				dict("", "int16", 2, ints(0, 1, 1)).asChild(),
				child("utf8", []any{"a", "b"}),
			}},
	}
}

func nestedInvalidCases() []Invalid {
	s, f := Structural, Full
	return []Invalid{
		// §11.2 step 9.2 and 9.2a.
		{"list_in_minor_2", "A list in a file whose minor is 2: codes 22-24 exist from 1.3 on.", "§11.2 step 9.2, §12", "list_int32",
			func(p *patch) { p.hdr(10, 2, 2) }, true, format.BadType, s},
		{"dictionary_index_type_bad", "A dictionary's dict_index_type = 13 (utf8).", "§11.2 step 9.2a", "dictionary_utf8",
			func(p *patch) { p.field(0, 187, 1, 13) }, true, format.BadType, s},
		{"dictionary_index_type_on_int", "An int64 column's dict_index_type = 2.", "§11.2 step 9.2a", "list_int32",
			func(p *patch) { p.field(2, 187, 1, 2) }, true, format.BadType, s},
		{"child_on_int", "An int64 column names record 1 as its child.", "§11.2 step 9.2a", "list_int32",
			func(p *patch) { p.field(2, 188, 4, 1) }, true, format.BadType, s},
		{"child_before_parent", "A list names record 0, itself, as its child.", "§11.2 step 9.2a", "list_int32",
			func(p *patch) { p.field(0, 188, 4, 0) }, true, format.OutOfBounds, s},
		{"child_past_directory", "A list names record 3 in a 3-record directory.", "§11.2 step 9.2a", "list_int32",
			func(p *patch) { p.field(0, 188, 4, 3) }, true, format.OutOfBounds, s},
		{"child_shared", "Lists a and b both name record 2.", "§11.2 step 9.2a", "list_two_columns",
			func(p *patch) { p.field(1, 188, 4, 2) }, true, format.OutOfBounds, s},
		{"child_flag_missing", "The list's child (named element) has its CHILD flag clear.", "§11.2 step 9.2a", "list_named_child",
			func(p *patch) { p.field(1, 11, 1, uint64(p.rec(1)[11]&^2)) }, true, format.BadType, s},
		{"child_flag_orphan", "The column ids has the CHILD flag, but no record names it.", "§11.2 step 9.2a", "list_int32",
			func(p *patch) { p.field(2, 11, 1, uint64(p.rec(2)[11]|2)) }, true, format.BadType, s},
		{"nesting_too_deep", "The int8 leaf under 8 lists becomes a ninth list over the column z (flagged as its child).", "§11.2 step 9.2a, §6.1", "list_max_depth",
			func(p *patch) {
				p.field(8, 8, 1, uint64(format.List))
				p.field(8, 188, 4, 9)
				p.field(8, 64, 8, 8) // offsets_length, unchecked before the depth
				p.field(9, 11, 1, uint64(p.rec(9)[11]|2))
			}, true, format.BadType, s},
		{"child_two_dimensions", "The list's child has ndim 2 (shape [5, 1]).", "§11.2 step 9.2a", "list_int32",
			func(p *patch) { p.field(1, 9, 1, 2); p.field(1, 112, 8, 1) }, true, format.BadShape, s},
		{"dictionary_of_dictionary", "The list l becomes a dictionary<int8> (its offsets as its indices) whose values, record 1, are a dictionary.", "§11.2 step 9.2a, §6.1", "list_of_dictionary",
			func(p *patch) {
				p.field(0, 8, 1, uint64(format.Dictionary))
				p.field(0, 187, 1, uint64(format.Int8))
				p.field(0, 72, 8, p.get64(0, 56))
				p.field(0, 80, 8, p.get64(0, 64))
				p.field(0, 56, 8, 0)
				p.field(0, 64, 8, 0)
			}, true, format.BadType, s},
		{"index_on_child", "The list's int32 child carries a hash index (index_kind 1).", "§11.2 step 9.5a, §6.1", "list_int32",
			func(p *patch) { p.field(1, 184, 1, 1); p.field(1, 185, 1, 4); p.field(1, 186, 1, 4) }, true, format.BadType, s},
		// §11.2 step 9.5.
		{"list_data_not_empty", "A list's data buffer is 1 byte (at its validity bitmap's offset).", "§11.2 step 9.5", "list_int32",
			func(p *patch) { p.field(0, 72, 8, p.get64(0, 40)); p.field(0, 80, 8, 1) }, true, format.BadSize, s},
		{"list_offsets_short", "A list of length 4 has 16 bytes of offsets, 20 needed.", "§11.2 step 9.5", "list_int32",
			func(p *patch) { p.field(0, 64, 8, 16) }, true, format.BadSize, s},
		{"dictionary_indices_short", "A dictionary<int8> of length 5 has 4 bytes of indices.", "§11.2 step 9.5", "dictionary_utf8",
			func(p *patch) { p.field(0, 80, 8, 4) }, true, format.BadSize, s},
		// §11.3 steps 2 and 2a.
		{"list_offset_past_child", "offsets[length] = 6, past the child's 5 slots.", "§11.3 step 2, §6.1", "list_int32",
			func(p *patch) { p.set(p.buffer(0, 1), 16, 4, 6) }, false, format.BadOffsets, f},
		{"list_offsets_decreasing", "offsets[2] = 1, below offsets[1] = 2.", "§11.3 step 2", "list_int32",
			func(p *patch) { p.set(p.buffer(0, 1), 8, 4, 1) }, false, format.BadOffsets, f},
		{"list_offset_first_nonzero", "A large_list's offsets[0] = 1.", "§11.3 step 2", "large_list_utf8",
			func(p *patch) { p.set(p.buffer(0, 1), 0, 8, 1) }, false, format.BadOffsets, f},
		{"list_offset_negative", "A large_list's offsets[1] = -1.", "§11.3 step 2", "large_list_utf8",
			func(p *patch) { p.set(p.buffer(0, 1), 8, 8, math.MaxUint64) }, false, format.BadOffsets, f},
		{"dictionary_index_out_of_range", "sym's index of slot 1 = 3, its dictionary has 3 values.", "§11.3 step 2a", "dictionary_utf8",
			func(p *patch) { p.set(p.buffer(0, 2), 1, 1, 3) }, false, format.OutOfBounds, f},
		{"dictionary_index_negative", "sym's index of slot 0 = -1.", "§11.3 step 2a", "dictionary_utf8",
			func(p *patch) { p.set(p.buffer(0, 2), 0, 1, 0xFF) }, false, format.OutOfBounds, f},
		{"dictionary_index_unsigned_large", "f's uint32 index of slot 2 = 2^32 - 1.", "§11.3 step 2a", "dictionary_int64_index",
			func(p *patch) { p.set(p.buffer(2, 2), 8, 4, math.MaxUint32) }, false, format.OutOfBounds, f},
	}
}
