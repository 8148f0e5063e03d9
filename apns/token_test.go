package apns_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
)

// lastIAT pushes once and returns the iat of the provider token the fake saw.
func lastIAT(t *testing.T, srv *apnstest.Server, c *apns.Client) time.Time {
	t.Helper()
	srv.Reset()
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(1)}))
	got := srv.Notifications()
	require.Len(t, got, 1)
	require.False(t, got[0].TokenIssuedAt.IsZero())
	return got[0].TokenIssuedAt
}

func TestTokenRenewalTiming(t *testing.T) {
	tests := []struct {
		name  string
		renew time.Duration
		want  time.Duration
	}{
		{"default 50 min", 0, 50 * time.Minute},
		{"20 min", 20 * time.Minute, 20 * time.Minute},
		{"55 min", 55 * time.Minute, 55 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newClock()
			srv, c := pair(t, apnstest.Config{Now: cl.Now}, func(cfg *apns.Config) {
				cfg.Now = cl.Now
				cfg.Token.Renew = tt.renew
			})
			first := lastIAT(t, srv, c)
			assert.Equal(t, cl.Now().Unix(), first.Unix())
			cl.Add(tt.want - time.Second)
			assert.Equal(t, first, lastIAT(t, srv, c), "token reused until it is %v old", tt.want)
			cl.Add(time.Second)
			second := lastIAT(t, srv, c)
			assert.Equal(t, cl.Now().Unix(), second.Unix(), "token renewed at %v", tt.want)
			cl.Add(tt.want - time.Second)
			assert.Equal(t, second, lastIAT(t, srv, c))
		})
	}
}

func TestExpiredProviderTokenRecovery(t *testing.T) {
	serverClock, clientClock := newClock(), newClock()
	srv, c := pair(t, apnstest.Config{Now: serverClock.Now}, func(cfg *apns.Config) { cfg.Now = clientClock.Now })
	first := lastIAT(t, srv, c)

	// The server's clock runs ahead: it finds the token older than an hour
	// although the client thinks it is 25 minutes old.
	serverClock.Add(61 * time.Minute)
	clientClock.Add(25 * time.Minute)
	const n = 40
	srv.Reset()
	sendConcurrently(t, c, n)
	got := srv.Notifications()
	require.Len(t, got, n)
	renewed := got[0].TokenIssuedAt
	assert.True(t, renewed.After(first))
	for _, g := range got {
		assert.Equal(t, renewed, g.TokenIssuedAt, "one renewal for the whole storm")
	}

	// Another rejection within 20 minutes of the renewal is not answered by
	// yet another token: the error is returned.
	serverClock.Add(40 * time.Minute) // the renewed token is now 65 minutes old for the server
	clientClock.Add(5 * time.Minute)
	srv.Reset()
	err := c.Send(context.Background(), pushwire.Message{Token: tok(1)})
	require.Error(t, err)
	assertReason(t, err, apns.ReasonExpiredProviderToken)
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	assert.EqualValues(t, 1, srv.Requests(), "no retry with the same token")
}

// A key that cannot sign ES256 provider tokens is a configuration error
// New reports, not one every push would run into.
func TestNonP256KeyRejected(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P224(), elliptic.P384(), elliptic.P521()} {
		t.Run(curve.Params().Name, func(t *testing.T) {
			key, err := ecdsa.GenerateKey(curve, rand.Reader)
			require.NoError(t, err)
			c, err := apns.New(apns.Config{Topic: bundle, Token: &apns.TokenAuth{Key: key, KeyID: "ABCDEFGHIJ", TeamID: "TEAM123456"}})
			require.Error(t, err)
			assert.Nil(t, c)
			assertClass(t, err, pushwire.ErrConfiguration)
			assert.Contains(t, err.Error(), "P-256")
		})
	}
}

func TestWrongCredentialsRejected(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{})
	defer srv.Close()
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tests := []struct {
		name string
		auth apns.TokenAuth
		want apns.Reason
	}{
		{"unknown key id", apns.TokenAuth{Key: srv.AuthKey(), KeyID: "OTHERKEY00", TeamID: srv.TeamID}, apns.ReasonInvalidProviderToken},
		{"wrong team", apns.TokenAuth{Key: srv.AuthKey(), KeyID: srv.KeyID, TeamID: "OTHERTEAM0"}, apns.ReasonInvalidProviderToken},
		{"wrong key", apns.TokenAuth{Key: other, KeyID: srv.KeyID, TeamID: srv.TeamID}, apns.ReasonInvalidProviderToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := tt.auth
			c, err := apns.New(apns.Config{BaseURL: srv.URL, RootCAs: srv.CertPool(), Topic: bundle, Token: &auth})
			require.NoError(t, err)
			defer c.Close()
			err = c.Send(context.Background(), pushwire.Message{Token: tok(1)})
			assertReason(t, err, tt.want)
			assert.ErrorIs(t, err, pushwire.ErrConfiguration)
		})
	}
}

func TestParseP8(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{})
	defer srv.Close()
	k, err := apns.ParseP8(srv.AuthKeyPEM())
	require.NoError(t, err)
	assert.True(t, k.Equal(srv.AuthKey()))

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(p384)
	require.NoError(t, err)
	ecDER, err := x509.MarshalECPrivateKey(srv.AuthKey())
	require.NoError(t, err)
	for name, data := range map[string][]byte{
		"empty":      nil,
		"not pem":    []byte("hello"),
		"p384":       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"sec1 block": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}),
		"garbage":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := apns.ParseP8(data)
			assert.Error(t, err)
		})
	}
}

func FuzzParseP8(f *testing.F) {
	srv := apnstest.NewServer(apnstest.Config{})
	f.Add(srv.AuthKeyPEM())
	srv.Close()
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := apns.ParseP8(data)
		if err == nil && k == nil {
			t.Fatal("nil key without error")
		}
		if err != nil && len(data) >= 16 {
			assert.NotContains(t, err.Error(), string(data), "no key material in errors")
		}
	})
}

// The retry after renewing a stale provider token is not one of the
// policy's attempts: a retryable answer to it is still retried.
func TestRenewalRetryNotCounted(t *testing.T) {
	serverClock, clientClock := newClock(), newClock()
	srv, c := pair(t, apnstest.Config{Now: serverClock.Now}, func(cfg *apns.Config) {
		cfg.Now = clientClock.Now
		cfg.Retry = apns.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond}
	})
	first := lastIAT(t, srv, c)
	serverClock.Add(61 * time.Minute)
	clientClock.Add(25 * time.Minute)
	srv.Reset()
	srv.Fail(tok(1), apnstest.Failure{Reason: apns.ReasonTooManyRequests, Times: 1})
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(1)}))
	assert.EqualValues(t, 3, srv.Requests(), "stale token, renewed token answered 429, retry")
	got := srv.Notifications()
	require.Len(t, got, 1)
	assert.True(t, got[0].TokenIssuedAt.After(first))
}
