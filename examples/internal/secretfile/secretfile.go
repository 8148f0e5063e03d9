// Package secretfile writes the files the example fakes hand to other
// programs (keys, credentials): mode 0600, replaced atomically so that a
// reader never sees a partial file.
package secretfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path with mode 0600 through a temporary file in the
// same directory and a rename; on failure the temporary file is removed and
// path is left as it was.
func Write(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
