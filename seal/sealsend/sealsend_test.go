package sealsend_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/seal"
	"github.com/pushwire/pushwire/seal/sealsend"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewValidates(t *testing.T) {
	next := &recorder{}
	for _, tt := range []struct {
		name string
		cfg  sealsend.Config
		msg  string
	}{
		{"no next", sealsend.Config{Provider: pushwire.ProviderFCM}, "Next is required"},
		{"no provider", sealsend.Config{Next: next}, `unknown provider ""`},
		{"unknown provider", sealsend.Config{Next: next, Provider: "webpush"}, `unknown provider "webpush"`},
		{"negative bucket", sealsend.Config{Next: next, Provider: pushwire.ProviderAPNs, Bucket: -1}, "negative Bucket"},
		{"negative max bytes", sealsend.Config{Next: next, Provider: pushwire.ProviderLPNS, MaxBytes: -1}, "negative MaxBytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sealsend.New(tt.cfg)
			assert.Nil(t, s)
			require.ErrorIs(t, err, pushwire.ErrConfiguration)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

// The sealed message holds only the provider's fields and the three data
// members; the content opens with the device's keys.
func TestSealedShape(t *testing.T) {
	dev := newDevice(t)
	base := pushwire.Message{
		Token: "tok-123456789", Topic: "com.example.app", Title: "Alice", Body: "Are you free at 3?",
		Data:     map[string]string{"conversationId": "c-42", "sessionId": "s-1"},
		Priority: pushwire.PriorityNormal, TTL: time.Hour, CollapseKey: "chat", ID: "e-1",
		PayloadKeys: dev.wire,
	}
	type want struct {
		kind        pushwire.Kind
		title, body string
		mutable     bool
	}
	tests := []struct {
		provider pushwire.Provider
		kind     pushwire.Kind
		want     want
	}{
		{pushwire.ProviderAPNs, pushwire.KindAlert, want{kind: pushwire.KindAlert, body: "New notification", mutable: true}},
		{pushwire.ProviderAPNs, pushwire.KindVoIP, want{kind: pushwire.KindVoIP}},
		{pushwire.ProviderAPNs, pushwire.KindData, want{kind: pushwire.KindData}},
		{pushwire.ProviderFCM, pushwire.KindAlert, want{kind: pushwire.KindData}},
		{pushwire.ProviderFCM, pushwire.KindVoIP, want{kind: pushwire.KindData}},
		{pushwire.ProviderFCM, pushwire.KindData, want{kind: pushwire.KindData}},
		{pushwire.ProviderLPNS, pushwire.KindAlert, want{kind: pushwire.KindAlert}},
		{pushwire.ProviderLPNS, pushwire.KindVoIP, want{kind: pushwire.KindVoIP}},
		{pushwire.ProviderLPNS, pushwire.KindData, want{kind: pushwire.KindData}},
	}
	for _, tt := range tests {
		t.Run(string(tt.provider)+"/"+tt.kind.String(), func(t *testing.T) {
			next := &recorder{}
			s := newSender(t, sealsend.Config{Next: next, Provider: tt.provider})
			msg := base
			msg.Kind = tt.kind
			msg.MutableContent = true
			require.NoError(t, s.Send(context.Background(), msg))
			sent := next.sent()
			require.Len(t, sent, 1)
			out := sent[0]

			assert.Equal(t, tt.want.kind, out.Kind)
			assert.Equal(t, tt.want.title, out.Title)
			assert.Equal(t, tt.want.body, out.Body)
			assert.Equal(t, tt.want.mutable, out.MutableContent)
			assert.Nil(t, out.PayloadKeys)
			// What the provider needs is kept.
			assert.Equal(t, msg.Token, out.Token)
			assert.Equal(t, msg.Topic, out.Topic)
			assert.Equal(t, msg.Priority, out.Priority)
			assert.Equal(t, msg.TTL, out.TTL)
			assert.Equal(t, msg.CollapseKey, out.CollapseKey)
			assert.Equal(t, "e-1", out.ID)
			// The data map is the three members, nothing of the content.
			require.Len(t, out.Data, 3)
			assert.Equal(t, "aes128gcm", out.Data["encoding"])
			assert.Equal(t, "e-1", out.Data["trackingId"])
			// (The ciphertext is random base64url: short words can turn up
			// in it by chance, so only the other members are searched.)
			for k, v := range out.Data {
				if k == "ciphertext" {
					continue
				}
				for _, secret := range []string{"Alice", "free", "c-42", "s-1"} {
					assert.NotContains(t, v, secret)
				}
			}

			c, err := seal.OpenData(dev.keys, out.Data)
			require.NoError(t, err)
			assert.Equal(t, seal.Content{Kind: tt.kind.String(), Title: "Alice", Body: "Are you free at 3?",
				Data: msg.Data, TrackingID: "e-1"}, c)
		})
	}
}

// Without an ID the tracking id is a fresh UUID, which becomes the ID.
func TestTrackingIDGenerated(t *testing.T) {
	dev := newDevice(t)
	next := &recorder{}
	s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderAPNs})
	for range 2 {
		require.NoError(t, s.Send(context.Background(), pushwire.Message{Token: "t", PayloadKeys: dev.wire}))
	}
	sent := next.sent()
	require.Len(t, sent, 2)
	id := sent[0].Data["trackingId"]
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id)
	assert.Equal(t, id, sent[0].ID)
	assert.NotEqual(t, id, sent[1].Data["trackingId"])
	c, err := seal.OpenData(dev.keys, sent[0].Data)
	require.NoError(t, err)
	assert.Equal(t, id, c.TrackingID)
}

