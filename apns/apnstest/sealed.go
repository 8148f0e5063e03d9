package apnstest

import (
	"encoding/json"
	"fmt"

	"github.com/pushwire/pushwire/seal"
)

// sealedData returns the payload's top-level string members that a sealed
// push carries in the clear (encoding, ciphertext, trackingId).
func (n Notification) sealedData() (map[string]string, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(n.Payload, &members); err != nil {
		return nil, fmt.Errorf("%w: payload is not a json object", seal.ErrMalformed)
	}
	data := make(map[string]string, 3)
	for _, k := range []string{seal.MemberEncoding, seal.MemberCiphertext, seal.MemberTrackingID} {
		raw, ok := members[k]
		if !ok {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("%w: payload member %q is not a string", seal.ErrMalformed, k)
		}
		data[k] = v
	}
	return data, nil
}

// Sealed reports whether n carries sealed content (package seal): its
// payload has the top-level members "encoding": "aes128gcm" and a
// "ciphertext". It decrypts nothing; see [Notification.Open].
func (n Notification) Sealed() bool {
	data, err := n.sealedData()
	return err == nil && seal.IsSealed(data)
}

// Open decrypts the sealed content of n with the device's keys, as the
// app's Notification Service Extension (or PushKit delegate) does, and
// returns it. Errors match those of seal.OpenData: seal.ErrNotSealed for a
// push that is not sealed, seal.ErrDecrypt for one sealed for other keys or
// altered, seal.ErrMalformed otherwise (a payload that is not a JSON object
// included).
func (n Notification) Open(keys seal.PrivateKeys) (seal.Content, error) {
	data, err := n.sealedData()
	if err != nil {
		return seal.Content{}, err
	}
	return seal.OpenData(keys, data)
}
