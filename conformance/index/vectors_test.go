package index

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmarray/shmarray/arena"
	"github.com/shmarray/shmarray/format"
)

// Files checks every vector with the Go reference reader as it makes it;
// these tests add what that does not: determinism, the shape of the JSON,
// the wrap-around the collision vector promises, and the lookups through
// arena (the Go API) on the files as a runner sees them.

func TestFilesDeterministic(t *testing.T) {
	a, err := Files()
	require.NoError(t, err)
	b, err := Files()
	require.NoError(t, err)
	require.Equal(t, len(a), len(b))
	for k, v := range a {
		assert.True(t, bytes.Equal(v, b[k]), k)
	}
	names, err := Names()
	require.NoError(t, err)
	assert.Contains(t, names, "valid/index_spec_example.shm")
	assert.Contains(t, names, "invalid/index_duplicate_keys.json")
	assert.Contains(t, names, LookupsFile)
}

func TestCollisionVectorWraps(t *testing.T) {
	files, err := Files()
	require.NoError(t, err)
	b := files["valid/index_collisions.shm"]
	s, err := format.Decode(b)
	require.NoError(t, err)
	a := &s.Arrays[0]
	table := b[a.Index.Buffer.Offset:a.Index.Buffer.End()]
	last := le.Uint32(table[4*1023:])
	require.NotZero(t, last, "slot 1023 is used")
	// Row 301 (the second key starting at 1023) sits in slot 0 or after.
	found := -1
	for i := 0; i < 1024; i++ {
		if le.Uint32(table[4*i:]) == 302 {
			found = i
		}
	}
	assert.True(t, found >= 0 && found < 1023, "row 301 wrapped to slot %d", found)
}

func TestValidJSONShape(t *testing.T) {
	files, err := Files()
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(files["valid/index_byte_types.json"], &c))
	assert.Equal(t, FormatID, c["format"])
	arrays := c["arrays"].([]any)
	assert.Len(t, arrays, 4)
	fsb := arrays[3].(map[string]any)
	assert.Equal(t, "fixed_size_binary", fsb["type"])
	assert.Equal(t, float64(3), fsb["byte_width"])
	assert.Equal(t, []any{"YWJj", "ZGUA", nil, "eHl6"}, fsb["values"])
	var inv map[string]any
	require.NoError(t, json.Unmarshal(files["invalid/index_key_misplaced.json"], &inv))
	assert.Equal(t, "CHECKSUM_MISMATCH", inv["expect"])
	assert.Equal(t, "full", inv["stage"])
}

// TestLookupsThroughArena attaches each valid vector by name from a copy of
// the vectors (as runners do) and checks the lookups of index_lookups.json
// with arena.Lookup, and every invalid vector's code and stage.
func TestLookupsThroughArena(t *testing.T) {
	files, err := Files()
	require.NoError(t, err)
	dir := t.TempDir()
	for rel, b := range files {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o600))
	}
	var lk Lookups
	require.NoError(t, json.Unmarshal(files[LookupsFile], &lk))
	assert.Equal(t, LookupsFormat, lk.Format)
	for _, v := range lk.Vectors {
		s, err := arena.Attach(v.Case+".shm", filepath.Join(dir, "valid"))
		require.NoError(t, err, v.Case)
		require.NoError(t, s.Validate(), v.Case)
		for _, a := range s.Arrays() {
			assert.Equal(t, contains(v.Indexes, a.Name), s.HasIndex(a.Name), "%s: %s", v.Case, a.Name)
		}
		for _, l := range v.Lookups {
			desc, err := s.Desc(l.Array)
			require.NoError(t, err)
			var rows []int64
			switch {
			case desc.Type.VarLength() && (desc.Type == format.Utf8 || desc.Type == format.LargeUtf8):
				rows, err = arena.Lookup(s, l.Array, []string{l.Key.(string)})
			case desc.Type.VarLength() || desc.Type == format.FixedSizeBinary:
				raw, derr := base64.StdEncoding.DecodeString(l.Key.(string))
				require.NoError(t, derr)
				rows, err = arena.Lookup(s, l.Array, [][]byte{raw})
			default:
				num := json.Number(l.Key.(string))
				if i, ierr := num.Int64(); ierr == nil {
					rows, err = arena.Lookup(s, l.Array, []int64{i})
				} else {
					u, uerr := strconv.ParseUint(l.Key.(string), 10, 64)
					require.NoError(t, uerr)
					rows, err = arena.Lookup(s, l.Array, []uint64{u})
				}
			}
			require.NoError(t, err, "%s %s %v", v.Case, l.Array, l.Key)
			assert.Equal(t, l.Row, rows[0], "%s %s %v", v.Case, l.Array, l.Key)
		}
		require.NoError(t, s.Close())
	}
	for rel := range files {
		if filepath.Dir(rel) != "invalid" || filepath.Ext(rel) != ".json" {
			continue
		}
		var inv struct {
			Case, Expect, Stage string
		}
		require.NoError(t, json.Unmarshal(files[rel], &inv))
		s, err := arena.Attach(inv.Case+".shm", filepath.Join(dir, "invalid"))
		if inv.Stage == "structural" {
			require.Error(t, err, inv.Case)
			assert.Equal(t, inv.Expect, format.CodeOf(err).Name(), inv.Case)
			continue
		}
		require.NoError(t, err, inv.Case)
		err = s.Validate()
		assert.Equal(t, inv.Expect, format.CodeOf(err).Name(), "%s: %v", inv.Case, err)
		require.NoError(t, s.Close())
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
