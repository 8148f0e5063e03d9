package sealsend

import (
	"errors"
	"fmt"

	"github.com/pushwire/pushwire"
)

// ErrNoKeys is the cause of the error a strict Sender returns for a
// message without payload keys; that error also matches
// pushwire.ErrPermanent (the device must register keys first).
var ErrNoKeys = errors.New("sealsend: no payload keys for this device, and strict mode sends nothing unsealed")

// TooLargeError is returned when a sealed message exceeds its provider's
// size limit. It matches pushwire.ErrPermanent: the same message will
// never fit; send less data.
type TooLargeError struct {
	// Provider and Kind are those of the message.
	Provider pushwire.Provider
	Kind     pushwire.Kind
	// Size is the size of the sealed message as the provider client
	// encodes it (see the package documentation), Limit the provider's
	// limit; Size - Limit is by how much it is over.
	Size, Limit int
}

// Error says by how many bytes the message is over.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("sealsend: sealed %s %s message is %d bytes, %d over the limit of %d",
		e.Provider, e.Kind, e.Size, e.Size-e.Limit, e.Limit)
}

// Is reports that the error is of class pushwire.ErrPermanent.
func (e *TooLargeError) Is(target error) bool { return target == pushwire.ErrPermanent }
