package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

// Tests of the connector's answers where it used to differ from Avaya's
// sample connector.

// signedBody posts a raw callback body signed for eventID and session.
func (e *env) signedBody(body []byte, secret, eventID, session string) response {
	e.t.Helper()
	h := http.Header{"X-Hmac": {hmacverify.Sign([]byte(secret), eventID, session)}}
	return e.do(http.MethodPost, connector.BasePath+"/axp-callback/notifications", "application/json", body, h)
}

// TestCallbackBodyLimit sends callbacks just under, at and just over
// MaxBodyBytes.
func TestCallbackBodyLimit(t *testing.T) {
	const limit = 512
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) { c.MaxBodyBytes = limit }})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	for _, tt := range []struct {
		size   int
		status int
	}{{limit - 1, http.StatusOK}, {limit, http.StatusOK}, {limit + 1, http.StatusRequestEntityTooLarge}} {
		eventID := uuid.NewString()
		body := []byte(`{"eventId":"` + eventID + `","sessionId":"` + session + `"}`)
		body = append(body, bytes.Repeat([]byte{' '}, tt.size-len(body))...)
		r := e.signedBody(body, e.secret, eventID, session)
		assert.Equal(t, tt.status, r.status, "size %d: %s", tt.size, r.body)
	}
	assert.Len(t, e.fcm.Messages(), 2)
}

// TestCallbackForwardsExtraMembers checks that string members beyond the
// five AXP ones reach the app, as in the sample, and that DropExtraMembers
// leaves them out.
func TestCallbackForwardsExtraMembers(t *testing.T) {
	for _, drop := range []bool{false, true} {
		e := newEnv(t, envOptions{tweak: func(c *connector.Config) { c.DropExtraMembers = drop }})
		session := uuid.NewString()
		require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
		eventID := uuid.NewString()
		body := `{"eventId":"` + eventID + `","sessionId":"` + session + `","eventDate":"2024-03-13T20:25:39.734Z",` +
			`"channel":"Messaging","engagementId":"eng-1","dialogId":"dlg-1","count":3,"nested":{"a":"b"},"from":"x","gcm.x":"y"}`
		r := e.signedBody([]byte(body), e.secret, eventID, session)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		msgs := waitFCM(t, e.fcm, 1)
		want := map[string]string{"eventId": eventID, "sessionId": session, "eventDate": "2024-03-13T20:25:39.734Z"}
		if !drop {
			want["channel"], want["engagementId"], want["dialogId"] = "Messaging", "eng-1", "dlg-1"
		}
		assert.Equal(t, want, msgs[0].Message.Data, "drop=%v; non-string and reserved members never go", drop)
	}
}

// TestDefaultMessageDataLimit checks that extra members fill the data up to
// MaxDataBytes and no further, while the AXP members always go.
func TestDefaultMessageDataLimit(t *testing.T) {
	size := func(m map[string]string) int { b, _ := json.Marshal(m); return len(b) }
	ev := hmacverify.Event{EventID: "e", SessionID: "s"}
	base := size(map[string]string{"eventId": "e", "sessionId": "s"})
	// "a":"xxx" adds len(value)+6 bytes (quotes, colon, comma).
	fill := connector.MaxDataBytes - base - len(`,"a":""`)
	for _, tt := range []struct {
		n    int
		kept bool
	}{{fill - 1, true}, {fill, true}, {fill + 1, false}} {
		ev.Extra = map[string]string{"a": strings.Repeat("x", tt.n)}
		m := connector.DefaultMessage(ev, registry.Device{Token: "t"})
		_, kept := m.Data["a"]
		assert.Equal(t, tt.kept, kept, "value of %d bytes", tt.n)
		assert.LessOrEqual(t, size(m.Data), connector.MaxDataBytes)
	}
	// One that does not fit does not keep a later smaller one out.
	ev.Extra = map[string]string{"a": strings.Repeat("x", connector.MaxDataBytes), "b": "small"}
	m := connector.DefaultMessage(ev, registry.Device{Token: "t"})
	assert.Equal(t, map[string]string{"eventId": "e", "sessionId": "s", "b": "small"}, m.Data)
	// Escaping counts.
	ev.Extra = map[string]string{"a": strings.Repeat("<", fill/6+1)}
	m = connector.DefaultMessage(ev, registry.Device{Token: "t"})
	assert.LessOrEqual(t, size(m.Data), connector.MaxDataBytes)
}

