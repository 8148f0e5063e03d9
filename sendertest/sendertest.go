package sendertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
)

// Outcome is what the fake does with a request for a scripted token: one of
// [Accept], [DeadToken], [Retryable], [Permanent], [Configuration], [Hang]
// and [Drop].
type Outcome interface{ outcome() }

// Accept makes the fake accept the message.
type Accept struct{}

// DeadToken makes the fake answer that the token is no longer valid. Since,
// when not zero, is when it became invalid (the APNs 410 timestamp); the
// suite uses whole seconds.
type DeadToken struct{ Since time.Time }

// Retryable makes the fake answer with a temporary failure. RetryAfter, when
// positive, is the delay the fake asks for (Retry-After); the suite uses
// whole seconds.
type Retryable struct{ RetryAfter time.Duration }

// Permanent makes the fake refuse the message for good (not the token: the
// message or the request).
type Permanent struct{}

// Configuration makes the fake refuse the sender's credentials or project
// (an authentication or authorization failure).
type Configuration struct{}

// Hang makes the fake read the whole request and never answer it, until the
// sender abandons the request or the fake closes. Other requests, on the
// same connection too, are answered as scripted.
type Hang struct{}

// Drop makes the fake read the whole request and close the connection
// without an answer.
type Drop struct{}

func (Accept) outcome()        {}
func (DeadToken) outcome()     {}
func (Retryable) outcome()     {}
func (Permanent) outcome()     {}
func (Configuration) outcome() {}
func (Hang) outcome()          {}
func (Drop) outcome()          {}

// Harness is one sender under test, wired to a fake provider. [Run] asks for
// a fresh one for every subtest; the function that builds it registers the
// fake's teardown with t.Cleanup. The suite closes the sender itself before
// the cleanups run.
type Harness struct {
	// Sender is the sender under test. Required.
	Sender pushwire.Sender
	// Close closes the sender: it must be idempotent, refuse new sends at
	// once (pushwire.ErrClosed), cancel the sends under way and return once
	// they have returned. Required; for a wrapper that owns nothing, close
	// the senders it wraps.
	Close func() error
	// Shutdown refuses new sends, waits for the sends under way until they
	// return or ctx ends, and then does what Close does; it returns ctx's
	// error when ctx ended first. Required.
	Shutdown func(ctx context.Context) error
	// Script makes the fake answer every later request for token with o.
	// The suite scripts each token once, before it sends to it, and uses
	// each token in one subtest only. Script returns an error wrapping
	// errors.ErrUnsupported when the fake cannot produce o (the subtests
	// that need it are skipped, with the error as the reason), any other
	// error to fail the test. Required.
	Script func(token string, o Outcome) error
	// Received returns how many requests for token the fake has read in
	// full, whatever it answered. Required.
	Received func(token string) int
	// Token returns distinct tokens valid for the provider, as long as real
	// ones (the suite checks that no error string holds more than their last
	// 6 characters). Nil means [DefaultToken].
	Token func(i int) string
	// Message returns the message the suite sends to token. Nil means a
	// data-only message with one data entry.
	Message func(token string) pushwire.Message
}

// DefaultToken returns a token shaped like an FCM registration token (163
// characters, the length of real ones) that is distinct for each i.
func DefaultToken(i int) string {
	const filler = "cXk2bHN0ZXN0OkFQQTkxYkg0dW40TXhQNWVnb0tNd3QyS1pGQmFGVUgtMVJZcXhfdU9Ca0JtQU9wbTJ3dlRRWDBIY2gzeUFxVFpsVFlaRHVUa1hIeWJLc1NKV0duZDNxOFpSLTFFYkRSd0ZmSWhQYUU3ZjFT" // 152
	return fmt.Sprintf("%s-%010d", filler, i)
}

// Run runs the conformance suite against the harnesses newHarness builds,
// one per subtest. It fails t when the sender breaks a promise of the
// pushwire.Sender contract (see the package documentation).
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := setup(t, newHarness)
			tc.run(s)
		})
	}
}

// suite is one subtest's view of a harness.
type suite struct {
	t *testing.T
	h Harness
}

func setup(t *testing.T, newHarness func(t *testing.T) Harness) *suite {
	t.Helper()
	// Registered first, run last: after the sender and the fake closed,
	// nothing either started may still run.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	h := newHarness(t)
	require.NotNil(t, h.Sender, "Harness.Sender")
	require.NotNil(t, h.Close, "Harness.Close")
	require.NotNil(t, h.Shutdown, "Harness.Shutdown")
	require.NotNil(t, h.Script, "Harness.Script")
	require.NotNil(t, h.Received, "Harness.Received")
	if h.Token == nil {
		h.Token = DefaultToken
	}
	if h.Message == nil {
		h.Message = func(token string) pushwire.Message {
			return pushwire.Message{Token: token, Data: map[string]string{"sessionId": "sendertest"}}
		}
	}
	t.Cleanup(func() { assert.NoError(t, h.Close(), "Close at the end of the test") })
	return &suite{t: t, h: h}
}

