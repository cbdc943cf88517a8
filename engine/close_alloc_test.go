package engine

import (
	"runtime"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

// TestWindowCloseAllocs closes the harness pipeline's 1-minute window over
// 10k series twice and bounds what each close allocates against the size
// of the results it queues: a close is the largest burst of results the
// engine makes, once a minute, and every megabyte it allocates on the way
// raises the agent's peak RSS. Growing the pending results by append's
// steps of 1.25× and naming every result field afresh allocated 6× their
// size; doubling up to the size of the results allocates about twice it.
// The window tells how many results it is about to emit, so the first
// close grows the buffer in one step, as later closes do from the size of
// the one before.
func TestWindowCloseAllocs(t *testing.T) {
	const series = 10000
	e, err := New(Config{Site: "s1", Steps: harnessSteps(), Checkpoint: DefaultCheckpoint()},
		&memLog{}, map[string]Outbox{"out": &discardOutbox{}}, &memCkpt{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := feedHarness(t, e, series)
	start := window.NewTumbling(time.Minute).Start(base)
	var buf []byte
	var first uint64 // what close 1 allocated
	for k := range 2 {
		if k > 0 {
			// The next minute: 10 seconds of traffic, the results of the
			// close above flushed first.
			if err := e.flushNow(); err != nil {
				t.Fatal(err)
			}
			for r := range 10 {
				ts := start + int64(k)*60*sec + int64(11+r)*sec
				buf = harnessLines(buf[:0], series, ts, r)
				idx++
				e.Apply(idx, &wal.Entry{Kind: wal.KindBatch, IngestTime: ts, Points: buf})
			}
		}
		// One point past the minute and its max_delay closes the window.
		ts := start + int64(k)*60*sec + 70*sec
		closing := harnessLines(nil, 1, ts, 10)
		var m1, m2 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m1)
		idx++
		e.Apply(idx, &wal.Entry{Kind: wal.KindBatch, IngestTime: ts, Points: closing})
		runtime.ReadMemStats(&m2)
		po := e.pending["out"]
		if po == nil || len(po.lines) < series*100 {
			t.Fatalf("close %d queued %d bytes of results, want %d results", k+1, len(po.lines), series)
		}
		alloc := m2.TotalAlloc - m1.TotalAlloc
		ratio := float64(alloc) / float64(len(po.lines))
		t.Logf("close %d over %d series: %d B of results queued (capacity %d), %d B allocated (%.1f×), %d allocations",
			k+1, series, len(po.lines), cap(po.lines), alloc, ratio, m2.Mallocs-m1.Mallocs)
		// A -race build allocates about 1.5 MB more in each close.
		budget := uint64(len(po.lines)) * 3 / 2
		if raceEnabled() {
			budget += 2 << 20
		}
		switch {
		case alloc > budget:
			t.Errorf("close %d allocated %d B (%.1f× its results), want at most %d", k+1, alloc, ratio, budget)
		case k == 1 && first > alloc+uint64(len(po.lines))/4:
			// Doubling up to the size of the results would have
			// allocated about that size more in the first close.
			t.Errorf("close 1 allocated %d B, close 2 %d: the first close grew its results by doubling", first, alloc)
		}
		first = alloc
	}
}
