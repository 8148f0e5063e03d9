package apns

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The table holds every reason Apple documents (32), each with a status
// and a class.
func TestReasonTableComplete(t *testing.T) {
	assert.Len(t, reasons, 32)
	for r, ri := range reasons {
		assert.NotZero(t, ri.status, r)
		assert.NotNil(t, ri.class, r)
	}
}
