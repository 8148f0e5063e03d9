// Package apnsopt turns the -apns-* flags that the example programs share
// (-apns-key, -apns-key-id, -apns-team-id, -apns-topic, -apns-base-url, -apns-ca)
// into an apns.Config.
package apnsopt

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"

	"github.com/pushwire/pushwire/apns"
)

// Options holds the flags' values, with the key and CA files already read.
type Options struct {
	// Key is the contents of the -apns-key file (.p8, PKCS#8 PEM).
	Key []byte
	// KeyID, TeamID, Topic and BaseURL are -apns-key-id, -apns-team-id,
	// -apns-topic and -apns-base-url.
	KeyID, TeamID, Topic, BaseURL string
	// CA is the contents of the -apns-ca file (PEM), or empty.
	CA []byte
}

// Config validates o and returns the apns.Config it describes. CA, when set,
// is trusted in addition to the system roots. Errors name the flag at fault.
func (o Options) Config(log *slog.Logger) (apns.Config, error) {
	if o.KeyID == "" || o.TeamID == "" || o.Topic == "" {
		return apns.Config{}, errors.New("-apns-key needs -apns-key-id, -apns-team-id and -apns-topic")
	}
	key, err := apns.ParseP8(o.Key)
	if err != nil {
		return apns.Config{}, fmt.Errorf("-apns-key: %w", err)
	}
	cfg := apns.Config{
		BaseURL: o.BaseURL,
		Token:   &apns.TokenAuth{Key: key, KeyID: o.KeyID, TeamID: o.TeamID},
		Topic:   o.Topic,
		Logger:  log,
	}
	if len(o.CA) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(o.CA) {
			return apns.Config{}, errors.New("-apns-ca: no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
