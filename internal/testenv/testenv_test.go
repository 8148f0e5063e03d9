package testenv_test

import (
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pushwire/pushwire/internal/testenv"
)

func TestURLSet(t *testing.T) {
	t.Setenv("PUSHWIRE_TESTENV_X", "redis://127.0.0.1:1/0")
	assert.Equal(t, "redis://127.0.0.1:1/0", testenv.URL(t, "PUSHWIRE_TESTENV_X"))
}

func TestURLUnsetSkipsOrFails(t *testing.T) {
	t.Setenv("PUSHWIRE_TESTENV_X", "")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		var skipped, failed bool
		done := make(chan struct{})
		// Run in a fresh goroutine: Skip and Fatal end it with runtime.Goexit.
		rec := &recorder{TB: t, skip: &skipped, fail: &failed}
		go func() {
			defer close(done)
			testenv.URL(rec, "PUSHWIRE_TESTENV_X")
		}()
		<-done
		assert.Equal(t, ci == "", skipped, "CI=%q", ci)
		assert.Equal(t, ci != "", failed, "CI=%q", ci)
	}
}

// recorder notes Skipf and Fatalf instead of ending the real test.
type recorder struct {
	testing.TB
	skip, fail *bool
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(string, ...any) {
	*r.skip = true
	runtime.Goexit()
}
func (r *recorder) Fatalf(string, ...any) {
	*r.fail = true
	runtime.Goexit()
}

// Concurrent writes all arrive whole, and String may run meanwhile.
func TestSyncBuffer(t *testing.T) {
	var buf testenv.SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				n, err := buf.Write([]byte("line\n"))
				assert.NoError(t, err)
				assert.Equal(t, 5, n)
				_ = buf.String()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, strings.Repeat("line\n", 800), buf.String())
}
