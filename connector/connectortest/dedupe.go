package connectortest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
)

// DeduperOpener opens a handle on one de-duplication backend. Every call
// must return a handle on the same data (another replica's view).
type DeduperOpener func(t *testing.T) connector.Deduper

// DeduperBackend describes a [connector.Deduper] implementation to
// [RunDeduper].
type DeduperBackend struct {
	// New creates a fresh, empty, isolated backend for one test and returns
	// how to open handles on it. now is the clock the backend must use when
	// it takes one (ignored when ServerClock is set). Cleanup belongs in
	// t.Cleanup.
	New func(t *testing.T, now func() time.Time) DeduperOpener
	// ServerClock says that the backend expires entries by its server's
	// clock (PostgreSQL, Redis): the expiry tests then use a short real TTL
	// and wait for it, instead of moving now.
	ServerClock bool
}

// ExpiryTimeout bounds how long the suite waits for a server-side expiry of
// ShortTTL before it fails. It is a failure bound, not a measured figure.
const ExpiryTimeout = 10 * time.Second

// ShortTTL is the TTL of the server-clock expiry tests.
const ShortTTL = 200 * time.Millisecond

// RunDeduper runs the conformance suite of a [connector.Deduper].
func RunDeduper(t *testing.T, b DeduperBackend) {
	open := func(t *testing.T) (DeduperOpener, *Clock) {
		clk := NewClock()
		return b.New(t, clk.Now), clk
	}
	one := func(t *testing.T) connector.Deduper { o, _ := open(t); return o(t) }
	t.Run("NewThenDuplicate", func(t *testing.T) { testClaimNew(t, one(t)) })
	t.Run("OutcomesRoundTrip", func(t *testing.T) { testOutcomes(t, one(t)) })
	t.Run("RecordMerges", func(t *testing.T) { testRecordMerges(t, one(t)) })
	t.Run("RecordWithoutClaim", func(t *testing.T) { testRecordWithoutClaim(t, one(t)) })
	t.Run("UnrecordedClaimStaysUnknown", func(t *testing.T) { testUnrecorded(t, one(t)) })
	t.Run("KeysIndependent", func(t *testing.T) { testKeys(t, one(t)) })
	t.Run("InvalidTTL", func(t *testing.T) { testInvalidTTL(t, one(t)) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, one(t)) })
	t.Run("ClaimRace", func(t *testing.T) {
		o, _ := open(t)
		testClaimRace(t, []connector.Deduper{o(t)})
	})
	t.Run("ClaimRaceTwoHandles", func(t *testing.T) {
		o, _ := open(t)
		testClaimRace(t, []connector.Deduper{o(t), o(t)})
	})
	t.Run("RetryRaceTwoHandles", func(t *testing.T) {
		o, _ := open(t)
		testRetryRace(t, []connector.Deduper{o(t), o(t)})
	})
	t.Run("RetryClaimRefreshes", func(t *testing.T) {
		o, clk := open(t)
		testRetryClaimRefreshes(t, o(t), clk, b.ServerClock)
	})
	t.Run("Expiry", func(t *testing.T) {
		o, clk := open(t)
		if b.ServerClock {
			testServerExpiry(t, o(t))
		} else {
			testClockExpiry(t, o(t), clk)
		}
	})
}

var dctx = context.Background()

const ttl = connector.DefaultDedupeTTL

func claim(t *testing.T, d connector.Deduper, key string) connector.Claim {
	t.Helper()
	c, err := d.Claim(dctx, key, ttl)
	require.NoError(t, err)
	return c
}

func sorted(ss []string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return out
}

func testClaimNew(t *testing.T, d connector.Deduper) {
	c := claim(t, d, "ev1/s1")
	assert.True(t, c.New)
	assert.Empty(t, c.Retry)
	assert.False(t, c.Duplicate())
	c = claim(t, d, "ev1/s1")
	assert.False(t, c.New, "the second claim")
	assert.Empty(t, c.Retry)
	assert.True(t, c.Duplicate())
	assert.Empty(t, c.Outcomes, "nothing recorded yet")
}

func testOutcomes(t *testing.T, d connector.Deduper) {
	require.True(t, claim(t, d, "ev").New)
	all := map[string]connector.DeviceOutcome{
		"a": connector.DeviceDelivered, "b": connector.DeviceDead, "c": connector.DeviceRetryable,
		"d": connector.DevicePermanent, "e": connector.DeviceUnknown, "f": connector.DeviceRetryable,
	}
	require.NoError(t, d.Record(dctx, "ev", all, ttl))
	c := claim(t, d, "ev")
	assert.False(t, c.New)
	assert.Equal(t, []string{"c", "f"}, sorted(c.Retry), "only the retryable devices are pushed again")
	assert.Equal(t, all, c.Outcomes, "the outcomes as recorded")

	c = claim(t, d, "ev")
	assert.True(t, c.Duplicate(), "the retried devices are claimed: unknown until recorded")
	assert.Equal(t, connector.DeviceUnknown, c.Outcomes["c"])
	assert.Equal(t, connector.DeviceUnknown, c.Outcomes["f"])

	require.NoError(t, d.Record(dctx, "ev", map[string]connector.DeviceOutcome{"c": connector.DeviceRetryable, "f": connector.DeviceDelivered}, ttl))
	c = claim(t, d, "ev")
	assert.Equal(t, []string{"c"}, c.Retry, "failed again: retried again")
	require.NoError(t, d.Record(dctx, "ev", map[string]connector.DeviceOutcome{"c": connector.DeviceDelivered}, ttl))
	c = claim(t, d, "ev")
	assert.True(t, c.Duplicate())
	assert.Equal(t, map[string]connector.DeviceOutcome{
		"a": connector.DeviceDelivered, "b": connector.DeviceDead, "c": connector.DeviceDelivered,
		"d": connector.DevicePermanent, "e": connector.DeviceUnknown, "f": connector.DeviceDelivered,
	}, c.Outcomes)
}

