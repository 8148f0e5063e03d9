package fcmtest_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

func readSA(t *testing.T, srv *fcmtest.Server) serviceAccount {
	t.Helper()
	var sa serviceAccount
	require.NoError(t, json.Unmarshal(srv.ServiceAccountJSON(), &sa))
	return sa
}

func saKey(t *testing.T, sa serviceAccount) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	require.NotNil(t, block)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	return k.(*rsa.PrivateKey)
}

// accessToken obtains a token the standard way (golang.org/x/oauth2/google).
func accessToken(t *testing.T, srv *fcmtest.Server) string {
	t.Helper()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	creds, err := google.CredentialsFromJSONWithType(ctx, srv.ServiceAccountJSON(), google.ServiceAccount,
		"https://www.googleapis.com/auth/firebase.messaging")
	require.NoError(t, err)
	tok, err := creds.TokenSource.Token()
	require.NoError(t, err)
	return tok.AccessToken
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func post(t *testing.T, srv *fcmtest.Server, path, token, contentType string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &a.body), "%s", raw)
	}
	return a
}

func sendPath(srv *fcmtest.Server) string {
	return "/v1/projects/" + srv.ProjectID() + "/messages:send"
}

// fcmCode extracts the FcmError errorCode and the first field violation.
func fcmCode(a answer) (status, code, field, message string) {
	e, _ := a.body["error"].(map[string]any)
	status, _ = e["status"].(string)
	message, _ = e["message"].(string)
	details, _ := e["details"].([]any)
	for _, d := range details {
		dm, _ := d.(map[string]any)
		switch dm["@type"] {
		case "type.googleapis.com/google.firebase.fcm.v1.FcmError":
			code, _ = dm["errorCode"].(string)
		case "type.googleapis.com/google.rpc.BadRequest":
			fv, _ := dm["fieldViolations"].([]any)
			if len(fv) > 0 {
				field, _ = fv[0].(map[string]any)["field"].(string)
			}
		}
	}
	return
}

func TestServiceAccountJSON(t *testing.T) {
	srv := newServer(t, fcmtest.Config{ProjectID: "my-proj"})
	sa := readSA(t, srv)
	assert.Equal(t, "service_account", sa.Type)
	assert.Equal(t, "my-proj", sa.ProjectID)
	assert.Equal(t, srv.ProjectID(), sa.ProjectID)
	assert.Equal(t, srv.URL+"/token", sa.TokenURI)
	assert.Equal(t, srv.ClientEmail(), sa.ClientEmail)
	assert.NotEmpty(t, sa.PrivateKeyID)
	assert.True(t, saKey(t, sa).Equal(testKey()))
	assert.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"))
}

func TestSendAccepted(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", tls), func(t *testing.T) {
			srv := newServer(t, fcmtest.Config{TLS: tls})
			tok := accessToken(t, srv)
			body := `{"message":{"token":"abc:DEF-123_x","data":{"a":"1"},"android":{"priority":"HIGH","ttl":"3.5s"}}}`
			a := post(t, srv, sendPath(srv), tok, "application/json", []byte(body))
			require.Equal(t, 200, a.status, "%s", a.raw)
			name, _ := a.body["name"].(string)
			assert.True(t, strings.HasPrefix(name, "projects/"+srv.ProjectID()+"/messages/"))
			got := srv.Messages()
			require.Len(t, got, 1)
			assert.Equal(t, name, got[0].Name)
			assert.Equal(t, "abc:DEF-123_x", got[0].Message.Token)
			assert.Equal(t, "3.5s", got[0].Message.Android.TTL)
			assert.JSONEq(t, `{"token":"abc:DEF-123_x","data":{"a":"1"},"android":{"priority":"HIGH","ttl":"3.5s"}}`, string(got[0].Raw))
			assert.Equal(t, 1, srv.TokenRequests())
		})
	}
}

