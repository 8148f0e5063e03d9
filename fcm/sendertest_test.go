package fcm_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/sendertest"
)

// fcmScript makes the fake answer o for token.
func fcmScript(srv *fcmtest.Server, token string, o sendertest.Outcome) error {
	var f fcmtest.Failure
	switch o := o.(type) {
	case sendertest.Accept:
		srv.FailToken(token, fcmtest.Failure{Delay: 0, Times: 0})
		return nil
	case sendertest.DeadToken:
		if !o.Since.IsZero() {
			return fmt.Errorf("%w: FCM's UNREGISTERED answer carries no timestamp", errors.ErrUnsupported)
		}
		f = fcmtest.Unregistered()
	case sendertest.Retryable:
		f = fcmtest.Unavailable(o.RetryAfter)
	case sendertest.Permanent:
		f = fcmtest.InvalidArgument("Invalid value at 'message.data'")
	case sendertest.Configuration:
		f = fcmtest.SenderIDMismatch()
	case sendertest.Hang:
		f = fcmtest.Hang()
	case sendertest.Drop:
		f = fcmtest.Drop()
	default:
		return fmt.Errorf("%w: outcome %T", errors.ErrUnsupported, o)
	}
	srv.FailToken(token, f)
	return nil
}

func TestSenderConformance(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", useTLS), func(t *testing.T) {
			sendertest.Run(t, func(t *testing.T) sendertest.Harness {
				srv := newServer(t, fcmtest.Config{TLS: useTLS})
				cfg := fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL,
					Retry: fcm.RetryPolicy{MaxAttempts: 1}}
				if useTLS {
					cfg.HTTPClient = srv.Client()
				}
				c, err := fcm.New(context.Background(), cfg)
				require.NoError(t, err)
				return sendertest.Harness{
					Sender:   c,
					Close:    c.Close,
					Shutdown: c.Shutdown,
					Script:   func(token string, o sendertest.Outcome) error { return fcmScript(srv, token, o) },
					Received: srv.RequestsFor,
				}
			})
		})
	}
}
