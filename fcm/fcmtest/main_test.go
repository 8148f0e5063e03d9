package fcmtest_test

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"

	"github.com/pushwire/pushwire/fcm/fcmtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newServer(t testing.TB, cfg fcmtest.Config) *fcmtest.Server {
	t.Helper()
	if cfg.PrivateKey == nil {
		cfg.PrivateKey = testKey()
	}
	srv := fcmtest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}