func TestSendRefused(t *testing.T) {
	srv := newServer(t, fcmtest.Config{MaxBodyBytes: 8 << 10})
	tok := accessToken(t, srv)
	big := strings.Repeat("x", 4100)
	tests := []struct {
		name, body, contentType string
		status                  int
		code, field             string
	}{
		{"not json", `{`, "application/json", 400, "INVALID_ARGUMENT", ""},
		{"trailing data", `{"message":{"token":"t"}} {}`, "application/json", 400, "INVALID_ARGUMENT", ""},
		{"wrong content type", `{"message":{"token":"t"}}`, "text/plain", 400, "INVALID_ARGUMENT", ""},
		{"no message", `{}`, "", 400, "INVALID_ARGUMENT", "message"},
		{"unknown top-level field", `{"message":{"token":"t"},"extra":1}`, "", 400, "INVALID_ARGUMENT", ""},
		{"unknown message field", `{"message":{"token":"t","priority":"high"}}`, "", 400, "INVALID_ARGUMENT", "message"},
		{"no target", `{"message":{"data":{"a":"b"}}}`, "", 400, "INVALID_ARGUMENT", "message"},
		{"two targets", `{"message":{"token":"t","topic":"x"}}`, "", 400, "INVALID_ARGUMENT", "message"},
		{"malformed token", `{"message":{"token":"has space"}}`, "", 400, "INVALID_ARGUMENT", "message.token"},
		{"bad topic", `{"message":{"topic":"a/b"}}`, "", 400, "INVALID_ARGUMENT", "message.topic"},
		{"non-string data", `{"message":{"token":"t","data":{"a":1}}}`, "", 400, "INVALID_ARGUMENT", "message"},
		{"reserved key from", `{"message":{"token":"t","data":{"from":"x"}}}`, "", 400, "INVALID_ARGUMENT", "message.data"},
		{"reserved key google.", `{"message":{"token":"t","data":{"google.c":"x"}}}`, "", 400, "INVALID_ARGUMENT", "message.data"},
		{"reserved android key", `{"message":{"token":"t","android":{"data":{"gcm.x":"x"}}}}`, "", 400, "INVALID_ARGUMENT", "message.android.data"},
		{"ttl without s", `{"message":{"token":"t","android":{"ttl":"10"}}}`, "", 400, "INVALID_ARGUMENT", "message.android.ttl"},
		{"ttl too long", `{"message":{"token":"t","android":{"ttl":"2419201s"}}}`, "", 400, "INVALID_ARGUMENT", "message.android.ttl"},
		{"ttl negative", `{"message":{"token":"t","android":{"ttl":"-1s"}}}`, "", 400, "INVALID_ARGUMENT", "message.android.ttl"},
		{"bad priority", `{"message":{"token":"t","android":{"priority":"urgent"}}}`, "", 400, "INVALID_ARGUMENT", "message.android.priority"},
		{"bad color", `{"message":{"token":"t","android":{"notification":{"color":"red"}}}}`, "", 400, "INVALID_ARGUMENT", "message.android.notification.color"},
		{"apns payload not object", `{"message":{"token":"t","apns":{"payload":[1]}}}`, "", 400, "INVALID_ARGUMENT", "message.apns.payload"},
		{"too big", `{"message":{"token":"t","data":{"k":"` + big + `"}}}`, "", 400, "INVALID_ARGUMENT", "message"},
		{"too big for a topic", `{"message":{"topic":"t","data":{"k":"` + big[:2100] + `"}}}`, "", 400, "INVALID_ARGUMENT", "message"},
		{"body over the cap", `{"message":{"token":"t","data":{"k":"` + strings.Repeat("y", 9000) + `"}}}`, "", 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, srv, sendPath(srv), tok, tt.contentType, []byte(tt.body))
			assert.Equal(t, tt.status, a.status, "%s", a.raw)
			status, code, field, _ := fcmCode(a)
			assert.Equal(t, "INVALID_ARGUMENT", status)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.field, field)
		})
	}
	assert.Empty(t, srv.Messages())

	t.Run("accepted at the limit", func(t *testing.T) {
		// {"topic":"t","data":{"k":"..."}} is 29 bytes plus the value.
		v := strings.Repeat("z", 2048-29)
		a := post(t, srv, sendPath(srv), tok, "", []byte(`{"message":{"topic":"t","data":{"k":"`+v+`"}}}`))
		assert.Equal(t, 200, a.status, "%s", a.raw)
		a = post(t, srv, sendPath(srv), tok, "", []byte(`{"message":{"topic":"t","data":{"k":"`+v+`z"}}}`))
		assert.Equal(t, 400, a.status, "%s", a.raw)
	})
}

