package ingest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: every source,
// broker and client a test starts is stopped by the test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
