package apns_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
)

func TestNewValidatesConfig(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	good := &apns.TokenAuth{Key: key, KeyID: "ABCDEFGHIJ", TeamID: "TEAM123456"}
	tests := []struct {
		name string
		cfg  apns.Config
		ok   bool
	}{
		{"token", apns.Config{Token: good}, true},
		{"sandbox", apns.Config{BaseURL: apns.SandboxURL, Token: good}, true},
		{"port 2197", apns.Config{BaseURL: "https://api.push.apple.com:2197", Token: good}, true},
		{"no auth", apns.Config{}, false},
		{"both auth", apns.Config{Token: good, Certificate: &tls.Certificate{}}, false},
		{"http host", apns.Config{BaseURL: "http://127.0.0.1:1", Token: good}, false},
		{"host with path", apns.Config{BaseURL: "https://x/3/device", Token: good}, false},
		{"no key", apns.Config{Token: &apns.TokenAuth{KeyID: "A", TeamID: "B"}}, false},
		{"no key id", apns.Config{Token: &apns.TokenAuth{Key: key, TeamID: "B"}}, false},
		{"P-384 key", apns.Config{Token: &apns.TokenAuth{Key: p384, KeyID: "A", TeamID: "B"}}, false},
		{"renew too short", apns.Config{Token: &apns.TokenAuth{Key: key, KeyID: "A", TeamID: "B", Renew: 19 * time.Minute}}, false},
		{"renew too long", apns.Config{Token: &apns.TokenAuth{Key: key, KeyID: "A", TeamID: "B", Renew: time.Hour}}, false},
		{"renew 20m", apns.Config{Token: &apns.TokenAuth{Key: key, KeyID: "A", TeamID: "B", Renew: 20 * time.Minute}}, true},
		{"empty certificate", apns.Config{Certificate: &tls.Certificate{}}, false},
		{"negative in flight", apns.Config{Token: good, MaxConcurrency: -1}, false},
		{"bad retry", apns.Config{Token: good, Retry: apns.RetryPolicy{MinBackoff: time.Second, MaxBackoff: time.Millisecond}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := apns.New(tt.cfg)
			if tt.ok {
				require.NoError(t, err)
				require.NoError(t, c.Close())
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, pushwire.ErrConfiguration)
			assert.ErrorIs(t, err, pushwire.ErrPermanent)
		})
	}
}

