package fcm

import "github.com/pushwire/pushwire"

var (
	errDead  = pushwire.ErrDeadToken
	errRetry = pushwire.ErrRetryable
	errPerm  = pushwire.ErrPermanent
)