// script scripts o for the token, skipping the test when the fake cannot.
func (s *suite) script(token string, o Outcome) {
	s.t.Helper()
	err := s.h.Script(token, o)
	if errors.Is(err, errors.ErrUnsupported) {
		s.t.Skipf("outcome %T%+v: %v", o, o, err)
	}
	require.NoError(s.t, err, "Script(%T)", o)
}

// supports scripts o for the token and reports whether the fake can.
func (s *suite) supports(token string, o Outcome) bool {
	s.t.Helper()
	err := s.h.Script(token, o)
	if errors.Is(err, errors.ErrUnsupported) {
		return false
	}
	require.NoError(s.t, err, "Script(%T)", o)
	return true
}

func (s *suite) send(ctx context.Context, token string) error {
	return s.h.Sender.Send(ctx, s.h.Message(token))
}

// sendAsync starts a send and returns where its error will arrive.
func (s *suite) sendAsync(ctx context.Context, token string) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.send(ctx, token) }()
	return ch
}

// waitReceived waits until the fake has read n requests for token.
func (s *suite) waitReceived(token string, n int) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.h.Received(token) < n {
		if time.Now().After(deadline) {
			s.t.Fatalf("the fake did not receive %d requests for the token within 30s (got %d)", n, s.h.Received(token))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wait receives a send's error, failing the test if it never comes.
func (s *suite) wait(ch <-chan error) error {
	s.t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second):
		s.t.Fatal("Send did not return within 30s")
		return nil
	}
}

var classes = []struct {
	name string
	err  error
}{
	{"ErrDeadToken", pushwire.ErrDeadToken},
	{"ErrRetryable", pushwire.ErrRetryable},
	{"ErrPermanent", pushwire.ErrPermanent},
}

// checkErr checks what every error promises: exactly one class, and no
// more than the last 6 characters of token in its text.
func (s *suite) checkErr(err error, token string) {
	s.t.Helper()
	require.Error(s.t, err)
	var matched []string
	for _, c := range classes {
		if errors.Is(err, c.err) {
			matched = append(matched, c.name)
		}
	}
	assert.Len(s.t, matched, 1, "error %q (%T) must match exactly one of ErrDeadToken, ErrRetryable, ErrPermanent; it matches %v", err, err, matched)
	if errors.Is(err, pushwire.ErrConfiguration) {
		assert.ErrorIs(s.t, err, pushwire.ErrPermanent, "a configuration error is permanent")
	}
	if errors.Is(err, pushwire.ErrUnknownOutcome) {
		assert.ErrorIs(s.t, err, pushwire.ErrRetryable, "an unknown outcome is retryable")
	}
	if w, ok := tokenLeak(err.Error(), token); ok {
		s.t.Errorf("error %q holds %q of the token: more than its last 6 characters", err, w)
	}
}

// tokenLeak reports a run of 7 characters of token found in msg.
func tokenLeak(msg, token string) (string, bool) {
	r := []rune(token)
	for i := 0; i+7 <= len(r); i++ {
		if w := string(r[i : i+7]); strings.Contains(msg, w) {
			return w, true
		}
	}
	return "", false
}

// checkClass checks err and that it is of class.
func (s *suite) checkClass(err error, token string, class error) {
	s.t.Helper()
	s.checkErr(err, token)
	assert.ErrorIs(s.t, err, class)
}

// checkClosed checks the error of a send refused because the sender closed.
func (s *suite) checkClosed(err error, token string) {
	s.t.Helper()
	s.checkClass(err, token, pushwire.ErrRetryable)
	assert.ErrorIs(s.t, err, pushwire.ErrClosed)
}

type testCase struct {
	name string
	run  func(s *suite)
}