// Every field of a message under its proto name (snake_case) and under its
// JSON name (lowerCamelCase, as Google's REST reference and clients such as
// google-api-go-client spell them): FCM reads proto3 JSON, which accepts
// both.
const (
	snakeMessage = `{"token":"tok-1","name":"projects/p/messages/1",
		"notification":{"title":"T","body":"B","image":"https://x/i.png"},
		"data":{"snake_key":"v","camelKey":"w"},
		"android":{"collapse_key":"ck","priority":"high","ttl":"3.5s","restricted_package_name":"com.x",
			"data":{"a_b":"1"},
			"notification":{"title":"t","body":"b","icon":"i","color":"#aabbcc","sound":"s","tag":"g",
				"click_action":"ca","body_loc_key":"blk","body_loc_args":["1"],"title_loc_key":"tlk","title_loc_args":["2"],
				"channel_id":"ch","ticker":"tk","sticky":true,"event_time":"2024-01-01T00:00:00Z","local_only":true,
				"notification_priority":"PRIORITY_HIGH","default_sound":true,"default_vibrate_timings":true,
				"default_light_settings":true,"vibrate_timings":["1s"],"visibility":"PUBLIC","notification_count":3,
				"light_settings":{"color":{"red":1},"light_on_duration":"1s","light_off_duration":"2s"},
				"image":"https://x/a.png","bypass_proxy_notification":true,"proxy":"DENY"},
			"fcm_options":{"analytics_label":"al"},"direct_boot_ok":true,"bandwidth_constrained_ok":true,
			"restricted_satellite_ok":true},
		"apns":{"headers":{"apns-priority":"10"},"payload":{"aps":{"mutable-content":1,"content_available":1}},
			"fcm_options":{"analytics_label":"l","image":"https://x/b.png"},"live_activity_token":"lat"},
		"webpush":{"headers":{"TTL":"60"},"data":{"k":"v"},"notification":{"requireInteraction":true},
			"fcm_options":{"link":"https://x/","analytics_label":"w"}},
		"fcm_options":{"analytics_label":"top"}}`
	camelMessage = `{"token":"tok-1","name":"projects/p/messages/1",
		"notification":{"title":"T","body":"B","image":"https://x/i.png"},
		"data":{"snake_key":"v","camelKey":"w"},
		"android":{"collapseKey":"ck","priority":"high","ttl":"3.5s","restrictedPackageName":"com.x",
			"data":{"a_b":"1"},
			"notification":{"title":"t","body":"b","icon":"i","color":"#aabbcc","sound":"s","tag":"g",
				"clickAction":"ca","bodyLocKey":"blk","bodyLocArgs":["1"],"titleLocKey":"tlk","titleLocArgs":["2"],
				"channelId":"ch","ticker":"tk","sticky":true,"eventTime":"2024-01-01T00:00:00Z","localOnly":true,
				"notificationPriority":"PRIORITY_HIGH","defaultSound":true,"defaultVibrateTimings":true,
				"defaultLightSettings":true,"vibrateTimings":["1s"],"visibility":"PUBLIC","notificationCount":3,
				"lightSettings":{"color":{"red":1},"lightOnDuration":"1s","lightOffDuration":"2s"},
				"image":"https://x/a.png","bypassProxyNotification":true,"proxy":"DENY"},
			"fcmOptions":{"analyticsLabel":"al"},"directBootOk":true,"bandwidthConstrainedOk":true,
			"restrictedSatelliteOk":true},
		"apns":{"headers":{"apns-priority":"10"},"payload":{"aps":{"mutable-content":1,"content_available":1}},
			"fcmOptions":{"analyticsLabel":"l","image":"https://x/b.png"},"liveActivityToken":"lat"},
		"webpush":{"headers":{"TTL":"60"},"data":{"k":"v"},"notification":{"requireInteraction":true},
			"fcmOptions":{"link":"https://x/","analyticsLabel":"w"}},
		"fcmOptions":{"analyticsLabel":"top"}}`
)

func TestSendFieldNames(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	tok := accessToken(t, srv)
	send := func(body string) answer {
		t.Helper()
		return post(t, srv, sendPath(srv), tok, "application/json", []byte(body))
	}

	a := send(`{"message":` + snakeMessage + `}`)
	require.Equal(t, 200, a.status, "%s", a.raw)
	a = send(`{"message":` + camelMessage + `}`)
	require.Equal(t, 200, a.status, "%s", a.raw)
	got := srv.Messages()
	require.Len(t, got, 2)
	snake, camel := got[0], got[1]
	assert.Equal(t, snake.Message, camel.Message, "recorded alike")
	assert.Equal(t, string(snake.Raw), string(camel.Raw), "recorded alike")
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, []byte(snakeMessage)))
	assert.Equal(t, compact.String(), string(camel.Raw), "under the proto names, in the order sent")

	// Every field was decoded (the message above sets each one).
	m := camel.Message
	require.NotNil(t, m.Android)
	require.NotNil(t, m.Android.Notification)
	require.NotNil(t, m.Android.FCMOptions)
	require.NotNil(t, m.APNS)
	require.NotNil(t, m.APNS.FCMOptions)
	require.NotNil(t, m.Webpush)
	require.NotNil(t, m.Webpush.FCMOptions)
	require.NotNil(t, m.FCMOptions)
	assert.Equal(t, "ck", m.Android.CollapseKey)
	assert.Equal(t, "com.x", m.Android.RestrictedPackageName)
	assert.True(t, m.Android.DirectBootOK)
	assert.True(t, m.Android.BandwidthConstrainedOK)
	assert.True(t, m.Android.RestrictedSatelliteOK)
	assert.Equal(t, "al", m.Android.FCMOptions.AnalyticsLabel)
	n := m.Android.Notification
	assert.Equal(t, "ca", n.ClickAction)
	assert.Equal(t, "ch", n.ChannelID)
	assert.Equal(t, []string{"1"}, n.BodyLocArgs)
	assert.Equal(t, []string{"2"}, n.TitleLocArgs)
	assert.Equal(t, "PRIORITY_HIGH", n.NotificationPriority)
	assert.True(t, n.DefaultVibrateTimings)
	assert.True(t, n.BypassProxyNotification)
	require.NotNil(t, n.NotificationCount)
	assert.Equal(t, 3, *n.NotificationCount)
	assert.JSONEq(t, `{"color":{"red":1},"light_on_duration":"1s","light_off_duration":"2s"}`, string(n.LightSettings))
	assert.Equal(t, "lat", m.APNS.LiveActivityToken)
	assert.Equal(t, "l", m.APNS.FCMOptions.AnalyticsLabel)
	assert.JSONEq(t, `{"aps":{"mutable-content":1,"content_available":1}}`, string(m.APNS.Payload), "free-form keys kept")
	assert.Equal(t, "w", m.Webpush.FCMOptions.AnalyticsLabel)
	assert.JSONEq(t, `{"requireInteraction":true}`, string(m.Webpush.Notification), "free-form keys kept")
	assert.Equal(t, map[string]string{"snake_key": "v", "camelKey": "w"}, m.Data, "data keys kept")
	assert.Equal(t, "top", m.FCMOptions.AnalyticsLabel)

	// validateOnly, the request's own field.
	a = send(`{"validateOnly":true,"message":{"token":"t","android":{"collapseKey":"x"}}}`)
	require.Equal(t, 200, a.status, "%s", a.raw)
	assert.Len(t, srv.Messages(), 2, "a dry run is not recorded")

	refused := []struct {
		name, body, field, message string
	}{
		{"unknown field", `{"message":{"token":"t","android":{"collapseKeys":"x"}}}`, "message",
			`Unknown name "collapseKeys" at 'message.android': Cannot find field.`},
		{"names are case-sensitive", `{"message":{"token":"t","android":{"Collapse_key":"x"}}}`, "message",
			`Unknown name "Collapse_key" at 'message.android': Cannot find field.`},
		{"unknown light_settings field", `{"message":{"token":"t","android":{"notification":{"lightSettings":{"lightOn":"1s"}}}}}`, "message",
			`Unknown name "lightOn" at 'message.android.notification.light_settings'`},
		{"unknown request field", `{"validateonly":true,"message":{"token":"t"}}`, "",
			`Unknown name "validateonly": Cannot find field.`},
		{"both names", `{"message":{"token":"t","android":{"collapse_key":"a","collapseKey":"b"}}}`, "message",
			`Field 'message.android.collapse_key' is set more than once.`},
		{"both names, nested", `{"message":{"token":"t","android":{"notification":{"channelId":"a","channel_id":"a"}}}}`, "message",
			`'message.android.notification.channel_id'`},
		{"both names of a message", `{"message":{"token":"t","fcm_options":{},"fcmOptions":{}}}`, "message",
			`'message.fcm_options'`},
		{"both names of validate_only", `{"validate_only":true,"validateOnly":true,"message":{"token":"t"}}`, "",
			`Field 'validate_only' is set more than once.`},
		{"one name twice", `{"message":{"token":"t","token":"u"}}`, "message",
			`Field 'message.token' is set more than once.`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			a := send(tt.body)
			assert.Equal(t, 400, a.status, "%s", a.raw)
			status, code, field, message := fcmCode(a)
			assert.Equal(t, "INVALID_ARGUMENT", status)
			assert.Equal(t, "INVALID_ARGUMENT", code)
			assert.Equal(t, tt.field, field)
			assert.Contains(t, message, tt.message)
		})
	}
	assert.Len(t, srv.Messages(), 2)
}

