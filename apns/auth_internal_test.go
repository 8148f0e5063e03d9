package apns

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
)

// A push whose provider token cannot be signed fails with a configuration
// error (matching ErrSigning, ErrConfiguration and ErrPermanent, and no other
// class) and sends nothing. New rejects such keys, so the key is swapped
// after it.
func TestSigningErrorIsConfiguration(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	// The host is never dialed: signing comes first.
	c, err := New(Config{BaseURL: "https://127.0.0.1:1", Topic: "com.example.app",
		Token: &TokenAuth{Key: p256, KeyID: "ABCDEFGHIJ", TeamID: "TEAM123456"}})
	require.NoError(t, err)
	defer c.Close()
	c.tokens.key = p384

	res, err := c.Push(context.Background(), &Notification{
		DeviceToken: "abababababababababababababababababababababababababababababab0001",
		Payload:     []byte(`{}`),
	})
	require.Error(t, err)
	assert.Nil(t, res)
	assert.ErrorIs(t, err, ErrSigning)
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	assert.ErrorIs(t, err, pushwire.ErrPermanent)
	assert.False(t, errors.Is(err, pushwire.ErrRetryable), "not retryable")
	assert.False(t, errors.Is(err, pushwire.ErrDeadToken), "not a dead token")
}
