package wal

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/internal/bufs"
)

// scratchKeeper is a Keeper on the clock *now.
func scratchKeeper(now *time.Time) bufs.Keeper {
	return bufs.WithClock(func() time.Time { return *now })
}

// resultLines returns n lines like the results of a window close: one
// series each, a handful of fields.
func resultLines(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "mean_1m,device=d%05d,site=s1,zone=z%d count=60i,max=%.2f,mean=%.3f,min=%.2f,p95=%.2f %d\n",
			i, i%7, 20+r.Float64()*5, 20+r.Float64()*5, 20+r.Float64()*5, 20+r.Float64()*5, int64(1700000000)*1e9)
	}
	return b.Bytes()
}

// TestScratchRecords checks that a record compressed through a scratch is
// the record EncodeEntryCompressed makes, byte for byte, as the scratch
// grows, is reused and gives its pages back.
func TestScratchRecords(t *testing.T) {
	sc := newScratch(t)
	clock := time.Unix(0, 0)
	sc.keep = scratchKeeper(&clock)
	var dst []byte
	for i, n := range []int{1, 100, 20000, 3, 20000, 50000, 10, 0, 70000} {
		e := Entry{Kind: KindResult, IngestTime: int64(i + 1), Points: resultLines(n, uint64(i))}
		want := EncodeEntryCompressed(nil, &e)
		dst = encodeEntry(dst[:0], &e, true, sc)
		if !bytes.Equal(dst, want) {
			t.Fatalf("entry %d (%d lines): the record through the scratch differs", i, n)
		}
		var got Entry
		if err := DecodeEntry(dst, &got); err != nil || !bytes.Equal(got.Points, e.Points) {
			t.Fatalf("entry %d: %v, or the points differ", i, err)
		}
		// Every other entry comes a minute after the last: a scratch used
		// that rarely gives its pages back after each use.
		if i%2 == 1 {
			clock = clock.Add(time.Minute)
		} else {
			clock = clock.Add(time.Millisecond)
		}
	}
	if runtime.GOOS == "linux" && sc.b == nil {
		t.Fatal("no mapping: the scratch fell back to the heap")
	}
}

// TestEncodeAllocs bounds what encoding a window close's results into a
// compressed record allocates. In place, the record's buffer grew by S2's
// worst case, a sixth more than the results, and was zeroed whole: more
// than the results themselves, for a record of a fraction of their size
// (TestScratchResident). Through a scratch it grows by the record: for
// these results, a record of 23% of their size, 0.32 MB allocated instead
// of 1.1 MB.
func TestEncodeAllocs(t *testing.T) {
	e := Entry{Kind: KindResult, IngestTime: 1, Points: resultLines(10000, 1)}
	sc := newScratch(t)
	encode := func(sc *scratch) (rec []byte, alloc uint64) {
		var m1, m2 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m1)
		rec = encodeEntry(nil, &e, true, sc)
		runtime.ReadMemStats(&m2)
		return rec, m2.TotalAlloc - m1.TotalAlloc
	}
	encode(sc) // the first use maps the scratch
	for i := range 3 {
		rec, alloc := encode(sc)
		_, inPlace := encode(nil)
		t.Logf("%d B of results, a record of %d B: %d B allocated in place, %d B through the scratch", len(e.Points), len(rec), inPlace, alloc)
		// S2 allocates 64 KiB of its own for a large block, twice under
		// -race; in place allocates twice as much under -race.
		if alloc > inPlace/2 {
			t.Errorf("encode %d allocated %d B through the scratch, %d in place: want at most half", i+1, alloc, inPlace)
		}
	}
}
