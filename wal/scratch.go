package wal

import (
	"runtime"

	"github.com/rivulet-edge/rivulet/internal/bufs"
)

// scratch is the buffer S2 encodes a block into before the block is copied
// into its record. S2 needs room for its worst case, a sixth more than the
// input, and writes only what the block takes: for line protocol a tenth
// of it or less. A Go buffer that large is zeroed whole when it is
// allocated, so every page of it takes memory: 1.7 MB for the results of
// a window closing over 10k series, 4.8 MB for a 4 MiB batch while
// draining. Where the system allows (scratch_linux.go), the buffer is an
// anonymous mapping, whose pages take memory only once written, and the
// pages written are given back after a burst as bufs.Keeper decides for a
// Go buffer.
type scratch struct {
	b    []byte // the mapping, nil before the first use or on a heap fallback
	high int    // bytes written to b since its pages were last given back
	keep bufs.Keeper
}

// newScratch returns a scratch whose mapping is released once owner is
// garbage: an encode runs only inside a method of its owner, so the
// mapping is never in use then.
func newScratch[T any](owner *T) *scratch {
	s := &scratch{}
	runtime.AddCleanup(owner, func(s *scratch) { s.unmap() }, s)
	return s
}

// get returns n bytes of room, valid until the next get.
func (s *scratch) get(n int) []byte {
	if n > len(s.b) {
		s.unmap()
		if s.b = mapScratch(n); s.b == nil {
			return make([]byte, n)
		}
	}
	return s.b[:n]
}

// done records that the last get's room had n bytes written to it.
func (s *scratch) done(n int) {
	if s.b == nil {
		return // a heap fallback
	}
	s.high = max(s.high, n)
	if !s.keep.Keep(n, s.high) {
		releaseScratch(s.b[:s.high])
		s.high = 0
	}
}

func (s *scratch) unmap() {
	if s.b != nil {
		unmapScratch(s.b)
		s.b, s.high = nil, 0
	}
}
