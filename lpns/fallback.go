package lpns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pushwire/pushwire"
)

// messagePayload is the JSON form of a pushwire.Message sent as the payload
// of a notification frame (see PROTOCOL.md).
type messagePayload struct {
	Kind           string            `json:"kind"`
	Topic          string            `json:"topic,omitempty"`
	Title          string            `json:"title,omitempty"`
	Body           string            `json:"body,omitempty"`
	MutableContent bool              `json:"mutableContent,omitempty"`
	Data           map[string]string `json:"data,omitempty"`
	CollapseKey    string            `json:"collapseKey,omitempty"`
}

// MessagePayload returns the notification payload Server.Send uses for msg:
// {"kind", "topic", "title", "body", "mutableContent", "data", "collapseKey"}
// with empty fields omitted.
func MessagePayload(msg pushwire.Message) ([]byte, error) {
	b, err := json.Marshal(messagePayload{Kind: msg.Kind.String(), Topic: msg.Topic, Title: msg.Title,
		Body: msg.Body, MutableContent: msg.MutableContent, Data: msg.Data, CollapseKey: msg.CollapseKey})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	return b, nil
}

// Path says which route delivered a notification (a plain string value).
type Path string

// Delivery paths reported by Fallback.Deliver.
const (
	PathNone   Path = ""       // not delivered
	PathLocal  Path = "local"  // acknowledged over the local connection
	PathRemote Path = "remote" // accepted by the remote sender (APNs)
)

// Fallback is a pushwire.Sender that delivers locally first and falls back to
// a remote sender, normally an APNs client sending VoIP pushes, when the
// local attempt fails with ErrNotConnected or ErrNotAcknowledged.
//
// A notification acknowledged locally within the ack timeout is never sent
// remotely. An ack that arrives after the timeout is too late: the remote
// attempt has already been made, so the device may receive the notification
// twice. Both carry the same id (msg.ID, generated when empty; apns-id on
// APNs), which the device uses to discard the duplicate. Server hooks report
// such acks (Hooks.OnLateAck).
//
// The zero value is not usable: set Local and Remote. A Fallback is safe for
// concurrent use if its senders and callbacks are.
type Fallback struct {
	// Local is the local push server (or any sender returning the lpns errors).
	Local pushwire.Sender
	// Remote is the fallback sender; messages reach it with Kind KindVoIP.
	Remote pushwire.Sender
	// RemoteToken maps a device id to the remote sender's token (the APNs
	// VoIP device token). Nil means the same token is used.
	RemoteToken func(ctx context.Context, deviceID string) (string, error)
	// OnDelivered, when set, is called after each Send with the path taken,
	// the local error (nil when local delivery succeeded or was not tried)
	// and the final error.
	OnDelivered func(msg pushwire.Message, path Path, localErr, err error)
}

// Send implements pushwire.Sender.
func (f *Fallback) Send(ctx context.Context, msg pushwire.Message) error {
	_, err := f.Deliver(ctx, msg)
	return err
}

// Deliver sends msg locally, then remotely if the device was not connected or
// did not acknowledge (or the local server is shutting down), and reports the
// path that delivered it. Other local
// errors (payload too large, invalid) and context cancellation are returned
// without a remote attempt.
func (f *Fallback) Deliver(ctx context.Context, msg pushwire.Message) (Path, error) {
	if f.Local == nil || f.Remote == nil {
		return PathNone, fmt.Errorf("%w: Fallback needs Local and Remote", ErrInvalidConfig)
	}
	if msg.ID == "" {
		msg.ID = randomID()
	}
	path, localErr, err := f.deliver(ctx, msg)
	if f.OnDelivered != nil {
		f.OnDelivered(msg, path, localErr, err)
	}
	return path, err
}

func (f *Fallback) deliver(ctx context.Context, msg pushwire.Message) (Path, error, error) {
	localErr := f.Local.Send(ctx, msg)
	if localErr == nil {
		return PathLocal, nil, nil
	}
	if ctx.Err() != nil || !(errors.Is(localErr, ErrNotConnected) || errors.Is(localErr, ErrNotAcknowledged) || errors.Is(localErr, ErrServerClosed)) {
		return PathNone, localErr, localErr
	}
	remote := msg
	remote.Kind = pushwire.KindVoIP
	if f.RemoteToken != nil {
		tok, err := f.RemoteToken(ctx, msg.Token)
		if err != nil {
			return PathNone, localErr, fmt.Errorf("lpns: fallback token lookup: %w", err)
		}
		remote.Token = tok
	}
	if err := f.Remote.Send(ctx, remote); err != nil {
		return PathNone, localErr, fmt.Errorf("lpns: local delivery failed (%v), remote: %w", localErr, err)
	}
	return PathRemote, localErr, nil
}
