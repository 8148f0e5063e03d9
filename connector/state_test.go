package connector_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/statekey"
	"github.com/pushwire/pushwire/registry"
)

func newKeyring(t *testing.T, lines ...string) *statekey.Keyring {
	t.Helper()
	if len(lines) == 0 {
		l, err := statekey.NewKeyLine()
		require.NoError(t, err)
		lines = []string{l}
	}
	kr, err := statekey.Parse([]byte(strings.Join(lines, "")))
	require.NoError(t, err)
	return kr
}

// TestSealedAtRest: with StateKeys the store sees only sealed bytes, and the
// connector serves the configuration as before.
func TestSealedAtRest(t *testing.T) {
	store := connector.NewMemoryConfigStore()
	kr := newKeyring(t)
	e := newEnv(t, envOptions{secrets: []string{"s2-sealed-secret"}, tweak: func(c *connector.Config) {
		c.Configs, c.StateKeys = store, kr
	}})
	raw, err := store.Get(context.Background(), e.configID)
	require.NoError(t, err)
	assert.Empty(t, raw.Secrets)
	assert.Empty(t, raw.FCMServiceAccount)
	assert.Nil(t, raw.APNs)
	require.NotEmpty(t, raw.Sealed)
	assert.NotContains(t, string(raw.Sealed), "s2-sealed-secret")
	assert.False(t, raw.CreatedAt.IsZero(), "times stay readable")

	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	r := e.callback(event(session), "s2-sealed-secret")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, 1, result(t, r).Delivered)

	// A connector without the key cannot read it: 500 for the admin, and
	// the configuration is left out of lists rather than failing them.
	other, err := connector.New(connector.Config{Registry: e.reg, Configs: store, AdminToken: "admin-token-0123456789"})
	require.NoError(t, err)
	defer other.Close()
	for _, tt := range []struct {
		path string
		want int
		body string
	}{
		{"/configs/" + e.configID, http.StatusInternalServerError, ""},
		{"/configs", http.StatusOK, "[]"},
	} {
		req, _ := http.NewRequest(http.MethodGet, connector.BasePath+tt.path, nil)
		req.Header.Set("Authorization", "Bearer admin-token-0123456789")
		w := httptest.NewRecorder()
		other.ServeHTTP(w, req)
		assert.Equal(t, tt.want, w.Code, tt.path)
		if tt.body != "" {
			assert.JSONEq(t, tt.body, w.Body.String())
		}
		assert.NotContains(t, w.Body.String(), "s2-sealed-secret")
	}
}

func TestSealedBoundToID(t *testing.T) {
	store := connector.NewMemoryConfigStore()
	kr := newKeyring(t)
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) { c.Configs, c.StateKeys = store, kr }})
	raw, err := store.Get(context.Background(), e.configID)
	require.NoError(t, err)
	raw.ID = "copied"
	require.NoError(t, store.Put(context.Background(), raw))
	r := e.adminDo(http.MethodGet, "/configs/copied", nil)
	assert.Equal(t, http.StatusInternalServerError, r.status, "a sealed value moved to another id does not open")
}

// TestResealConfigs: a configuration stored in clear, then a rotation.
func TestResealConfigs(t *testing.T) {
	ctx := context.Background()
	oldLine, _ := statekey.NewKeyLine()
	newLine, _ := statekey.NewKeyLine()
	store := connector.NewMemoryConfigStore()
	plain := connector.PushConfig{ID: "plain", Secrets: [][]byte{[]byte("p")}, CreatedAt: time.Unix(10, 0), UpdatedAt: time.Unix(20, 0)}
	require.NoError(t, store.Put(ctx, plain))

	_, err := connector.ResealConfigs(ctx, store, nil)
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)

	oldKR := newKeyring(t, oldLine)
	n, err := connector.ResealConfigs(ctx, store, oldKR)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the clear one is sealed")
	raw, _ := store.Get(ctx, "plain")
	require.NotEmpty(t, raw.Sealed)
	assert.Empty(t, raw.Secrets)
	assert.True(t, raw.UpdatedAt.Equal(plain.UpdatedAt), "times kept")

	both := newKeyring(t, oldLine, newLine)
	n, err = connector.ResealConfigs(ctx, store, both)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = connector.ResealConfigs(ctx, store, both)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "nothing left under the old key")

	newOnly := newKeyring(t, newLine)
	c, err := connector.New(connector.Config{Registry: newMemoryRegistry(t), Configs: store, StateKeys: newOnly, AdminToken: "admin-token-0123456789"})
	require.NoError(t, err)
	defer c.Close()
	req, _ := http.NewRequest(http.MethodGet, connector.BasePath+"/configs/plain", nil)
	req.Header.Set("Authorization", "Bearer admin-token-0123456789")
	w := httptest.NewRecorder()
	c.ServeHTTP(w, req)
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `"secretCount":1`)

	_, err = connector.ResealConfigs(ctx, store, newKeyring(t))
	assert.ErrorIs(t, err, connector.ErrSealed, "a key file without the sealing key")
}

