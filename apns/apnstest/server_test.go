package apnstest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/apns/apnstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var token = strings.Repeat("0a", 32)

func jwtFor(t testing.TB, key *ecdsa.PrivateKey, kid, iss string, iat time.Time) string {
	t.Helper()
	tk := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": iss, "iat": iat.Unix()})
	if kid != "" {
		tk.Header["kid"] = kid
	}
	s, err := tk.SignedString(key)
	require.NoError(t, err)
	return s
}

type answer struct {
	Status    int
	Reason    string `json:"reason"`
	Timestamp int64  `json:"timestamp"`
	APNsID    string
}

func do(t *testing.T, hc *http.Client, method, url string, hdr map[string][]string, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 2, resp.ProtoMajor, "HTTP/2")
	var a answer
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		require.NoError(t, json.Unmarshal(data, &a))
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	} else {
		assert.Empty(t, data)
	}
	a.Status = resp.StatusCode
	a.APNsID = resp.Header.Get("apns-id")
	return a
}

// The fake's checks, exercised by a plain HTTP/2 client that follows
// Apple's documentation.
func TestChecks(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{Topics: []string{"com.example.app"}})
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	good := "bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now())
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	url := srv.URL + "/3/device/" + token
	const id = "123e4567-e89b-42d3-a456-426614174000"
	base := func(extra map[string][]string) map[string][]string {
		h := map[string][]string{"Authorization": {good}, "Apns-Topic": {"com.example.app"}}
		for k, v := range extra {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}
	tests := []struct {
		name   string
		method string
		url    string
		hdr    map[string][]string
		body   string
		status int
		reason string
	}{
		{"accepted", "POST", url, base(nil), `{"aps":{}}`, 200, ""},
		{"accepted voip", "POST", url, base(map[string][]string{"Apns-Push-Type": {"voip"}, "Apns-Topic": {"com.example.app.voip"}}), `{"aps":{}}`, 200, ""},
		{"voip payload 5120", "POST", url, base(map[string][]string{"Apns-Push-Type": {"voip"}, "Apns-Topic": {"com.example.app.voip"}}), `{"x":"` + strings.Repeat("a", 5112) + `"}`, 200, ""},
		{"alert payload 4097", "POST", url, base(nil), `{"x":"` + strings.Repeat("a", 4089) + `"}`, 413, "PayloadTooLarge"},
		{"voip payload 5121", "POST", url, base(map[string][]string{"Apns-Push-Type": {"voip"}, "Apns-Topic": {"com.example.app.voip"}}), `{"x":"` + strings.Repeat("a", 5113) + `"}`, 413, "PayloadTooLarge"},
		{"GET", "GET", url, base(nil), "", 405, "MethodNotAllowed"},
		{"bad path", "POST", srv.URL + "/2/device/" + token, base(nil), `{}`, 404, "BadPath"},
		{"missing device token", "POST", srv.URL + "/3/device/", base(nil), `{}`, 400, "MissingDeviceToken"},
		{"bad device token", "POST", srv.URL + "/3/device/xyz", base(nil), `{}`, 400, "BadDeviceToken"},
		{"no auth", "POST", url, base(map[string][]string{"Authorization": nil}), `{}`, 403, "MissingProviderToken"},
		{"not bearer", "POST", url, base(map[string][]string{"Authorization": {"basic abc"}}), `{}`, 403, "InvalidProviderToken"},
		{"garbage jwt", "POST", url, base(map[string][]string{"Authorization": {"bearer a.b.c"}}), `{}`, 403, "InvalidProviderToken"},
		{"unknown kid", "POST", url, base(map[string][]string{"Authorization": {"bearer " + jwtFor(t, srv.AuthKey(), "NOPE", srv.TeamID, time.Now())}}), `{}`, 403, "InvalidProviderToken"},
		{"no kid", "POST", url, base(map[string][]string{"Authorization": {"bearer " + jwtFor(t, srv.AuthKey(), "", srv.TeamID, time.Now())}}), `{}`, 403, "InvalidProviderToken"},
		{"wrong iss", "POST", url, base(map[string][]string{"Authorization": {"bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, "X", time.Now())}}), `{}`, 403, "InvalidProviderToken"},
		{"wrong key", "POST", url, base(map[string][]string{"Authorization": {"bearer " + jwtFor(t, other, srv.KeyID, srv.TeamID, time.Now())}}), `{}`, 403, "InvalidProviderToken"},
		{"old iat", "POST", url, base(map[string][]string{"Authorization": {"bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now().Add(-61*time.Minute))}}), `{}`, 403, "ExpiredProviderToken"},
		{"missing topic", "POST", url, base(map[string][]string{"Apns-Topic": nil}), `{}`, 400, "MissingTopic"},
		{"topic disallowed", "POST", url, base(map[string][]string{"Apns-Topic": {"org.evil"}}), `{}`, 400, "TopicDisallowed"},
		{"voip without suffix", "POST", url, base(map[string][]string{"Apns-Push-Type": {"voip"}}), `{}`, 400, "BadTopic"},
		{"alert to voip topic", "POST", url, base(map[string][]string{"Apns-Push-Type": {"alert"}, "Apns-Topic": {"com.example.app.voip"}}), `{}`, 400, "BadTopic"},
		{"bad push type", "POST", url, base(map[string][]string{"Apns-Push-Type": {"sms"}}), `{}`, 400, "InvalidPushType"},
		{"bad priority", "POST", url, base(map[string][]string{"Apns-Priority": {"7"}}), `{}`, 400, "BadPriority"},
		{"background at 10", "POST", url, base(map[string][]string{"Apns-Push-Type": {"background"}, "Apns-Priority": {"10"}}), `{}`, 400, "BadPriority"},
		{"background default priority", "POST", url, base(map[string][]string{"Apns-Push-Type": {"background"}}), `{}`, 200, ""},
		{"background at 5", "POST", url, base(map[string][]string{"Apns-Push-Type": {"background"}, "Apns-Priority": {"5"}}), `{}`, 200, ""},
		{"bad expiration", "POST", url, base(map[string][]string{"Apns-Expiration": {"soon"}}), `{}`, 400, "BadExpirationDate"},
		{"expiration 0", "POST", url, base(map[string][]string{"Apns-Expiration": {"0"}}), `{}`, 200, ""},
		{"bad apns-id", "POST", url, base(map[string][]string{"Apns-Id": {"nope"}}), `{}`, 400, "BadMessageId"},
		{"given apns-id", "POST", url, base(map[string][]string{"Apns-Id": {id}}), `{}`, 200, ""},
		{"long collapse id", "POST", url, base(map[string][]string{"Apns-Collapse-Id": {strings.Repeat("c", 65)}}), `{}`, 400, "BadCollapseId"},
		{"duplicate headers", "POST", url, base(map[string][]string{"Apns-Priority": {"10", "5"}}), `{}`, 400, "DuplicateHeaders"},
		{"empty payload", "POST", url, base(nil), ``, 400, "PayloadEmpty"},
		{"not an object", "POST", url, base(nil), `[1]`, 400, "PayloadEmpty"},
	}
	accepted := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, hc, tt.method, tt.url, tt.hdr, tt.body)
			assert.Equal(t, tt.status, a.Status)
			assert.Equal(t, tt.reason, a.Reason)
			if tt.status == 200 {
				accepted++
				assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, a.APNsID)
			}
			if v := tt.hdr["Apns-Id"]; len(v) == 1 && tt.status == 200 {
				assert.Equal(t, v[0], a.APNsID)
			}
		})
	}
	got := srv.Notifications()
	assert.Len(t, got, accepted)
	assert.EqualValues(t, accepted, srv.Accepted())
	assert.EqualValues(t, len(tests), srv.Requests())
}

func TestScriptedFailures(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{})
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	hdr := map[string][]string{"Authorization": {"bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now())}, "Apns-Topic": {"a.b"}}
	url := srv.URL + "/3/device/" + token
	ts := time.UnixMilli(1700000000123)
	srv.Fail(strings.ToUpper(token), apnstest.Failure{Reason: "Unregistered", Timestamp: ts, Times: 2})
	for range 2 {
		a := do(t, hc, "POST", url, hdr, `{}`)
		assert.Equal(t, 410, a.Status)
		assert.Equal(t, "Unregistered", a.Reason)
		assert.Equal(t, ts.UnixMilli(), a.Timestamp)
	}
	assert.Equal(t, 200, do(t, hc, "POST", url, hdr, `{}`).Status, "Times exhausted")
	srv.Fail(token, apnstest.Failure{Reason: "TooManyRequests"})
	for range 3 {
		assert.Equal(t, 429, do(t, hc, "POST", url, hdr, `{}`).Status)
	}
	srv.Reset()
	assert.Equal(t, 200, do(t, hc, "POST", url, hdr, `{}`).Status, "Reset clears failures")
	assert.Len(t, srv.Notifications(), 1)

	// GOAWAY: the answer arrives, then the connection closes; the next
	// request uses a new connection.
	before := srv.Connections()
	srv.Fail(token, apnstest.Failure{Action: apnstest.ActionGoAway, Times: 1})
	assert.Equal(t, 200, do(t, hc, "POST", url, hdr, `{}`).Status)
	assert.Equal(t, 200, do(t, hc, "POST", url, hdr, `{}`).Status)
	assert.Equal(t, before+1, srv.Connections())
}

// Provider tokens may change at most every 20 minutes per connection.
func TestTokenUpdatesPerConnection(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	srv := apnstest.NewServer(apnstest.Config{Now: clock})
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	url := srv.URL + "/3/device/" + token
	h := func(iat time.Time) map[string][]string {
		return map[string][]string{"Authorization": {"bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, iat)}, "Apns-Topic": {"a.b"}}
	}
	assert.Equal(t, 200, do(t, hc, "POST", url, h(now.Add(-time.Minute)), `{}`).Status)
	a := do(t, hc, "POST", url, h(now.Add(-2*time.Minute)), `{}`)
	assert.Equal(t, 429, a.Status)
	assert.Equal(t, "TooManyProviderTokenUpdates", a.Reason)
	now = now.Add(21 * time.Minute)
	assert.Equal(t, 200, do(t, hc, "POST", url, h(now), `{}`).Status)

	a = do(t, hc, "POST", url, map[string][]string{"Authorization": {"bearer " + jwtFor(t, srv.AuthKey(), "OTHER", srv.TeamID, now)}, "Apns-Topic": {"a.b"}}, `{}`)
	assert.Equal(t, 403, a.Status)
	assert.Equal(t, "InvalidProviderToken", a.Reason)
}

func TestWaitForNotifications(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{})
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	hdr := map[string][]string{"Authorization": {"bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now())}, "Apns-Topic": {"a.b"}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := srv.WaitForNotifications(ctx, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	go func() {
		for range 3 {
			req, _ := http.NewRequest("POST", srv.URL+"/3/device/"+token, strings.NewReader(`{"n":1}`))
			for k, v := range hdr {
				req.Header[k] = v
			}
			if resp, err := hc.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	got, err := srv.WaitForNotifications(context.Background(), 3)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.JSONEq(t, `{"n":1}`, string(got[0].Payload))
}

func TestClientCertificate(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{Topics: []string{"com.example.app"}})
	defer srv.Close()
	hc := certClient(srv)
	defer hc.CloseIdleConnections()
	// With a client certificate no provider token is needed, and the topic
	// defaults to the certificate's.
	a := do(t, hc, "POST", srv.URL+"/3/device/"+token, nil, `{}`)
	assert.Equal(t, 200, a.Status)
	got := srv.Notifications()
	require.Len(t, got, 1)
	assert.Equal(t, "com.example.app", got[0].Topic)
	assert.True(t, got[0].TokenIssuedAt.IsZero())
}

// FuzzServeHTTP feeds hostile requests to the fake's handler: it must answer
// every one with a well-formed APNs response and never panic.
func FuzzServeHTTP(f *testing.F) {
	srv := apnstest.NewServer(apnstest.Config{DisableRecording: true})
	defer srv.Close()
	good := "bearer " + jwtFor(f, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now())
	f.Add("POST", "/3/device/"+token, good, "a.b", "alert", "10", "0", "", []byte(`{"aps":{}}`))
	f.Add("POST", "/3/device/"+token, good, "a.b.voip", "voip", "5", "", "123e4567-e89b-42d3-a456-426614174000", []byte(`{}`))
	f.Add("PUT", "/3/device/", "bearer x.y.z", "", "", "x", "-1", "bad", []byte(`[`))
	f.Add("POST", "/3/device/zz", "bearer eyJhbGciOiJub25lIn0.e30.", "a", "background", "10", "99999999999999999999", "", []byte{})
	f.Fuzz(func(t *testing.T, method, path, auth, topic, pushType, prio, exp, id string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Method = method
		req.URL.Path = path
		req.Header["Authorization"] = []string{auth}
		req.Header["Apns-Topic"] = []string{topic}
		req.Header["Apns-Push-Type"] = []string{pushType}
		req.Header["Apns-Priority"] = []string{prio}
		req.Header["Apns-Expiration"] = []string{exp}
		req.Header["Apns-Id"] = []string{id}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		res := rec.Result()
		if res.StatusCode == http.StatusOK {
			assert.Empty(t, rec.Body.Bytes())
			return
		}
		var a answer
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a), "body %q", rec.Body.String())
		assert.NotEmpty(t, a.Reason)
	})
}

// A connection binds to the key id it first used.
func TestConnectionBindsToKey(t *testing.T) {
	second, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	srv := apnstest.NewServer(apnstest.Config{MoreKeys: map[string]*ecdsa.PublicKey{"SECONDKEY0": &second.PublicKey}})
	defer srv.Close()
	url := srv.URL + "/3/device/" + token
	h := func(key *ecdsa.PrivateKey, kid string) map[string][]string {
		return map[string][]string{"Authorization": {"bearer " + jwtFor(t, key, kid, srv.TeamID, time.Now())}, "Apns-Topic": {"a.b"}}
	}
	one := srv.Client()
	defer one.CloseIdleConnections()
	assert.Equal(t, 200, do(t, one, "POST", url, h(srv.AuthKey(), srv.KeyID), `{}`).Status)
	a := do(t, one, "POST", url, h(second, "SECONDKEY0"), `{}`)
	assert.Equal(t, 403, a.Status)
	assert.Equal(t, "UnrelatedKeyIdInToken", a.Reason)

	// The second key is fine on a connection of its own.
	two := srv.Client()
	defer two.CloseIdleConnections()
	assert.Equal(t, 200, do(t, two, "POST", url, h(second, "SECONDKEY0"), `{}`).Status)
	assert.Equal(t, 2, srv.Connections())
}

// Without an apns-topic header a certificate-authenticated push goes to the
// certificate's topic, also when Config.Topics is empty (as in apnsfake).
func TestClientCertificateDefaultTopicWithoutTopics(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{})
	defer srv.Close()
	hc := certClient(srv)
	defer hc.CloseIdleConnections()
	a := do(t, hc, "POST", srv.URL+"/3/device/"+token, nil, `{}`)
	require.Equal(t, http.StatusOK, a.Status, a.Reason)
	got := srv.Notifications()
	require.Len(t, got, 1)
	assert.Equal(t, "com.example.app", got[0].Topic)

	// A provider token has no default topic.
	hc2 := srv.Client()
	defer hc2.CloseIdleConnections()
	hdr := map[string][]string{"Authorization": {"bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now())}}
	a = do(t, hc2, "POST", srv.URL+"/3/device/"+token, hdr, `{}`)
	assert.Equal(t, http.StatusBadRequest, a.Status)
	assert.Equal(t, "MissingTopic", a.Reason)
}

// Without an apns-push-type header the push type follows the topic's
// suffix, and with it the payload limit.
func TestPushTypeFromTopicWithoutHeader(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{Topics: []string{"com.example.app"}})
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	url := srv.URL + "/3/device/" + token
	auth := "bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now())
	tests := []struct {
		topic, body      string
		status           int
		reason, pushType string
	}{
		{"com.example.app", `{}`, 200, "", "alert"},
		{"com.example.app.voip", `{"x":"` + strings.Repeat("a", 4500) + `"}`, 200, "", "voip"},
		{"com.example.app.voip", `{"x":"` + strings.Repeat("a", 5113) + `"}`, 413, "PayloadTooLarge", ""},
		{"com.example.app.complication", `{}`, 200, "", "complication"},
		{"com.example.app.pushkit.fileprovider", `{}`, 200, "", "fileprovider"},
		{"com.example.app.push-type.liveactivity", `{}`, 200, "", "liveactivity"},
		{"com.example.app.alert.voip", `{}`, 400, "TopicDisallowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			srv.Reset()
			a := do(t, hc, "POST", url, map[string][]string{"Authorization": {auth}, "Apns-Topic": {tt.topic}}, tt.body)
			assert.Equal(t, tt.status, a.Status, a.Reason)
			assert.Equal(t, tt.reason, a.Reason)
			if tt.status == http.StatusOK {
				got := srv.Notifications()
				require.Len(t, got, 1)
				assert.Equal(t, tt.pushType, got[0].PushType)
			}
		})
	}
}

// Notifications, WaitForNotifications and OnNotification hand out copies:
// changing one leaves the fake's record alone.
func TestNotificationsAreCopies(t *testing.T) {
	hook := make(chan apnstest.Notification, 1)
	srv := apnstest.NewServer(apnstest.Config{OnNotification: func(n apnstest.Notification) { hook <- n }})
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	hdr := map[string][]string{
		"Authorization":   {"bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now())},
		"Apns-Topic":      {"a.b"},
		"Apns-Expiration": {"100"},
	}
	require.Equal(t, http.StatusOK, do(t, hc, "POST", srv.URL+"/3/device/"+token, hdr, `{"n":1}`).Status)

	first := srv.Notifications()
	require.Len(t, first, 1)
	require.NotNil(t, first[0].Expiration)
	first[0].Payload[5] = '9'
	*first[0].Expiration = 7
	waited, err := srv.WaitForNotifications(context.Background(), 1)
	require.NoError(t, err)
	waited[0].Payload[5] = '8'
	*waited[0].Expiration = 8
	fromHook := <-hook
	require.NotNil(t, fromHook.Expiration)
	fromHook.Payload[5] = '7'
	*fromHook.Expiration = 9

	got := srv.Notifications()
	require.Len(t, got, 1)
	assert.Equal(t, `{"n":1}`, string(got[0].Payload))
	require.NotNil(t, got[0].Expiration)
	assert.Equal(t, int64(100), *got[0].Expiration)
}

// A scripted hang on a request served directly through ServeHTTP ends when
// the fake closes, so Close returns.
func TestCloseEndsDirectlyServedHang(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{})
	srv.Fail(token, apnstest.Failure{Action: apnstest.ActionHang, Times: 1})
	req := httptest.NewRequest(http.MethodPost, "/3/device/"+token, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "bearer "+jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now()))
	req.Header.Set("Apns-Topic", "a.b")
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}()
	require.Eventually(t, func() bool { return srv.Requests() == 1 }, 5*time.Second, time.Millisecond)
	select {
	case <-served:
		require.FailNow(t, "ServeHTTP returned before Close")
	case <-time.After(50 * time.Millisecond):
	}

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		srv.Close()
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "Close blocked on a directly served ActionHang")
	}
	// Close waits for the handler's own work; ServeHTTP's return to this
	// goroutine follows an instant later.
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		assert.Fail(t, "ServeHTTP still running after Close")
	}
}

