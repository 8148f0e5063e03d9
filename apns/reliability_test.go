package apns_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
)

// A server that stops answering (not even PINGs) is detected by the PING
// health check: the pushes in flight on that connection fail with a
// retryable error before their own deadline, and later pushes use a new
// connection.
func TestHungServerDetectedByPing(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) {
		cfg.PingInterval = 100 * time.Millisecond
		// Long enough for the other pushes below to join the hung
		// connection on a busy machine before the check closes it.
		cfg.PingTimeout = time.Second
		cfg.Retry.MaxAttempts = 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.Send(ctx, pushwire.Message{Token: tok(8)})) // connected
	srv.Reset()
	srv.Fail(tok(0), apnstest.Failure{Action: apnstest.ActionHang, Times: 1})

	const others = 5
	errs := make(chan error, others+1)
	go func() { errs <- c.Send(ctx, pushwire.Message{Token: tok(0)}) }()
	require.Eventually(t, func() bool { return srv.HungConnections() == 1 }, 5*time.Second, time.Millisecond)
	for i := 1; i <= others; i++ {
		go func() { errs <- c.Send(ctx, pushwire.Message{Token: tok(i)}) }()
	}
	for range others + 1 {
		err := <-errs
		require.Error(t, err)
		assert.ErrorIs(t, err, pushwire.ErrRetryable)
		assert.ErrorIs(t, err, apns.ErrConnection)
		assert.NotErrorIs(t, err, context.DeadlineExceeded, "the health check, not the deadline, ended it")
	}
	require.NoError(t, ctx.Err())
	assert.Empty(t, srv.Notifications())

	require.NoError(t, c.Send(ctx, pushwire.Message{Token: tok(9)}))
	assert.Equal(t, 2, srv.Connections())
}

// With retries, the same scenario loses nothing: the hung push is retried on
// a new connection with the same apns-id.
func TestHungServerRetried(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) {
		cfg.PingInterval = 100 * time.Millisecond
		cfg.PingTimeout = 150 * time.Millisecond
		cfg.Retry.MinBackoff = time.Millisecond
	})
	srv.Fail(tok(0), apnstest.Failure{Action: apnstest.ActionHang, Times: 1})
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	res, err := c.Push(context.Background(), &apns.Notification{DeviceToken: tok(0), ID: id, Payload: []byte(`{"aps":{}}`)})
	require.NoError(t, err)
	assert.Equal(t, id, res.APNsID)
	got := srv.Notifications()
	require.Len(t, got, 1)
	assert.Equal(t, id, got[0].APNsID)
}

func TestDroppedConnection(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) { cfg.Retry.MinBackoff = time.Millisecond })
	srv.Fail(tok(0), apnstest.Failure{Action: apnstest.ActionDrop, Times: 1})
	const id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	res, err := c.Push(context.Background(), &apns.Notification{DeviceToken: tok(0), ID: id, Payload: []byte(`{}`)})
	require.NoError(t, err)
	assert.Equal(t, id, res.APNsID)
	assert.EqualValues(t, 2, srv.Requests())
	got := srv.Notifications()
	require.Len(t, got, 1)
	assert.Equal(t, id, got[0].APNsID)

	// Without retries the drop surfaces as a retryable connection error.
	srv.Reset()
	noRetry, err := apns.New(apns.Config{BaseURL: srv.URL, Token: srv.TokenAuth(), RootCAs: srv.CertPool(), Topic: bundle, Retry: apns.RetryPolicy{MaxAttempts: 1}})
	require.NoError(t, err)
	defer noRetry.Close()
	srv.Fail(tok(0), apnstest.Failure{Action: apnstest.ActionDrop, Times: 1})
	err = noRetry.Send(context.Background(), pushwire.Message{Token: tok(0)})
	assert.ErrorIs(t, err, apns.ErrConnection)
	assert.ErrorIs(t, err, pushwire.ErrRetryable)
}

