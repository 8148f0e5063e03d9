package sealsend_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/seal/sealsend"
)

func TestLPNSSizeIsLPNSPayload(t *testing.T) {
	for i, m := range sealsend.SizeCases("device-1") {
		p, err := lpns.MessagePayload(m)
		require.NoError(t, err)
		assert.Equal(t, len(p), sealsend.LPNSSize(&m), "case %d: %s", i, p)
	}
}
