package apnsopt_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/examples/internal/apnsopt"
)

func TestConfig(t *testing.T) {
	fake := apnstest.NewServer(apnstest.Config{})
	defer fake.Close()
	ok := apnsopt.Options{Key: fake.AuthKeyPEM(), KeyID: fake.KeyID, TeamID: fake.TeamID,
		Topic: "com.example.app", BaseURL: fake.URL, CA: fake.CAPEM()}

	cfg, err := ok.Config(nil)
	require.NoError(t, err)
	assert.Equal(t, fake.URL, cfg.BaseURL)
	assert.Equal(t, "com.example.app", cfg.Topic)
	assert.Equal(t, fake.KeyID, cfg.Token.KeyID)
	assert.Equal(t, fake.TeamID, cfg.Token.TeamID)
	assert.NotNil(t, cfg.RootCAs)

	for name, tc := range map[string]struct {
		mutate func(*apnsopt.Options)
		want   string
	}{
		"missing ids": {func(o *apnsopt.Options) { o.TeamID = "" }, "-apns-key needs -apns-key-id, -apns-team-id and -apns-topic"},
		"bad key":     {func(o *apnsopt.Options) { o.Key = []byte("not a key") }, "-apns-key: "},
		"bad CA":      {func(o *apnsopt.Options) { o.CA = []byte("not a certificate") }, "-apns-ca: no PEM certificate found"},
	} {
		t.Run(name, func(t *testing.T) {
			o := ok
			tc.mutate(&o)
			_, err := o.Config(nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
