package ingesttest

import (
	"net"
	"testing"
	"time"
)

// TestStartBrokerWaitsForPort: a port held by someone else for a moment
// when the broker binds it is retried, not a failure.
func TestStartBrokerWaitsForPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		l.Close()
	}()
	b := StartBroker(t, l.Addr().String())
	if b.Addr() != l.Addr().String() {
		t.Errorf("broker on %s, want %s", b.Addr(), l.Addr())
	}
	Publish(t, "tcp://"+b.Addr(), "t", 1, "x")
}
