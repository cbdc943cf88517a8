package batcher

import (
	"time"

	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/internal/bufs"
)

// batch is a group of messages committed together, with the markers
// written in the same commit; its buffers are reused.
type batch struct {
	// msgs are the messages to ack, those of QoS > 0: a QoS 0 message is
	// not kept once its points are copied.
	msgs   []*ingest.Message
	count  int // messages, of any QoS
	fps    []uint64
	points []byte
	keep   bufs.Keeper // lets points go after a burst (a drained backlog)
	n      int         // points
	// unacked counts the messages of QoS > 0: the broker waits for their
	// acks, so they fill its inflight window.
	unacked int
	// epoch and heartbeat ask for an epoch entry before the points and a
	// heartbeat entry after them.
	epoch, heartbeat bool
	// queued is the queueing stamp (wall clock, unix ns) of the oldest
	// message; opened, when it was taken from the queue.
	queued int64
	opened time.Time
}

func (b *batch) hasData() bool { return len(b.points) > 0 || len(b.fps) > 0 }

// empty reports whether committing the batch would neither write nor ack
// anything.
func (b *batch) empty() bool { return b.count == 0 && !b.epoch && !b.heartbeat }

// full reports whether the batch has reached a bound of cfg: it takes no
// more messages.
func (b *batch) full(cfg *Config) bool {
	return b.n >= cfg.MaxPoints || len(b.points) >= int(cfg.MaxBytes)
}

func (b *batch) reset() {
	clear(b.msgs)
	b.msgs, b.fps, b.points, b.n, b.unacked, b.count = b.msgs[:0], b.fps[:0], b.keep.Bytes(b.points, len(b.points)), 0, 0, 0
	b.epoch, b.heartbeat, b.queued = false, false, 0
}

// fingerprints is a bounded set of the most recent message fingerprints, in
// a ring so memory stays fixed. Redeliveries come from the broker's inflight
// window, so the set must be larger than that window.
type fingerprints struct {
	ring []uint64
	pos  int
	full bool
	set  map[uint64]int // fingerprint → occurrences in the ring
}

func newFingerprints(n int) *fingerprints {
	return &fingerprints{ring: make([]uint64, n), set: make(map[uint64]int, n)}
}

func (f *fingerprints) cap() int { return len(f.ring) }

func (f *fingerprints) len() int {
	if f.full {
		return len(f.ring)
	}
	return f.pos
}

func (f *fingerprints) has(fp uint64) bool { return f.set[fp] > 0 }

// add records fp as the newest fingerprint, evicting the oldest when full.
func (f *fingerprints) add(fp uint64) {
	if len(f.ring) == 0 {
		return
	}
	if f.full {
		old := f.ring[f.pos]
		if f.set[old]--; f.set[old] <= 0 {
			delete(f.set, old)
		}
	}
	f.ring[f.pos] = fp
	f.set[fp]++
	f.pos++
	if f.pos == len(f.ring) {
		f.pos, f.full = 0, true
	}
}
