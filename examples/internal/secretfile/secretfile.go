// Package secretfile writes the files the example fakes hand to other
// programs (keys, credentials): mode 0600, replaced atomically so that a
// reader never sees a partial file; and reads the secret files the example
// programs are given, refusing, as ssh does with a private key, one that
// its group or others may access.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxSize bounds the files Read reads.
const MaxSize = 1 << 20

// ErrTooOpen is matched by the error of Read for a file its group or others
// may access.
var ErrTooOpen = errors.New("accessible by group or others")

// Read reads the secret file path (a token, a secret, a private key). A file
// its group or others may read, write or execute (mode & 0o077) is refused
// with an error matching [ErrTooOpen] that names the fix (chmod 600); so is a
// file that is not a regular file or is larger than MaxSize. Errors name
// path, never the content.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s is %w (mode %04o): it holds a secret; run chmod 600 %s", path, ErrTooOpen, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxSize)
	}
	return b, nil
}

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