func TestPlaceholder(t *testing.T) {
	dev := newDevice(t)
	next := &recorder{}
	s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderAPNs, Placeholder: sealsend.Placeholder{Title: "Example", Body: "Open to read"}})
	require.NoError(t, s.Send(context.Background(), pushwire.Message{Token: "t", Kind: pushwire.KindAlert, Title: "secret", PayloadKeys: dev.wire}))
	out := next.sent()[0]
	assert.Equal(t, "Example", out.Title)
	assert.Equal(t, "Open to read", out.Body)
	assert.True(t, out.MutableContent)
}

func TestNoKeys(t *testing.T) {
	msg := pushwire.Message{Token: "tok-123456789", Kind: pushwire.KindAlert, Title: "hi", Data: map[string]string{"a": "b"}}

	t.Run("sent unsealed", func(t *testing.T) {
		next := &recorder{}
		s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderFCM})
		require.NoError(t, s.Send(context.Background(), msg))
		assert.Equal(t, []pushwire.Message{msg}, next.sent())
	})
	t.Run("strict refuses", func(t *testing.T) {
		next := &recorder{}
		s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderFCM, Strict: true})
		err := s.Send(context.Background(), msg)
		require.ErrorIs(t, err, sealsend.ErrNoKeys)
		assert.ErrorIs(t, err, pushwire.ErrPermanent)
		assert.NotErrorIs(t, err, pushwire.ErrRetryable)
		assert.NotErrorIs(t, err, pushwire.ErrDeadToken)
		assert.Contains(t, err.Error(), "strict mode sends nothing unsealed")
		assert.Empty(t, next.sent())
	})
}

// A strict Sender passes a message sealed before it (by another Sender
// nearer the application) and nothing that only looks sealed.
func TestStrictPassesSealed(t *testing.T) {
	dev := newDevice(t)
	first := &recorder{}
	upstream := newSender(t, sealsend.Config{Next: first, Provider: pushwire.ProviderAPNs})
	require.NoError(t, upstream.Send(context.Background(), pushwire.Message{Token: "t", Kind: pushwire.KindAlert, Title: "x", PayloadKeys: dev.wire}))
	sealed := first.sent()[0]

	next := &recorder{}
	s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderAPNs, Strict: true})
	require.NoError(t, s.Send(context.Background(), sealed))
	assert.Equal(t, []pushwire.Message{sealed}, next.sent())

	withData := sealed
	withData.Data = map[string]string{"sessionId": "s-1"}
	for k, v := range sealed.Data {
		withData.Data[k] = v
	}
	withText := sealed
	withText.Body = "the content in clear"
	otherKind := sealed
	otherKind.Kind = pushwire.KindVoIP
	plain := sealed
	plain.Data = map[string]string{"encoding": "aes128gcm"}
	for name, m := range map[string]pushwire.Message{"extra data": withData, "visible text": withText, "voip with text": otherKind, "no ciphertext": plain} {
		err := s.Send(context.Background(), m)
		assert.ErrorIs(t, err, sealsend.ErrNoKeys, name)
	}
	assert.Len(t, next.sent(), 1)
}