// TestCallbackEventDateAsReceived checks that every string eventDate is
// accepted and forwarded unchanged, and a non-string one refused.
func TestCallbackEventDateAsReceived(t *testing.T) {
	e := newEnv(t, envOptions{})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	dates := []string{
		"2024-03-13T20:25:39.734Z",
		"2024-03-13T20:25:39.734+0000",
		"2024-3-13T20:25:39.734Z", // the sample's README
		"1710361539734",           // epoch milliseconds
		"2024-03-13T21:25:39.734+01:00",
	}
	for i, date := range dates {
		eventID := uuid.NewString()
		body, _ := json.Marshal(map[string]string{"eventId": eventID, "sessionId": session, "eventDate": date})
		r := e.signedBody(body, e.secret, eventID, session)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", date, r.body)
		msgs := waitFCM(t, e.fcm, i+1)
		assert.Equal(t, date, msgs[i].Message.Data["eventDate"])
	}
	eventID := uuid.NewString()
	r := e.signedBody([]byte(`{"eventId":"`+eventID+`","sessionId":"`+session+`","eventDate":1710361539734}`), e.secret, eventID, session)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Len(t, e.fcm.Messages(), len(dates))
}

// TestCallbackAfterConfigDeleted: devices whose configuration was deleted
// get nothing, and the session is answered as one without devices.
func TestCallbackAfterConfigDeleted(t *testing.T) {
	e := newEnv(t, envOptions{})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	other := uuid.NewString()
	require.NoError(t, e.conn.AddConfig(context.Background(), connector.PushConfig{ID: other, Secrets: [][]byte{[]byte("other-secret-0123456789")}}))
	require.Equal(t, http.StatusNoContent, e.adminDo(http.MethodDelete, "/configs/"+e.configID, nil).status)

	r := e.callback(event(session), "other-secret-0123456789")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	res := result(t, r)
	assert.Zero(t, res.Delivered)
	assert.Zero(t, res.Failed)
	assert.Equal(t, http.StatusUnauthorized, e.callback(event(session), "wrong").status)
	assert.Empty(t, e.fcm.Messages())
}

// TestConfigWithoutSecretWarns: a configuration stored without a secret (the
// sample README's flow) says in its answer that callbacks will be refused.
func TestConfigWithoutSecretWarns(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := uuid.NewString()
	r := e.adminDo(http.MethodPut, "/configs/"+id, map[string]any{"fcmServiceAccountConfig": json.RawMessage(e.fcm.ServiceAccountJSON())})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	assert.EqualValues(t, 0, m["secretCount"])
	assert.Equal(t, []any{connector.WarningNoSecret}, m["warnings"])
	r = e.adminDo(http.MethodGet, "/configs/"+id, nil)
	assert.Equal(t, []any{connector.WarningNoSecret}, r.json(t)["warnings"])

	r = e.adminDo(http.MethodPut, "/configs/"+id, map[string]any{"secrets": []string{"secret-s-0123456789"}})
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, r.json(t), "warnings")

	r = e.adminDo(http.MethodPost, "/configs", map[string]any{})
	require.Equal(t, http.StatusCreated, r.status)
	assert.Equal(t, []any{connector.WarningNoSecret, connector.WarningNoServiceAccount}, r.json(t)["warnings"])
}

