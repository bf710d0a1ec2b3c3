package shmarray

import (
	"os"
	"regexp"
	"testing"
)

func TestVersionIsTheFile(t *testing.T) {
	raw, err := os.ReadFile("VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+\n?$`).Match(raw) {
		t.Fatalf("VERSION is %q, not MAJOR.MINOR.PATCH", raw)
	}
	if Version+"\n" != string(raw) && Version != string(raw) {
		t.Fatalf("Version %q, VERSION %q", Version, raw)
	}
}
