package format

import "github.com/apache/arrow/go/v15/arrow"

// Lists and dictionaries (format 1.3, spec §6.1): a record of type list,
// large_list or dictionary names its child record, which comes after it.
// The records form a forest whose roots are the segment's columns.

// Columns are the indexes of the records that are no other record's child,
// in directory order: the arrays users see (spec §6.1).
func (s *Segment) Columns() []int {
	out := make([]int, 0, len(s.Arrays))
	for i := range s.Arrays {
		if !s.Arrays[i].IsChild {
			out = append(out, i)
		}
	}
	return out
}

// ArrowType is the Arrow type of record i: that of ArrayDesc.ArrowType, and
// for a list or dictionary the type built from its children (List of the
// child's field, Dictionary of the index type and the child's type). Decode
// guarantees the recursion ends (children come after their parents).
func (s *Segment) ArrowType(i int) arrow.DataType {
	a := &s.Arrays[i]
	switch a.Type {
	case List:
		return arrow.ListOfField(s.ChildField(i))
	case LargeList:
		return arrow.LargeListOfField(s.ChildField(i))
	case Dictionary:
		return &arrow.DictionaryType{IndexType: DType{Type: a.IndexType}.ArrowType(), ValueType: s.ArrowType(a.Child)}
	}
	return a.ArrowType()
}

// ChildField is the Arrow field of the child of list record i: the child's
// name, or "item" when it has none (spec §6.1), nullable, with its metadata.
func (s *Segment) ChildField(i int) arrow.Field {
	c := s.Arrays[i].Child
	f := s.ArrowField(c)
	if f.Name == "" {
		f.Name = "item"
	}
	return f
}

// ArrowField is ArrayDesc.ArrowField with the type of ArrowType(i).
func (s *Segment) ArrowField(i int) arrow.Field {
	f := s.Arrays[i].ArrowField()
	if s.Arrays[i].Type.Nested() {
		f.Type = s.ArrowType(i)
	}
	return f
}