func TestProxiedClientAddr(t *testing.T) {
	trusted, err := connector.ParsePrefixes("10.0.0.0/8, 192.0.2.7,2001:db8::/32")
	require.NoError(t, err)
	xff, err := connector.ProxiedClientAddr(trusted, "")
	require.NoError(t, err)
	fwd, err := connector.ProxiedClientAddr(trusted, "forwarded")
	require.NoError(t, err)
	tests := []struct {
		name   string
		f      func(*http.Request) string
		peer   string
		header []string
		want   string
	}{
		{"untrusted peer: header ignored", xff, "198.51.100.1:4000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"untrusted peer: Forwarded ignored", fwd, "198.51.100.1:4000", []string{"for=203.0.113.9"}, "198.51.100.1"},
		{"trusted peer without header", xff, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"one proxy", xff, "10.1.2.3:4000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client-written entries left of the real one", xff, "10.1.2.3:4000", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"two proxies", xff, "10.1.2.3:4000", []string{"203.0.113.9, 192.0.2.7"}, "203.0.113.9"},
		{"several header lines", xff, "10.1.2.3:4000", []string{"1.1.1.1", "203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"all trusted: the leftmost", xff, "10.1.2.3:4000", []string{"10.0.0.5, 192.0.2.7"}, "10.0.0.5"},
		{"ports and brackets", xff, "[2001:db8::1]:4000", []string{"[2001:db8:ffff::2]:80, 203.0.113.9:5555"}, "203.0.113.9"},
		{"ipv6 client", xff, "10.1.2.3:4000", []string{"2a00:1450::1"}, "2a00:1450::1"},
		{"mapped ipv4 unmapped", xff, "[::ffff:10.1.2.3]:4000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"garbage stops at the trusted hop", xff, "10.1.2.3:4000", []string{"203.0.113.9, unknown"}, "10.1.2.3"},
		{"forwarded", fwd, "10.1.2.3:4000", []string{"for=203.0.113.9;proto=https;by=10.1.2.3"}, "203.0.113.9"},
		{"forwarded, several elements", fwd, "10.1.2.3:4000", []string{`for=1.1.1.1, for="[2a00:1450::17]:4711", For=192.0.2.7`}, "2a00:1450::17"},
		{"forwarded, quoted comma", fwd, "10.1.2.3:4000", []string{`for=203.0.113.9;host="a,b", for=192.0.2.7`}, "203.0.113.9"},
		{"forwarded, unknown", fwd, "10.1.2.3:4000", []string{"for=unknown"}, "10.1.2.3"},
		{"forwarded, obfuscated", fwd, "10.1.2.3:4000", []string{"for=_hidden, for=192.0.2.7"}, "192.0.2.7"},
		{"forwarded, element without for", fwd, "10.1.2.3:4000", []string{"proto=https"}, "10.1.2.3"},
		{"forwarded reader ignores X-Forwarded-For", fwd, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"peer that is not an address", xff, "pipe", []string{"203.0.113.9"}, "pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			name := connector.HeaderXForwardedFor
			if strings.HasPrefix(tt.name, "forwarded") {
				name = connector.HeaderForwarded
				r.Header.Set(connector.HeaderXForwardedFor, "6.6.6.6")
			}
			for _, v := range tt.header {
				r.Header.Add(name, v)
			}
			assert.Equal(t, tt.want, tt.f(r))
		})
	}

	_, err = connector.ProxiedClientAddr(trusted, "X-Real-IP")
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	_, err = connector.ProxiedClientAddr([]netip.Prefix{{}}, "")
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "fe80::1%eth0"} {
		_, err := connector.ParsePrefixes(bad)
		assert.ErrorIs(t, err, pushwire.ErrConfiguration, bad)
	}
	got, err := connector.ParsePrefixes(" ::ffff:10.0.0.1 , 10.1.2.3/8,")
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}, got)
}

// TestTrustedProxiesRateLimit: behind a trusted proxy every client has its
// own bucket; a client that is not a proxy cannot pick one with the header.
func TestTrustedProxiesRateLimit(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.RateLimit = connector.RateLimit{Rate: 1, Burst: 1}
		c.Now = clk.Now
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	get := func(client string) int {
		return e.do(http.MethodGet, connector.BasePath+"/device-registrations/"+strings.Repeat("a", 20), "", nil,
			http.Header{"X-Forwarded-For": {client}}).status
	}
	assert.Equal(t, http.StatusNotFound, get("203.0.113.1"))
	assert.Equal(t, http.StatusTooManyRequests, get("203.0.113.1"))
	assert.Equal(t, http.StatusNotFound, get("203.0.113.2"), "another app behind the proxy")

	reg, err := registry.NewMemory(registry.Config{})
	require.NoError(t, err)
	defer reg.Close()
	_, err = connector.New(connector.Config{Registry: reg, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		ClientAddr: connector.RemoteHost})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration, "ClientAddr and TrustedProxies are exclusive")
	_, err = connector.New(connector.Config{Registry: reg, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		ProxyHeader: "X-Real-IP"})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
}

// FuzzProxiedClientAddr checks that any peer and header yield an address
// (or the peer as it is when it is not one), and the peer's own without a
// header.
func FuzzProxiedClientAddr(f *testing.F) {
	f.Add("10.1.2.3:4000", "203.0.113.9, 10.0.0.1", true)
	f.Add("10.1.2.3:4000", `for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=http`, false)
	f.Add("10.1.2.3:4000", `for="\"quoted\\";a=b,,;=,for`, false)
	f.Add("[::ffff:10.0.0.1]:1", "[::1]:80,unknown", true)
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	xff, err := connector.ProxiedClientAddr(trusted, connector.HeaderXForwardedFor)
	require.NoError(f, err)
	fwd, err := connector.ProxiedClientAddr(trusted, connector.HeaderForwarded)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, peer, header string, useXFF bool) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{}}
		fn, name := fwd, connector.HeaderForwarded
		if useXFF {
			fn, name = xff, connector.HeaderXForwardedFor
		}
		r.Header.Set(name, header)
		got := fn(r)
		if got == connector.RemoteHost(r) {
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("%q is not an address", got)
		}
		if strings.TrimSpace(header) != "" {
			return
		}
		// Without a header the client can only be the peer.
		host := strings.TrimSpace(peer)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		pa, err := netip.ParseAddr(strings.Trim(host, "[]"))
		if err != nil || pa.WithZone("").Unmap() != a {
			t.Fatalf("%q is not the peer %q", got, peer)
		}
	})
}
