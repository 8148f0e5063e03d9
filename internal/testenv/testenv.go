// Package testenv holds helpers for the project's tests: the addresses of
// the real servers that scripts/services.sh starts (Redis, PostgreSQL), and a
// buffer safe for concurrent writes.
package testenv

import (
	"bytes"
	"os"
	"sync"
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

// SyncBuffer is a bytes.Buffer safe for concurrent use: a test hands it to
// code that writes from its own goroutines (a logger, a command's output)
// and reads what was written so far.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
