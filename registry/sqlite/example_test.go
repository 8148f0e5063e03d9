package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/sqlite"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "registry")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	reg, err := sqlite.New(ctx, sqlite.Config{Path: filepath.Join(dir, "registry.db")})
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	_, err = reg.Register(ctx, registry.Device{Session: "user-7", Provider: pushwire.ProviderFCM, AppID: "my-project", Token: "fcm-token"})
	if err != nil {
		panic(err)
	}
	devices, _ := reg.Lookup(ctx, "user-7")
	fmt.Println(len(devices), devices[0].Token)
	// Output: 1 fcm-token
}
