package ingest

import (
	"strings"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// sessionStore is the paho Store of the source's client. It keeps what
// paho's MemoryStore keeps of the client's own packets (subscribe,
// unsubscribe: keys "o.<id>") and nothing of inbound messages (keys
// "i.<id>").
//
// paho puts every inbound QoS 1 and 2 PUBLISH in its store until the ack
// goes out, under a lock, and deletes it then: at 100k messages a second
// that was 6–7% of the agent's CPU. It never reads an inbound PUBLISH back
// but to discard it when it reconnects. The one inbound packet it would
// use again is the PUBREL of a QoS 2 message, to send PUBCOMP after a
// reconnect; on a persistent session the broker resends every PUBREL not
// yet completed (MQTT 3.1.1 and 5.0, section 4.4), and paho answers that
// with the same PUBCOMP. With a clean session there is nothing to resume.
// Inbound messages are safe either way: the broker redelivers what we did
// not ack, which is what the source relies on across restarts, when
// paho's memory is gone anyway.
type sessionStore struct {
	*paho.MemoryStore
}

func newSessionStore() sessionStore { return sessionStore{paho.NewMemoryStore()} }

// inbound reports whether key is one paho makes for an inbound packet.
func inbound(key string) bool { return strings.HasPrefix(key, "i.") }

// Put stores m unless key is inbound.
func (s sessionStore) Put(key string, m packets.ControlPacket) {
	if !inbound(key) {
		s.MemoryStore.Put(key, m)
	}
}

// Del deletes key unless it is inbound (then nothing was stored).
func (s sessionStore) Del(key string) {
	if !inbound(key) {
		s.MemoryStore.Del(key)
	}
}