func TestInvalidKeys(t *testing.T) {
	dev := newDevice(t)
	for _, tt := range []struct {
		name string
		keys pushwire.PayloadKeys
		msg  string
	}{
		{"empty", pushwire.PayloadKeys{}, "p256dh is empty"},
		{"short auth", pushwire.PayloadKeys{P256DH: dev.wire.P256DH, Auth: "AAAA"}, "auth is 3 bytes"},
		{"off the curve", pushwire.PayloadKeys{P256DH: "B" + strings.Repeat("A", 86), Auth: dev.wire.Auth}, "not a point on P-256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next := &recorder{}
			s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderAPNs})
			err := s.Send(context.Background(), pushwire.Message{Token: "t", Body: "secret", PayloadKeys: &tt.keys})
			require.ErrorIs(t, err, seal.ErrInvalidKey)
			assert.ErrorIs(t, err, pushwire.ErrPermanent)
			assert.NotErrorIs(t, err, pushwire.ErrRetryable)
			assert.Contains(t, err.Error(), tt.msg)
			if tt.keys.Auth != "" {
				assert.NotContains(t, err.Error(), tt.keys.Auth)
			}
			assert.Empty(t, next.sent(), "never sent unsealed")
		})
	}
}

// Errors of the wrapped sender come back as they are.
func TestNextErrorsPassThrough(t *testing.T) {
	dev := newDevice(t)
	for _, class := range []error{pushwire.ErrDeadToken, pushwire.ErrRetryable, pushwire.ErrPermanent, pushwire.ErrConfiguration} {
		want := &pushwire.Error{Class: class, Provider: pushwire.ProviderAPNs, Reason: "Scripted", Retry: time.Second}
		next := &recorder{err: want}
		s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderAPNs})
		for _, keys := range []*pushwire.PayloadKeys{dev.wire, nil} {
			err := s.Send(context.Background(), pushwire.Message{Token: "t", PayloadKeys: keys})
			assert.Same(t, want, err)
		}
	}
}

func TestEndedContext(t *testing.T) {
	dev := newDevice(t)
	next := &recorder{}
	s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderFCM})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, pushwire.Message{Token: "t", PayloadKeys: dev.wire})
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, pushwire.ErrRetryable)
	assert.NotErrorIs(t, err, pushwire.ErrUnknownOutcome)
	assert.Empty(t, next.sent())
}

// Each content length falls in a padding bucket: the ciphertext length
// changes only when the content crosses a bucket boundary.
func TestPaddingBuckets(t *testing.T) {
	dev := newDevice(t)
	next := &recorder{}
	s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderFCM, Bucket: 256})
	lengths := map[int]bool{}
	for n := 0; n < 600; n += 7 {
		require.NoError(t, s.Send(context.Background(), pushwire.Message{Token: "t", ID: "id",
			Data: map[string]string{"k": strings.Repeat("x", n)}, PayloadKeys: dev.wire}))
	}
	for _, m := range next.sent() {
		body, err := base64.RawURLEncoding.DecodeString(m.Data["ciphertext"])
		require.NoError(t, err)
		assert.Zero(t, (len(body)-seal.HeaderSize-seal.TagSize)%256, "record padded to the bucket")
		lengths[len(body)] = true
	}
	assert.Len(t, lengths, 3, "600 bytes of content and its JSON fall in three buckets of 256")
}

// sealedSizes returns three messages built on msg whose content differs
// by one byte each: under and at fit the limit, over (at plus one byte)
// does not.
func sealedSizes(t *testing.T, s *sealsend.Sender, msg pushwire.Message) (under, at, over pushwire.Message) {
	t.Helper()
	with := func(n int) pushwire.Message {
		m := msg
		m.Data = map[string]string{"v": strings.Repeat("x", n)}
		return m
	}
	fits := func(n int) bool {
		_, err := s.Seal(with(n))
		if err != nil {
			var tl *sealsend.TooLargeError
			require.ErrorAs(t, err, &tl)
		}
		return err == nil
	}
	lo, hi := 0, 8192 // fits(lo), !fits(hi)
	require.True(t, fits(lo))
	require.False(t, fits(hi))
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return with(lo - 1), with(lo), with(hi)
}

