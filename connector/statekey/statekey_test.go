package statekey_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector/statekey"
)

func line(t *testing.T) string {
	t.Helper()
	l, err := statekey.NewKeyLine()
	require.NoError(t, err)
	return l
}

func TestSealOpen(t *testing.T) {
	kr, err := statekey.Parse([]byte(line(t)))
	require.NoError(t, err)
	sealed, err := kr.Seal([]byte("s2"), []byte("config-a"))
	require.NoError(t, err)
	assert.Len(t, sealed, len("s2")+statekey.Overhead)
	assert.NotContains(t, string(sealed), "s2")
	assert.True(t, kr.Current(sealed))

	got, err := kr.Open(sealed, []byte("config-a"))
	require.NoError(t, err)
	assert.Equal(t, "s2", string(got))

	_, err = kr.Open(sealed, []byte("config-b"))
	assert.ErrorIs(t, err, statekey.ErrMalformed, "bound to its additional data")

	for i := range sealed {
		bad := append([]byte(nil), sealed...)
		bad[i] ^= 1
		_, err := kr.Open(bad, []byte("config-a"))
		assert.Error(t, err, "byte %d altered", i)
	}
	_, err = kr.Open(sealed[:statekey.Overhead-1], []byte("config-a"))
	assert.ErrorIs(t, err, statekey.ErrMalformed)

	again, err := kr.Seal([]byte("s2"), []byte("config-a"))
	require.NoError(t, err)
	assert.NotEqual(t, sealed, again, "a fresh nonce every time")
}

func TestRotation(t *testing.T) {
	oldLine, newLine := line(t), line(t)
	oldKR, err := statekey.Parse([]byte(oldLine))
	require.NoError(t, err)
	sealed, err := oldKR.Seal([]byte("secret"), nil)
	require.NoError(t, err)

	both, err := statekey.Parse([]byte(oldLine + newLine))
	require.NoError(t, err)
	assert.Equal(t, 2, both.Len())
	assert.False(t, both.Current(sealed), "sealed under the old key")
	got, err := both.Open(sealed, nil)
	require.NoError(t, err, "every line opens")
	assert.Equal(t, "secret", string(got))
	resealed, err := both.Seal(got, nil)
	require.NoError(t, err)
	assert.True(t, both.Current(resealed), "the last line seals")

	newOnly, err := statekey.Parse([]byte(newLine))
	require.NoError(t, err)
	_, err = newOnly.Open(sealed, nil)
	assert.ErrorIs(t, err, statekey.ErrUnknownKey)
	got, err = newOnly.Open(resealed, nil)
	require.NoError(t, err)
	assert.Equal(t, "secret", string(got))
}

func TestParse(t *testing.T) {
	k1, k2 := strings.TrimSpace(line(t)), strings.TrimSpace(line(t))
	many := strings.Repeat("", 0)
	for range statekey.MaxKeys {
		many += line(t)
	}
	tests := []struct {
		name, data string
		keys       int
		wantErr    string
	}{
		{name: "one key", data: k1 + "\n", keys: 1},
		{name: "no newline, crlf, comments, blanks", data: "# comment\r\n\r\n  " + k1 + "  \r\n" + k2, keys: 2},
		{name: "upper case hex", data: strings.ToUpper(k1), keys: 1},
		{name: "empty", data: "", wantErr: "holds no key"},
		{name: "only comments", data: "# x\n\n", wantErr: "holds no key"},
		{name: "one character short", data: k1[:63], wantErr: "line 1: a key is 64 hexadecimal characters, got 63"},
		{name: "one character long", data: k1 + "0", wantErr: "got 65"},
		{name: "not hex", data: "g" + k1[1:], wantErr: "line 1: not hexadecimal"},
		{name: "duplicate", data: k1 + "\n" + k1, wantErr: "line 2: the same key appears twice"},
		{name: "at the key limit", data: many, keys: statekey.MaxKeys},
		{name: "over the key limit", data: many + line(t), wantErr: "more than 64 keys"},
		{name: "over the size limit", data: k1 + "\n#" + strings.Repeat("x", statekey.MaxFileSize), wantErr: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := statekey.Parse([]byte(tt.data))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, pushwire.ErrConfiguration)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), k1, "never shows a key")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.keys, kr.Len())
		})
	}
}

func TestLoadPermissions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.key")
	require.NoError(t, os.WriteFile(p, []byte(line(t)), 0o600))
	for _, mode := range []os.FileMode{0o600, 0o400, 0o700} {
		require.NoError(t, os.Chmod(p, mode))
		_, err := statekey.Load(p)
		assert.NoError(t, err, "mode %04o", mode)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o601, 0o610} {
		require.NoError(t, os.Chmod(p, mode))
		_, err := statekey.Load(p)
		require.Error(t, err, "mode %04o", mode)
		assert.ErrorIs(t, err, pushwire.ErrConfiguration)
		assert.Contains(t, err.Error(), "chmod 600 "+p)
	}
	_, err := statekey.Load(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	assert.True(t, errors.Is(err, os.ErrNotExist))
	_, err = statekey.Load(dir)
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
}

func TestGenerate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "state.key")
	kr, err := statekey.Generate(p)
	require.NoError(t, err)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	loaded, err := statekey.Load(p)
	require.NoError(t, err)
	sealed, err := kr.Seal([]byte("x"), nil)
	require.NoError(t, err)
	got, err := loaded.Open(sealed, nil)
	require.NoError(t, err)
	assert.Equal(t, "x", string(got))

	_, err = statekey.Generate(p)
	assert.ErrorIs(t, err, os.ErrExist, "never overwrites a key file")
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("# c\n" + strings.Repeat("ab", 32) + "\n"))
	f.Add([]byte(strings.Repeat("0", 64) + "\r\n" + strings.Repeat("f", 64)))
	f.Add([]byte("zz"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kr, err := statekey.Parse(data)
		if err != nil {
			assert.ErrorIs(t, err, pushwire.ErrConfiguration)
			return
		}
		require.Positive(t, kr.Len())
		sealed, err := kr.Seal(data, data)
		require.NoError(t, err)
		got, err := kr.Open(sealed, data)
		require.NoError(t, err)
		assert.Equal(t, string(data), string(got))
	})
}

func FuzzOpen(f *testing.F) {
	kr, err := statekey.Parse([]byte(strings.Repeat("ab", 32)))
	require.NoError(f, err)
	s, err := kr.Seal([]byte("x"), nil)
	require.NoError(f, err)
	f.Add(s)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := kr.Open(data, nil)
		if err != nil {
			assert.True(t, errors.Is(err, statekey.ErrMalformed) || errors.Is(err, statekey.ErrUnknownKey))
		}
	})
}
