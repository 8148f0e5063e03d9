package dispatch_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	bundle    = "com.example.phone"
	voipToken = "4f1c0e5ad2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"
	apnsToken = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
)

func newRegistry(t testing.TB) *registry.Memory {
	t.Helper()
	reg, err := registry.NewMemory(registry.Config{SweepInterval: -1, MaxDevicesPerSession: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	return reg
}

func register(t testing.TB, reg registry.Registry, d registry.Device) registry.Device {
	t.Helper()
	d, err := reg.Register(context.Background(), d)
	require.NoError(t, err)
	return d
}

// newDispatcher builds a Dispatcher closed at the end of the test.
func newDispatcher(t testing.TB, cfg dispatch.Config) *dispatch.Dispatcher {
	t.Helper()
	d, err := dispatch.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// newAPNs starts a fake APNs and a client of it that does not retry.
func newAPNs(t testing.TB) (*apnstest.Server, *apns.Client) {
	t.Helper()
	fake := apnstest.NewServer(apnstest.Config{})
	t.Cleanup(fake.Close)
	c, err := apns.New(apns.Config{BaseURL: fake.URL, Token: fake.TokenAuth(), RootCAs: fake.CertPool(), Topic: bundle,
		Retry: apns.RetryPolicy{MaxAttempts: 1}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return fake, c
}

// newFCM starts a fake FCM and a client of it that does not retry.
func newFCM(t testing.TB) (*fcmtest.Server, *fcm.Client) {
	t.Helper()
	fake := fcmtest.NewServer(fcmtest.Config{})
	t.Cleanup(fake.Close)
	c, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: fake.ServiceAccountJSON(), BaseURL: fake.URL,
		Retry: fcm.RetryPolicy{MaxAttempts: 1}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return fake, c
}

// testAuth accepts any token as the device id it names.
var testAuth = lpns.AuthenticatorFunc(func(_ context.Context, _ *http.Request, tok string) (lpns.Identity, error) {
	if tok == "" {
		return lpns.Identity{}, lpns.ErrTokenInvalid
	}
	return lpns.Identity{DeviceID: tok, UserID: "user-" + tok}, nil
})

// newLPNS starts a local push server and returns it with its ws:// URL.
func newLPNS(t testing.TB, cfg lpns.Config) (*lpns.Server, string) {
	t.Helper()
	cfg.Authenticator = testAuth
	srv, err := lpns.NewServer(context.Background(), cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		ts.Close()
	})
	return srv, "ws" + strings.TrimPrefix(ts.URL, "http")
}

// phone is a simulated phone on local push.
type phone struct {
	c   *lpns.Client
	got chan lpns.Notification
}

// dialPhone connects device to the local push server; with ack false the
// phone receives notifications but never acknowledges them.
func dialPhone(t testing.TB, url, device string, ack bool) *phone {
	t.Helper()
	p := &phone{got: make(chan lpns.Notification, 16)}
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{
		URLs:  []string{url},
		Token: func(context.Context) (string, error) { return device, nil },
		Handler: func(_ context.Context, n lpns.Notification) error {
			p.got <- n
			if !ack {
				return errNoAck
			}
			return nil
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	p.c = c
	return p
}

var errNoAck = &pushwire.Error{Class: pushwire.ErrRetryable, Reason: "busy"}

// script is a pushwire.Sender answering from a list of errors (the last one
// repeats) and recording what it was sent.
type script struct {
	mu       sync.Mutex
	errs     []error
	msgs     []pushwire.Message
	calls    atomic.Int64
	onSend   func(ctx context.Context, msg pushwire.Message)
	inFlight atomic.Int64
	maxSeen  atomic.Int64
	hold     chan struct{} // when set, Send waits for it (or ctx)
}

func (s *script) Send(ctx context.Context, msg pushwire.Message) error {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	i := int(s.calls.Add(1) - 1)
	s.mu.Lock()
	s.msgs = append(s.msgs, msg)
	var err error
	if len(s.errs) > 0 {
		err = s.errs[min(i, len(s.errs)-1)]
	}
	s.mu.Unlock()
	if s.onSend != nil {
		s.onSend(ctx, msg)
	}
	if s.hold != nil {
		select {
		case <-s.hold:
		case <-ctx.Done():
			return pushwire.ContextError("test", ctx.Err(), true)
		}
	}
	return err
}

func (s *script) sent() []pushwire.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pushwire.Message(nil), s.msgs...)
}

func waitCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func newLogger(b *syncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }
