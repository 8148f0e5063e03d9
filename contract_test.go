package pushwire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pushwire/pushwire"
)

func classesOf(err error) []error {
	var out []error
	for _, c := range []error{pushwire.ErrDeadToken, pushwire.ErrRetryable, pushwire.ErrPermanent} {
		if errors.Is(err, c) {
			out = append(out, c)
		}
	}
	return out
}

func TestErrClosedIsRetryableOnly(t *testing.T) {
	wrapped := fmt.Errorf("fcm: send: %w", pushwire.ErrClosed)
	assert.ErrorIs(t, wrapped, pushwire.ErrClosed)
	assert.Equal(t, []error{pushwire.ErrRetryable}, classesOf(wrapped))
	assert.NotErrorIs(t, wrapped, pushwire.ErrUnknownOutcome)
	reclassified := &pushwire.Error{Class: pushwire.ErrRetryable, Err: pushwire.ErrClosed}
	assert.ErrorIs(t, reclassified, pushwire.ErrClosed)
	assert.Equal(t, []error{pushwire.ErrRetryable}, classesOf(reclassified))
}

func TestContextError(t *testing.T) {
	assert.NoError(t, pushwire.ContextError(pushwire.ProviderFCM, nil, true))
	for _, cause := range []error{context.Canceled, context.DeadlineExceeded} {
		for _, written := range []bool{false, true} {
			err := pushwire.ContextError(pushwire.ProviderAPNs, cause, written)
			assert.ErrorIs(t, err, cause)
			assert.Equal(t, []error{pushwire.ErrRetryable}, classesOf(err), "%v written=%v", cause, written)
			assert.Equal(t, written, errors.Is(err, pushwire.ErrUnknownOutcome), "%v written=%v", cause, written)
			assert.NotErrorIs(t, err, pushwire.ErrClosed)
			assert.Contains(t, err.Error(), "apns")
			var pe *pushwire.Error
			if assert.ErrorAs(t, err, &pe) {
				assert.Equal(t, pushwire.ProviderAPNs, pe.Provider)
			}
		}
	}
	assert.Contains(t, pushwire.ContextError("", context.DeadlineExceeded, false).Error(), "deadline exceeded")
	assert.Contains(t, pushwire.ContextError("", context.Canceled, false).Error(), "canceled")
}

func TestUnknownOutcomeKeepsClass(t *testing.T) {
	assert.NoError(t, pushwire.UnknownOutcome(nil))
	base := &pushwire.Error{Class: pushwire.ErrRetryable, Err: io.ErrUnexpectedEOF}
	err := pushwire.UnknownOutcome(base)
	assert.ErrorIs(t, err, pushwire.ErrUnknownOutcome)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, []error{pushwire.ErrRetryable}, classesOf(err))
	assert.Equal(t, "outcome unknown: "+base.Error(), err.Error())
	// The sentinel itself belongs to the retryable class.
	assert.Equal(t, []error{pushwire.ErrRetryable}, classesOf(pushwire.ErrUnknownOutcome))
	// The mark gives a plain error its class, and hides any other class.
	assert.Equal(t, []error{pushwire.ErrRetryable}, classesOf(pushwire.UnknownOutcome(io.EOF)))
	perm := pushwire.UnknownOutcome(&pushwire.Error{Class: pushwire.ErrPermanent, Err: io.EOF})
	assert.Equal(t, []error{pushwire.ErrRetryable}, classesOf(perm))
	assert.ErrorIs(t, perm, io.EOF)
}