func TestRetryPolicy(t *testing.T) {
	t.Run("retries keep the apns-id", func(t *testing.T) {
		srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) { cfg.Retry.MinBackoff = time.Millisecond })
		srv.Fail(tok(0), apnstest.Failure{Reason: apns.ReasonTooManyRequests, Times: 1})
		srv.Fail(tok(1), apnstest.Failure{Reason: apns.ReasonInternalServerError, Times: 1})
		srv.Fail(tok(2), apnstest.Failure{Reason: apns.ReasonShutdown, Action: apnstest.ActionGoAway, Times: 1})
		for i := range 3 {
			res, err := c.Push(context.Background(), &apns.Notification{DeviceToken: tok(i), Payload: []byte(`{}`)})
			require.NoError(t, err)
			got := srv.Notifications()
			require.Len(t, got, i+1)
			assert.Equal(t, res.APNsID, got[i].APNsID)
		}
		assert.EqualValues(t, 6, srv.Requests())
	})
	t.Run("attempts are bounded", func(t *testing.T) {
		srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) {
			cfg.Retry = apns.RetryPolicy{MaxAttempts: 4, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
		})
		srv.Fail(tok(0), apnstest.Failure{Reason: apns.ReasonServiceUnavailable})
		err := c.Send(context.Background(), pushwire.Message{Token: tok(0)})
		assertReason(t, err, apns.ReasonServiceUnavailable)
		assert.EqualValues(t, 4, srv.Requests())
	})
	t.Run("permanent errors are not retried", func(t *testing.T) {
		srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) { cfg.Retry.MinBackoff = time.Millisecond })
		srv.Fail(tok(0), apnstest.Failure{Reason: apns.ReasonUnregistered})
		err := c.Send(context.Background(), pushwire.Message{Token: tok(0)})
		assert.ErrorIs(t, err, pushwire.ErrDeadToken)
		assert.EqualValues(t, 1, srv.Requests())
	})
	t.Run("no backoff past the deadline", func(t *testing.T) {
		srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) {
			cfg.Retry = apns.RetryPolicy{MinBackoff: time.Hour, MaxBackoff: time.Hour}
		})
		srv.Fail(tok(0), apnstest.Failure{Reason: apns.ReasonServiceUnavailable})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := c.Send(ctx, pushwire.Message{Token: tok(0)})
		assertReason(t, err, apns.ReasonServiceUnavailable)
		assert.EqualValues(t, 1, srv.Requests())
		require.NoError(t, ctx.Err(), "returned at once instead of sleeping")
	})
}

// GOAWAY in the middle of a burst: every push the client reports as sent
// was received exactly once, and every push received was reported.
func TestGoAwayMidBurst(t *testing.T) {
	srv, c := pair(t, apnstest.Config{Latency: 2 * time.Millisecond}, func(cfg *apns.Config) {
		cfg.Retry.MinBackoff = time.Millisecond
	})
	const n = 400
	for _, i := range []int{40, 150, 260, 330} {
		srv.Fail(tok(i), apnstest.Failure{Action: apnstest.ActionGoAway, Times: 1})
	}
	var mu sync.Mutex
	sent := make(map[string]int)
	var failed int
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, err := c.Push(context.Background(), &apns.Notification{DeviceToken: tok(i), Payload: []byte(`{"aps":{}}`)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				t.Log(err)
				return
			}
			sent[res.APNsID]++
		}()
	}
	wg.Wait()
	received := make(map[string]int)
	for _, g := range srv.Notifications() {
		received[g.APNsID]++
	}
	for id, k := range received {
		assert.Equal(t, 1, k, "apns-id %s received %d times", id, k)
	}
	assert.Equal(t, sent, received, "reported as sent == received")
	assert.Zero(t, failed)
	assert.Len(t, sent, n)
	// A new connection after GOAWAY, but no dial storm: at most one per
	// GOAWAY (two may land on the same draining connection).
	assert.GreaterOrEqual(t, srv.Connections(), 2)
	assert.LessOrEqual(t, srv.Connections(), 5)
}

