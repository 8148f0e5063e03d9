package lpns_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/lpns"
)

const voipToken = "4f1c0e5ad2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"

func newAPNs(t *testing.T) (*apnstest.Server, *apns.Client) {
	t.Helper()
	fake := apnstest.NewServer(apnstest.Config{})
	t.Cleanup(fake.Close)
	c, err := apns.New(apns.Config{Host: fake.URL, Token: fake.TokenAuth(), RootCAs: fake.CertPool(), Topic: "com.example.phone"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return fake, c
}

func TestFallbackToAPNs(t *testing.T) {
	fake, apnsClient := newAPNs(t)
	srv := newTestServer(t, lpns.Config{AckTimeout: 150 * time.Millisecond})

	type report struct {
		path     lpns.Path
		localErr error
	}
	reports := make(chan report, 8)
	fb := &lpns.Fallback{Local: srv.Server, Remote: apnsClient,
		RemoteToken: func(_ context.Context, deviceID string) (string, error) {
			if deviceID == "unknown" {
				return "", errors.New("no apns token")
			}
			return voipToken, nil
		},
		OnDelivered: func(_ pushwire.Message, p lpns.Path, localErr, _ error) { reports <- report{p, localErr} }}

	// A device that acknowledges: delivered locally, never through APNs.
	got := newNotifications()
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{srv.url},
		Token: staticToken(testToken("acker", 0)), Handler: got.handler})
	require.NoError(t, err)
	defer c.Close()
	path, err := fb.Deliver(context.Background(), pushwire.Message{Token: "acker", Kind: pushwire.KindVoIP})
	require.NoError(t, err)
	assert.Equal(t, lpns.PathLocal, path)
	assert.Equal(t, lpns.PathLocal, (<-reports).path)

	// A device that never acknowledges: APNs voip push with the same id.
	rc, _ := rawDial(t, srv.url, testToken("mute", 0))
	msg := pushwire.Message{Token: "mute", Kind: pushwire.KindData, Data: map[string]string{"call": "42"}}
	path, err = fb.Deliver(context.Background(), msg)
	require.NoError(t, err)
	assert.Equal(t, lpns.PathRemote, path)
	r := <-reports
	assert.ErrorIs(t, r.localErr, lpns.ErrNotAcknowledged)
	local, err := rc.read()
	require.NoError(t, err)
	require.Equal(t, lpns.FrameNotification, local.Type)

	// A device that is not connected: straight to APNs.
	require.NoError(t, fb.Send(context.Background(), pushwire.Message{Token: "away", ID: "9b2f6a52-3c1d-4e8f-9a7b-0c1d2e3f4a5b"}))
	assert.ErrorIs(t, (<-reports).localErr, lpns.ErrNotConnected)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	notes, err := fake.WaitForNotifications(ctx, 2)
	require.NoError(t, err)
	require.Len(t, notes, 2, "the locally acknowledged notification was not sent through APNs")
	assert.Equal(t, "voip", notes[0].PushType)
	assert.Equal(t, "com.example.phone.voip", notes[0].Topic)
	assert.Equal(t, voipToken, notes[0].Token)
	assert.Equal(t, local.ID, notes[0].APNsID, "same id locally and remotely, for de-duplication")
	assert.Equal(t, "9b2f6a52-3c1d-4e8f-9a7b-0c1d2e3f4a5b", notes[1].APNsID)

	// Errors that are not about reachability do not fall back.
	_, err = fb.Deliver(context.Background(), pushwire.Message{Token: "acker", Data: map[string]string{"x": string(make([]byte, 6000))}})
	assert.ErrorIs(t, err, lpns.ErrPayloadTooLarge)
	assert.Equal(t, lpns.PathNone, (<-reports).path)
	_, err = fb.Deliver(context.Background(), pushwire.Message{Token: "unknown"})
	assert.Error(t, err)
	<-reports
	assert.Len(t, fake.Notifications(), 2)
}

func TestFallbackRemoteFailure(t *testing.T) {
	srv := newTestServer(t, lpns.Config{})
	remote := &recordingSender{err: &pushwire.Error{Class: pushwire.ErrDeadToken, Provider: pushwire.ProviderAPNs, Reason: "Unregistered"}}
	fb := &lpns.Fallback{Local: srv.Server, Remote: remote}
	path, err := fb.Deliver(context.Background(), pushwire.Message{Token: "away"})
	assert.Equal(t, lpns.PathNone, path)
	assert.ErrorIs(t, err, pushwire.ErrDeadToken)
	require.Len(t, remote.messages(), 1)
	assert.Equal(t, pushwire.KindVoIP, remote.messages()[0].Kind)
	assert.NotEmpty(t, remote.messages()[0].ID)

	_, err = (&lpns.Fallback{}).Deliver(context.Background(), pushwire.Message{Token: "x"})
	assert.ErrorIs(t, err, lpns.ErrInvalidConfig)
}
