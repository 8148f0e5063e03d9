package secretfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The file gets the data and mode 0600, replaces an older file, and leaves no
// temporary file behind.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	require.NoError(t, Write(path, []byte("new")))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "new", string(got))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

// A directory that does not exist is an error, and nothing is written.
func TestWriteMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "key.pem")
	assert.Error(t, Write(path, []byte("x")))
	assert.NoFileExists(t, path)
}

// Read refuses a file any bit of whose mode lets its group or others in, with
// a message naming the fix, and reads one that only its owner may access.
func TestReadPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(path, []byte("s3cret-s3cret-s3cret\n"), 0o600))
	for _, mode := range []os.FileMode{0o600, 0o400, 0o700, 0o200} {
		require.NoError(t, os.Chmod(path, mode))
		if mode&0o400 == 0 && os.Geteuid() == 0 {
			continue // root reads anything
		}
		got, err := Read(path)
		if mode&0o400 == 0 {
			assert.Error(t, err, "mode %04o", mode)
			continue
		}
		require.NoError(t, err, "mode %04o", mode)
		assert.Equal(t, "s3cret-s3cret-s3cret\n", string(got))
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o601, 0o610, 0o602, 0o620, 0o777} {
		require.NoError(t, os.Chmod(path, mode))
		_, err := Read(path)
		require.Error(t, err, "mode %04o", mode)
		assert.True(t, errors.Is(err, ErrTooOpen), "mode %04o: %v", mode, err)
		assert.Contains(t, err.Error(), "chmod 600 "+path)
		assert.NotContains(t, err.Error(), "s3cret")
	}
}

// Read refuses a missing file, a directory and a file over MaxSize (just
// over; MaxSize itself is read).
func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Read(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o700))
	_, err = Read(sub)
	assert.ErrorContains(t, err, "not a regular file")
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, MaxSize), 0o600))
	b, err := Read(big)
	require.NoError(t, err)
	assert.Len(t, b, MaxSize)
	require.NoError(t, os.WriteFile(big, make([]byte, MaxSize+1), 0o600))
	_, err = Read(big)
	assert.ErrorContains(t, err, "larger than")
}