func TestSendAuth(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	srv := newServer(t, fcmtest.Config{Now: func() time.Time { return clock() }})
	tok := accessToken(t, srv)
	body := []byte(`{"message":{"token":"t"}}`)

	for _, bad := range []string{"", "nope", "ya29.fcmtest.forged"} {
		a := post(t, srv, sendPath(srv), bad, "", body)
		assert.Equal(t, 401, a.status)
		status, _, _, _ := fcmCode(a)
		assert.Equal(t, "UNAUTHENTICATED", status)
	}
	a := post(t, srv, "/v1/projects/other/messages:send", tok, "", body)
	assert.Equal(t, 403, a.status)
	status, _, _, _ := fcmCode(a)
	assert.Equal(t, "PERMISSION_DENIED", status)

	a = post(t, srv, "/v1/projects/"+srv.ProjectID()+"/messages:nope", tok, "", body)
	assert.Equal(t, 404, a.status)

	req, _ := http.NewRequest(http.MethodGet, srv.URL+sendPath(srv), nil)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 405, resp.StatusCode)

	assert.Equal(t, 200, post(t, srv, sendPath(srv), tok, "", body).status)
	clock = func() time.Time { return now.Add(2 * time.Hour) }
	assert.Equal(t, 401, post(t, srv, sendPath(srv), tok, "", body).status, "tokens expire")
	assert.Len(t, srv.Messages(), 1)
}

