package sealsend_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/seal"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// device is an app's key pair and the keys it registers.
type device struct {
	keys seal.PrivateKeys
	wire *pushwire.PayloadKeys
}

func newDevice(t testing.TB) device {
	t.Helper()
	k, err := seal.GenerateKeys()
	require.NoError(t, err)
	p, a := k.Public().Encode()
	return device{keys: k, wire: &pushwire.PayloadKeys{P256DH: p, Auth: a}}
}

// recorder is a Next that keeps what it is given and answers with err.
type recorder struct {
	mu     sync.Mutex
	msgs   []pushwire.Message
	err    error
	closed int
}

func (r *recorder) Send(_ context.Context, m pushwire.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return r.err
}

func (r *recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed++
	return nil
}

func (r *recorder) sent() []pushwire.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pushwire.Message(nil), r.msgs...)
}

func newSender(t testing.TB, cfg sealsend.Config) *sealsend.Sender {
	t.Helper()
	s, err := sealsend.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