// Every answer carries an apns-id, also those refused before the request's
// own apns-id is looked at: the request's when valid, else a new UUID.
func TestEveryAnswerCarriesAPNsID(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{})
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	const id = "123e4567-e89b-42d3-a456-426614174000"
	uuid := `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`
	auth := "bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now())
	url := srv.URL + "/3/device/" + token
	tests := []struct {
		name, method, url string
		hdr               map[string][]string
		reason, id        string
	}{
		{"duplicate headers", "POST", url, map[string][]string{"Authorization": {auth}, "Apns-Topic": {"a.b"}, "Apns-Priority": {"10", "5"}}, "DuplicateHeaders", ""},
		{"duplicate headers with id", "POST", url, map[string][]string{"Authorization": {auth}, "Apns-Topic": {"a.b"}, "Apns-Priority": {"10", "5"}, "Apns-Id": {id}}, "DuplicateHeaders", id},
		{"duplicate apns-id", "POST", url, map[string][]string{"Authorization": {auth}, "Apns-Topic": {"a.b"}, "Apns-Id": {id, id}}, "DuplicateHeaders", ""},
		{"bad path", "POST", srv.URL + "/2/device/" + token, nil, "BadPath", ""},
		{"bad path with id", "POST", srv.URL + "/2/device/" + token, map[string][]string{"Apns-Id": {id}}, "BadPath", id},
		{"method not allowed", "GET", url, nil, "MethodNotAllowed", ""},
		{"invalid apns-id", "POST", url, map[string][]string{"Authorization": {auth}, "Apns-Topic": {"a.b"}, "Apns-Id": {"nope"}}, "BadMessageId", ""},
		{"invalid apns-id on bad path", "POST", srv.URL + "/2/device/" + token, map[string][]string{"Apns-Id": {"nope"}}, "BadPath", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, hc, tt.method, tt.url, tt.hdr, `{}`)
			require.Equal(t, tt.reason, a.Reason)
			if tt.id != "" {
				assert.Equal(t, tt.id, a.APNsID)
			} else {
				assert.Regexp(t, uuid, a.APNsID)
			}
		})
	}

	// A fake that has closed still answers with one, when served directly.
	srv.Close()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/3/device/"+token, strings.NewReader(`{}`)))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	//lint:ignore SA1008 the fake sets the header in lower case, as HTTP/2 sends it
	require.Len(t, rec.Header()["apns-id"], 1)
	//lint:ignore SA1008 as above
	assert.Regexp(t, uuid, rec.Header()["apns-id"][0])
}

