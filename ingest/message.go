package ingest

import (
	"hash/crc32"
	"sync"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Message is one payload received by a source, decoded.
type Message struct {
	Source    string
	Topic     string
	QoS       byte
	Dup       bool // the broker may have sent this message before
	Retained  bool // replayed from the broker's retained store on subscribe
	MessageID uint16
	// Fingerprint identifies a redelivery of this exact message: see
	// Fingerprint. It is 0 for QoS 0, which is never redelivered.
	Fingerprint uint64
	// LegacyFingerprint is set on a redelivery (Dup) whose payload is over
	// 64 bytes: the fingerprint an earlier version would have logged its
	// original under (see LegacyFingerprint); 0 otherwise.
	LegacyFingerprint uint64
	// Points is the decoded line protocol; nil when the payload was
	// quarantined (it must still be acked, in order).
	Points []byte
	N      int // number of points
	Size   int // payload bytes

	ack func()
	// from and pm are the session and paho message of an MQTT message:
	// its ack without a closure allocated per message.
	from  *session
	pm    paho.Message
	acked atomic.Bool
	buf   *[]byte // Points' buffer when it came from pointsPool
}

// pointsPool holds decode buffers given back by ReleasePoints, so that a
// steady stream of messages decodes into a few reused buffers instead of
// one new allocation each (a quarter of all the bytes the agent allocated
// in a 10-point drain).
var pointsPool sync.Pool

// maxPooledPoints bounds the buffers kept in pointsPool: a rare huge
// payload's buffer is left to the GC.
const maxPooledPoints = 64 << 10

func getPoints() *[]byte {
	if b, ok := pointsPool.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

func putPoints(b *[]byte) {
	if cap(*b) <= maxPooledPoints {
		*b = (*b)[:0]
		pointsPool.Put(b)
	}
}

// ReleasePoints tells the source that Points has been copied and will not
// be read again: Points is nil afterwards and its buffer may be reused for
// a later message. The message itself (its ack) stays valid.
func (m *Message) ReleasePoints() {
	m.Points = nil
	if b := m.buf; b != nil {
		m.buf = nil
		putPoints(b)
	}
}

// Ack acknowledges the message to the broker; it is a no-op for QoS 0 and
// for every call after the first. Acks must be given in arrival order and
// only once the message is durable. An ack given after the connection that
// delivered the message was lost is dropped by the client library: the
// broker then redelivers the message (Dup set, same Fingerprint).
func (m *Message) Ack() {
	if m.from == nil && m.ack == nil || !m.acked.CompareAndSwap(false, true) {
		return
	}
	if m.from != nil {
		m.pm.Ack()
		m.from.acked()
		return
	}
	m.ack()
}

// SetAck sets the function Ack calls, once, for a message that did not
// come from an MQTT source (whose ack is built in). Tests use it to
// observe acks.
func (m *Message) SetAck(ack func()) { m.ack = ack }

// Handler receives the messages of a source.
//
// A source calls Handle and Connected from one goroutine, never
// concurrently, in arrival order. Handle may block: that is the
// backpressure (QoS 1 then backs up into the broker's inflight window). It
// must return promptly once the handler is shutting down. The handler owns
// m after the call; for QoS > 0 it must call m.Ack once the message is
// durable, in arrival order.
type Handler interface {
	Handle(m *Message)
	// Connected is called on every connect and reconnect (up) and when the
	// connection is lost or the source stops (down).
	Connected(source string, up bool)
}

// FNV-1a 64 parameters.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// fingerprintBytewise is the longest payload Fingerprint hashes byte by
// byte; longer ones are folded in as two CRC-32s.
const fingerprintBytewise = 64

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Fingerprint identifies a message for redelivery dedupe: an FNV-1a 64
// hash of topic, a zero byte, the payload and the MQTT packet identifier
// (big-endian). A payload longer than 64 bytes enters it as one 64-bit word,
// its CRC-32C and its CRC-32 (IEEE) side by side, instead of byte by byte:
// FNV-1a costs a multiplication per byte (~6 µs for a 100-point payload)
// where the CRCs run at several bytes per cycle on amd64 and arm64. Up to
// 64 bytes it is plain FNV-1a, the same as LegacyFingerprint.
//
// The DESIGN names topic and payload; the packet id is included because
// identical readings (same topic, same payload "21.5") are common, and a
// redelivery must match only its own original, not an earlier equal
// reading. A broker redelivers an unacknowledged message with its original
// packet id, and does not reuse that id while the message is unacknowledged.
func Fingerprint(topic string, payload []byte, packetID uint16) uint64 {
	h := fnvString(fnvOffset64, topic)
	h *= fnvPrime64 // the zero separator: h ^ 0 == h
	if len(payload) <= fingerprintBytewise {
		h = fnvBytes(h, payload)
	} else {
		h ^= uint64(crc32.Checksum(payload, castagnoli))<<32 | uint64(crc32.ChecksumIEEE(payload))
		h *= fnvPrime64
	}
	return fnvID(h, packetID)
}

// LegacyFingerprint is the fingerprint agents before this one logged:
// FNV-1a 64 over every byte of topic, a zero byte, payload and packet id.
// It differs from Fingerprint only for payloads over 64 bytes. A message
// logged by an earlier version and redelivered after an upgrade carries it
// (Message.LegacyFingerprint) so that the dedupe still recognizes it.
func LegacyFingerprint(topic string, payload []byte, packetID uint16) uint64 {
	h := fnvString(fnvOffset64, topic)
	h *= fnvPrime64
	return fnvID(fnvBytes(h, payload), packetID)
}

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime64
	}
	return h
}

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime64
	}
	return h
}

func fnvID(h uint64, id uint16) uint64 {
	h = (h ^ uint64(id>>8)) * fnvPrime64
	return (h ^ uint64(id&0xff)) * fnvPrime64
}
