package ingest

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestBufConnWritesBehind: writes return at once, arrive in order and
// complete; Close writes what is queued before closing; a write after a
// failed one fails.
func TestBufConnWritesBehind(t *testing.T) {
	a, b := net.Pipe()
	c := newBufConn(a)
	var got bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); io.Copy(&got, b) }()
	var want bytes.Buffer
	for i := range 1000 {
		p := []byte{0x40, 0x02, byte(i >> 8), byte(i)} // a PUBACK
		want.Write(p)
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("peer got %d bytes, want %d in order", got.Len(), want.Len())
	}
	if _, err := c.Write([]byte{1}); err == nil {
		t.Error("write after Close succeeded")
	}

	x, y := net.Pipe()
	y.Close() // the peer is gone: the flusher's write fails
	f := newBufConn(x)
	f.Write([]byte("lost"))
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		_, err = f.Write([]byte("next"))
	}
	if err == nil {
		t.Fatalf("writes keep succeeding after the peer went away: %v", err)
	}
	f.Close()
}

// TestBufConnReadsThroughBuffer: reads see the peer's bytes in order.
func TestBufConnReadsThroughBuffer(t *testing.T) {
	a, b := net.Pipe()
	c := newBufConn(a)
	defer c.Close()
	go func() {
		for i := range 100 {
			b.Write([]byte{byte(i)})
		}
		b.Close()
	}()
	data, err := io.ReadAll(c)
	if err != nil || len(data) != 100 || data[99] != 99 {
		t.Fatalf("read %d bytes, %v", len(data), err)
	}
}