// watchedStore is a MemoryConfigStore whose changes are announced only
// when the test says so, to see the connector's cache at work.
type watchedStore struct {
	*connector.MemoryConfigStore
	mu       sync.Mutex
	changed  func(string)
	gets     int
	watching chan struct{}
	fail     chan error
	hold     chan struct{} // when set, the next Get reads, then waits for it
	held     chan struct{} // told when a held Get has read
}

func newWatchedStore() *watchedStore {
	return &watchedStore{MemoryConfigStore: connector.NewMemoryConfigStore(), watching: make(chan struct{}, 8), fail: make(chan error)}
}

func (s *watchedStore) Get(ctx context.Context, id string) (connector.PushConfig, error) {
	s.mu.Lock()
	s.gets++
	hold, held := s.hold, s.held
	s.hold = nil
	s.mu.Unlock()
	pc, err := s.MemoryConfigStore.Get(ctx, id)
	if hold != nil {
		held <- struct{}{}
		<-hold
	}
	return pc, err
}

// holdNextGet makes the next Get wait, once it has read, until release is
// called; it returns when that Get has read.
func (s *watchedStore) holdNextGet(start func()) (release func()) {
	hold, held := make(chan struct{}), make(chan struct{}, 1)
	s.mu.Lock()
	s.hold, s.held = hold, held
	s.mu.Unlock()
	start()
	<-held
	return func() { close(hold) }
}

// setSecret replaces the secret of configuration id in the store, as
// another replica would, without announcing it.
func (s *watchedStore) setSecret(t *testing.T, id, secret string) {
	t.Helper()
	pc, err := s.MemoryConfigStore.Get(context.Background(), id)
	require.NoError(t, err)
	pc.Secrets = [][]byte{[]byte(secret)}
	require.NoError(t, s.MemoryConfigStore.Put(context.Background(), pc))
}

func (s *watchedStore) getCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

func (s *watchedStore) Watch(ctx context.Context, changed func(string)) error {
	s.mu.Lock()
	s.changed = changed
	s.mu.Unlock()
	changed("")
	s.watching <- struct{}{}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-s.fail:
		return err
	}
}

func (s *watchedStore) announce(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changed(id)
}

func TestConfigCacheFollowsWatch(t *testing.T) {
	ctx := context.Background()
	store := newWatchedStore()
	e := newEnv(t, envOptions{secrets: []string{"old-secret-0123456789"}, tweak: func(c *connector.Config) { c.Configs = store }})
	<-store.watching
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	require.Equal(t, http.StatusOK, e.callback(event(session), "old-secret-0123456789").status)
	gets := store.getCount()
	require.Equal(t, http.StatusOK, e.callback(event(session), "old-secret-0123456789").status)
	assert.Equal(t, gets, store.getCount(), "served from the cache")

	// Another replica changes the secret behind this connector's back.
	pc, err := store.MemoryConfigStore.Get(ctx, e.configID)
	require.NoError(t, err)
	pc.Secrets = [][]byte{[]byte("new")}
	require.NoError(t, store.MemoryConfigStore.Put(ctx, pc))
	assert.Equal(t, http.StatusUnauthorized, e.callback(event(session), "new").status, "not announced yet: cached")
	store.announce(e.configID)
	assert.Equal(t, http.StatusOK, e.callback(event(session), "new").status, "announced: read again")

	// The watch fails: the cache is off until it listens again.
	store.fail <- errors.New("connection lost")
	<-store.watching // back after the retry delay
	pc.Secrets = [][]byte{[]byte("newer")}
	require.NoError(t, store.MemoryConfigStore.Put(ctx, pc))
	store.announce("")
	assert.Equal(t, http.StatusOK, e.callback(event(session), "newer").status)
}

