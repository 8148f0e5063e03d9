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
