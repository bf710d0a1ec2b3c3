package format

import (
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode and, when they pass, to full
// validation: neither may panic, hang or read out of bounds, and every error
// must carry an invalid-segment code.
func FuzzDecode(f *testing.F) {
	f.Add(sampleSegment(f))
	f.Add(buildSegment(f, nil, nil))
	for _, tc := range structuralCases {
		b := tc.edit(sampleSegment(f))
		if tc.reseal {
			reseal(b)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			if !CodeOf(err).InvalidSegment() {
				t.Fatalf("error without an invalid-segment code: %v", err)
			}
			return
		}
		if err := s.Validate(b); err != nil && !CodeOf(err).InvalidSegment() {
			t.Fatalf("full validation error without an invalid-segment code: %v", err)
		}
	})
}
