// Package pushwire holds the small vocabulary that every pushwire provider
// client shares: a provider-neutral [Message], the [Sender] interface that the
// fcm, apns and lpns clients implement, and the classification of delivery
// errors ([ErrDeadToken], [ErrRetryable], [ErrPermanent], [ErrConfiguration]).
//
// The package has no dependencies beyond the standard library. Provider
// packages (fcm, apns, lpns), the device registry and the AXP connector live in
// sub-packages; import only the ones you need.
package pushwire

import (
	"context"
	"time"
)

// Provider names a push transport. It is the value stored in device
// registrations and used in logs and metrics.
type Provider string

// The providers pushwire speaks.
const (
	// ProviderFCM is Firebase Cloud Messaging (HTTP v1 API).
	ProviderFCM Provider = "fcm"
	// ProviderAPNs is the Apple Push Notification service (HTTP/2).
	ProviderAPNs Provider = "apns"
	// ProviderLPNS is the local push notification service (WebSocket).
	ProviderLPNS Provider = "lpns"
)

// Valid reports whether p is one of the providers pushwire knows.
func (p Provider) Valid() bool {
	switch p {
	case ProviderFCM, ProviderAPNs, ProviderLPNS:
		return true
	}
	return false
}

// Kind says how a device should treat a [Message].
type Kind int

// Message kinds.
const (
	// KindData is a silent, data-only message handed to the app (the zero value).
	// AXP connectors send this: the app fetches the content itself.
	KindData Kind = iota
	// KindAlert is a visible notification with a title and body.
	KindAlert
	// KindVoIP is an incoming-call notification (an APNs voip push, a local
	// push over LPNS).
	KindVoIP
)

// String returns the lower-case name of k ("data", "alert", "voip").
func (k Kind) String() string {
	switch k {
	case KindData:
		return "data"
	case KindAlert:
		return "alert"
	case KindVoIP:
		return "voip"
	}
	return "unknown"
}

// Priority is a provider-neutral delivery priority.
type Priority int

// Priorities. The zero value lets each provider choose its default for the
// message kind.
const (
	// PriorityDefault lets the provider pick (high for alerts and VoIP).
	PriorityDefault Priority = iota
	// PriorityHigh asks for immediate delivery, waking the device.
	PriorityHigh
	// PriorityNormal allows the provider to delay delivery to save power.
	PriorityNormal
)

// Message is a provider-neutral notification to one device. Provider clients
// translate it to their own wire format; use a provider's own message type when
// you need a field this one lacks.
type Message struct {
	// Token addresses the device: an FCM registration token, an APNs device
	// token (hex) or an LPNS device id. Required.
	Token string
	// Kind selects a data-only, alert or VoIP message.
	Kind Kind
	// Topic is the app the message is for where the provider needs it (the
	// APNs topic, usually the bundle id). Empty means the client's default.
	Topic string
	// Title and Body are the visible text of a KindAlert message.
	Title, Body string
	// MutableContent lets an iOS notification service extension rewrite an
	// alert before it is shown (aps mutable-content: 1).
	MutableContent bool
	// Data carries string key/value pairs delivered to the app.
	Data map[string]string
	// Priority is the delivery priority; the zero value is the provider default.
	Priority Priority
	// TTL is how long the provider may hold an undeliverable message. Zero
	// means the provider's default; use Expire to ask for one delivery attempt only.
	TTL time.Duration
	// Expire, when true, asks the provider to try delivery once and then drop
	// the message (APNs apns-expiration: 0, FCM ttl 0s). It overrides TTL.
	Expire bool
	// CollapseKey lets a newer message replace an undelivered older one.
	CollapseKey string
	// ID is an optional unique id for the notification (used as apns-id on
	// APNs and as the notification id on LPNS). Empty means one is generated.
	ID string
	// PayloadKeys are the device's keys for end-to-end payload encryption
	// (RFC 8291), as the app registered them; nil means it registered none.
	// Provider clients ignore this field: a sealing sender (package
	// seal/sealsend) reads it, encrypts the message content with it and
	// passes on a message without it.
	PayloadKeys *PayloadKeys
}

// PayloadKeys is the public half of a device's payload-encryption keys, in
// the form a Web Push subscription gives them (PushSubscription.toJSON's
// "keys"): P256DH is the device's P-256 public key as an uncompressed point
// (65 bytes, starting 0x04) and Auth its 16-byte authentication secret, both
// base64url without padding. The app makes them at sign-in and may replace
// them at any time; the server never sees the private key.
//
// The strings are carried as registered; package seal (seal.ParseKeys)
// decodes and checks them. PayloadKeys is a plain value: its String method
// leaves the secret out, so logging it does not disclose it.
type PayloadKeys struct {
	P256DH string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// String returns the keys for logs: the public key shortened by [Redact] and
// the authentication secret withheld.
func (k PayloadKeys) String() string {
	auth := "none"
	if k.Auth != "" {
		auth = "withheld"
	}
	return "p256dh=" + Redact(k.P256DH) + " auth=" + auth
}

// GoString is String for the %#v verb, which would otherwise print the
// secret.
func (k PayloadKeys) GoString() string { return "pushwire.PayloadKeys{" + k.String() + "}" }

// Sender delivers a message to one device. fcm.Client, apns.Client and the
// lpns server implement it. Implementations are safe for concurrent use.
//
// Send returns nil once the provider accepted the message. Every error it
// returns matches exactly one of [ErrDeadToken], [ErrRetryable] and
// [ErrPermanent] with errors.Is ([ErrConfiguration] also matches
// ErrPermanent), and can be inspected with [RetryAfter] and [DeadSince]. A
// context that ends during Send gives the error of [ContextError] (retryable,
// still matching the context's own error, and [ErrUnknownOutcome] when the
// request had been written); Send after Close returns an error matching
// [ErrClosed]. Package sendertest checks these promises for any Sender.
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// SenderFunc adapts a function to the [Sender] interface.
type SenderFunc func(ctx context.Context, msg Message) error

// Send calls f(ctx, msg).
func (f SenderFunc) Send(ctx context.Context, msg Message) error { return f(ctx, msg) }
