package ingest

import (
	"hash/fnv"
	"testing"
)

func TestFingerprintIsFNV1a(t *testing.T) {
	tests := []struct {
		name, topic, payload string
		id                   uint16
	}{
		{"empty", "", "", 0},
		{"reading", "site/kitchen/temp", "21.5", 1},
		{"high id", "a", "\x00\xff", 0xbeef},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := fnv.New64a()
			h.Write([]byte(tc.topic))
			h.Write([]byte{0})
			h.Write([]byte(tc.payload))
			h.Write([]byte{byte(tc.id >> 8), byte(tc.id)})
			if got := Fingerprint(tc.topic, []byte(tc.payload), tc.id); got != h.Sum64() {
				t.Fatalf("got %x, want %x", got, h.Sum64())
			}
		})
	}
	// The separator keeps topic and payload apart; the id keeps equal
	// readings apart.
	if Fingerprint("ab", []byte("c"), 1) == Fingerprint("a", []byte("bc"), 1) {
		t.Error("topic/payload boundary not hashed")
	}
	if Fingerprint("t", []byte("21.5"), 1) == Fingerprint("t", []byte("21.5"), 2) {
		t.Error("packet id not hashed")
	}
}

func TestMessageAckOnce(t *testing.T) {
	var m Message
	m.Ack() // no ack function: a no-op
	n := 0
	m.SetAck(func() { n++ })
	m.Ack()
	m.Ack()
	if n != 1 {
		t.Fatalf("ack ran %d times", n)
	}
}

func BenchmarkFingerprint(b *testing.B) {
	payload := []byte(`{"ts":1700000000123,"id":"d1","t":20.5,"ok":true}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Fingerprint("site/kitchen/env", payload, uint16(i))
	}
}