func testRecordMerges(t *testing.T, d connector.Deduper) {
	require.True(t, claim(t, d, "ev").New)
	require.NoError(t, d.Record(dctx, "ev", map[string]connector.DeviceOutcome{"a": connector.DeviceRetryable}, ttl))
	require.NoError(t, d.Record(dctx, "ev", map[string]connector.DeviceOutcome{"b": connector.DeviceRetryable}, ttl))
	require.NoError(t, d.Record(dctx, "ev", map[string]connector.DeviceOutcome{}, ttl))
	assert.Equal(t, []string{"a", "b"}, sorted(claim(t, d, "ev").Retry))
}

func testRecordWithoutClaim(t *testing.T, d connector.Deduper) {
	require.NoError(t, d.Record(dctx, "ev", map[string]connector.DeviceOutcome{"a": connector.DeviceRetryable}, ttl))
	c := claim(t, d, "ev")
	assert.False(t, c.New, "a recorded event is known")
	assert.Equal(t, []string{"a"}, c.Retry)
}

// testUnrecorded: a delivery that claimed and never recorded (its process
// died) leaves the event known and its devices unknown; nothing blocks the
// event, and nothing is pushed twice.
func testUnrecorded(t *testing.T, d connector.Deduper) {
	require.True(t, claim(t, d, "ev").New)
	for range 3 {
		c := claim(t, d, "ev")
		assert.True(t, c.Duplicate())
		assert.NotNil(t, c.Outcomes, "a known event's outcomes: empty, not nil")
		assert.Empty(t, c.Outcomes)
	}
	require.NoError(t, d.Record(dctx, "ev", map[string]connector.DeviceOutcome{"a": connector.DeviceRetryable}, ttl))
	assert.Equal(t, []string{"a"}, claim(t, d, "ev").Retry)
	// The retry's owner dies: a stays unknown.
	c := claim(t, d, "ev")
	assert.True(t, c.Duplicate())
	assert.Equal(t, connector.DeviceUnknown, c.Outcomes["a"])
}

func testKeys(t *testing.T, d connector.Deduper) {
	keys := []string{"e/s1", "e/s2", "e/s1x", "E/s1", "e-with.punct_/s"}
	for _, k := range keys {
		assert.True(t, claim(t, d, k).New, k)
	}
	for _, k := range keys {
		assert.False(t, claim(t, d, k).New, k)
	}
	require.NoError(t, d.Record(dctx, "e/s1", map[string]connector.DeviceOutcome{"a": connector.DeviceRetryable}, ttl))
	assert.Empty(t, claim(t, d, "e/s2").Retry, "outcomes belong to one event")
}

func testInvalidTTL(t *testing.T, d connector.Deduper) {
	for _, bad := range []time.Duration{0, -time.Second} {
		_, err := d.Claim(dctx, "ev", bad)
		assert.ErrorIs(t, err, pushwire.ErrConfiguration)
		err = d.Record(dctx, "ev", map[string]connector.DeviceOutcome{"a": connector.DeviceDelivered}, bad)
		assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	}
	_, err := d.Claim(dctx, "ev", time.Microsecond)
	assert.NoError(t, err, "any positive TTL")
}

// testCanceled: a call whose context has ended fails and changes nothing:
// a claim made with it did not claim.
func testCanceled(t *testing.T, d connector.Deduper) {
	ctx, cancel := context.WithCancel(dctx)
	cancel()
	_, err := d.Claim(ctx, "ev", ttl)
	assert.Error(t, err, "Claim")
	assert.Error(t, d.Record(ctx, "ev", map[string]connector.DeviceOutcome{"a": connector.DeviceDelivered}, ttl), "Record")
	c := claim(t, d, "ev")
	assert.True(t, c.New, "nothing was claimed or recorded")
	assert.Empty(t, c.Outcomes)
}

