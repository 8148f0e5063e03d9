package lpns_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/sendertest"
)

// deviceID returns a device id as long as lpns allows (128 characters),
// distinct for each i.
func deviceID(i int) string {
	return fmt.Sprintf("%s-%08d", strings.Repeat("d3v1c3-", 17)[:119], i)
}

// devices is a local push server with real lpns clients as devices, each
// acknowledging, ignoring or dropping what it receives.
type devices struct {
	t   *testing.T
	srv *lpns.Server
	url string

	mu       sync.Mutex
	received map[string]int
}

// newDevices starts a server whose notifications wait a minute for their
// ack: a device that does not ack hangs the send.
func newDevices(t *testing.T) *devices {
	srv, err := lpns.NewServer(context.Background(), lpns.Config{Authenticator: testAuth, AckTimeout: time.Minute})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		ts.Close()
	})
	return &devices{t: t, srv: srv, url: wsURL(ts.URL), received: map[string]int{}}
}

type deviceBehaviour int

const (
	deviceAcks deviceBehaviour = iota
	deviceIgnores
	deviceDrops
)

// connect connects device id, which then behaves as b with every
// notification.
func (d *devices) connect(id string, b deviceBehaviour) error {
	var c *lpns.Client
	ready := make(chan struct{})
	handler := func(_ context.Context, n lpns.Notification) error {
		d.mu.Lock()
		d.received[id]++
		d.mu.Unlock()
		switch b {
		case deviceIgnores:
			return errors.New("no ack")
		case deviceDrops:
			<-ready
			go c.Close() // closes the connection; Close waits for this handler
			return errors.New("no ack")
		}
		return nil
	}
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{d.url},
		Token: staticToken(testToken(id, 0)), Handler: handler, MaxBackoff: time.Second})
	close(ready)
	if err != nil {
		return err
	}
	d.t.Cleanup(func() { _ = c.Close() })
	return nil
}

func (d *devices) count(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.received[id]
}

// script makes the device id produce o, or reports that lpns cannot.
func (d *devices) script(id string, o sendertest.Outcome) error {
	switch o := o.(type) {
	case sendertest.Accept:
		return d.connect(id, deviceAcks)
	case sendertest.Hang:
		return d.connect(id, deviceIgnores)
	case sendertest.Drop:
		return d.connect(id, deviceDrops)
	case sendertest.Retryable:
		if o.RetryAfter > 0 {
			return fmt.Errorf("%w: lpns has no Retry-After", errors.ErrUnsupported)
		}
		return nil // not connected
	case sendertest.DeadToken:
		return fmt.Errorf("%w: lpns has no dead device ids (one not connected is retryable)", errors.ErrUnsupported)
	case sendertest.Permanent, sendertest.Configuration:
		return fmt.Errorf("%w: a device cannot refuse a notification (lpns refuses bad payloads before sending)", errors.ErrUnsupported)
	}
	return fmt.Errorf("%w: outcome %T", errors.ErrUnsupported, o)
}

func TestServerSenderConformance(t *testing.T) {
	sendertest.Run(t, func(t *testing.T) sendertest.Harness {
		d := newDevices(t)
		return sendertest.Harness{
			Sender:   d.srv,
			Close:    d.srv.Close,
			Shutdown: d.srv.Shutdown,
			Script:   d.script,
			Received: d.count,
			Token:    deviceID,
		}
	})
}
