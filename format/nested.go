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

// checkTree is what Encode checks of the records' links (spec §6.1), so
// that a writer cannot seal a segment Decode would refuse: each list or
// dictionary names a later record, no record is named twice, IsChild marks
// exactly the records named, nesting is at most MaxDepth deep, a
// dictionary has an integer index type and plain values, and children are
// one-dimensional without an index. It reports whether any record is
// nested (the file is then of minor MinorNested). INVALID_ARGUMENT.
func checkTree(arrays []ArrayDesc) (bool, error) {
	parent := make([]int, len(arrays)) // index + 1 of the parent, 0: none
	depth := make([]int, len(arrays))
	nested := false
	for i := range arrays {
		a := &arrays[i]
		name := Quote(a.Name)
		if a.IsChild != (parent[i] != 0) {
			if a.IsChild {
				return false, errorf(InvalidArgument, "array %d %s is marked as a child but no earlier list or dictionary names it", i, name)
			}
			return false, errorf(InvalidArgument, "array %d %s is the child of array %d but is not marked as a child", i, name, parent[i]-1)
		}
		if a.IsChild {
			p := &arrays[parent[i]-1]
			if p.Type == Dictionary && a.Type.Nested() {
				return false, errorf(InvalidArgument, "array %d: a dictionary's values cannot be a %s", i, a.Type)
			}
			if len(a.Shape) != 1 || a.Index.Present() {
				return false, errorf(InvalidArgument, "array %d: the child of a list or dictionary must be one-dimensional, without a hash index", i)
			}
		}
		if a.Type == Dictionary && !a.IndexType.DictIndexable() {
			return false, errorf(InvalidArgument, "array %s: dictionary index type %s is not an integer type", name, a.IndexType)
		}
		if !a.Type.Nested() {
			continue
		}
		nested = true
		c := a.Child
		switch {
		case c <= i || c >= len(arrays):
			return false, errorf(InvalidArgument, "array %s: child record %d is not after it (%d) in the %d records", name, c, i, len(arrays))
		case parent[c] != 0:
			return false, errorf(InvalidArgument, "array %s: child record %d is already the child of record %d", name, c, parent[c]-1)
		case depth[i] >= MaxDepth:
			return false, errorf(InvalidArgument, "array %s: lists and dictionaries nest deeper than %d levels", name, MaxDepth)
		}
		parent[c], depth[c] = i+1, depth[i]+1
	}
	return nested, nil
}

// TypeName describes the type of record i for people: DType.String, and
// for lists and dictionaries their children's types, "list<int32>",
// "dictionary<int8, utf8>".
func (s *Segment) TypeName(i int) string {
	a := &s.Arrays[i]
	switch a.Type {
	case List, LargeList:
		return a.Type.String() + "<" + s.TypeName(a.Child) + ">"
	case Dictionary:
		return "dictionary<" + a.IndexType.String() + ", " + s.TypeName(a.Child) + ">"
	}
	return a.DType.String()
}
