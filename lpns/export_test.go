package lpns

import "github.com/pushwire/pushwire/lpns/internal/clock"

// WithClock returns cfg with c as the server's clock: its timers, and its
// Now unless cfg.Now is set.
func WithClock(cfg Config, c clock.Clock) Config {
	cfg.clock = c
	return cfg
}

// WithClientClock returns cfg with c as the client's clock.
func WithClientClock(cfg ClientConfig, c clock.Clock) ClientConfig {
	cfg.clock = c
	return cfg
}