// testClaimRace: many goroutines over the handles claim the same events at
// once; each event is new to exactly one.
func testClaimRace(t *testing.T, handles []connector.Deduper) {
	const rounds, racers = 20, 8
	for round := range rounds {
		key := fmt.Sprintf("race-%d/s", round)
		var fresh atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, err := handles[i%len(handles)].Claim(dctx, key, ttl)
				if assert.NoError(t, err) && c.New {
					fresh.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		assert.EqualValues(t, 1, fresh.Load(), "round %d", round)
	}
}

// testRetryRace: racing claims of an event with retryable devices; each
// device goes to exactly one claim.
func testRetryRace(t *testing.T, handles []connector.Deduper) {
	const rounds, racers = 10, 8
	for round := range rounds {
		key := fmt.Sprintf("retry-%d/s", round)
		require.True(t, claim(t, handles[0], key).New)
		require.NoError(t, handles[1].Record(dctx, key, map[string]connector.DeviceOutcome{
			"a": connector.DeviceRetryable, "b": connector.DeviceRetryable, "c": connector.DeviceDelivered}, ttl))
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, err := handles[i%len(handles)].Claim(dctx, key, ttl)
				if assert.NoError(t, err) {
					assert.False(t, c.New)
					mu.Lock()
					for _, k := range c.Retry {
						got[k]++
					}
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		assert.Equal(t, map[string]int{"a": 1, "b": 1}, got, "round %d", round)
	}
}

// testRetryClaimRefreshes: a claim that returns devices to push again is a
// write: the entry lives its TTL from then, outliving the Record before it.
func testRetryClaimRefreshes(t *testing.T, d connector.Deduper, clk *Clock, serverClock bool) {
	short := ShortTTL
	if !serverClock {
		short = time.Minute
	}
	require.True(t, claim(t, d, "ev").New)
	require.NoError(t, d.Record(dctx, "ev", map[string]connector.DeviceOutcome{"a": connector.DeviceRetryable}, short))
	c, err := d.Claim(dctx, "ev", time.Hour)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, c.Retry)
	if serverClock {
		time.Sleep(2 * short)
	} else {
		clk.Add(2 * short)
	}
	c, err = d.Claim(dctx, "ev", time.Hour)
	require.NoError(t, err)
	assert.False(t, c.New, "the retry claim made it live an hour")
	assert.Equal(t, connector.DeviceUnknown, c.Outcomes["a"])
}

// testClockExpiry: an entry lives its TTL after its last write, to the
// microsecond, by the clock given to the backend.
func testClockExpiry(t *testing.T, d connector.Deduper, clk *Clock) {
	require.True(t, claim(t, d, "ev").New)
	clk.Add(ttl - time.Microsecond)
	assert.False(t, claim(t, d, "ev").New, "just under the TTL: still known (a duplicate claim writes nothing)")
	clk.Add(time.Microsecond)
	assert.True(t, claim(t, d, "ev").New, "at the TTL: new again")

	// Record makes it live TTL from then.
	clk.Add(time.Hour)
	require.NoError(t, d.Record(dctx, "ev", map[string]connector.DeviceOutcome{"a": connector.DeviceDelivered}, ttl))
	clk.Add(ttl - time.Microsecond)
	assert.False(t, claim(t, d, "ev").New, "TTL after the Record, less 1µs")
	clk.Add(time.Microsecond)
	c := claim(t, d, "ev")
	assert.True(t, c.New, "TTL after the Record")
	assert.Empty(t, c.Outcomes, "an expired entry's outcomes are gone")

	// A configured TTL other than the default.
	const short = 90 * time.Second
	_, err := d.Claim(dctx, "short", short)
	require.NoError(t, err)
	clk.Add(short - time.Microsecond)
	c, err = d.Claim(dctx, "short", short)
	require.NoError(t, err)
	assert.False(t, c.New)
	clk.Add(time.Microsecond)
	c, err = d.Claim(dctx, "short", short)
	require.NoError(t, err)
	assert.True(t, c.New)
}

// testServerExpiry: Record sets the entry's lifetime (here shorter than the
// claim's), and the entry expires on the server: known until then (a
// duplicate claim writes nothing), new after.
func testServerExpiry(t *testing.T, d connector.Deduper) {
	c, err := d.Claim(dctx, "ev", time.Hour)
	require.NoError(t, err)
	require.True(t, c.New)
	require.NoError(t, d.Record(dctx, "ev", map[string]connector.DeviceOutcome{"a": connector.DeviceDelivered}, ShortTTL))
	c, err = d.Claim(dctx, "long", time.Hour)
	require.NoError(t, err)
	require.True(t, c.New)
	begin := time.Now()
	for {
		c, err := d.Claim(dctx, "ev", time.Hour)
		require.NoError(t, err)
		if c.New {
			assert.Empty(t, c.Outcomes, "an expired entry's outcomes are gone")
			break
		}
		require.Equal(t, connector.DeviceDelivered, c.Outcomes["a"], "known until it expires")
		if time.Since(begin) > ExpiryTimeout {
			t.Fatal("the entry did not expire")
		}
		time.Sleep(ShortTTL / 4)
	}
	c, err = d.Claim(dctx, "long", time.Hour)
	require.NoError(t, err)
	assert.False(t, c.New, "an entry with a long TTL is still there")
}

// Clock is a manual clock for backends that take one.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 3, 18, 11, 0, 24, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