// assertion signs a jwt-bearer assertion with edits applied to the claims.
func assertion(t *testing.T, srv *fcmtest.Server, key *rsa.PrivateKey, method jwt.SigningMethod, edit func(jwt.MapClaims)) string {
	t.Helper()
	sa := readSA(t, srv)
	now := time.Now()
	claims := jwt.MapClaims{
		"iss":   sa.ClientEmail,
		"aud":   sa.TokenURI,
		"scope": "https://www.googleapis.com/auth/firebase.messaging",
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	tk := jwt.NewWithClaims(method, claims)
	tk.Header["kid"] = sa.PrivateKeyID
	var signKey any = key
	if method == jwt.SigningMethodHS256 {
		signKey = []byte("secret")
	}
	s, err := tk.SignedString(signKey)
	require.NoError(t, err)
	return s
}

func tokenRequest(t *testing.T, srv *fcmtest.Server, form url.Values) answer {
	t.Helper()
	return post(t, srv, "/token", "", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

func TestTokenEndpoint(t *testing.T) {
	srv := newServer(t, fcmtest.Config{TokenLifetime: 30 * time.Minute})
	key := testKey()
	otherKey, err := rsa.GenerateKey(strings.NewReader(strings.Repeat("deterministic-but-fine-for-tests", 200)), 1024)
	if err != nil {
		otherKey = nil
	}
	grant := "urn:ietf:params:oauth:grant-type:jwt-bearer"

	t.Run("padded base64url segments", func(t *testing.T) {
		// As google-auth for Python 1.x encodes them.
		parts := strings.Split(assertion(t, srv, key, jwt.SigningMethodRS256, nil), ".")
		for i, p := range parts[:2] {
			raw, err := base64.RawURLEncoding.DecodeString(p)
			require.NoError(t, err)
			parts[i] = base64.URLEncoding.EncodeToString(raw)
		}
		sig, err := jwt.SigningMethodRS256.Sign(parts[0]+"."+parts[1], key)
		require.NoError(t, err)
		parts[2] = base64.URLEncoding.EncodeToString(sig)
		padded := strings.Join(parts, ".")
		require.Contains(t, padded, "=")
		a := tokenRequest(t, srv, url.Values{"grant_type": {grant}, "assertion": {padded}})
		require.Equal(t, 200, a.status, "%s", a.raw)
	})

	t.Run("valid", func(t *testing.T) {
		for _, scope := range []string{
			"https://www.googleapis.com/auth/firebase.messaging",
			"https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email",
		} {
			a := tokenRequest(t, srv, url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodRS256, func(c jwt.MapClaims) { c["scope"] = scope })}})
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, "Bearer", a.body["token_type"])
			assert.Equal(t, float64(1800), a.body["expires_in"])
			assert.NotEmpty(t, a.body["access_token"])
		}
	})

	tests := []struct {
		name string
		form url.Values
		code string
	}{
		{"wrong grant", url.Values{"grant_type": {"client_credentials"}, "assertion": {"x"}}, "unsupported_grant_type"},
		{"no assertion", url.Values{"grant_type": {grant}}, "invalid_request"},
		{"garbage assertion", url.Values{"grant_type": {grant}, "assertion": {"a.b.c"}}, "invalid_grant"},
		{"wrong issuer", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodRS256, func(c jwt.MapClaims) { c["iss"] = "evil@x" })}}, "invalid_grant"},
		{"wrong audience", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodRS256, func(c jwt.MapClaims) { c["aud"] = "https://oauth2.googleapis.com/token" })}}, "invalid_grant"},
		{"no scope", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodRS256, func(c jwt.MapClaims) { delete(c, "scope") })}}, "invalid_grant"},
		{"other scope", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodRS256, func(c jwt.MapClaims) { c["scope"] = "https://www.googleapis.com/auth/datastore" })}}, "invalid_grant"},
		{"expired", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodRS256, func(c jwt.MapClaims) {
			c["iat"] = time.Now().Add(-3 * time.Hour).Unix()
			c["exp"] = time.Now().Add(-2 * time.Hour).Unix()
		})}}, "invalid_grant"},
		{"no exp", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodRS256, func(c jwt.MapClaims) { delete(c, "exp") })}}, "invalid_grant"},
		{"no iat", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodRS256, func(c jwt.MapClaims) { delete(c, "iat") })}}, "invalid_grant"},
		{"iat in the future", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodRS256, func(c jwt.MapClaims) {
			c["iat"] = time.Now().Add(time.Hour).Unix()
			c["exp"] = time.Now().Add(90 * time.Minute).Unix()
		})}}, "invalid_grant"},
		{"lifetime over an hour", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodRS256, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(3 * time.Hour).Unix() })}}, "invalid_grant"},
		{"hs256", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, key, jwt.SigningMethodHS256, nil)}}, "invalid_grant"},
	}
	if otherKey != nil {
		tests = append(tests, struct {
			name string
			form url.Values
			code string
		}{"signed by another key", url.Values{"grant_type": {grant}, "assertion": {assertion(t, srv, otherKey, jwt.SigningMethodRS256, nil)}}, "invalid_grant"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tokenRequest(t, srv, tt.form)
			assert.Equal(t, 400, a.status)
			assert.Equal(t, tt.code, a.body["error"], "%s", a.raw)
			assert.Nil(t, a.body["access_token"])
		})
	}
	assert.Equal(t, len(tests)+3, srv.TokenRequests())
}

