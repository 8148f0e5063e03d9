package apns

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/certificate"
	"github.com/sideshow/apns2/token"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"

	"github.com/pushwire/pushwire/apns/apnstest"
)

const bundle = "com.example.app"

var devToken = strings.Repeat("5a", 32)

// trust makes an apns2 client (keeping its own x/net/http2 transport)
// trust the fake's CA.
func trust(t testing.TB, c *apns2.Client, srv *apnstest.Server) {
	t.Helper()
	tr, ok := c.HTTPClient.Transport.(*http2.Transport)
	require.True(t, ok, "apns2 uses an x/net/http2 transport")
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.RootCAs = srv.CertPool()
	c.Host = srv.URL
}

// sideshow/apns2, another client, works against apnstest with a provider token.
func TestApns2TokenAuth(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{Topics: []string{bundle}})
	defer srv.Close()
	key, err := token.AuthKeyFromBytes(srv.AuthKeyPEM())
	require.NoError(t, err)
	c := apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: srv.KeyID, TeamID: srv.TeamID})
	trust(t, c, srv)
	defer c.CloseIdleConnections()

	res, err := c.Push(&apns2.Notification{
		DeviceToken: devToken,
		Topic:       bundle + ".voip",
		PushType:    apns2.PushTypeVOIP,
		Priority:    apns2.PriorityHigh,
		CollapseID:  "call-1",
		Payload:     []byte(`{"aps":{},"callId":"42"}`),
	})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.True(t, res.Sent())
	got := srv.Notifications()
	require.Len(t, got, 1)
	assert.Equal(t, res.ApnsID, got[0].APNsID)
	assert.Equal(t, devToken, got[0].Token)
	assert.Equal(t, bundle+".voip", got[0].Topic)
	assert.Equal(t, "voip", got[0].PushType)
	assert.Equal(t, 10, got[0].Priority)
	assert.Equal(t, "call-1", got[0].CollapseID)
	assert.JSONEq(t, `{"aps":{},"callId":"42"}`, string(got[0].Payload))

	// Rejections come back in the form apns2 parses.
	ts := time.UnixMilli(1700000000000)
	srv.Fail(devToken, apnstest.Failure{Reason: apns2.ReasonUnregistered, Timestamp: ts})
	res, err = c.Push(&apns2.Notification{DeviceToken: devToken, Topic: bundle, Payload: []byte(`{"aps":{"alert":"x"}}`)})
	require.NoError(t, err)
	assert.Equal(t, http.StatusGone, res.StatusCode)
	assert.Equal(t, apns2.ReasonUnregistered, res.Reason)
	assert.True(t, ts.Equal(res.Timestamp.Time))

	// A wrong key is refused as Apple would.
	other := apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: "WRONGKEYID", TeamID: srv.TeamID})
	trust(t, other, srv)
	defer other.CloseIdleConnections()
	res, err = other.Push(&apns2.Notification{DeviceToken: devToken, Topic: bundle, Payload: []byte(`{}`)})
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	assert.Equal(t, apns2.ReasonInvalidProviderToken, res.Reason)
}

// sideshow/apns2 works against apnstest with a TLS client certificate.
func TestApns2CertificateAuth(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{Topics: []string{bundle}})
	defer srv.Close()
	certPEM, keyPEM := srv.ClientCertificatePEM()
	cert, err := certificate.FromPemBytes(append(certPEM, keyPEM...), "")
	require.NoError(t, err)
	c := apns2.NewClient(cert)
	trust(t, c, srv)
	defer c.CloseIdleConnections()

	res, err := c.Push(&apns2.Notification{
		DeviceToken: devToken,
		Topic:       bundle,
		Priority:    apns2.PriorityLow,
		Expiration:  time.Unix(2000000000, 0),
		Payload:     []byte(`{"aps":{"alert":{"title":"hi"}}}`),
	})
	require.NoError(t, err)
	assert.True(t, res.Sent(), "status %d reason %s", res.StatusCode, res.Reason)
	got := srv.Notifications()
	require.Len(t, got, 1)
	assert.Equal(t, 5, got[0].Priority)
	require.NotNil(t, got[0].Expiration)
	assert.EqualValues(t, 2000000000, *got[0].Expiration)
	assert.True(t, got[0].TokenIssuedAt.IsZero(), "authenticated by certificate")
}
