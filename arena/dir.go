package arena

import (
	"os"
	"path/filepath"

	"github.com/shmarray/shmarray/format"
)

// DefaultDir is where segments live when neither the dir argument nor
// $SHMARRAY_DIR names a directory.
const DefaultDir = "/dev/shm"

// EnvDir is the environment variable that overrides DefaultDir.
const EnvDir = "SHMARRAY_DIR"

// Dir resolves the directory for a call: dir itself, else $SHMARRAY_DIR,
// else DefaultDir.
func Dir(dir string) string {
	if dir != "" {
		return dir
	}
	if env := os.Getenv(EnvDir); env != "" {
		return env
	}
	return DefaultDir
}

// Path validates name and returns the file path of that segment in dir
// (resolved as by Dir). An invalid name is INVALID_ARGUMENT.
func Path(name, dir string) (string, error) {
	if err := format.ValidSegmentName(name); err != nil {
		return "", err
	}
	return filepath.Join(Dir(dir), name), nil
}