func TestScriptedFailures(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	tok := accessToken(t, srv)
	send := func(token string) answer {
		return post(t, srv, sendPath(srv), tok, "", []byte(`{"message":{"token":"`+token+`"}}`))
	}
	tests := []struct {
		name       string
		f          fcmtest.Failure
		status     int
		rpc, code  string
		retryAfter string
		empty      bool
	}{
		{"unregistered", fcmtest.Unregistered(), 404, "NOT_FOUND", "UNREGISTERED", "", false},
		{"invalid token", fcmtest.InvalidToken(), 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "", false},
		{"sender id mismatch", fcmtest.SenderIDMismatch(), 403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "", false},
		{"third party auth", fcmtest.ThirdPartyAuthError(), 401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "", false},
		{"quota", fcmtest.QuotaExceeded(1500 * time.Millisecond), 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "2", false},
		{"bare 429", fcmtest.TooManyRequests(time.Minute), 429, "", "", "60", true},
		{"unavailable", fcmtest.Unavailable(10 * time.Second), 503, "UNAVAILABLE", "UNAVAILABLE", "10", false},
		{"internal", fcmtest.Internal(), 500, "INTERNAL", "INTERNAL", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.FailToken("victim", tt.f)
			for range 2 {
				a := send("victim")
				assert.Equal(t, tt.status, a.status)
				assert.Equal(t, tt.retryAfter, a.header.Get("Retry-After"))
				assert.Equal(t, tt.empty, len(a.raw) == 0)
				rpc, code, _, _ := fcmCode(a)
				assert.Equal(t, tt.rpc, rpc)
				assert.Equal(t, tt.code, code)
			}
			assert.Equal(t, 200, send("bystander").status, "other tokens are not affected")
			srv.ClearFailures()
			assert.Equal(t, 200, send("victim").status)
		})
	}

	t.Run("times", func(t *testing.T) {
		f := fcmtest.Unregistered()
		f.Times = 2
		srv.FailToken("x", f)
		assert.Equal(t, 404, send("x").status)
		assert.Equal(t, 404, send("x").status)
		assert.Equal(t, 200, send("x").status)
	})
	t.Run("next n then all", func(t *testing.T) {
		srv.FailNext(2, fcmtest.Internal())
		assert.Equal(t, 500, send("a").status)
		assert.Equal(t, 500, send("b").status)
		assert.Equal(t, 200, send("c").status)
		srv.FailAll(fcmtest.Unavailable(0))
		assert.Equal(t, 503, send("d").status)
		assert.Equal(t, 503, send("e").status)
		srv.Reset()
		assert.Equal(t, 200, send("f").status)
		assert.Len(t, srv.Messages(), 1)
		assert.Equal(t, 1, srv.SendRequests())
	})
}

func TestDropAndSlow(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", tls), func(t *testing.T) {
			srv := newServer(t, fcmtest.Config{TLS: tls})
			tok := accessToken(t, srv)
			srv.FailNext(1, fcmtest.Drop())
			req, _ := http.NewRequest(http.MethodPost, srv.URL+sendPath(srv), strings.NewReader(`{"message":{"token":"t"}}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := srv.Client().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			require.Error(t, err, "the connection is dropped without an answer")
			assert.Empty(t, srv.Messages())

			srv.FailNext(1, fcmtest.Slow(time.Minute))
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			req, _ = http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+sendPath(srv), strings.NewReader(`{"message":{"token":"t"}}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err = srv.Client().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			require.ErrorIs(t, err, context.DeadlineExceeded)

			srv.FailNext(1, fcmtest.Slow(20*time.Millisecond))
			a := post(t, srv, sendPath(srv), tok, "", []byte(`{"message":{"token":"t"}}`))
			assert.Equal(t, 200, a.status, "a slow answer still succeeds")
		})
	}
}

func TestOpenConnections(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", tls), func(t *testing.T) {
			srv := newServer(t, fcmtest.Config{TLS: tls})
			tok := accessToken(t, srv)
			srv.Client().CloseIdleConnections()
			require.Eventually(t, func() bool { return srv.OpenConnections() == 0 }, 10*time.Second, time.Millisecond)
			hc := &http.Client{Transport: srv.Client().Transport.(*http.Transport).Clone()}
			send := func() {
				req, err := http.NewRequest(http.MethodPost, srv.URL+sendPath(srv), strings.NewReader(`{"message":{"token":"t"}}`))
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := hc.Do(req)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				require.NoError(t, resp.Body.Close())
				require.Equal(t, 200, resp.StatusCode)
			}
			before := srv.Connections()
			send()
			send()
			assert.Equal(t, 1, srv.OpenConnections(), "one kept-alive connection")
			assert.Equal(t, before+1, srv.Connections())
			hc.CloseIdleConnections()
			require.Eventually(t, func() bool { return srv.OpenConnections() == 0 }, 10*time.Second, time.Millisecond)
			assert.Equal(t, before+1, srv.Connections(), "Connections counts closed ones too")

			srv.FailNext(1, fcmtest.Drop())
			req, err := http.NewRequest(http.MethodPost, srv.URL+sendPath(srv), strings.NewReader(`{"message":{"token":"t"}}`))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, err := hc.Do(req); err == nil {
				resp.Body.Close()
			}
			hc.CloseIdleConnections()
			require.Eventually(t, func() bool { return srv.OpenConnections() == 0 }, 10*time.Second, time.Millisecond,
				"a dropped connection is no longer open")
		})
	}
}

