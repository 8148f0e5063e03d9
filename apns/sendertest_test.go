package apns_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/sendertest"
)

// apnsFailure is the fake's script for o.
func apnsFailure(o sendertest.Outcome) (apnstest.Failure, bool, error) {
	switch o := o.(type) {
	case sendertest.Accept:
		return apnstest.Failure{}, false, nil
	case sendertest.DeadToken:
		if o.Since.IsZero() {
			return apnstest.Failure{Reason: apns.ReasonBadDeviceToken}, true, nil
		}
		return apnstest.Failure{Reason: apns.ReasonUnregistered, Timestamp: o.Since}, true, nil
	case sendertest.Retryable:
		return apnstest.Failure{Reason: apns.ReasonServiceUnavailable, RetryAfter: o.RetryAfter}, true, nil
	case sendertest.Permanent:
		return apnstest.Failure{Reason: apns.ReasonBadExpirationDate}, true, nil
	case sendertest.Configuration:
		return apnstest.Failure{Reason: apns.ReasonTopicDisallowed}, true, nil
	case sendertest.Hang:
		return apnstest.Failure{Action: apnstest.ActionStall}, true, nil
	case sendertest.Drop:
		return apnstest.Failure{Action: apnstest.ActionDrop}, true, nil
	}
	return apnstest.Failure{}, false, fmt.Errorf("%w: outcome %T", errors.ErrUnsupported, o)
}

// apnsScript makes srv answer o for token.
func apnsScript(srv *apnstest.Server, token string, o sendertest.Outcome) error {
	f, fail, err := apnsFailure(o)
	if err != nil {
		return err
	}
	if fail { // the fake accepts pushes to a token it has no failure for
		srv.Fail(token, f)
	}
	return nil
}

func TestSenderConformance(t *testing.T) {
	sendertest.Run(t, func(t *testing.T) sendertest.Harness {
		srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) { cfg.Retry.MaxAttempts = 1 })
		return sendertest.Harness{
			Sender:   c,
			Close:    c.Close,
			Shutdown: c.Shutdown,
			Script:   func(token string, o sendertest.Outcome) error { return apnsScript(srv, token, o) },
			Received: srv.RequestsFor,
			Token:    tok,
		}
	})
}
