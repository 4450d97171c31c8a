package stock_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine outlives the tests: whatever the
// package starts, its Close or Run must stop and wait for.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