func TestCloseEndsSlowHandlers(t *testing.T) {
	srv := fcmtest.NewServer(fcmtest.Config{PrivateKey: testKey()})
	tok := accessToken(t, srv)
	srv.FailAll(fcmtest.Slow(time.Hour))
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+sendPath(srv), strings.NewReader(`{"message":{"token":"t"}}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return srv.SendRequests() == 1 }, 10*time.Second, time.Millisecond)
	srv.Close() // returns although a handler was sleeping for an hour
	<-errc
	http.DefaultClient.CloseIdleConnections()
}

func TestValidateOnlyNotRecorded(t *testing.T) {
	var seen []fcmtest.Received
	srv := newServer(t, fcmtest.Config{OnMessage: func(r fcmtest.Received) { seen = append(seen, r) }})
	tok := accessToken(t, srv)
	a := post(t, srv, sendPath(srv), tok, "", []byte(`{"validate_only":true,"message":{"token":"t"}}`))
	assert.Equal(t, 200, a.status)
	assert.Equal(t, "projects/"+srv.ProjectID()+"/messages/fake_message_id", a.body["name"])
	assert.Empty(t, srv.Messages())
	a = post(t, srv, sendPath(srv), tok, "", []byte(`{"message":{"token":"t"}}`))
	assert.Equal(t, 200, a.status)
	require.Len(t, seen, 1)
	assert.Equal(t, a.body["name"], seen[0].Name)
}

func TestWaitForMessages(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	tok := accessToken(t, srv)
	go func() {
		for range 3 {
			post(t, srv, sendPath(srv), tok, "", []byte(`{"message":{"token":"t"}}`))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := srv.WaitForMessages(ctx, 3)
	require.NoError(t, err)
	assert.Len(t, got, 3)

	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	got, err = srv.WaitForMessages(short, 4)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Len(t, got, 3)
}

func TestStartRejectsNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:0", ":0", "example.com:80", "nonsense"} {
		_, err := fcmtest.Start(fcmtest.Config{Addr: addr, PrivateKey: testKey()})
		assert.Error(t, err, addr)
	}
	_, err := fcmtest.Start(fcmtest.Config{ProjectID: "a/b", PrivateKey: testKey()})
	assert.Error(t, err)
	srv, err := fcmtest.Start(fcmtest.Config{Addr: "[::1]:0", PrivateKey: testKey()})
	if err == nil { // IPv6 loopback may be unavailable
		srv.Close()
	}
}

func TestSelfSignedJWT(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	sa := readSA(t, srv)
	body := []byte(`{"message":{"token":"t"}}`)
	sign := func(key *rsa.PrivateKey, edit func(jwt.MapClaims)) string {
		now := time.Now()
		c := jwt.MapClaims{"iss": sa.ClientEmail, "sub": sa.ClientEmail, "aud": "https://fcm.googleapis.com/",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if edit != nil {
			edit(c)
		}
		tk := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tk.Header["kid"] = sa.PrivateKeyID
		s, err := tk.SignedString(key)
		require.NoError(t, err)
		return s
	}
	key := saKey(t, sa)
	accepted := []func(jwt.MapClaims){
		nil,
		func(c jwt.MapClaims) { c["aud"] = srv.URL + "/" },
		func(c jwt.MapClaims) {
			delete(c, "aud")
			c["scope"] = "https://www.googleapis.com/auth/firebase.messaging"
		},
	}
	for i, edit := range accepted {
		assert.Equal(t, 200, post(t, srv, sendPath(srv), sign(key, edit), "", body).status, "accepted %d", i)
	}
	refused := []func(jwt.MapClaims){
		func(c jwt.MapClaims) { c["aud"] = "https://www.googleapis.com/" },
		func(c jwt.MapClaims) { c["sub"] = "other@x" },
		func(c jwt.MapClaims) { c["iss"] = "other@x" },
		func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() },
		func(c jwt.MapClaims) { c["exp"] = time.Now().Add(5 * time.Hour).Unix() },
	}
	for i, edit := range refused {
		assert.Equal(t, 401, post(t, srv, sendPath(srv), sign(key, edit), "", body).status, "refused %d", i)
	}
	other := fcmtest.NewServer(fcmtest.Config{})
	defer other.Close()
	assert.Equal(t, 401, post(t, srv, sendPath(srv), sign(saKey(t, readSA(t, other)), nil), "", body).status, "foreign key")
	assert.Len(t, srv.Messages(), len(accepted))
	assert.Equal(t, 0, srv.TokenRequests())
}

// stalledRequest starts a request to path whose body stops after its first
// bytes, and waits until the fake has begun handling it (begun reports
// that). finish ends the body and returns the request's outcome.
func stalledRequest(t *testing.T, srv *fcmtest.Server, path, token, contentType, start string, begun func() bool) (finish func() error) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.Close() })
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, pr)
	require.NoError(t, err)
	req.ContentLength = 1000
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Transport: srv.Client().Transport}
	errc := make(chan error, 1)
	go func() {
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	_, err = pw.Write([]byte(start))
	require.NoError(t, err)
	require.Eventually(t, begun, 10*time.Second, time.Millisecond)
	return func() error {
		_ = pw.Close()
		return <-errc
	}
}

func TestCloseWithStalledRequestBody(t *testing.T) {
	for _, tls := range []bool{false, true} {
		for _, endpoint := range []string{"send", "token"} {
			t.Run(fmt.Sprintf("tls=%v/%s", tls, endpoint), func(t *testing.T) {
				srv := fcmtest.NewServer(fcmtest.Config{TLS: tls, PrivateKey: testKey()})
				defer srv.Client().CloseIdleConnections()
				tok := accessToken(t, srv)
				var finish func() error
				if endpoint == "send" {
					finish = stalledRequest(t, srv, sendPath(srv), tok, "application/json", `{"mess`,
						func() bool { return srv.SendRequests() == 1 })
				} else {
					finish = stalledRequest(t, srv, "/token", "", "application/x-www-form-urlencoded", "grant_type=",
						func() bool { return srv.TokenRequests() == 2 })
				}

				start := time.Now()
				srv.Close()
				// The fake's ReadTimeout is 30s.
				assert.Less(t, time.Since(start), 10*time.Second, "Close waited for the stalled client")
				assert.Error(t, finish(), "the stalled request got an answer")
				assert.Equal(t, 0, srv.OpenConnections())
				assert.Empty(t, srv.Messages())
				if endpoint == "send" {
					assert.Equal(t, 1, srv.SendRequests())
				} else {
					assert.Equal(t, 2, srv.TokenRequests())
				}
			})
		}
	}
}

