package connector

import (
	"context"
	"fmt"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
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

// sealing returns s wrapped in a sealsend.Sender for provider p, as
// cfg.Seal says (s itself when sealing is off or s is nil). The wrapper owns
// s: closing it closes s.
func sealing(seal dispatch.SealConfig, p pushwire.Provider, s pushwire.Sender) (pushwire.Sender, error) {
	if s == nil || seal.Mode == dispatch.SealOff {
		return s, nil
	}
	w, err := sealsend.New(sealsend.Config{Next: s, Provider: p, Strict: seal.Mode == dispatch.SealStrict,
		Placeholder: seal.Placeholder, Bucket: seal.Bucket})
	if err != nil {
		return nil, fmt.Errorf("connector: %w", err)
	}
	return w, nil
}

// sealSenders makes every sender the connector uses seal (cfg.APNs and
// those NewFCMSender and NewAPNsSender build), and every message carry the
// payload keys of the device it goes to.
func sealSenders(cfg *Config) error {
	build := cfg.BuildMessage
	cfg.BuildMessage = func(ev hmacverify.Event, d registry.Device) pushwire.Message {
		m := build(ev, d)
		if m.PayloadKeys == nil {
			m.PayloadKeys = d.PayloadKeys
		}
		return m
	}
	if cfg.Seal.Mode == dispatch.SealOff {
		return nil
	}
	apns, err := sealing(cfg.Seal, pushwire.ProviderAPNs, cfg.APNs)
	if err != nil {
		return err
	}
	cfg.APNs = apns
	newFCM, newAPNs, sc := cfg.NewFCMSender, cfg.NewAPNsSender, cfg.Seal
	cfg.NewFCMSender = func(ctx context.Context, sa []byte) (pushwire.Sender, error) {
		s, err := newFCM(ctx, sa)
		if err != nil {
			return nil, err
		}
		return sealing(sc, pushwire.ProviderFCM, s)
	}
	cfg.NewAPNsSender = func(ctx context.Context, cred APNsCredential) (pushwire.Sender, error) {
		s, err := newAPNs(ctx, cred)
		if err != nil {
			return nil, err
		}
		return sealing(sc, pushwire.ProviderAPNs, s)
	}
	return nil
}
