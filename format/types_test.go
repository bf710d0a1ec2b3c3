package format

import (
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestArrowRoundTripOfEveryType(t *testing.T) {
	for code := Type(1); code.Known() && !code.Nested(); code++ {
		d := DType{Type: code}
		switch code {
		case FixedSizeBinary:
			d.ByteWidth = 16
		case Timestamp:
			d.Unit, d.TimeZone = Nanosecond, "Europe/Paris"
		case Duration:
			d.Unit = Millisecond
		}
		back, err := FromArrow(d.ArrowType())
		require.NoError(t, err, code.String())
		assert.Equal(t, d, back, code.String())
		assert.NotEmpty(t, d.CFormat())
		assert.NotEmpty(t, d.NumPy())
		p, err := ParseType(code.String())
		require.NoError(t, err)
		assert.Equal(t, code, p)
	}
	_, err := FromArrow(arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Int8))
	assert.Equal(t, InvalidArgument, CodeOf(err))
	assert.False(t, Type(0).Known())
	assert.True(t, Type(24).Known())
	assert.False(t, Type(25).Known())
	for _, tc := range []struct {
		dt   arrow.DataType
		want DType
	}{
		{arrow.ListOf(arrow.PrimitiveTypes.Int8), DType{Type: List}},
		{arrow.LargeListOf(arrow.BinaryTypes.String), DType{Type: LargeList}},
		{&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}, DType{Type: Dictionary, IndexType: Int16}},
	} {
		got, err := FromArrow(tc.dt)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
	assert.Equal(t, "s", DType{Type: Dictionary, IndexType: Int16}.CFormat())
	assert.Equal(t, "+L", DType{Type: LargeList}.CFormat())
}

func TestCFormats(t *testing.T) {
	assert.Equal(t, "w:16", DType{Type: FixedSizeBinary, ByteWidth: 16}.CFormat())
	assert.Equal(t, "tss:", DType{Type: Timestamp}.CFormat())
	assert.Equal(t, "tDn", DType{Type: Duration, Unit: Nanosecond}.CFormat())
	assert.Equal(t, "S16", DType{Type: FixedSizeBinary, ByteWidth: 16}.NumPy())
	assert.Equal(t, "timedelta64[ns]", DType{Type: Duration, Unit: Nanosecond}.NumPy())
}

func TestTensorField(t *testing.T) {
	a := ArrayDesc{Name: "img", DType: DType{Type: Uint8}, Length: 4, Shape: []int64{4, 2, 3}}
	f := a.ArrowField()
	assert.Equal(t, arrow.FixedSizeListOf(6, arrow.PrimitiveTypes.Uint8), f.Type)
	v, ok := f.Metadata.GetValue(ExtensionNameKey)
	assert.True(t, ok)
	assert.Equal(t, TensorExtensionName, v)
	v, _ = f.Metadata.GetValue(ExtensionMetaKey)
	assert.JSONEq(t, `{"shape":[2,3]}`, v)
}
