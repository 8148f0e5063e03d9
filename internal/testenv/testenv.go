// Package testenv gives the project's tests the addresses of the real servers
// that scripts/services.sh starts (Redis, PostgreSQL).
package testenv

import (
	"os"
	"testing"
)

// Variables naming the servers' URLs.
const (
	RedisURL    = "PUSHWIRE_REDIS_URL"
	PostgresURL = "PUSHWIRE_POSTGRES_URL"
)

// URL returns the environment variable name. When it is unset the test is
// skipped on a developer machine and fails when CI is set, so a missing
// server can never pass for green.
func URL(tb testing.TB, name string) string {
	tb.Helper()
	u := os.Getenv(name)
	if u == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not set but CI is: these tests must run against the real server", name)
		}
		tb.Skipf("%s is not set; skipping (see scripts/services.sh)", name)
	}
	return u
}
