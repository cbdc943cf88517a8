package ingest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"strings"
	"testing"
)

func fnvRef(parts ...[]byte) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum64()
}

// TestFingerprint: up to 64 bytes of payload Fingerprint is FNV-1a 64 of
// topic, zero, payload and id, as LegacyFingerprint always is; a longer
// payload enters as its two CRC-32s.
func TestFingerprint(t *testing.T) {
	long := []byte(strings.Repeat("temperature,device=d1 value=21.5 1700000000000000000\n", 3))
	tests := []struct {
		name, topic, payload string
		id                   uint16
	}{
		{"empty", "", "", 0},
		{"reading", "site/kitchen/temp", "21.5", 1},
		{"high id", "a", "\x00\xff", 0xbeef},
		{"64 bytes", "t", strings.Repeat("x", 64), 7},
		{"65 bytes", "t", strings.Repeat("x", 65), 7},
		{"multi-point", "site/gw/lp", string(long), 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic, payload, id := []byte(tc.topic), []byte(tc.payload), []byte{byte(tc.id >> 8), byte(tc.id)}
			legacy := fnvRef(topic, []byte{0}, payload, id)
			if got := LegacyFingerprint(tc.topic, payload, tc.id); got != legacy {
				t.Fatalf("legacy: got %x, want %x", got, legacy)
			}
			want := legacy
			if len(payload) > 64 {
				var word [8]byte
				binary.BigEndian.PutUint32(word[:], crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
				binary.BigEndian.PutUint32(word[4:], crc32.ChecksumIEEE(payload))
				// FNV-1a's step on one 64-bit word instead of a byte.
				h := fnvRef(topic, []byte{0})
				h = (h ^ binary.BigEndian.Uint64(word[:])) * fnvPrime64
				h = (h ^ uint64(id[0])) * fnvPrime64
				want = (h ^ uint64(id[1])) * fnvPrime64
			}
			if got := Fingerprint(tc.topic, payload, tc.id); got != want {
				t.Fatalf("got %x, want %x", got, want)
			}
		})
	}
	// The separator keeps topic and payload apart; the id keeps equal
	// readings apart; a long payload's every byte counts.
	if Fingerprint("ab", []byte("c"), 1) == Fingerprint("a", []byte("bc"), 1) {
		t.Error("topic/payload boundary not hashed")
	}
	for _, p := range [][]byte{[]byte("21.5"), long} {
		if Fingerprint("t", p, 1) == Fingerprint("t", p, 2) {
			t.Errorf("packet id not hashed (%d bytes)", len(p))
		}
	}
	changed := bytes.Clone(long)
	changed[len(changed)/2] ^= 1
	if Fingerprint("t", long, 1) == Fingerprint("t", changed, 1) {
		t.Error("a changed byte of a long payload does not change the fingerprint")
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
	for _, n := range []int{1, 10, 100} { // points of ~70 bytes
		payload := bytes.Repeat([]byte("temperature,device=d1,zone=z1 value=21.5 1700000000000000000\n"), n)
		for _, f := range []struct {
			name string
			fn   func(string, []byte, uint16) uint64
		}{{"fingerprint", Fingerprint}, {"legacy", LegacyFingerprint}} {
			b.Run(fmt.Sprintf("%s/%dpt", f.name, n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(payload)))
				for i := 0; b.Loop(); i++ {
					f.fn("site/gw-0042/lp", payload, uint16(i))
				}
			})
		}
	}
}