var cases = []testCase{
	{"Accept", testAccept},
	{"Outcome/DeadToken", testOutcome(DeadToken{}, pushwire.ErrDeadToken)},
	{"Outcome/DeadTokenSince", testOutcome(DeadToken{Since: time.Now().Add(-36 * time.Hour).Truncate(time.Second)}, pushwire.ErrDeadToken)},
	{"Outcome/Retryable", testOutcome(Retryable{}, pushwire.ErrRetryable)},
	{"Outcome/RetryAfter", testOutcome(Retryable{RetryAfter: 7 * time.Second}, pushwire.ErrRetryable)},
	{"Outcome/Permanent", testOutcome(Permanent{}, pushwire.ErrPermanent)},
	{"Outcome/Configuration", testOutcome(Configuration{}, pushwire.ErrConfiguration)},
	{"Outcome/DropAfterRead", testDrop},
	{"Context/CanceledBeforeSend", testCanceledBefore},
	{"Context/ExpiredBeforeSend", testExpiredBefore},
	{"Context/CanceledAfterWrite", testEndedAfterWrite(false)},
	{"Context/DeadlineAfterWrite", testEndedAfterWrite(true)},
	{"Close/SendAfterClose", testSendAfterClose},
	{"Close/SendAfterShutdown", testSendAfterShutdown},
	{"Close/CancelsSendUnderWay", testCloseCancels},
	{"Close/ShutdownWaits", testShutdownWaits},
	{"Concurrent/Outcomes", testConcurrent},
	{"Concurrent/CloseDuringSends", testCloseDuringSends},
}

func testAccept(s *suite) {
	tok := s.h.Token(0)
	s.script(tok, Accept{})
	require.NoError(s.t, s.send(context.Background(), tok))
	assert.Equal(s.t, 1, s.h.Received(tok), "requests the fake received")
}

func testOutcome(o Outcome, class error) func(s *suite) {
	return func(s *suite) {
		tok := s.h.Token(1)
		s.script(tok, o)
		err := s.send(context.Background(), tok)
		s.checkClass(err, tok, class)
		assert.NotErrorIs(s.t, err, pushwire.ErrUnknownOutcome, "the provider answered")
		assert.LessOrEqual(s.t, s.h.Received(tok), 1, "one request per send (configure internal retries off)")
		switch o := o.(type) {
		case DeadToken:
			if !o.Since.IsZero() {
				since, ok := pushwire.DeadSince(err)
				if assert.True(s.t, ok, "pushwire.DeadSince(%q)", err) {
					assert.True(s.t, since.Equal(o.Since), "DeadSince = %v, the provider said %v", since, o.Since)
				}
			}
		case Retryable:
			if o.RetryAfter > 0 {
				d, ok := pushwire.RetryAfter(err)
				assert.True(s.t, ok, "pushwire.RetryAfter(%q)", err)
				assert.Equal(s.t, o.RetryAfter, d, "RetryAfter")
			}
		}
	}
}

func testDrop(s *suite) {
	tok := s.h.Token(2)
	s.script(tok, Drop{})
	err := s.send(context.Background(), tok)
	s.checkClass(err, tok, pushwire.ErrRetryable)
	assert.Equal(s.t, 1, s.h.Received(tok), "requests the fake received")
	assert.ErrorIs(s.t, err, pushwire.ErrUnknownOutcome, "the connection broke after the provider read the request")
}

