package pushwire

import (
	"context"
	"errors"
)

// ErrClosed is returned by a sender's Send after its Close began. It matches
// [ErrRetryable] and no other class: the message was not handed to the
// provider, so another sender (or this process after a restart) can send it.
var ErrClosed error = &markError{msg: "pushwire: sender closed", class: ErrRetryable}

// ErrUnknownOutcome marks a failure after which the provider may have
// accepted the message: the request was written, and then the context ended
// or the connection broke before the answer arrived. An error that matches it
// also matches [ErrRetryable], its class; retrying it may deliver the message
// twice, so callers that must not push twice (a de-duplicating connector, a
// dispatcher reporting outcomes) treat it as neither delivered nor failed.
var ErrUnknownOutcome error = &markError{msg: "pushwire: outcome unknown", class: ErrRetryable}

// markError is a sentinel that carries a class.
type markError struct {
	msg   string
	class error
}

func (e *markError) Error() string { return e.msg }
func (e *markError) Unwrap() error { return e.class }

// UnknownOutcome wraps err so that it matches [ErrUnknownOutcome] and, as its
// class, [ErrRetryable] and no other class; everything else err matches stays
// visible to errors.Is and errors.As. It returns nil for a nil err. Senders
// call it for a failure that came after the request was written.
func UnknownOutcome(err error) error {
	if err == nil {
		return nil
	}
	return &unknownOutcome{err: err}
}

type unknownOutcome struct{ err error }

func (u *unknownOutcome) Error() string { return "outcome unknown: " + u.err.Error() }
func (u *unknownOutcome) Unwrap() error { return declassified{u.err} }
func (u *unknownOutcome) Is(target error) bool {
	return target == ErrUnknownOutcome || target == ErrRetryable
}

// ContextError classifies the end of a send's context. Every sender returns
// it (or an error wrapping it) when ctx is cancelled or its deadline passes
// during Send, so the class is the same everywhere: the result matches
// [ErrRetryable] (and no other class), errors.Is(err, context.Canceled) or
// errors.Is(err, context.DeadlineExceeded) still holds, and, when written
// reports that the request had been written to the provider, it also matches
// [ErrUnknownOutcome]. cause is normally ctx.Err(); ContextError returns nil
// when cause is nil.
func ContextError(p Provider, cause error, written bool) error {
	if cause == nil {
		return nil
	}
	reason := "canceled"
	if errors.Is(cause, context.DeadlineExceeded) {
		reason = "deadline exceeded"
	}
	var err error = &Error{Class: ErrRetryable, Provider: p, Reason: reason, Err: cause}
	if written {
		err = UnknownOutcome(err)
	}
	return err
}
