package apns_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
)

// seen is what a transport was handed for one request.
type seen struct {
	body   io.ReadCloser
	url    any
	header http.Header
	copy   http.Header // the header's values when the request was made
}

// recorder is a transport that records the requests it forwards to base.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, seen{body: req.Body, url: req.URL, header: req.Header, copy: maps.Clone(req.Header)})
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func (r *recorder) requests() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.reqs...)
}

// A retry is made with a body and URL of its own (the transport may still
// read those of the attempt before), after a token renewal too; the
// request state of a push that was retried is never handed to another push.
func TestRetryHasItsOwnRequest(t *testing.T) {
	serverClock, clientClock := newClock(), newClock()
	srv := apnstest.NewServer(apnstest.Config{Now: serverClock.Now})
	t.Cleanup(srv.Close)
	base := srv.Client().Transport.(*http.Transport)
	t.Cleanup(base.CloseIdleConnections)
	rec := &recorder{base: base}
	c, err := apns.New(apns.Config{BaseURL: srv.URL, Token: srv.TokenAuth(), Topic: bundle, Now: clientClock.Now,
		HTTPClient: &http.Client{Transport: rec}, Retry: apns.RetryPolicy{MinBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	t.Run("retry", func(t *testing.T) {
		srv.Fail(tok(1), apnstest.Failure{Reason: apns.ReasonTooManyRequests, Times: 2})
		before := len(rec.requests())
		require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(1)}))
		got := rec.requests()[before:]
		require.Len(t, got, 3)
		for i := range got {
			for j := range i {
				assert.NotSame(t, got[j].body, got[i].body, "attempts %d and %d", j+1, i+1)
				assert.NotSame(t, got[j].url, got[i].url, "attempts %d and %d", j+1, i+1)
			}
		}

		// Pushes that follow never reuse the retried push's header map.
		for i := range 5 {
			_, err := c.Push(context.Background(), &apns.Notification{DeviceToken: tok(10 + i), Payload: []byte(`{}`), CollapseID: "other"})
			require.NoError(t, err)
		}
		assert.Equal(t, got[0].copy, got[0].header, "the retried push's headers were left alone")
	})

	t.Run("renewal", func(t *testing.T) {
		serverClock.Add(61 * time.Minute)
		clientClock.Add(25 * time.Minute)
		before := len(rec.requests())
		require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(2)}))
		got := rec.requests()[before:]
		require.Len(t, got, 2, "stale token, renewed token")
		assert.NotSame(t, got[0].body, got[1].body)
		assert.NotSame(t, got[0].url, got[1].url)
	})
}

// The Response of a push that succeeded after a retry is the last
// attempt's: no reason left over from the failed one.
func TestPushResponseAfterRetry(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) {
		cfg.Retry = apns.RetryPolicy{MinBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond}
	})
	srv.Fail(tok(1), apnstest.Failure{Reason: apns.ReasonServiceUnavailable, Times: 1})
	res, err := c.Push(context.Background(), &apns.Notification{DeviceToken: tok(1), Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.NotNil(t, res)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Empty(t, res.Reason)
	assert.True(t, res.Timestamp.IsZero())
	assert.EqualValues(t, 2, srv.Requests())
}

// A push whose earlier attempt was written without an answer, and whose
// retry is then interrupted, may have been delivered: its error says so.
func TestInterruptedRetryAfterWrittenAttempt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n++
		if n == 1 {
			_, _ = io.Copy(io.Discard, r.Body) // written
			return nil, errors.New("connection reset")
		}
		cancel() // the retry is interrupted before it is written
		return nil, r.Context().Err()
	})
	c, err := apns.New(apns.Config{HTTPClient: &http.Client{Transport: rt}, Topic: bundle,
		Retry: apns.RetryPolicy{MinBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond}})
	require.NoError(t, err)
	defer c.Close()
	err = c.Send(ctx, pushwire.Message{Token: tok(1)})
	assert.Equal(t, 2, n)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, pushwire.ErrUnknownOutcome)
	assertClass(t, err, pushwire.ErrRetryable)
}

// A retryable answer that arrives after the context's deadline is reported
// as the context's end, not as the answer.
func TestAnswerAfterDeadline(t *testing.T) {
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		return &http.Response{StatusCode: 503, ProtoMajor: 2, Header: http.Header{},
			Body: io.NopCloser(strings.NewReader(`{"reason":"ServiceUnavailable"}`)), Request: r}, nil
	})
	c, err := apns.New(apns.Config{HTTPClient: &http.Client{Transport: rt}, Topic: bundle,
		Retry: apns.RetryPolicy{MinBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond}})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = c.Send(ctx, pushwire.Message{Token: tok(1)})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assertClass(t, err, pushwire.ErrRetryable)
}

// Retries and token renewals are logged, with the number of the attempt
// that follows.
func TestRetriesLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	serverClock, clientClock := newClock(), newClock()
	srv, c := pair(t, apnstest.Config{Now: serverClock.Now}, func(cfg *apns.Config) {
		cfg.Now = clientClock.Now
		cfg.Retry = apns.RetryPolicy{MinBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond}
		cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	srv.Fail(tok(1), apnstest.Failure{Reason: apns.ReasonTooManyRequests, Times: 2})
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(1)}))
	serverClock.Add(61 * time.Minute)
	clientClock.Add(25 * time.Minute)
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: tok(2)}))
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Contains(t, out, "retrying push")
	assert.Contains(t, out, "attempt=2")
	assert.Contains(t, out, "attempt=3")
	assert.NotContains(t, out, "attempt=4")
	assert.Contains(t, out, "provider token renewed")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
