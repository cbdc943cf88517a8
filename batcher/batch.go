package batcher

import "github.com/rivulet-edge/rivulet/ingest"

// batch is the group being committed; its buffers are reused.
type batch struct {
	msgs   []*ingest.Message
	fps    []uint64
	points []byte
	n      int
}

func (b *batch) hasData() bool { return len(b.points) > 0 || len(b.fps) > 0 }

func (b *batch) reset() {
	clear(b.msgs)
	b.msgs, b.fps, b.points, b.n = b.msgs[:0], b.fps[:0], b.points[:0], 0
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
