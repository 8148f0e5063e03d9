package fcmtest

import "github.com/pushwire/pushwire/seal"

// Sealed reports whether m carries sealed content (package seal): its data
// says "encoding": "aes128gcm" and holds a ciphertext. It decrypts nothing;
// see [Message.Open].
func (m Message) Sealed() bool { return seal.IsSealed(m.Data) }

// Open decrypts the sealed content of m with the device's keys, as the app
// does in onMessageReceived, and returns it. Errors match those of
// seal.OpenData: seal.ErrNotSealed for a message that is not sealed,
// seal.ErrDecrypt for one sealed for other keys or altered, seal.ErrMalformed
// otherwise.
func (m Message) Open(keys seal.PrivateKeys) (seal.Content, error) {
	return seal.OpenData(keys, m.Data)
}