// TestConfigCacheInvalidation: while the store's changes are watched,
// configurations and the list of every secret are served from memory; a
// change made through this connector, or announced by the store (one
// configuration, or everything), is seen by the next callback, and a
// configuration read while a change was announced is not kept.
func TestConfigCacheInvalidation(t *testing.T) {
	store := newWatchedStore()
	e := newEnv(t, envOptions{secrets: []string{"secret-v1-0123456789"}, tweak: func(c *connector.Config) { c.Configs = store }})
	<-store.watching
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	// accepted reports whether a callback signed with secret is accepted,
	// for the session with a device and for one without (checked against
	// every configuration's secrets).
	accepted := func(secret string) [2]bool {
		return [2]bool{
			e.callback(event(session), secret).status == http.StatusOK,
			e.callback(event(uuid.NewString()), secret).status == http.StatusOK,
		}
	}
	both, neither := [2]bool{true, true}, [2]bool{false, false}
	require.Equal(t, both, accepted("secret-v1-0123456789"), "read and cached")

	// Behind the connector's back, not announced: the cache answers.
	store.setSecret(t, e.configID, "secret-v2-0123456789")
	assert.Equal(t, both, accepted("secret-v1-0123456789"), "cached")
	store.announce(e.configID)
	assert.Equal(t, both, accepted("secret-v2-0123456789"), "announced: read again")

	store.setSecret(t, e.configID, "secret-v3-0123456789")
	store.announce("")
	assert.Equal(t, both, accepted("secret-v3-0123456789"), "everything announced: read again")

	// Changed through this connector: seen at once, no announcement.
	r := e.adminDo(http.MethodPut, "/configs/"+e.configID, map[string]any{"secrets": []string{"secret-v4-0123456789"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, both, accepted("secret-v4-0123456789"))
	assert.Equal(t, neither, accepted("secret-v3-0123456789"))

	// A read under way while a change is announced is not cached.
	store.setSecret(t, e.configID, "secret-v5-0123456789")
	store.announce(e.configID)
	done := make(chan int, 1)
	release := store.holdNextGet(func() {
		go func() { done <- e.callback(event(session), "secret-v5-0123456789").status }()
	})
	store.setSecret(t, e.configID, "secret-v6-0123456789")
	store.announce(e.configID)
	release()
	<-done // accepted or not, depending on which read its signature met
	assert.Equal(t, both, accepted("secret-v6-0123456789"), "v5 was not kept")

	// The same for a change made through this connector.
	store.setSecret(t, e.configID, "secret-v7-0123456789")
	store.announce(e.configID)
	release = store.holdNextGet(func() {
		go func() { done <- e.callback(event(session), "secret-v7-0123456789").status }()
	})
	r = e.adminDo(http.MethodPut, "/configs/"+e.configID, map[string]any{"secrets": []string{"secret-v8-0123456789"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	release()
	<-done
	assert.Equal(t, both, accepted("secret-v8-0123456789"), "v7 was not kept")

	// Deleted through this connector: refused at once.
	require.Equal(t, http.StatusNoContent, e.adminDo(http.MethodDelete, "/configs/"+e.configID, nil).status)
	assert.Equal(t, neither, accepted("secret-v8-0123456789"))
}

// TestSealedValueDamaged: a sealed configuration that does not open (moved
// to another id, altered) or opens to something that is not a
// configuration is an error, never a configuration without secrets.
func TestSealedValueDamaged(t *testing.T) {
	ctx := context.Background()
	oldLine, _ := statekey.NewKeyLine()
	newLine, _ := statekey.NewKeyLine()
	oldKR := newKeyring(t, oldLine)
	store := connector.NewMemoryConfigStore()
	sealed, err := oldKR.Seal([]byte(`{"secrets":["c2VjcmV0"]}`), connector.SealAD("a"))
	require.NoError(t, err)
	require.NoError(t, store.Put(ctx, connector.PushConfig{ID: "moved", Sealed: sealed}))
	_, err = connector.ResealConfigs(ctx, store, newKeyring(t, oldLine, newLine))
	assert.ErrorIs(t, err, statekey.ErrMalformed, "sealed for configuration a, stored as moved")

	_, err = store.Delete(ctx, "moved")
	require.NoError(t, err)
	sealed, err = oldKR.Seal([]byte("not a configuration"), connector.SealAD("garbled"))
	require.NoError(t, err)
	require.NoError(t, store.Put(ctx, connector.PushConfig{ID: "garbled", Sealed: sealed}))
	_, err = connector.ResealConfigs(ctx, store, newKeyring(t, oldLine, newLine))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "garbled: malformed content")
}

// TestConfigAPNs: a configuration with its own APNs credential pushes its
// APNs devices through it; others use Config.APNs.
func TestConfigAPNs(t *testing.T) {
	tenant := apnstest.NewServer(apnstest.Config{Topics: []string{"com.tenant.app"}})
	defer tenant.Close()
	var built sync.Map
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.NewAPNsSender = func(_ context.Context, a connector.APNsCredential) (pushwire.Sender, error) {
			key, err := apns.ParseP8(a.Key)
			if err != nil {
				return nil, err
			}
			built.Store(a.Environment, true)
			return apns.New(apns.Config{BaseURL: tenant.URL, RootCAs: tenant.CertPool(), Topic: a.Topic,
				Token: &apns.TokenAuth{Key: key, KeyID: a.KeyID, TeamID: a.TeamID}})
		}
	}})
	cred := map[string]string{"key": string(tenant.AuthKeyPEM()), "keyId": tenant.KeyID, "teamId": tenant.TeamID,
		"topic": "com.tenant.app", "environment": "sandbox"}
	r := e.adminDo(http.MethodPost, "/configs", map[string]any{"secrets": []string{"secret-t-0123456789"}, "apns": cred})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.NotContains(t, string(r.body), "PRIVATE KEY")
	view := r.json(t)
	tenantID := view["configId"].(string)
	assert.Equal(t, map[string]any{"key": "[redacted]", "keyId": tenant.KeyID, "teamId": tenant.TeamID,
		"topic": "com.tenant.app", "environment": "sandbox"}, view["apns"])
	_, ok := built.Load("sandbox")
	assert.True(t, ok, "the credential was checked by building its client")

	for _, path := range []string{"/configs", "/configs/" + tenantID} {
		r := e.adminDo(http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.NotContains(t, string(r.body), "PRIVATE KEY", path)
		assert.Contains(t, string(r.body), `"key":"[redacted]"`, path)
	}

	// A device of the tenant goes through the tenant's APNs...
	session, tok := uuid.NewString(), apnsToken()
	body := `{"configId":"` + tenantID + `","sessionId":"` + session + `","type":"iOS"}`
	require.Equal(t, http.StatusOK, e.do(http.MethodPut, connector.BasePath+"/device-registrations/"+tok, "application/json", []byte(body), nil).status)
	r = e.callback(event(session), "secret-t-0123456789")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, 1, result(t, r).Delivered)
	got := tenant.Notifications()
	require.Len(t, got, 1)
	assert.Equal(t, "com.tenant.app", got[0].Topic)
	assert.Empty(t, e.apns.Notifications())

	// ...one of the default configuration through Config.APNs.
	session2 := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerIOS(apnsToken(), session2).status)
	require.Equal(t, http.StatusOK, e.callback(event(session2), e.secret).status)
	assert.Len(t, e.apns.Notifications(), 1)
	assert.Len(t, tenant.Notifications(), 1)
}

