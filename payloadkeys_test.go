package pushwire_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
)

// The registration JSON of a Web Push subscription decodes into
// PayloadKeys as is.
func TestPayloadKeysJSON(t *testing.T) {
	var k pushwire.PayloadKeys
	require.NoError(t, json.Unmarshal([]byte(`{"p256dh":"BCVxsr7N","auth":"BTBZMqHH6r4Tts7J_aSIgg"}`), &k))
	assert.Equal(t, pushwire.PayloadKeys{P256DH: "BCVxsr7N", Auth: "BTBZMqHH6r4Tts7J_aSIgg"}, k)
	b, err := json.Marshal(k)
	require.NoError(t, err)
	assert.JSONEq(t, `{"p256dh":"BCVxsr7N","auth":"BTBZMqHH6r4Tts7J_aSIgg"}`, string(b))
}

// Printing keys, with any verb, never shows the authentication secret.
func TestPayloadKeysStringWithholdsAuth(t *testing.T) {
	const auth = "BTBZMqHH6r4Tts7J_aSIgg"
	k := pushwire.PayloadKeys{P256DH: "BCVxsr7N_eNgVRqvHtD0zTZsEc6", Auth: auth}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, k)
		assert.NotContains(t, out, auth, verb)
		assert.NotContains(t, out, "BCVxsr7N", verb)
		assert.Contains(t, out, "…TZsEc6", verb)
	}
	assert.Equal(t, "p256dh=…TZsEc6 auth=withheld", k.String())
	assert.Equal(t, " auth=none", pushwire.PayloadKeys{}.String()[len("p256dh="):])
}