// certClient is the fake's client presenting its client certificate.
func certClient(srv *apnstest.Server) *http.Client {
	hc := srv.Client()
	tr := hc.Transport.(*http.Transport)
	tr.TLSClientConfig.Certificates = []tls.Certificate{srv.ClientCertificate()}
	return hc
}

// ActionStall holds one request without an answer while the connection
// serves others; RequestsFor counts requests read in full, per token.
func TestStallAndRequestsFor(t *testing.T) {
	srv := apnstest.NewServer(apnstest.Config{})
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	hdr := map[string][]string{"Authorization": {"bearer " + jwtFor(t, srv.AuthKey(), srv.KeyID, srv.TeamID, time.Now())}, "Apns-Topic": {"a.b"}}
	stalled, other := token, strings.Repeat("0b", 32)
	srv.Fail(stalled, apnstest.Failure{Action: apnstest.ActionStall})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/3/device/"+stalled, strings.NewReader(`{}`))
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return srv.RequestsFor(strings.ToUpper(stalled)) == 1 }, 10*time.Second, time.Millisecond,
		"a stalled request is counted once read")
	before := srv.Connections()
	assert.Equal(t, 200, do(t, hc, "POST", srv.URL+"/3/device/"+other, hdr, `{}`).Status, "other streams are answered meanwhile")
	assert.Equal(t, before, srv.Connections(), "on the same connection")
	select {
	case err := <-errc:
		t.Fatalf("the stalled request ended before the client gave up: %v", err)
	default:
	}
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	assert.Equal(t, 1, srv.RequestsFor(other))
	assert.Zero(t, srv.RequestsFor(strings.Repeat("0c", 32)))
	assert.Equal(t, 0, srv.HungConnections(), "a stall does not hang the connection")

	srv.Fail(other, apnstest.Failure{Reason: "BadExpirationDate"})
	assert.Equal(t, 400, do(t, hc, "POST", srv.URL+"/3/device/"+other, hdr, `{}`).Status)
	assert.Equal(t, 2, srv.RequestsFor(other), "refused requests count too")
	srv.Reset()
	assert.Zero(t, srv.RequestsFor(other), "Reset clears the counts")

	// Close ends a stall.
	srv.Fail(stalled, apnstest.Failure{Action: apnstest.ActionStall})
	go func() {
		req, _ := http.NewRequest("POST", srv.URL+"/3/device/"+stalled, strings.NewReader(`{}`))
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return srv.RequestsFor(stalled) == 1 }, 10*time.Second, time.Millisecond)
	srv.Close()
	assert.Error(t, <-errc, "Close ends a stalled request without an answer")
}