func TestGenerateIDs(t *testing.T) {
	for _, gen := range []bool{false, true} {
		t.Run(map[bool]string{false: "apns assigns", true: "client generates"}[gen], func(t *testing.T) {
			var mu sync.Mutex
			var ids []string
			srv, c := pair(t, apnstest.Config{OnRequest: func(r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				ids = append(ids, r.Header.Get("apns-id"))
			}}, func(cfg *apns.Config) {
				cfg.GenerateIDs = gen
				cfg.Retry.MinBackoff = time.Millisecond
			})
			srv.Fail(tok(0), apnstest.Failure{Reason: apns.ReasonTooManyRequests, Times: 1})
			res, err := c.Push(context.Background(), &apns.Notification{DeviceToken: tok(0), Payload: []byte(`{}`)})
			require.NoError(t, err)
			assert.True(t, apns.ValidUUID(res.APNsID))
			got := srv.Notifications()
			require.Len(t, got, 1)
			assert.Equal(t, res.APNsID, got[0].APNsID)
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, ids, 2)
			if gen {
				assert.Equal(t, res.APNsID, ids[0], "both attempts carry the generated id")
				assert.Equal(t, res.APNsID, ids[1])
			} else {
				assert.Equal(t, []string{"", ""}, ids, "no apns-id header: APNs assigns one")
			}
		})
	}
}

// A Retry-After longer than RetryPolicy.MaxBackoff is not waited out: the
// push fails at once with the retryable error and its Retry-After, for the
// caller to schedule, and Close is not held up.
func TestRetryAfterBeyondMaxBackoffReturned(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) {
		cfg.Retry = apns.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	})
	srv.Fail(tok(0), apnstest.Failure{Reason: apns.ReasonTooManyRequests, RetryAfter: time.Hour, Times: 1})
	ctx, cancel := context.WithCancel(context.Background()) // no deadline
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Send(ctx, pushwire.Message{Token: tok(0)}) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		cancel()
		<-done
		t.Fatal("Send waited out a Retry-After longer than MaxBackoff")
	}
	require.Error(t, err)
	assertReason(t, err, apns.ReasonTooManyRequests)
	assertClass(t, err, pushwire.ErrRetryable)
	d, ok := pushwire.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, time.Hour, d)
	assert.EqualValues(t, 1, srv.Requests(), "not retried")
	require.NoError(t, c.Close())
}

// Close ends a push waiting between attempts: the push fails with its last
// error, which also matches pushwire.ErrClosed, and Close does not wait out the delay.
func TestCloseEndsBackoff(t *testing.T) {
	retrying := make(chan struct{}, 1)
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) {
		cfg.Retry = apns.RetryPolicy{MinBackoff: time.Hour, MaxBackoff: time.Hour}
		cfg.Logger = slog.New(signalHandler{msg: "apns: retrying push", ch: retrying})
	})
	srv.Fail(tok(0), apnstest.Failure{Reason: apns.ReasonServiceUnavailable})
	ctx, cancel := context.WithCancel(context.Background()) // no deadline
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Send(ctx, pushwire.Message{Token: tok(0)}) }()
	<-retrying // the answer came; the push waits before its retry

	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		cancel() // end the backoff so that Close and the test can finish
		<-closed
		t.Fatal("Close waited for a push sleeping before its retry")
	}
	err := <-done
	require.Error(t, err)
	assert.ErrorIs(t, err, pushwire.ErrClosed)
	assert.NotErrorIs(t, err, pushwire.ErrUnknownOutcome, "the answer came")
	assertReason(t, err, apns.ReasonServiceUnavailable)
	assertClass(t, err, pushwire.ErrRetryable)
	var ae *apns.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusServiceUnavailable, ae.Status)
	assert.EqualValues(t, 1, srv.Requests(), "not retried after Close")
}

// signalHandler is a slog handler that signals ch when a record with
// message msg is logged.
type signalHandler struct {
	msg string
	ch  chan<- struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
