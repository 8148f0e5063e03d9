// Package backend holds what the registry's storage backends share.
package backend

import (
	"context"
	"errors"
	"fmt"
)

// Wrap returns err prefixed with "registry/<name>: <op>: ". When ctx is done
// and err does not already match its error (a network timeout the deadline
// caused, or a driver that does not watch the context), the context's error
// is the one wrapped, with err's text kept, so that errors.Is(err,
// context.DeadlineExceeded) holds whatever the driver returned.
func Wrap(ctx context.Context, name, op string, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("registry/%s: %s: %w (%v)", name, op, ctx.Err(), err)
	}
	return fmt.Errorf("registry/%s: %s: %w", name, op, err)
}
