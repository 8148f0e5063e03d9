package postgres_test

import (
	"context"
	"os"

	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/postgres"
)

func ExampleNew() {
	ctx := context.Background()
	// Several instances may start at once: the schema migration is guarded
	// by an advisory lock.
	reg, err := postgres.New(ctx, postgres.Config{
		URL:    os.Getenv("PUSHWIRE_POSTGRES_URL"),
		Schema: "pushwire",
		Config: registry.Config{MaxDevicesPerSession: 8},
	})
	if err != nil {
		return
	}
	defer reg.Close()
	_, _ = reg.Lookup(ctx, "axp-session-42")
}
