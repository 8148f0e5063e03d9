package backend

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/internal/store"
)

// Defaults returns c with zero fields replaced by the defaults
// registry.Config documents. Backends call it in their constructors.
func Defaults(c registry.Config) registry.Config {
	if c.MaxDevicesPerSession == 0 {
		c.MaxDevicesPerSession = registry.DefaultMaxDevicesPerSession
	}
	if c.TTL == 0 {
		c.TTL = registry.DefaultTTL
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = registry.DefaultSweepInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Now returns the current time from c.Now (time.Now when nil) in UTC,
// truncated to microseconds: the precision every backend stores.
func Now(c registry.Config) time.Time {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	return store.Truncate(now())
}

// Prepare validates d and fills in the timestamps Register stores, for a
// registration at now (already truncated): UpdatedAt and CreatedAt become now
// (backends keep an existing binding's CreatedAt) and ExpiresAt now+TTL unless
// d.ExpiresAt was given. Labels are copied; an empty map becomes nil.
// Payload keys are copied in canonical form.
// Backends call it at the start of Register; the memory backend does the
// same, and registrytest holds every backend to it.
func Prepare(c registry.Config, d registry.Device, now time.Time) (registry.Device, error) {
	if err := registry.ValidateDevice(d); err != nil {
		return registry.Device{}, err
	}
	c = Defaults(c)
	d.CreatedAt, d.UpdatedAt = now, now
	switch {
	case !d.ExpiresAt.IsZero():
		d.ExpiresAt = store.Truncate(d.ExpiresAt)
		if !d.ExpiresAt.After(now) {
			return registry.Device{}, &registry.ValidationError{Sentinel: registry.ErrBadExpiry, Detail: "expiry is not in the future"}
		}
		if d.ExpiresAt.UTC().Year() > 9999 {
			return registry.Device{}, &registry.ValidationError{Sentinel: registry.ErrBadExpiry, Detail: "expiry is after the year 9999"}
		}
	case c.TTL > 0:
		d.ExpiresAt = now.Add(c.TTL)
	}
	d.Labels = store.CloneLabels(d.Labels)
	d.PayloadKeys = store.CanonicalKeys(d.PayloadKeys)
	return d, nil
}

// NotFound is the error a backend returns when k has no live binding: it
// matches registry.ErrNotFound and names the provider and the redacted token.
func NotFound(k registry.Key) error {
	return fmt.Errorf("%w: %s token %s", registry.ErrNotFound, k.Provider, pushwire.Redact(k.Token))
}
