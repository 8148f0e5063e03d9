package sendertest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/sendertest"
)

func TestRun(t *testing.T) { sendertest.Run(t, newMemHarness) }

// defectEnv selects the defect TestBrokenSender runs the suite with; it is
// set only in the child processes of TestRunFindsDefects.
const defectEnv = "SENDERTEST_DEFECT"

// brokenSender breaks one promise of the sender it wraps.
type brokenSender struct {
	inner  pushwire.Sender
	defect string
	block  chan struct{} // never closed: what a leaked goroutine waits for
}

func (b *brokenSender) Send(ctx context.Context, m pushwire.Message) error {
	err := b.inner.Send(ctx, m)
	switch {
	case b.defect == "leak":
		go func() { <-b.block }()
	case err == nil:
	case b.defect == "context-unclassified" && errors.Is(err, context.Canceled):
		return context.Canceled
	case b.defect == "closed-unclassified" && errors.Is(err, pushwire.ErrClosed):
		return errors.New("sender closed")
	case b.defect == "unknown-lost" && errors.Is(err, pushwire.ErrUnknownOutcome):
		return &pushwire.Error{Class: pushwire.ErrRetryable, Reason: "connection lost"}
	case b.defect == "two-classes" && errors.Is(err, pushwire.ErrDeadToken):
		return errors.Join(err, pushwire.ErrRetryable)
	case b.defect == "token-in-error":
		return fmt.Errorf("send to %s: %w", m.Token, err)
	case b.defect == "no-retry-after":
		return &pushwire.Error{Class: pushwire.ErrRetryable}
	}
	return err
}

// TestBrokenSender runs the suite against a sender with the defect named
// by SENDERTEST_DEFECT; it is skipped unless TestRunFindsDefects runs it.
func TestBrokenSender(t *testing.T) {
	defect := os.Getenv(defectEnv)
	if defect == "" {
		t.Skip("run by TestRunFindsDefects")
	}
	sendertest.Run(t, func(t *testing.T) sendertest.Harness {
		h := newMemHarness(t)
		h.Sender = &brokenSender{inner: h.Sender, defect: defect, block: make(chan struct{})}
		if defect == "shutdown-no-wait" {
			h.Shutdown = func(context.Context) error { return h.Close() }
		}
		return h
	})
}

// TestRunFindsDefects checks that the suite fails a sender that breaks a
// promise, and in the subtest that checks it.
func TestRunFindsDefects(t *testing.T) {
	if os.Getenv(defectEnv) != "" {
		t.Skip("child process")
	}
	if testing.Short() {
		t.Skip("starts a test process per defect")
	}
	for _, tc := range []struct{ defect, fails string }{
		{"context-unclassified", "Context/CanceledAfterWrite"},
		{"closed-unclassified", "Close/SendAfterClose"},
		{"unknown-lost", "Outcome/DropAfterRead"},
		{"two-classes", "Outcome/DeadToken"},
		{"token-in-error", "Outcome/Permanent"},
		{"no-retry-after", "Outcome/RetryAfter"},
		{"shutdown-no-wait", "Close/ShutdownWaits"},
		{"leak", "Accept"},
	} {
		t.Run(tc.defect, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenSender$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), defectEnv+"="+tc.defect)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the suite passed a sender with the defect:\n%s", out)
			assert.Contains(t, string(out), "--- FAIL: TestBrokenSender/"+tc.fails+" ", "output:\n%s", out)
		})
	}
}