func testCanceledBefore(s *suite) {
	tok := s.h.Token(3)
	s.script(tok, Accept{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.send(ctx, tok)
	s.checkClass(err, tok, pushwire.ErrRetryable)
	assert.ErrorIs(s.t, err, context.Canceled)
	assert.NotErrorIs(s.t, err, pushwire.ErrUnknownOutcome, "nothing was sent")
	assert.Zero(s.t, s.h.Received(tok), "requests the fake received")
}

func testExpiredBefore(s *suite) {
	tok := s.h.Token(4)
	s.script(tok, Accept{})
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err := s.send(ctx, tok)
	s.checkClass(err, tok, pushwire.ErrRetryable)
	assert.ErrorIs(s.t, err, context.DeadlineExceeded)
	assert.NotErrorIs(s.t, err, pushwire.ErrUnknownOutcome, "nothing was sent")
	assert.Zero(s.t, s.h.Received(tok), "requests the fake received")
}

// expiring is a context whose end reads as a passed deadline, so that a
// test can end it at the moment it chooses.
type expiring struct{ context.Context }

func (e expiring) Deadline() (time.Time, bool) { return time.Now().Add(time.Hour), true }

func (e expiring) Err() error {
	if e.Context.Err() != nil {
		return context.DeadlineExceeded
	}
	return nil
}

func testEndedAfterWrite(deadline bool) func(s *suite) {
	return func(s *suite) {
		tok := s.h.Token(5)
		s.script(tok, Hang{})
		base, cancel := context.WithCancel(context.Background())
		defer cancel()
		var ctx context.Context = base
		want := context.Canceled
		if deadline {
			ctx, want = expiring{base}, context.DeadlineExceeded
		}
		ch := s.sendAsync(ctx, tok)
		s.waitReceived(tok, 1)
		cancel()
		err := s.wait(ch)
		s.checkClass(err, tok, pushwire.ErrRetryable)
		assert.ErrorIs(s.t, err, want)
		assert.ErrorIs(s.t, err, pushwire.ErrUnknownOutcome, "the provider had read the request")
	}
}

func testSendAfterClose(s *suite) {
	tok := s.h.Token(6)
	s.script(tok, Accept{})
	require.NoError(s.t, s.h.Close())
	err := s.send(context.Background(), tok)
	s.checkClosed(err, tok)
	assert.NotErrorIs(s.t, err, pushwire.ErrUnknownOutcome, "nothing was sent")
	assert.Zero(s.t, s.h.Received(tok), "requests the fake received")
	assert.NoError(s.t, s.h.Close(), "Close again")
	assert.NoError(s.t, s.h.Shutdown(context.Background()), "Shutdown after Close")
	s.checkClosed(s.send(context.Background(), tok), tok)
}

func testSendAfterShutdown(s *suite) {
	tok := s.h.Token(7)
	s.script(tok, Accept{})
	require.NoError(s.t, s.send(context.Background(), tok))
	require.NoError(s.t, s.h.Shutdown(context.Background()), "Shutdown with no send under way")
	err := s.send(context.Background(), tok)
	s.checkClosed(err, tok)
	assert.NotErrorIs(s.t, err, pushwire.ErrUnknownOutcome, "nothing was sent")
	assert.Equal(s.t, 1, s.h.Received(tok), "requests the fake received")
	assert.NoError(s.t, s.h.Shutdown(context.Background()), "Shutdown again")
	assert.NoError(s.t, s.h.Close(), "Close after Shutdown")
}

func testCloseCancels(s *suite) {
	tok := s.h.Token(8)
	s.script(tok, Hang{})
	ch := s.sendAsync(context.Background(), tok)
	s.waitReceived(tok, 1)
	require.NoError(s.t, s.h.Close())
	err := s.wait(ch)
	s.checkClosed(err, tok)
	assert.ErrorIs(s.t, err, pushwire.ErrUnknownOutcome, "the provider had read the request")
}

func testShutdownWaits(s *suite) {
	hung, other := s.h.Token(9), s.h.Token(10)
	s.script(hung, Hang{})
	s.script(other, Accept{})
	ch := s.sendAsync(context.Background(), hung)
	s.waitReceived(hung, 1)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.h.Shutdown(ctx) }()
	// Sends are refused as soon as Shutdown has begun.
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for err = s.send(context.Background(), other); err == nil; err = s.send(context.Background(), other) {
		require.False(s.t, time.Now().After(deadline), "sends still accepted 30s after Shutdown began")
		time.Sleep(time.Millisecond)
	}
	s.checkClosed(err, other)
	// The send under way was not cancelled: Shutdown waits for it.
	select {
	case err := <-ch:
		s.t.Fatalf("Shutdown ended the send under way before its context ended: %v", err)
	case err := <-shut:
		s.t.Fatalf("Shutdown returned %v while a send was under way", err)
	default:
	}
	cancel()
	select {
	case err := <-shut:
		assert.ErrorIs(s.t, err, context.Canceled, "Shutdown whose context ended first")
	case <-time.After(30 * time.Second):
		s.t.Fatal("Shutdown did not return within 30s of its context's end")
	}
	err = s.wait(ch)
	s.checkClosed(err, hung)
	assert.ErrorIs(s.t, err, pushwire.ErrUnknownOutcome, "the provider had read the request")
}

func testConcurrent(s *suite) {
	const n = 32
	outcomes := []struct {
		o     Outcome
		class error
	}{{Accept{}, nil}, {DeadToken{}, pushwire.ErrDeadToken}, {Retryable{}, pushwire.ErrRetryable}, {Permanent{}, pushwire.ErrPermanent}}
	want := make([]error, n)
	for i := range n {
		tok := s.h.Token(100 + i)
		oc := outcomes[i%len(outcomes)]
		if !s.supports(tok, oc.o) {
			s.script(tok, Accept{})
			oc.class = nil
		}
		want[i] = oc.class
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.send(context.Background(), s.h.Token(100+i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		tok := s.h.Token(100 + i)
		if want[i] == nil {
			assert.NoError(s.t, err, "send %d", i)
			continue
		}
		s.checkClass(err, tok, want[i])
	}
}

func testCloseDuringSends(s *suite) {
	const n = 32
	for i := range n {
		s.script(s.h.Token(200+i), Accept{})
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.send(context.Background(), s.h.Token(200+i))
		}()
	}
	close(start)
	require.NoError(s.t, s.h.Close())
	wg.Wait()
	for i, err := range errs {
		tok := s.h.Token(200 + i)
		if err == nil {
			assert.Equal(s.t, 1, s.h.Received(tok), "an accepted send reached the fake")
			continue
		}
		s.checkClosed(err, tok)
	}
	s.checkClosed(s.send(context.Background(), s.h.Token(200)), s.h.Token(200))
}