func TestSizeLimits(t *testing.T) {
	dev := newDevice(t)
	for _, tt := range []struct {
		provider pushwire.Provider
		kind     pushwire.Kind
		max      int
		limit    int
	}{
		{pushwire.ProviderFCM, pushwire.KindData, 0, sealsend.MaxFCMBytes},
		{pushwire.ProviderFCM, pushwire.KindAlert, 0, sealsend.MaxFCMBytes},
		{pushwire.ProviderAPNs, pushwire.KindAlert, 0, sealsend.MaxAPNsBytes},
		{pushwire.ProviderAPNs, pushwire.KindData, 0, sealsend.MaxAPNsBytes},
		{pushwire.ProviderAPNs, pushwire.KindVoIP, 0, sealsend.MaxAPNsVoIPBytes},
		{pushwire.ProviderLPNS, pushwire.KindVoIP, 0, sealsend.MaxLPNSBytes},
		{pushwire.ProviderLPNS, pushwire.KindData, 2000, 2000},
	} {
		t.Run(fmt.Sprintf("%s/%s/%d", tt.provider, tt.kind, tt.limit), func(t *testing.T) {
			next := &recorder{}
			s := newSender(t, sealsend.Config{Next: next, Provider: tt.provider, MaxBytes: tt.max, Bucket: 1})
			msg := pushwire.Message{Token: "tok-123456789", Kind: tt.kind, ID: "0b7f7a52-3f8e-4e0c-9a55-5a0c1d2b9e61", PayloadKeys: dev.wire}
			under, at, over := sealedSizes(t, s, msg)
			require.NoError(t, s.Send(context.Background(), under))
			require.NoError(t, s.Send(context.Background(), at))
			err := s.Send(context.Background(), over)
			var tl *sealsend.TooLargeError
			require.ErrorAs(t, err, &tl)
			assert.ErrorIs(t, err, pushwire.ErrPermanent)
			assert.NotErrorIs(t, err, pushwire.ErrRetryable)
			assert.Equal(t, tt.limit, tl.Limit)
			assert.Equal(t, tt.provider, tl.Provider)
			assert.Equal(t, tt.kind, tl.Kind)
			over1 := tl.Size - tl.Limit
			assert.True(t, over1 == 1 || over1 == 2, "one more byte of content is 1 or 2 more base64 characters, got %d", over1)
			assert.Contains(t, err.Error(), fmt.Sprintf("%d over the limit of %d", over1, tt.limit))
			assert.Len(t, next.sent(), 2, "the message over the limit is not sent")
		})
	}
}

// Padding stops at the limit: a message that fits unpadded is not pushed
// over by a large bucket.
func TestPaddingStopsAtLimit(t *testing.T) {
	dev := newDevice(t)
	next := &recorder{}
	s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderAPNs, Bucket: 4096})
	msg := pushwire.Message{Token: "t", Kind: pushwire.KindData, ID: "id", PayloadKeys: dev.wire, Data: map[string]string{"v": strings.Repeat("x", 2000)}}
	out, err := s.Seal(msg)
	require.NoError(t, err)
	body, err := base64.RawURLEncoding.DecodeString(out.Data["ciphertext"])
	require.NoError(t, err)
	assert.Greater(t, len(body), 2900, "padded as far as the limit allows")
	assert.Less(t, len(body), 4096)
	c, err := seal.OpenData(dev.keys, out.Data)
	require.NoError(t, err)
	assert.Equal(t, msg.Data, c.Data)
}

func TestConcurrentSends(t *testing.T) {
	dev := newDevice(t)
	next := &recorder{}
	s := newSender(t, sealsend.Config{Next: next, Provider: pushwire.ProviderFCM})
	errs := make(chan error, 32)
	for i := range 32 {
		go func() {
			errs <- s.Send(context.Background(), pushwire.Message{Token: fmt.Sprint("t", i), PayloadKeys: dev.wire, Data: map[string]string{"i": fmt.Sprint(i)}})
		}()
	}
	for range 32 {
		require.NoError(t, <-errs)
	}
	for _, m := range next.sent() {
		c, err := seal.OpenData(dev.keys, m.Data)
		require.NoError(t, err)
		assert.Equal(t, m.Token, "t"+c.Data["i"])
	}
}
