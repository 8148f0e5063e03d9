package pushwire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
)

func TestErrorClassification(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		err       error
		is        []error
		isNot     []error
		retry     time.Duration
		deadSince time.Time
	}{
		{
			name:      "dead token with timestamp",
			err:       &pushwire.Error{Class: pushwire.ErrDeadToken, Provider: pushwire.ProviderAPNs, Reason: "Unregistered", Since: since},
			is:        []error{pushwire.ErrDeadToken},
			isNot:     []error{pushwire.ErrRetryable, pushwire.ErrPermanent, pushwire.ErrConfiguration},
			deadSince: since,
		},
		{
			name:  "retryable with retry-after, wrapped twice",
			err:   fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", &pushwire.Error{Class: pushwire.ErrRetryable, Retry: 3 * time.Second, Err: io.ErrUnexpectedEOF})),
			is:    []error{pushwire.ErrRetryable, io.ErrUnexpectedEOF},
			isNot: []error{pushwire.ErrDeadToken, pushwire.ErrPermanent},
			retry: 3 * time.Second,
		},
		{
			name:  "configuration is also permanent",
			err:   &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: pushwire.ProviderFCM, Reason: "SENDER_ID_MISMATCH"},
			is:    []error{pushwire.ErrConfiguration, pushwire.ErrPermanent},
			isNot: []error{pushwire.ErrRetryable, pushwire.ErrDeadToken},
		},
		{
			name:  "joined errors are searched",
			err:   errors.Join(io.EOF, &pushwire.Error{Class: pushwire.ErrRetryable, Retry: time.Minute}),
			is:    []error{pushwire.ErrRetryable, io.EOF},
			retry: time.Minute,
		},
		{
			name:  "plain error has no class",
			err:   errors.New("boom"),
			isNot: []error{pushwire.ErrRetryable, pushwire.ErrPermanent, pushwire.ErrDeadToken, pushwire.ErrConfiguration},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, target := range tt.is {
				assert.ErrorIs(t, tt.err, target)
			}
			for _, target := range tt.isNot {
				assert.NotErrorIs(t, tt.err, target)
			}
			d, ok := pushwire.RetryAfter(tt.err)
			assert.Equal(t, tt.retry > 0, ok)
			assert.Equal(t, tt.retry, d)
			ds, ok := pushwire.DeadSince(tt.err)
			assert.Equal(t, !tt.deadSince.IsZero(), ok)
			assert.True(t, tt.deadSince.Equal(ds))
		})
	}
}

func TestErrorAs(t *testing.T) {
	err := fmt.Errorf("send: %w", &pushwire.Error{Class: pushwire.ErrPermanent, Provider: pushwire.ProviderFCM, Reason: "INVALID_ARGUMENT"})
	var pe *pushwire.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "INVALID_ARGUMENT", pe.Reason)
	assert.Equal(t, "send: fcm: pushwire: permanent delivery failure (INVALID_ARGUMENT)", err.Error())
}

func TestErrorStringWithoutClass(t *testing.T) {
	assert.Equal(t, "delivery failed: EOF", (&pushwire.Error{Err: io.EOF}).Error())
	assert.Empty(t, (&pushwire.Error{}).Unwrap())
}

func TestRedact(t *testing.T) {
	assert.Equal(t, "", pushwire.Redact(""))
	assert.Equal(t, "…456789", pushwire.Redact("abcdef0123456789"))
	assert.Equal(t, "…def", pushwire.Redact("abcdef"))
	assert.NotContains(t, pushwire.Redact("secret-token-value"), "secret")
	// Characters, not bytes: the result stays valid UTF-8.
	assert.Equal(t, "…éèêëēė", pushwire.Redact("tokenàáâãäåéèêëēė"))
	assert.Equal(t, "…éè", pushwire.Redact("àéè"))
	assert.True(t, utf8.ValidString(pushwire.Redact("ééééééééé")))
}

func TestProviderAndKind(t *testing.T) {
	for _, p := range []pushwire.Provider{pushwire.ProviderFCM, pushwire.ProviderAPNs, pushwire.ProviderLPNS} {
		assert.True(t, p.Valid(), p)
	}
	assert.False(t, pushwire.Provider("gcm").Valid())
	assert.False(t, pushwire.Provider("").Valid())
	assert.Equal(t, "data", pushwire.KindData.String())
	assert.Equal(t, "alert", pushwire.KindAlert.String())
	assert.Equal(t, "voip", pushwire.KindVoIP.String())
	assert.Equal(t, "unknown", pushwire.Kind(42).String())
}

func TestSenderFunc(t *testing.T) {
	var got pushwire.Message
	var s pushwire.Sender = pushwire.SenderFunc(func(_ context.Context, m pushwire.Message) error {
		got = m
		return nil
	})
	require.NoError(t, s.Send(context.Background(), pushwire.Message{Token: "t1", Kind: pushwire.KindVoIP}))
	assert.Equal(t, "t1", got.Token)
	assert.Equal(t, pushwire.KindVoIP, got.Kind)
}

func ExampleRetryAfter() {
	err := fmt.Errorf("send: %w", &pushwire.Error{Class: pushwire.ErrRetryable, Reason: "QUOTA_EXCEEDED", Retry: 90 * time.Second})
	if errors.Is(err, pushwire.ErrRetryable) {
		d, _ := pushwire.RetryAfter(err)
		fmt.Println("retry in", d)
	}
	// Output: retry in 1m30s
}

// classes lists the classes err matches.
func classes(err error) []error {
	var out []error
	for _, c := range []error{pushwire.ErrDeadToken, pushwire.ErrRetryable, pushwire.ErrPermanent} {
		if errors.Is(err, c) {
			out = append(out, c)
		}
	}
	return out
}

// A wrapper that reclassifies a classified error matches only its own class;
// the rest of the wrapped error (its types, sentinels, delays) stays visible.
func TestReclassifiedErrorMatchesOneClass(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	inner := fmt.Errorf("attempt 3: %w: %w", io.ErrUnexpectedEOF,
		&pushwire.Error{Class: pushwire.ErrRetryable, Reason: "inner", Retry: 7 * time.Second, Since: since})
	err := &pushwire.Error{Class: pushwire.ErrPermanent, Reason: "gave up", Err: inner}

	assert.Equal(t, []error{pushwire.ErrPermanent}, classes(err))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	var pe *pushwire.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "gave up", pe.Reason, "the outer error first")
	var innerPE *pushwire.Error
	require.ErrorAs(t, err.Unwrap()[1], &innerPE)
	assert.Equal(t, "inner", innerPE.Reason, "the wrapped error is still reachable")
	d, ok := pushwire.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, 7*time.Second, d)
	got, ok := pushwire.DeadSince(err)
	assert.True(t, ok)
	assert.Equal(t, since, got)
	assert.Equal(t, "pushwire: permanent delivery failure (gave up): attempt 3: unexpected EOF: pushwire: temporary delivery failure (inner)", err.Error())

	// A configuration error still matches ErrPermanent as well, and only that.
	cfg := &pushwire.Error{Class: pushwire.ErrConfiguration, Err: inner}
	assert.Equal(t, []error{pushwire.ErrPermanent}, classes(cfg))
	assert.ErrorIs(t, cfg, pushwire.ErrConfiguration)

	// Without a class of its own, the wrapped error's class shows through.
	assert.Equal(t, []error{pushwire.ErrRetryable}, classes(&pushwire.Error{Err: inner}))
}
