package engine

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// logCapRig is an engine over a real ingest log and checkpoint store, the
// way the agent wires them.
type logCapRig struct {
	t    *testing.T
	dir  string
	log  *wal.Log
	ck   *wal.Checkpoints
	e    *Engine
	next int // the next entry's number, for compatEntry
	stop func()
}

const (
	capSegment = 32 << 10
	capMax     = 256 << 10
)

func openLogCapRig(t *testing.T, dir string, maxSize int64) *logCapRig {
	t.Helper()
	log, _, err := wal.Open(filepath.Join(dir, "log"), wal.Options{SegmentSize: capSegment, MaxSize: maxSize, WholeSegments: true})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := wal.OpenCheckpoints(filepath.Join(dir, "checkpoints"), filepath.Join(dir, "quarantine"))
	if err != nil {
		t.Fatal(err)
	}
	return &logCapRig{t: t, dir: dir, log: log, ck: ck, next: int(log.LastIndex()) + 1}
}

// start recovers and runs the engine with a checkpoint interval.
func (r *logCapRig) start(interval time.Duration) {
	r.t.Helper()
	cc := CheckpointConfig{Interval: interval, LogRatio: 2, MaxInterval: time.Hour}
	e, stop := runEngine(r.t, Config{Site: "s1", Steps: harnessSteps(), Checkpoint: cc, Sync: true}, r.log, r.ck)
	r.e = e
	r.stop = func() {
		if err := stop(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// runEngine makes an engine with one outbox, "out", over log and ck,
// recovers it and runs it; stop cancels Run and returns what it returned.
func runEngine(t *testing.T, cfg Config, log Log, ck Checkpointer) (e *Engine, stop func() error) {
	t.Helper()
	e, err := New(cfg, log, map[string]Outbox{"out": &memOutbox{}}, ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	return e, func() error { cancel(); return <-done }
}

// append writes n entries and makes them durable, like a batcher commit,
// tells the engine if it runs, and returns the bytes of points written.
func (r *logCapRig) append(n int) int64 {
	r.t.Helper()
	var bytes int64
	for range n {
		ent := compatEntry(r.next)
		if _, _, err := r.log.Append(&ent); err != nil {
			r.t.Fatal(err)
		}
		bytes += int64(len(ent.Points))
		r.next++
	}
	if err := r.log.Sync(); err != nil {
		r.t.Fatal(err)
	}
	if r.e != nil {
		r.e.Notify(r.log.LastIndex())
	}
	return bytes
}

func (r *logCapRig) close() {
	if r.stop != nil {
		r.stop()
		r.stop, r.e = nil, nil
	}
	if err := r.log.Close(); err != nil {
		r.t.Fatal(err)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// TestLogCapFeed: a source writing as fast as the log takes it, held while
// the log is full as the batcher holds it, gets through four times the
// log's cap although no checkpoint tick comes: the engine checkpoints as
// the log grows, and the log is truncated behind it.
func TestLogCapFeed(t *testing.T) {
	r := openLogCapRig(t, t.TempDir(), capMax)
	defer r.close()
	r.start(time.Hour)
	written := int64(0)
	for written < 4*capMax {
		waitUntil(t, 10*time.Second, "room in the full log (the source would be held for ever)",
			func() bool { return !r.log.Full() })
		written += r.append(8)
	}
	waitUntil(t, 10*time.Second, "every entry applied", func() bool { return r.e.Stats().Index.Load() == r.log.LastIndex() })
	if n := r.e.Stats().Checkpoints.Load(); n < 4 {
		t.Errorf("%d checkpoints for 4 × the cap written, want at least 4 (one per quarter cap)", n)
	}
	if size := r.log.Size(); size > capMax {
		t.Errorf("log holds %d bytes after the feed, over its cap %d", size, capMax)
	}
}

// TestLogCapFallbackDropped: a log over its cap when the agent starts (a
// backlog logged with a larger cap, or a cap lowered in the config), whose
// entries all come after the newest checkpoint. Once they are applied and
// checkpointed, only the older checkpoint kept as a fallback holds the log
// full, and no new entry can come to trigger another checkpoint: the engine
// drops the fallback and truncates, and the state survives a restart.
func TestLogCapFallbackDropped(t *testing.T) {
	dir := t.TempDir()
	r := openLogCapRig(t, dir, 0)
	r.start(time.Hour)
	r.append(1)
	r.close() // checkpoints entry 1 at shutdown
	r = openLogCapRig(t, dir, 0)
	for r.log.Size() < capMax+capSegment {
		r.append(16)
	}
	last := r.log.LastIndex()
	r.close()

	r = openLogCapRig(t, dir, capMax)
	if !r.log.Full() {
		t.Fatalf("log of %d bytes is not full at cap %d", r.log.Size(), capMax)
	}
	r.start(20 * time.Millisecond)
	waitUntil(t, 10*time.Second, "room in the log", func() bool { return !r.log.Full() })
	if floor := r.ck.Floor(); floor != last {
		t.Errorf("floor %d after making room, want the newest checkpoint %d alone", floor, last)
	}
	// The log drops whole segments: the one holding the last entry, which
	// is always kept, stays.
	if first, size := r.log.FirstIndex(), r.log.Size(); first > last || size >= 2*capSegment {
		t.Errorf("log starts at %d and holds %d bytes, want the segment holding %d alone (under %d bytes)", first, size, last, 2*capSegment)
	}
	r.append(1)
	waitUntil(t, 10*time.Second, "the new entry applied", func() bool { return r.e.Stats().Index.Load() == last+1 })
	r.close()

	r = openLogCapRig(t, dir, capMax)
	defer r.close()
	r.start(time.Hour)
	if got := r.e.Stats().Index.Load(); got != last+1 {
		t.Errorf("restarted engine at index %d, want %d", got, last+1)
	}
}

// failingCkpt is a checkpoint store whose Save always fails.
type failingCkpt struct {
	lockedCkpt
	attempts atomic.Int64
}

func (c *failingCkpt) Save(uint64, []byte) error {
	c.attempts.Add(1)
	return errors.New("disk says no")
}

// TestLogCapPacesFailingCheckpoints: when the checkpoints the log's growth
// asks for fail, they are tried again at most once a second, not at every
// commit (each one encodes the whole state).
func TestLogCapPacesFailingCheckpoints(t *testing.T) {
	log := &sizedLog{max: 1000}
	ck := &failingCkpt{}
	cc := CheckpointConfig{Interval: time.Hour, LogRatio: 2, MaxInterval: time.Hour}
	e, stop := runEngine(t, Config{Site: "s1", Steps: harnessSteps(), Checkpoint: cc}, log, ck)
	start := time.Now()
	for i := 1; i <= 200; i++ {
		// memLog is not safe for concurrent use: the engine has applied
		// entry i-1 (Index), so it reads nothing while i is added.
		log.add(compatEntry(i))
		log.size.Add(300) // past a quarter of the cap at every commit
		e.Notify(uint64(i))
		waitUntil(t, 10*time.Second, "the entry applied", func() bool { return e.Stats().Index.Load() == uint64(i) })
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	_ = stop() // shutdown's own checkpoint fails too
	// One try at the first commit past the quarter, one a second after
	// each failure, one at shutdown.
	if n, max := ck.attempts.Load(), int64(elapsed/time.Second)+3; n > max {
		t.Errorf("%d checkpoint attempts in %s of commits, want at most %d", n, elapsed.Round(time.Millisecond), max)
	}
}
