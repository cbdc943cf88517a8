package ingest

import (
	"slices"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// TestSessionStoreKeepsNoInbound: the source's paho store keeps the
// client's own packets, as paho's MemoryStore does, and none of the
// inbound ones.
func TestSessionStoreKeepsNoInbound(t *testing.T) {
	s := newSessionStore()
	s.Open()
	defer s.Close()
	sub := packets.NewControlPacket(packets.Subscribe)
	pub := packets.NewControlPacket(packets.Publish)
	rel := packets.NewControlPacket(packets.Pubrel)
	s.Put("o.7", sub)
	s.Put("i.8", pub)
	s.Put("i.9", rel)
	if got := s.All(); !slices.Equal(got, []string{"o.7"}) {
		t.Fatalf("All() = %q, want [o.7]", got)
	}
	if s.Get("o.7") != sub || s.Get("i.8") != nil || s.Get("i.9") != nil {
		t.Fatalf("Get: o.7 %v, i.8 %v, i.9 %v", s.Get("o.7"), s.Get("i.8"), s.Get("i.9"))
	}
	s.Del("i.8") // nothing stored: a no-op
	s.Del("o.7")
	if got := s.All(); len(got) != 0 {
		t.Fatalf("All() after Del = %q", got)
	}
}
