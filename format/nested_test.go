package format

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEncodeTree: Encode refuses the record links Decode would reject
// (spec §6.1, §11.2 step 9.2a), so that no writer seals such a file.
func TestEncodeTree(t *testing.T) {
	col := func(name string, typ Type) ArrayDesc {
		return ArrayDesc{Name: name, DType: DType{Type: typ}, Shape: []int64{0}}
	}
	list := func(name string, child int) ArrayDesc {
		a := col(name, List)
		a.Child = child
		return a
	}
	child := func(typ Type) ArrayDesc {
		a := col("", typ)
		a.IsChild = true
		return a
	}
	dict := func(ix Type, c int) ArrayDesc {
		a := col("d", Dictionary)
		a.IndexType, a.Child = ix, c
		return a
	}
	levels := func(n int) []ArrayDesc { // n lists, one inside the other, over an int8
		out := []ArrayDesc{list("deep", 1)}
		for i := 1; i < n; i++ {
			a := list("", i+1)
			a.IsChild = true
			out = append(out, a)
		}
		return append(out, child(Int8))
	}
	tests := []struct {
		name   string
		arrays []ArrayDesc
		want   string // "" = accepted
	}{
		{"list", []ArrayDesc{list("l", 1), child(Int8)}, ""},
		{"child before parent", []ArrayDesc{child(Int8), list("l", 0)}, "no earlier list"},
		{"child is itself", []ArrayDesc{list("l", 0)}, "not after it"},
		{"unmarked child", []ArrayDesc{list("l", 1), col("x", Int8)}, "not marked as a child"},
		{"shared child", []ArrayDesc{list("a", 2), list("b", 2), child(Int8)}, "already the child"},
		{"dictionary of list", []ArrayDesc{dict(Int8, 1), func() ArrayDesc { a := list("", 2); a.IsChild = true; return a }(), child(Int8)}, "dictionary's values"},
		{"float index", []ArrayDesc{dict(Float32, 1), child(Utf8)}, "not an integer type"},
		{"two-dimensional child", []ArrayDesc{list("l", 1), func() ArrayDesc { a := child(Int8); a.Shape = []int64{0, 2}; return a }()}, "one-dimensional"},
		{"nine levels", levels(MaxDepth + 1), "deeper than 8"},
		{"eight levels", levels(MaxDepth), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, h, err := Encode(&Seal{Arrays: tc.arrays, MetaOffset: 256})
			if tc.want == "" {
				require.NoError(t, err)
				assert.Equal(t, uint16(MinorNested), h.Minor)
				return
			}
			require.Error(t, err)
			assert.Equal(t, InvalidArgument, CodeOf(err))
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, _, _, err := Encode(&Seal{Arrays: []ArrayDesc{list("l", 1), child(Int8)}, MetaOffset: 192, Legacy: true})
	assert.Equal(t, InvalidArgument, CodeOf(err), "a 1.0 header cannot hold lists")
	_, _, h, err := Encode(&Seal{Arrays: []ArrayDesc{col("x", Int8)}, MetaOffset: 256})
	require.NoError(t, err)
	assert.Equal(t, uint16(Minor), h.Minor, "a file without lists stays of the previous minor version")
}
