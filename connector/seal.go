package connector

import (
	"fmt"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// checkSeal validates cfg.Seal and fills in the connector's default
// placeholder: the text of its own unsealed iOS alerts.
func checkSeal(cfg *Config) error {
	switch cfg.Seal.Mode {
	case dispatch.SealWithKeys, dispatch.SealStrict, dispatch.SealOff:
	default:
		return fmt.Errorf("connector: %w: unknown seal mode %d", pushwire.ErrConfiguration, int(cfg.Seal.Mode))
	}
	if cfg.Seal.Bucket < 0 {
		return fmt.Errorf("connector: %w: negative Seal.Bucket", pushwire.ErrConfiguration)
	}
	if cfg.Seal.Placeholder == (sealsend.Placeholder{}) {
		cfg.Seal.Placeholder = sealsend.Placeholder{Title: DefaultAlertTitle, Body: DefaultAlertBody}
	}
	return nil
}