func TestConfigAPNsWithoutDefault(t *testing.T) {
	tenant := apnstest.NewServer(apnstest.Config{})
	defer tenant.Close()
	e := newEnv(t, envOptions{noAPNs: true})
	// Without Config.APNs and without a credential of its own, APNs tokens
	// are refused.
	session := uuid.NewString()
	assert.Equal(t, http.StatusBadRequest, e.registerIOS(apnsToken(), session).status)
	r := e.adminDo(http.MethodPut, "/configs/"+e.configID, map[string]any{"apns": map[string]string{
		"key": string(tenant.AuthKeyPEM()), "keyId": "ABCDEFGHIJ", "teamId": "0123456789", "topic": "com.x.y"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "production", r.json(t)["apns"].(map[string]any)["environment"], "the default environment")
	assert.Equal(t, http.StatusOK, e.registerIOS(apnsToken(), session).status, "the configuration's own credential serves")
}

func TestConfigAPNsValidation(t *testing.T) {
	tenant := apnstest.NewServer(apnstest.Config{})
	defer tenant.Close()
	key := string(tenant.AuthKeyPEM())
	e := newEnv(t, envOptions{})
	good := func() map[string]string {
		return map[string]string{"key": key, "keyId": "ABCDEFGHIJ", "teamId": "0123456789", "topic": "com.x.y", "environment": "production"}
	}
	tests := []struct {
		name, field, value, want string
		status                   int
	}{
		{"valid", "", "", "", http.StatusOK},
		{"sandbox", "environment", "sandbox", "", http.StatusOK},
		{"bad environment", "environment", "development", "apns.environment", http.StatusBadRequest},
		{"not a key", "key", "not a key", "apns.key", http.StatusBadRequest},
		{"rsa-ish pem", "key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "apns.key", http.StatusBadRequest},
		{"key id 9", "keyId", "ABCDEFGHI", "apns.keyId", http.StatusBadRequest},
		{"key id 11", "keyId", "ABCDEFGHIJK", "apns.keyId", http.StatusBadRequest},
		{"key id punct", "keyId", "ABCDEFGHI-", "apns.keyId", http.StatusBadRequest},
		{"team id 9", "teamId", "012345678", "apns.teamId", http.StatusBadRequest},
		{"team id 11", "teamId", "01234567890", "apns.teamId", http.StatusBadRequest},
		{"no topic", "topic", "", "apns.topic", http.StatusBadRequest},
		{"bad topic", "topic", "com x", "apns.topic", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred := good()
			if tt.field != "" {
				cred[tt.field] = tt.value
			}
			r := e.adminDo(http.MethodPut, "/configs/"+e.configID, map[string]any{"apns": cred})
			assert.Equal(t, tt.status, r.status, "%s", r.body)
			assert.Contains(t, string(r.body), tt.want)
			assert.NotContains(t, string(r.body), "PRIVATE KEY")
		})
	}

	// AddConfig validates too.
	a := connector.APNsCredential{Key: []byte(key), KeyID: "ABCDEFGHIJ", TeamID: "0123456789", Topic: "com.x.y", Environment: "staging"}
	err := e.conn.AddConfig(context.Background(), connector.PushConfig{ID: "x", APNs: &a})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	a.Environment = connector.APNsSandbox
	assert.NoError(t, e.conn.AddConfig(context.Background(), connector.PushConfig{ID: "x", APNs: &a}))
	err = e.conn.AddConfig(context.Background(), connector.PushConfig{ID: "y", Sealed: []byte{1}})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration, "Sealed is the connector's")
}

func newMemoryRegistry(t *testing.T) registry.Registry {
	t.Helper()
	m, err := registry.NewMemory(registry.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// TestResealStoreFails: ResealConfigs reports the store's failure and how
// many configurations it had rewritten before it.
func TestResealStoreFails(t *testing.T) {
	ctx := context.Background()
	down := errors.New("store down")
	store := &failingConfigs{MemoryConfigStore: connector.NewMemoryConfigStore()}
	require.NoError(t, store.Put(ctx, connector.PushConfig{ID: "a", Secrets: [][]byte{[]byte("s")}}))
	kr := newKeyring(t)

	store.err.Store(&down)
	n, err := connector.ResealConfigs(ctx, store, kr)
	assert.ErrorIs(t, err, down)
	assert.Zero(t, n)

	store.err.Store(nil)
	store.put.Store(&down)
	n, err = connector.ResealConfigs(ctx, store, kr)
	assert.ErrorIs(t, err, down)
	assert.Zero(t, n)
	raw, err := store.Get(ctx, "a")
	require.NoError(t, err)
	assert.Empty(t, raw.Sealed, "left as it was")
}
