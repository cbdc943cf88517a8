package ingest

import (
	"bytes"
	"testing"
)

// TestReleasePoints: a pooled decode buffer goes back to the pool and the
// next decode reuses it; a buffer the source did not pool is only dropped.
func TestReleasePoints(t *testing.T) {
	r, err := NewRule(topic("t", "influx"))
	if err != nil {
		t.Fatal(err)
	}
	decode := func(payload string) *Message {
		t.Helper()
		bp := getPoints()
		out, n, err := r.Decode("t", []byte(payload), *bp)
		if err != nil || n != 1 {
			t.Fatalf("Decode(%q) = %d, %v", payload, n, err)
		}
		*bp = out
		return &Message{Points: out, N: n, buf: bp}
	}
	a := decode("m,k=v f=1 1")
	want := append([]byte(nil), a.Points...)
	a.ReleasePoints()
	if a.Points != nil || a.buf != nil {
		t.Fatalf("after ReleasePoints: Points %q, buf %v", a.Points, a.buf)
	}
	b := decode("m,k=w f=2 2")
	if bytes.Equal(b.Points, want) {
		t.Fatalf("second decode returned the first message's points")
	}
	if got := string(b.Points); got != "m,k=w f=2 2\n" {
		t.Fatalf("second decode = %q", got)
	}
	plain := &Message{Points: []byte("x f=1\n")}
	plain.ReleasePoints()
	if plain.Points != nil {
		t.Fatal("Points kept")
	}
	huge := make([]byte, 0, maxPooledPoints+1)
	putPoints(&huge) // not pooled: must not panic or be handed out again
	if bp := getPoints(); cap(*bp) > maxPooledPoints {
		t.Fatalf("pool handed out a %d-byte buffer", cap(*bp))
	}
}
