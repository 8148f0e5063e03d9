package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
)

// APNs environments of an [APNsCredential].
const (
	APNsProduction = "production"
	APNsSandbox    = "sandbox"
)

// APNsCredential is a push configuration's own APNs provider-token
// credential: the tenant's .p8 key, its key id and team id, the app's topic
// and the APNs environment.
type APNsCredential struct {
	// Key is the .p8 file (PEM PKCS#8 P-256 key). Secret: sealed at rest,
	// never shown in an answer.
	Key []byte `json:"key"`
	// KeyID is the 10-character key id.
	KeyID string `json:"keyId"`
	// TeamID is the 10-character team id.
	TeamID string `json:"teamId"`
	// Topic is the app's bundle id, used for messages without a topic.
	Topic string `json:"topic"`
	// Environment is APNsProduction or APNsSandbox.
	Environment string `json:"environment"`
}

// Validate checks the credential: the key parses as a .p8 key, the ids have
// 10 characters, the topic is set, the environment is known. Errors never
// include key material.
func (a APNsCredential) Validate() error {
	if _, err := apns.ParseP8(a.Key); err != nil {
		return errors.New("apns.key: not a .p8 key (PEM PKCS#8 P-256 private key)")
	}
	if len(a.KeyID) != 10 || !isAlnum(a.KeyID) {
		return errors.New("apns.keyId: must be 10 letters or digits")
	}
	if len(a.TeamID) != 10 || !isAlnum(a.TeamID) {
		return errors.New("apns.teamId: must be 10 letters or digits")
	}
	if a.Topic == "" || len(a.Topic) > 255 || validateID(a.Topic) != nil {
		return errors.New("apns.topic: required, a bundle id such as com.example.app")
	}
	if a.Environment != APNsProduction && a.Environment != APNsSandbox {
		return errors.New(`apns.environment: must be "production" or "sandbox"`)
	}
	return nil
}

func isAlnum(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z') {
			return false
		}
	}
	return true
}

// apnsBody is the "apns" member of the /configs bodies. The key is
// write-only: answers carry "[redacted]".
type apnsBody struct {
	Key         string `json:"key,omitempty"`
	KeyID       string `json:"keyId,omitempty"`
	TeamID      string `json:"teamId,omitempty"`
	Topic       string `json:"topic,omitempty"`
	Environment string `json:"environment,omitempty"`
}

// credential returns the credential of b, validated; an empty environment
// means production.
func (b *apnsBody) credential() (*APNsCredential, error) {
	a := &APNsCredential{Key: []byte(b.Key), KeyID: b.KeyID, TeamID: b.TeamID, Topic: b.Topic, Environment: b.Environment}
	if a.Environment == "" {
		a.Environment = APNsProduction
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// apnsView returns the view of a in answers: everything but the key,
// which is "[redacted]". Nil yields nil.
func apnsView(a *APNsCredential) *apnsBody {
	if a == nil {
		return nil
	}
	return &apnsBody{Key: redacted, KeyID: a.KeyID, TeamID: a.TeamID, Topic: a.Topic, Environment: a.Environment}
}

// defaultAPNsSender builds an apns.Client for a configuration's credential.
func defaultAPNsSender(cfg Config) func(ctx context.Context, a APNsCredential) (pushwire.Sender, error) {
	return func(_ context.Context, a APNsCredential) (pushwire.Sender, error) {
		key, err := apns.ParseP8(a.Key)
		if err != nil {
			return nil, err
		}
		host := apns.ProductionURL
		if a.Environment == APNsSandbox {
			host = apns.SandboxURL
		}
		return apns.New(apns.Config{BaseURL: host, Token: &apns.TokenAuth{Key: key, KeyID: a.KeyID, TeamID: a.TeamID},
			Topic: a.Topic, Logger: cfg.Logger, Retry: apns.RetryPolicy{MaxAttempts: 1}})
	}
}

// apnsSender returns the APNs sender of configuration pc (which has an APNs
// credential), built on first use and rebuilt when the credential changes;
// see fcmSender for release.
func (c *Connector) apnsSender(ctx context.Context, pc PushConfig) (s pushwire.Sender, release func(), err error) {
	cred, err := json.Marshal(pc.APNs)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sendersClosed {
		return nil, nil, errSendersClosed
	}
	e, ok := c.apnsSenders[pc.ID]
	if !ok || !(bytes.Equal(e.credentials, cred) || e.updatedAt.After(pc.UpdatedAt)) {
		s, err := c.cfg.NewAPNsSender(ctx, *pc.APNs)
		if err != nil {
			err = &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: pushwire.ProviderAPNs,
				Reason: "BadCredentials", Err: err}
		}
		if ok {
			c.retireLocked(e)
		}
		e = &senderEntry{credentials: cred, updatedAt: pc.UpdatedAt, sender: s, err: err}
		if err == nil {
			// Messages without a topic get the configuration's.
			e.send = topicSender{s, pc.APNs.Topic}
		}
		c.apnsSenders[pc.ID] = e
	}
	if e.err != nil {
		return nil, nil, e.err
	}
	e.users++
	return e.send, func() { c.releaseSender(e) }, nil
}

// checkAPNsCredential builds the sender of pc's APNs credential once, so a
// credential the APNs client refuses is refused when it is stored.
func (c *Connector) checkAPNsCredential(ctx context.Context, pc PushConfig) error {
	if pc.APNs == nil {
		return nil
	}
	_, release, err := c.apnsSender(ctx, pc)
	if err != nil {
		return fmt.Errorf("apns: %w", err)
	}
	release()
	return nil
}
