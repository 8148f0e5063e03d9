package fcm_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSendEachResultsInOrder(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, func(cfg *fcm.Config) { cfg.MaxConcurrency = 4 })
	srv.FailToken("tok-3", fcmtest.Unregistered())
	srv.FailToken("tok-7", fcmtest.InvalidArgument("bad"))
	msgs := make([]*fcm.Message, 20)
	for i := range msgs {
		msgs[i] = &fcm.Message{Token: fmt.Sprintf("tok-%d", i), Data: map[string]string{"i": fmt.Sprint(i)}}
	}
	msgs[11] = &fcm.Message{} // invalid: no target
	res := c.SendEach(context.Background(), msgs)
	require.Len(t, res, len(msgs))

	byName := map[string]fcmtest.Received{}
	for _, r := range srv.Messages() {
		byName[r.Name] = r
	}
	for i, r := range res {
		switch i {
		case 3:
			assert.ErrorIs(t, r.Err, pushwire.ErrDeadToken)
		case 7:
			assert.ErrorIs(t, r.Err, pushwire.ErrPermanent)
		case 11:
			assert.ErrorIs(t, r.Err, fcm.ErrInvalidMessage)
		default:
			require.NoError(t, r.Err, i)
			rec, ok := byName[r.Name]
			require.True(t, ok, "result %d names a recorded message", i)
			assert.Equal(t, fmt.Sprint(i), rec.Message.Data["i"], "result %d belongs to message %d", i, i)
		}
	}
	assert.Len(t, srv.Messages(), 17)
}

func TestSendMulticast(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, nil)
	srv.FailToken("b", fcmtest.Unregistered())
	tmpl := &fcm.Message{Data: map[string]string{"k": "v"}}
	res := c.SendEachForMulticast(context.Background(), tmpl, []string{"a", "b", "c"})
	require.Len(t, res, 3)
	assert.NoError(t, res[0].Err)
	assert.ErrorIs(t, res[1].Err, pushwire.ErrDeadToken)
	assert.NoError(t, res[2].Err)
	assert.Empty(t, tmpl.Token, "the template is not modified")
	tokens := map[string]bool{}
	for _, r := range srv.Messages() {
		tokens[r.Message.Token] = true
		assert.Equal(t, "v", r.Message.Data["k"])
	}
	assert.Equal(t, map[string]bool{"a": true, "c": true}, tokens)

	res = c.SendEachForMulticast(context.Background(), &fcm.Message{Topic: "x"}, []string{"a", "b"})
	for _, r := range res {
		assert.ErrorIs(t, r.Err, fcm.ErrInvalidMessage)
	}
	assert.Empty(t, c.SendEachForMulticast(context.Background(), tmpl, nil))
}

func TestConcurrencyBoundShared(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, func(cfg *fcm.Config) { cfg.MaxConcurrency = 3 })
	srv.FailAll(fcmtest.Slow(20 * time.Millisecond))
	// Two fan-outs and single sends at once share the one limit.
	done := make(chan struct{})
	var failed atomic.Int32
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, r := range c.SendEachForMulticast(context.Background(), &fcm.Message{}, []string{"a", "b", "c", "d", "e"}) {
				if r.Err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	for range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			if c.Send(context.Background(), pushwire.Message{Token: "s"}) != nil {
				failed.Add(1)
			}
		}()
	}
	for range 5 {
		<-done
	}
	assert.Zero(t, failed.Load())
	assert.Len(t, srv.Messages(), 13)
	assert.LessOrEqual(t, srv.PeakConcurrency(), 3)
	assert.GreaterOrEqual(t, srv.PeakConcurrency(), 2, "sends do run concurrently")
}

func TestSendEachCancellation(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, func(cfg *fcm.Config) { cfg.MaxConcurrency = 1 })
	srv.FailAll(fcmtest.Slow(time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs := []*fcm.Message{{Token: "a"}, {Token: "b"}, {Token: "c"}, {Token: "d"}}
	out := make(chan []fcm.Result, 1)
	go func() { out <- c.SendEach(ctx, msgs) }()
	require.Eventually(t, func() bool { return srv.SendRequests() == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	res := <-out
	for i, r := range res {
		assert.ErrorIs(t, r.Err, context.Canceled, "result %d", i)
	}
	assert.Equal(t, 1, srv.SendRequests(), "no new sends after cancellation")
	assert.Empty(t, srv.Messages())
}

func TestConnectionReuse(t *testing.T) {
	t.Run("http/1.1 keep-alive", func(t *testing.T) {
		srv := newServer(t, fcmtest.Config{})
		c, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
		require.NoError(t, err)
		defer c.Close()
		for range 30 {
			require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
		}
		// One connection for the token fetch and the sends: never a
		// new connection per call.
		assert.Equal(t, 1, srv.Connections())
	})
	t.Run("http/2 opens more connections past the stream limit", func(t *testing.T) {
		srv := newServer(t, fcmtest.Config{TLS: true, MaxConcurrentStreams: 4})
		c := newClient(t, srv, func(cfg *fcm.Config) { cfg.MaxConcurrency = 12 })
		require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "warm-up"}))
		srv.FailAll(fcmtest.Slow(30 * time.Millisecond))
		tokens := make([]string, 36)
		for i := range tokens {
			tokens[i] = fmt.Sprintf("tok-%d", i)
		}
		for i, r := range c.SendEachForMulticast(context.Background(), &fcm.Message{}, tokens) {
			require.NoError(t, r.Err, i)
		}
		assert.Greater(t, srv.PeakConcurrency(), 4, "more requests in flight than one connection's streams")
		assert.GreaterOrEqual(t, srv.Connections(), 2)
		// Racing dials may open a few extra, but connections are
		// shared, not one per send.
		assert.Less(t, srv.Connections(), len(tokens)/2)
	})
}

// TestConcurrentSendsKeepTheirBodies sends many messages of different sizes
// at once, some of them answered with errors, and checks that each message
// FCM recorded is exactly the one sent: request buffers are recycled
// between sends and must never mix.
func TestConcurrentSendsKeepTheirBodies(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			srv := newServer(t, fcmtest.Config{TLS: tls})
			c := newClient(t, srv, func(cfg *fcm.Config) { cfg.MaxConcurrency = 8 })
			for i := 0; i < 200; i += 7 {
				srv.FailToken(fmt.Sprintf("tok-%d", i), fcmtest.Unregistered())
			}
			msgs := make([]*fcm.Message, 200)
			for i := range msgs {
				msgs[i] = &fcm.Message{Token: fmt.Sprintf("tok-%d", i), Data: map[string]string{
					"i": fmt.Sprint(i), "pad": strings.Repeat("x", (i*37)%900),
				}}
			}
			res := c.SendEach(context.Background(), msgs)
			got := map[string]fcmtest.Received{}
			for _, r := range srv.Messages() {
				got[r.Message.Token] = r
			}
			for i, r := range res {
				if i%7 == 0 {
					assert.ErrorIs(t, r.Err, pushwire.ErrDeadToken, i)
					continue
				}
				require.NoError(t, r.Err, i)
				rec, ok := got[msgs[i].Token]
				require.True(t, ok, "message %d recorded", i)
				assert.Equal(t, msgs[i].Data, rec.Message.Data, "message %d", i)
				assert.Equal(t, r.Name, rec.Name, "message %d", i)
			}
		})
	}
}
