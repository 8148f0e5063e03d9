package connector

import (
	"errors"
	"fmt"
)

// Limits of the fields the connector accepts.
const (
	MinTokenLen = 16
	MaxTokenLen = 4096
	MaxIDLen    = 128
	MaxTypeLen  = 32
)

// ValidateToken checks a device token: MinTokenLen to MaxTokenLen characters
// of [A-Za-z0-9_:.-], which covers FCM registration tokens and APNs device
// tokens (hex). The error never contains the token.
func ValidateToken(token string) error {
	switch {
	case len(token) < MinTokenLen:
		return fmt.Errorf("must be at least %d characters", MinTokenLen)
	case len(token) > MaxTokenLen:
		return fmt.Errorf("must be at most %d characters", MaxTokenLen)
	}
	for i := 0; i < len(token); i++ {
		if !tokenChar(token[i]) {
			return errors.New("may only contain letters, digits and _ : . -")
		}
	}
	return nil
}

func tokenChar(c byte) bool {
	return idChar(c) || c == ':'
}

func idChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

// ValidateID checks a configId, sessionId or eventId: 1 to MaxIDLen
// characters of [A-Za-z0-9_.-]. UUIDs pass.
func ValidateID(id string) error { return validateID(id) }

func validateID(id string) error {
	switch {
	case id == "":
		return errors.New("must not be empty")
	case len(id) > MaxIDLen:
		return fmt.Errorf("must be at most %d characters", MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return errors.New("may only contain letters, digits and _ . -")
		}
	}
	return nil
}

func validateType(t string) error {
	if len(t) > MaxTypeLen {
		return fmt.Errorf("must be at most %d characters", MaxTypeLen)
	}
	for i := 0; i < len(t); i++ {
		if !idChar(t[i]) {
			return errors.New("may only contain letters, digits and _ . -")
		}
	}
	return nil
}
