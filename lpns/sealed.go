package lpns

import (
	"encoding/json"
	"fmt"

	"github.com/pushwire/pushwire/seal"
)

// sealedData returns the data members of a notification payload of the
// message form ({"kind", ..., "data": {...}}); nil when it has none.
func (n Notification) sealedData() (map[string]string, error) {
	var p struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(n.Payload, &p); err != nil {
		return nil, fmt.Errorf("%w: payload is not a message object", seal.ErrMalformed)
	}
	return p.Data, nil
}

// Sealed reports whether n carries content sealed end to end (package
// seal): its payload's data says "encoding": "aes128gcm" and holds a
// ciphertext (PROTOCOL.md, "Sealed payload"). It decrypts nothing.
func (n Notification) Sealed() bool {
	data, err := n.sealedData()
	return err == nil && seal.IsSealed(data)
}

// Open decrypts the sealed content of n with the device's keys and returns
// it. Errors match those of seal.OpenData: seal.ErrNotSealed for a payload
// that is not sealed, seal.ErrDecrypt for one sealed for other keys or
// altered, seal.ErrMalformed otherwise (a payload that is not a message
// object included). A Client with ClientConfig.PayloadKeys opens every
// sealed notification itself ([Notification.Content]).
func (n Notification) Open(keys seal.PrivateKeys) (seal.Content, error) {
	data, err := n.sealedData()
	if err != nil {
		return seal.Content{}, err
	}
	return seal.OpenData(keys, data)
}
