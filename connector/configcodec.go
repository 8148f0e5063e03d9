package connector

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// storedConfig is the encoding of a PushConfig for stores (version 1).
type storedConfig struct {
	V         int             `json:"v"`
	ID        string          `json:"id"`
	FCM       json.RawMessage `json:"fcm,omitempty"`
	Secrets   [][]byte        `json:"secrets,omitempty"`
	APNs      *APNsCredential `json:"apns,omitempty"`
	Sealed    []byte          `json:"sealed,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// MarshalBinary encodes pc for a [ConfigStore] that keeps configurations as
// bytes: every field, times to the nanosecond. The encoding is versioned;
// [PushConfig.UnmarshalBinary] reads it back. It holds the secret material as
// it is in pc: in clear unless the connector sealed it (see
// [PushConfig.Sealed]).
func (pc PushConfig) MarshalBinary() ([]byte, error) {
	return json.Marshal(storedConfig{V: 1, ID: pc.ID, FCM: pc.FCMServiceAccount, Secrets: pc.Secrets,
		APNs: pc.APNs, Sealed: pc.Sealed, CreatedAt: pc.CreatedAt, UpdatedAt: pc.UpdatedAt})
}

// UnmarshalBinary decodes what [PushConfig.MarshalBinary] encoded.
func (pc *PushConfig) UnmarshalBinary(data []byte) error {
	var s storedConfig
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("connector: stored configuration: %w", err)
	}
	if s.V != 1 {
		return errors.New("connector: stored configuration: unknown encoding version")
	}
	*pc = PushConfig{ID: s.ID, FCMServiceAccount: s.FCM, Secrets: s.Secrets, APNs: s.APNs, Sealed: s.Sealed,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	return nil
}
