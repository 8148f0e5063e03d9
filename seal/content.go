package seal

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Encoding is the content coding of a sealed body (RFC 8188), the value of
// the [MemberEncoding] data member.
const Encoding = "aes128gcm"

// Names of the data members a sealed push carries in the clear; every other
// part of the message's content is inside the ciphertext.
const (
	// MemberEncoding holds [Encoding].
	MemberEncoding = "encoding"
	// MemberCiphertext holds the whole sealed body (header and record),
	// base64url without padding.
	MemberCiphertext = "ciphertext"
	// MemberTrackingID holds a per-message id for debugging, the same as
	// Content.TrackingID inside.
	MemberTrackingID = "trackingId"
)

// Content is what a sealed push carries inside its ciphertext, as one
// JSON object:
//
//	{"kind":"alert","title":"…","body":"…","data":{"k":"v"},"trackingId":"…"}
//
// Kind is "data", "alert" or "voip" (pushwire.Kind's names); empty members
// are left out. The app decrypts it and then shows the alert, starts the
// call or handles the data as it would have for an unsealed push.
type Content struct {
	Kind       string            `json:"kind"`
	Title      string            `json:"title,omitempty"`
	Body       string            `json:"body,omitempty"`
	Data       map[string]string `json:"data,omitempty"`
	TrackingID string            `json:"trackingId,omitempty"`
}

// SealData seals c for keys and returns the data members of the sealed
// push: [MemberEncoding], [MemberCiphertext] and, when c.TrackingID is set,
// [MemberTrackingID] with the same value. The members go where the
// message's data would have gone (FCM data, top-level APNs payload keys).
func (s Sealer) SealData(keys Keys, c Content) (map[string]string, error) {
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("seal: encoding the content: %w", err)
	}
	body, err := s.Seal(keys, plain)
	if err != nil {
		return nil, err
	}
	data := make(map[string]string, 3)
	data[MemberEncoding] = Encoding
	data[MemberCiphertext] = base64.RawURLEncoding.EncodeToString(body)
	if c.TrackingID != "" {
		data[MemberTrackingID] = c.TrackingID
	}
	return data, nil
}

// IsSealed reports whether a push's data members say it is sealed: an
// [MemberEncoding] of [Encoding] and a non-empty [MemberCiphertext]. It does
// not decrypt anything.
func IsSealed(data map[string]string) bool {
	return data[MemberEncoding] == Encoding && data[MemberCiphertext] != ""
}

// OpenData opens the data members of a sealed push with the device's
// keys. It returns [ErrNotSealed] when data has no [MemberEncoding] of
// [Encoding]; [ErrMalformed] when the ciphertext is missing or not
// base64url, the content is not a JSON object of the [Content] form (with
// a kind), or
// the tracking id in the clear differs from the one inside; and whatever
// [Open] returns otherwise.
func OpenData(keys PrivateKeys, data map[string]string) (Content, error) {
	if enc, ok := data[MemberEncoding]; !ok || enc != Encoding {
		return Content{}, ErrNotSealed
	}
	ct := data[MemberCiphertext]
	if ct == "" {
		return Content{}, fmt.Errorf("%w: no %s member", ErrMalformed, MemberCiphertext)
	}
	body, err := base64.RawURLEncoding.DecodeString(ct)
	if err != nil {
		return Content{}, fmt.Errorf("%w: %s is not base64url without padding", ErrMalformed, MemberCiphertext)
	}
	plain, err := Open(keys, body)
	if err != nil {
		return Content{}, err
	}
	var c Content
	if err := json.Unmarshal(plain, &c); err != nil || c.Kind == "" {
		return Content{}, fmt.Errorf("%w: content is not a JSON object of the documented form", ErrMalformed)
	}
	if id, ok := data[MemberTrackingID]; ok && id != c.TrackingID {
		return Content{}, fmt.Errorf("%w: tracking id in the clear differs from the sealed one", ErrMalformed)
	}
	return c, nil
}
