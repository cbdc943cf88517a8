package wal

import (
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// resident counts the pages of b in memory (mincore).
func resident(t *testing.T, b []byte) int {
	page := syscall.Getpagesize()
	vec := make([]byte, (len(b)+page-1)/page)
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(unsafe.Pointer(unsafe.SliceData(vec)))); e != 0 {
		t.Fatalf("mincore: %v", e)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestScratchResident checks what the scratch is for: of the room S2
// needs for the results of a window close over 10k series, only the pages
// of the block take memory, and a scratch used once a minute gives even
// those back.
func TestScratchResident(t *testing.T) {
	sc := newScratch(t)
	clock := time.Unix(0, 0)
	sc.keep = scratchKeeper(&clock)
	e := Entry{Kind: KindResult, IngestTime: 1, Points: resultLines(10000, 1)}
	// The first use gives the pages back (no use before it); the second,
	// a millisecond later, keeps them.
	rec := encodeEntry(nil, &e, true, sc)
	clock = clock.Add(time.Millisecond)
	rec = encodeEntry(rec[:0], &e, true, sc)
	page := syscall.Getpagesize()
	mapped := len(sc.b) / page
	used := resident(t, sc.b)
	t.Logf("%d B of results, a record of %d B; %d pages mapped, %d resident", len(e.Points), len(rec), mapped, used)
	if max := len(rec)/page + 2; used == 0 || used > max {
		t.Errorf("%d pages resident, want 1 to %d (the block's)", used, max)
	}
	clock = clock.Add(time.Minute)
	encodeEntry(rec[:0], &e, true, sc)
	if n := resident(t, sc.b); n != 0 {
		t.Errorf("%d pages resident after a use a minute after the last, want 0", n)
	}
}
