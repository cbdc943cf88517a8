package engine

import (
	"runtime"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

// TestWindowCloseAllocs closes the harness pipeline's 1-minute window over
// 10k series and bounds what that allocates against the size of the
// results it queues: a close is the largest burst of results the engine
// makes, once a minute, and every megabyte it allocates on the way raises
// the agent's peak RSS. Growing the pending results by append's steps of
// 1.25× and naming every result field afresh allocated 6× their size.
func TestWindowCloseAllocs(t *testing.T) {
	const series = 10000
	e, err := New(Config{Site: "s1", Steps: harnessSteps(), Checkpoint: DefaultCheckpoint()},
		&memLog{}, map[string]Outbox{"out": &discardOutbox{}}, &memCkpt{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	feedHarness(t, e, series)
	// One point past the minute and its max_delay closes the window.
	ts := window.NewTumbling(time.Minute).Start(base) + 70*sec
	closing := harnessLines(nil, 1, ts, 10)
	var m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m1)
	e.Apply(11, &wal.Entry{Kind: wal.KindBatch, IngestTime: ts, Points: closing})
	runtime.ReadMemStats(&m2)
	po := e.pending["out"]
	if po == nil || len(po.lines) < series*100 {
		t.Fatalf("the close queued %d bytes of results, want %d results", len(po.lines), series)
	}
	alloc := m2.TotalAlloc - m1.TotalAlloc
	ratio := float64(alloc) / float64(len(po.lines))
	t.Logf("close over %d series: %d B of results queued (capacity %d), %d B allocated (%.1f×), %d allocations",
		series, len(po.lines), cap(po.lines), alloc, ratio, m2.Mallocs-m1.Mallocs)
	if ratio > 4 {
		t.Errorf("a close allocated %.1f× the size of its results, want at most 4×", ratio)
	}
}
