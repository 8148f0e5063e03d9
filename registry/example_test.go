package registry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
)

func ExampleNewMemory() {
	ctx := context.Background()
	reg, err := registry.NewMemory(registry.Config{MaxDevicesPerSession: 4, TTL: 7 * 24 * time.Hour})
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	// The app registers its token under the AXP session id.
	_, err = reg.Register(ctx, registry.Device{
		Session:     "axp-session-42",
		Provider:    pushwire.ProviderAPNs,
		AppID:       "com.example.app",
		Environment: registry.EnvironmentProduction,
		Token:       "a1b2c3d4e5f6",
	})
	if err != nil {
		panic(err)
	}

	// A webhook for the session arrives: push to every live device.
	devices, err := reg.Lookup(ctx, "axp-session-42")
	if err != nil {
		panic(err)
	}
	for _, d := range devices {
		fmt.Println(d.Provider, d.AppID, d.Token)
	}
	// Output: apns com.example.app a1b2c3d4e5f6
}

func ExampleRegistry_Invalidate() {
	ctx := context.Background()
	reg, _ := registry.NewMemory(registry.Config{})
	defer reg.Close()
	d, _ := reg.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: "0123abcd"})

	// APNs answered 410 with a timestamp older than the registration: the
	// app registered the token again since, so it stays.
	removed, _ := reg.Invalidate(ctx, d.Key(), d.UpdatedAt.Add(-time.Hour))
	fmt.Println("removed:", removed)

	// A report newer than the registration removes it.
	removed, _ = reg.Invalidate(ctx, d.Key(), d.UpdatedAt.Add(time.Second))
	fmt.Println("removed:", removed)
	// Output:
	// removed: false
	// removed: true
}

func ExampleValidateDevice() {
	err := registry.ValidateDevice(registry.Device{Session: "s", Provider: "mpns", Token: "x"})
	fmt.Println(errors.Is(err, registry.ErrInvalid), errors.Is(err, registry.ErrUnknownProvider))
	fmt.Println(err)
	// Output:
	// true true
	// registry: invalid binding: unknown provider: provider "mpns"
}
