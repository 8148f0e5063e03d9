package redis_test

import (
	"context"
	"os"

	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/redis"
)

func ExampleNew() {
	ctx := context.Background()
	reg, err := redis.New(ctx, redis.Config{
		URL:       os.Getenv("PUSHWIRE_REDIS_URL"), // redis://127.0.0.1:6379/0
		KeyPrefix: "myapp:devices:",
		Config:    registry.Config{},
	})
	if err != nil {
		return
	}
	defer reg.Close()
	_, _ = reg.Lookup(ctx, "axp-session-42")
}