func TestPushHeaders(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, nil)
	exp := time.Unix(2000000000, 0)
	tests := []struct {
		name string
		n    apns.Notification
		want apnstest.Notification
	}{
		{"defaults", apns.Notification{Payload: []byte(`{"aps":{"alert":"x"}}`)},
			apnstest.Notification{Topic: bundle, PushType: "alert", Priority: 10}},
		{"background gets priority 5", apns.Notification{PushType: apns.PushTypeBackground, Payload: []byte(`{"aps":{"content-available":1}}`)},
			apnstest.Notification{Topic: bundle, PushType: "background", Priority: 5}},
		{"voip default topic", apns.Notification{PushType: apns.PushTypeVoIP, Priority: apns.PriorityImmediate, Payload: []byte(`{}`)},
			apnstest.Notification{Topic: bundle + ".voip", PushType: "voip", Priority: 10}},
		{"liveactivity default topic", apns.Notification{PushType: apns.PushTypeLiveActivity, Payload: []byte(`{}`)},
			apnstest.Notification{Topic: bundle + ".push-type.liveactivity", PushType: "liveactivity", Priority: 10}},
		{"explicit topic, low priority", apns.Notification{Topic: "org.other", Priority: apns.PriorityLow, Payload: []byte(`{}`)},
			apnstest.Notification{Topic: "org.other", PushType: "alert", Priority: 1}},
		{"expire now", apns.Notification{ExpireNow: true, Expiration: exp, Payload: []byte(`{}`)},
			apnstest.Notification{Topic: bundle, PushType: "alert", Priority: 10, Expiration: ptr(int64(0))}},
		{"expiration", apns.Notification{Expiration: exp, Payload: []byte(`{}`)},
			apnstest.Notification{Topic: bundle, PushType: "alert", Priority: 10, Expiration: ptr(exp.Unix())}},
		{"collapse and id", apns.Notification{CollapseID: "c1", ID: "123e4567-e89b-42d3-a456-426614174000", Payload: []byte(`{}`)},
			apnstest.Notification{Topic: bundle, PushType: "alert", Priority: 10, CollapseID: "c1", APNsID: "123e4567-e89b-42d3-a456-426614174000"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Reset()
			n := tt.n
			n.DeviceToken = tok(i)
			res, err := c.Push(context.Background(), &n)
			require.NoError(t, err)
			require.True(t, res.Sent())
			got := srv.Notifications()
			require.Len(t, got, 1)
			g := got[0]
			assert.Equal(t, tok(i), g.Token)
			assert.Equal(t, tt.want.Topic, g.Topic)
			assert.Equal(t, tt.want.PushType, g.PushType)
			assert.Equal(t, tt.want.Priority, g.Priority)
			assert.Equal(t, tt.want.Expiration, g.Expiration)
			assert.Equal(t, tt.want.CollapseID, g.CollapseID)
			assert.True(t, apns.ValidUUID(g.APNsID))
			assert.Equal(t, g.APNsID, res.APNsID)
			if tt.want.APNsID != "" {
				assert.Equal(t, tt.want.APNsID, g.APNsID)
			}
			assert.NotEmpty(t, res.UniqueID)
			assert.JSONEq(t, string(n.Payload), string(g.Payload))
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestPushValidation(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, nil)
	noTopic, err := apns.New(apns.Config{BaseURL: srv.URL, Token: srv.TokenAuth(), RootCAs: srv.CertPool()})
	require.NoError(t, err)
	defer noTopic.Close()
	big := `{"aps":{},"x":"` + strings.Repeat("a", 4100) + `"}`
	tests := []struct {
		name   string
		client *apns.Client
		n      apns.Notification
		want   apns.Reason
	}{
		{"missing token", c, apns.Notification{Payload: []byte(`{}`)}, apns.ReasonMissingDeviceToken},
		{"non-hex token", c, apns.Notification{DeviceToken: strings.Repeat("zz", 32), Payload: []byte(`{}`)}, apns.ReasonBadDeviceToken},
		{"short token", c, apns.Notification{DeviceToken: "abcd", Payload: []byte(`{}`)}, apns.ReasonBadDeviceToken},
		{"no topic", noTopic, apns.Notification{DeviceToken: tok(1), Payload: []byte(`{}`)}, apns.ReasonMissingTopic},
		{"voip topic without suffix", c, apns.Notification{DeviceToken: tok(1), PushType: apns.PushTypeVoIP, Topic: bundle, Payload: []byte(`{}`)}, apns.ReasonBadTopic},
		{"unknown push type", c, apns.Notification{DeviceToken: tok(1), PushType: "sms", Payload: []byte(`{}`)}, apns.ReasonInvalidPushType},
		{"bad priority", c, apns.Notification{DeviceToken: tok(1), Priority: 7, Payload: []byte(`{}`)}, apns.ReasonBadPriority},
		{"background at 10", c, apns.Notification{DeviceToken: tok(1), PushType: apns.PushTypeBackground, Priority: 10, Payload: []byte(`{}`)}, apns.ReasonBadPriority},
		{"collapse id too long", c, apns.Notification{DeviceToken: tok(1), CollapseID: strings.Repeat("c", 65), Payload: []byte(`{}`)}, apns.ReasonBadCollapseID},
		{"bad apns-id", c, apns.Notification{DeviceToken: tok(1), ID: "not-a-uuid", Payload: []byte(`{}`)}, apns.ReasonBadMessageID},
		{"empty payload", c, apns.Notification{DeviceToken: tok(1)}, apns.ReasonPayloadEmpty},
		{"payload too large", c, apns.Notification{DeviceToken: tok(1), Payload: []byte(big)}, apns.ReasonPayloadTooLarge},
		{"not json", c, apns.Notification{DeviceToken: tok(1), Payload: []byte(`{"aps":`)}, "InvalidPayload"},
		{"custom aps key", c, apns.Notification{DeviceToken: tok(1), Content: &apns.Payload{Custom: map[string]any{"aps": 1}}}, "InvalidPayload"},
		{"expiration before epoch", c, apns.Notification{DeviceToken: tok(1), Expiration: time.Unix(-5, 0), Payload: []byte(`{}`)}, apns.ReasonBadExpirationDate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.client.Push(context.Background(), &tt.n)
			require.Error(t, err)
			assert.Nil(t, res, "nothing was sent")
			if tt.want == "InvalidPayload" {
				assert.ErrorIs(t, err, apns.ErrInvalidPayload)
			}
			assertReason(t, err, tt.want)
			var ae *apns.Error
			require.ErrorAs(t, err, &ae)
			assert.Zero(t, ae.Status)
			assert.NotErrorIs(t, err, pushwire.ErrRetryable)
		})
	}
	// The VoIP limit is 5120 bytes: the same large payload is fine there.
	_, err = c.Push(context.Background(), &apns.Notification{DeviceToken: tok(2), PushType: apns.PushTypeVoIP, Payload: []byte(big)})
	require.NoError(t, err)
	assert.Len(t, srv.Notifications(), 1)
}

func TestSendMapsMessages(t *testing.T) {
	cl := newClock()
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) { cfg.Now = cl.Now })
	tests := []struct {
		name     string
		m        pushwire.Message
		topic    string
		pushType string
		priority int
		exp      *int64
		payload  string
	}{
		{"data", pushwire.Message{Data: map[string]string{"eventId": "e1", "b": "2"}},
			bundle, "background", 5, nil, `{"aps":{"content-available":1},"b":"2","eventId":"e1"}`},
		{"data high stays 5", pushwire.Message{Priority: pushwire.PriorityHigh},
			bundle, "background", 5, nil, `{"aps":{"content-available":1}}`},
		{"alert", pushwire.Message{Kind: pushwire.KindAlert, Title: "Hi \"you\"", Body: "line\nbreak", MutableContent: true},
			bundle, "alert", 10, nil, `{"aps":{"alert":{"title":"Hi \"you\"","body":"line\nbreak"},"mutable-content":1}}`},
		{"alert normal", pushwire.Message{Kind: pushwire.KindAlert, Body: "b", Priority: pushwire.PriorityNormal},
			bundle, "alert", 5, nil, `{"aps":{"alert":{"body":"b"}}}`},
		{"voip", pushwire.Message{Kind: pushwire.KindVoIP, Data: map[string]string{"call": "42"}},
			bundle + ".voip", "voip", 10, nil, `{"aps":{},"call":"42"}`},
		{"voip explicit topic", pushwire.Message{Kind: pushwire.KindVoIP, Topic: "org.phone"},
			"org.phone.voip", "voip", 10, nil, `{"aps":{}}`},
		{"expire", pushwire.Message{Expire: true, TTL: time.Hour},
			bundle, "background", 5, ptr(int64(0)), `{"aps":{"content-available":1}}`},
		{"ttl", pushwire.Message{TTL: time.Hour},
			bundle, "background", 5, ptr(cl.Now().Add(time.Hour).Unix()), `{"aps":{"content-available":1}}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Reset()
			m := tt.m
			m.Token = tok(i)
			require.NoError(t, c.Send(context.Background(), m))
			got := srv.Notifications()
			require.Len(t, got, 1)
			assert.Equal(t, tt.topic, got[0].Topic)
			assert.Equal(t, tt.pushType, got[0].PushType)
			assert.Equal(t, tt.priority, got[0].Priority)
			assert.Equal(t, tt.exp, got[0].Expiration)
			assert.JSONEq(t, tt.payload, string(got[0].Payload))
		})
	}
}

func TestSendIDs(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, nil)
	const uuid = "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(1), ID: uuid}))
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(1), ID: "event-17"}))
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(1), ID: "event-17"}))
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(1)}))
	got := srv.Notifications()
	require.Len(t, got, 4)
	assert.Equal(t, uuid, got[0].APNsID)
	assert.True(t, apns.ValidUUID(got[1].APNsID))
	assert.Equal(t, got[1].APNsID, got[2].APNsID, "a non-UUID id maps to a stable apns-id")
	assert.NotEqual(t, got[1].APNsID, got[3].APNsID)
	assert.True(t, apns.ValidUUID(got[3].APNsID))

	err := c.Send(context.Background(), pushwire.Message{Token: tok(1), Data: map[string]string{"aps": "x"}})
	assert.ErrorIs(t, err, pushwire.ErrPermanent)
	err = c.Send(context.Background(), pushwire.Message{Token: "nothex"})
	assert.ErrorIs(t, err, pushwire.ErrDeadToken)
}

func TestCertificateAuth(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{Topics: []string{bundle}})
	defer srv.Close()
	certPEM, keyPEM := srv.ClientCertificatePEM()
	fromPEM, err := apns.LoadCertificatePEM(certPEM, keyPEM)
	require.NoError(t, err)
	p12, err := srv.ClientCertificateP12("s3cret")
	require.NoError(t, err)
	fromP12, err := apns.LoadPKCS12(p12, "s3cret")
	require.NoError(t, err)
	_, err = apns.LoadPKCS12(p12, "wrong")
	require.Error(t, err)
	_, err = apns.LoadCertificatePEM(certPEM, certPEM)
	require.Error(t, err)

	for name, cert := range map[string]tls.Certificate{"pem": fromPEM, "p12": fromP12} {
		t.Run(name, func(t *testing.T) {
			srv.Reset()
			c, err := apns.New(apns.Config{BaseURL: srv.URL, Certificate: &cert, RootCAs: srv.CertPool(), Topic: bundle})
			require.NoError(t, err)
			defer c.Close()
			notAfter, ok := c.CertificateNotAfter()
			require.True(t, ok)
			assert.True(t, notAfter.After(time.Now()))
			require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(5), Kind: pushwire.KindAlert, Title: "t"}))
			assert.Len(t, srv.Notifications(), 1)
			_, err = c.Push(context.Background(), &apns.Notification{DeviceToken: tok(5), Topic: "org.not.allowed", Payload: []byte(`{}`)})
			assertReason(t, err, apns.ReasonTopicDisallowed)
		})
	}
	// A client without credentials the server accepts.
	noCert, err := apns.New(apns.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Topic: bundle})
	require.NoError(t, err)
	defer noCert.Close()
	err = noCert.Send(context.Background(), pushwire.Message{Token: tok(5)})
	assertReason(t, err, apns.ReasonMissingProviderToken)
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)

	tc, err := apns.New(apns.Config{BaseURL: srv.URL, Token: srv.TokenAuth(), RootCAs: srv.CertPool()})
	require.NoError(t, err)
	_, ok := tc.CertificateNotAfter()
	assert.False(t, ok)
	require.NoError(t, tc.Close())
}

// The standard library transport opens another connection when a
// connection's stream limit is reached.
func TestMoreConnectionsAtStreamLimit(t *testing.T) {
	srv, c := pair(t, apnstest.Config{MaxConcurrentStreams: 4, Latency: 50 * time.Millisecond}, nil)
	const n = 24
	sendConcurrently(t, c, n)
	assert.Len(t, srv.Notifications(), n)
	assert.Greater(t, srv.Connections(), 1, "a single connection would serialize at 4 streams")
	assert.LessOrEqual(t, srv.Connections(), n/4+1, "no more connections than the stream limit needs")
}

func TestMaxConcurrency(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) { cfg.MaxConcurrency = 1 })
	srv.Pause()
	done := make(chan error, 1)
	go func() { done <- c.Send(context.Background(), pushwire.Message{Token: tok(1)}) }()
	require.Eventually(t, func() bool { return srv.Requests() == 1 }, 5*time.Second, time.Millisecond)
	// The only slot is taken: a second push waits for it and gives up when
	// its context ends, without reaching the server.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := c.Send(ctx, pushwire.Message{Token: tok(2)})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, pushwire.ErrRetryable)
	assert.EqualValues(t, 1, srv.Requests())
	srv.Resume()
	require.NoError(t, <-done)
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(3)}))
	assert.EqualValues(t, 2, srv.Requests())
}

func TestClose(t *testing.T) {
	for _, graceful := range []bool{false, true} {
		t.Run(fmt.Sprint("shutdown=", graceful), func(t *testing.T) {
			srv, c := pair(t, apnstest.Config{}, nil)
			srv.Pause()
			done := make(chan error, 1)
			go func() { done <- c.Send(context.Background(), pushwire.Message{Token: tok(1)}) }()
			require.Eventually(t, func() bool { return srv.RequestsFor(tok(1)) == 1 }, 5*time.Second, time.Millisecond)
			closed := make(chan error, 1)
			go func() {
				if graceful {
					closed <- c.Shutdown(context.Background()) // waits for the push in flight
				} else {
					closed <- c.Close() // cancels the push in flight and waits for it
				}
			}()
			require.Eventually(t, func() bool { // an invalid message never reaches the network
				return errors.Is(c.Send(context.Background(), pushwire.Message{Token: "x"}), pushwire.ErrClosed)
			}, 5*time.Second, time.Millisecond)
			if graceful {
				srv.Resume()
				require.NoError(t, <-closed)
				require.NoError(t, <-done, "Shutdown lets the push in flight finish")
				assert.Len(t, srv.Notifications(), 1)
			} else {
				require.NoError(t, <-closed)
				err := <-done
				assert.ErrorIs(t, err, pushwire.ErrClosed, "Close cancels the push in flight")
				assert.ErrorIs(t, err, pushwire.ErrUnknownOutcome, "its request was written")
				assertClass(t, err, pushwire.ErrRetryable)
				srv.Resume()
			}
			assert.EqualValues(t, 1, srv.Requests())
			require.NoError(t, c.Close())
			require.NoError(t, c.Shutdown(context.Background()))
		})
	}
}

func TestPayloadBuilder(t *testing.T) {
	tests := []struct {
		name string
		p    apns.Payload
		want string
	}{
		{"empty", apns.Payload{}, `{"aps":{}}`},
		{"full", apns.Payload{
			Alert:             &apns.Alert{Title: "T", Subtitle: "S", Body: "B", LocKey: "k", LocArgs: []string{"a", "b"}, TitleLocArgs: []string{}},
			Badge:             apns.Badge(0),
			Sound:             &apns.Sound{Name: "ring.caf", Critical: true, Volume: 0.5},
			ContentAvailable:  true,
			MutableContent:    true,
			ThreadID:          "th",
			Category:          "CALL",
			InterruptionLevel: apns.InterruptionTimeSensitive,
			RelevanceScore:    ptr(0.75),
			TargetContentID:   "tc",
			Custom:            map[string]any{"z": 1, "a": map[string]any{"n": []int{1}}, "s": "\u2028<>&"},
		}, `{"aps":{"alert":{"title":"T","subtitle":"S","body":"B","title-loc-args":[],"loc-key":"k","loc-args":["a","b"]},
			"badge":0,"sound":{"critical":1,"name":"ring.caf","volume":0.5},"content-available":1,"mutable-content":1,
			"thread-id":"th","category":"CALL","interruption-level":"time-sensitive","relevance-score":0.75,"target-content-id":"tc"},
			"a":{"n":[1]},"s":"\u2028<>&","z":1}`},
		{"plain sound", apns.Payload{Sound: &apns.Sound{Name: "default"}}, `{"aps":{"sound":"default"}}`},
		{"escapes", apns.Payload{Alert: &apns.Alert{Body: "q\"b\\\t\x01é\xff"}}, `{"aps":{"alert":{"body":"q\"b\\\t\u0001é\ufffd"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(&tt.p)
			require.NoError(t, err)
			assert.True(t, json.Valid(b))
			assert.JSONEq(t, tt.want, string(b))
		})
	}
}

func TestTopics(t *testing.T) {
	assert.Equal(t, "a.b.voip", apns.Topic("a.b", apns.PushTypeVoIP))
	assert.Equal(t, "a.b.voip", apns.Topic("a.b.voip", apns.PushTypeVoIP))
	assert.Equal(t, "a.b", apns.Topic("a.b", apns.PushTypeAlert))
	assert.Equal(t, "a.b.push-type.liveactivity", apns.Topic("a.b", apns.PushTypeLiveActivity))
	assert.Equal(t, "a.b.voip-ptt", apns.Topic("a.b", apns.PushTypePushToTalk))
	assert.Equal(t, "a.b.complication", apns.Topic("a.b", apns.PushTypeComplication))
	assert.False(t, apns.PushType("nope").Valid())
}

// Request buffers are recycled between pushes, but what the connection's
// HPACK table keeps (the path carries the device token) must not change
// under it: tokens sent again, in any order and after the table has evicted
// entries, reach the server unchanged.
func TestRepeatedTokensOnOneConnection(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, nil)
	const distinct = 80 // ~110 table bytes each: more than the 4 KiB table holds
	var want []string
	for round := range 3 {
		for k := range distinct {
			i := (k*(2*round+1) + round) % distinct // a different order each round
			_, err := c.Push(context.Background(), &apns.Notification{DeviceToken: tok(i), Payload: []byte(`{"aps":{}}`)})
			require.NoError(t, err)
			want = append(want, tok(i))
		}
	}
	var got []string
	for _, n := range srv.Notifications() {
		got = append(got, n.Token)
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 1, srv.Connections())
}