func TestCloseWaitsForHandlers(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", tls), func(t *testing.T) {
			entered := make(chan struct{}, 1)
			release := make(chan struct{})
			srv := fcmtest.NewServer(fcmtest.Config{TLS: tls, PrivateKey: testKey(), OnMessage: func(fcmtest.Received) {
				entered <- struct{}{}
				<-release
			}})
			defer srv.Client().CloseIdleConnections()
			tok := accessToken(t, srv)
			go func() {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+sendPath(srv), strings.NewReader(`{"message":{"token":"t"}}`))
				req.Header.Set("Authorization", "Bearer "+tok)
				if resp, err := srv.Client().Do(req); err == nil {
					_ = resp.Body.Close()
				}
			}()
			<-entered
			// A stalled client on the same kind of connection does not
			// hold Close up, the running handler does.
			finish := stalledRequest(t, srv, sendPath(srv), tok, "application/json", `{"mess`,
				func() bool { return srv.SendRequests() == 2 })
			defer func() { _ = finish() }()

			closed := make(chan struct{})
			go func() {
				srv.Close()
				close(closed)
			}()
			select {
			case <-closed:
				t.Fatal("Close returned while a handler was running")
			case <-time.After(200 * time.Millisecond):
			}
			close(release)
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close waited for the stalled client")
			}
			assert.Len(t, srv.Messages(), 1)
			assert.Equal(t, 2, srv.SendRequests())
			assert.Equal(t, 0, srv.OpenConnections())
		})
	}
}

func TestHangAndRequestsFor(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", tls), func(t *testing.T) {
			srv := newServer(t, fcmtest.Config{TLS: tls})
			tok := accessToken(t, srv)
			srv.FailToken("hung", fcmtest.Hang())
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+sendPath(srv), strings.NewReader(`{"message":{"token":"hung"}}`))
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := srv.Client().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			require.Eventually(t, func() bool { return srv.RequestsFor("hung") == 1 }, 10*time.Second, time.Millisecond,
				"the hung request is counted once read")
			a := post(t, srv, sendPath(srv), tok, "", []byte(`{"message":{"token":"other"}}`))
			assert.Equal(t, 200, a.status, "other requests are answered meanwhile")
			select {
			case err := <-errc:
				t.Fatalf("the hung request ended before the client gave up: %v", err)
			default:
			}
			cancel()
			require.ErrorIs(t, <-errc, context.Canceled)
			assert.Equal(t, 1, srv.RequestsFor("other"))
			assert.Zero(t, srv.RequestsFor("never"))
			assert.Empty(t, srvMessagesFor(srv, "hung"), "a hung request is not accepted")

			srv.FailToken("dropped", fcmtest.Drop())
			req, _ := http.NewRequest(http.MethodPost, srv.URL+sendPath(srv), strings.NewReader(`{"message":{"token":"dropped"}}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, err := srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
			assert.Equal(t, 1, srv.RequestsFor("dropped"), "a dropped request is counted once read")
			post(t, srv, sendPath(srv), tok, "", []byte(`{"message":{"token":`)) // malformed: no target
			assert.Zero(t, srv.RequestsFor(""), "a request that does not decode has no target")
			srv.Reset()
			assert.Zero(t, srv.RequestsFor("other"), "Reset clears the counts")
		})
	}
}

func TestCloseEndsHang(t *testing.T) {
	srv := fcmtest.NewServer(fcmtest.Config{PrivateKey: testKey()})
	tok := accessToken(t, srv)
	srv.FailAll(fcmtest.Hang())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+sendPath(srv), strings.NewReader(`{"message":{"token":"t"}}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return srv.RequestsFor("t") == 1 }, 10*time.Second, time.Millisecond)
	srv.Close()
	assert.Error(t, <-errc, "Close ends a hung request without an answer")
}

func srvMessagesFor(srv *fcmtest.Server, token string) []fcmtest.Received {
	var out []fcmtest.Received
	for _, m := range srv.Messages() {
		if m.Message.Token == token {
			out = append(out, m)
		}
	}
	return out
}
