package batcher

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/wal"
)

// gatedLog is a fakeLog whose Sync blocks until the test opens the gate,
// and whose Append or Sync can be made to fail: a failure cuts the log back
// to the last successful sync, as wal.Options.RollbackUnsynced does.
type gatedLog struct {
	fakeLog
	gate     chan struct{} // Sync waits for a value (or a close) on it
	entered  chan struct{} // Sync sends here when it starts waiting
	failSync atomic.Int32  // the next n syncs fail
}

func newGatedLog() *gatedLog {
	return &gatedLog{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func (l *gatedLog) Sync() error {
	l.entered <- struct{}{}
	<-l.gate
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failSync.Load() > 0 {
		l.failSync.Add(-1)
		l.entries = l.entries[:l.durable]
		return errors.New("disk full")
	}
	l.syncs++
	l.durable = len(l.entries)
	return nil
}

// release lets every pending and future Sync through.
func (l *gatedLog) release() { close(l.gate) }

// ackRecorder records acks and checks each against the log's durable part.
type ackRecorder struct {
	log   interface{ durableHas(string) bool }
	mu    sync.Mutex
	ids   []int
	early []int
	all   chan struct{}
	want  int
}

func newAckRecorder(log interface{ durableHas(string) bool }, want int) *ackRecorder {
	return &ackRecorder{log: log, want: want, all: make(chan struct{})}
}

func (r *ackRecorder) onAck(m *ingest.Message) {
	durable := r.log.durableHas(string(m.Points[:len(m.Points)-1]))
	r.mu.Lock()
	defer r.mu.Unlock()
	if !durable {
		r.early = append(r.early, int(m.MessageID))
	}
	r.ids = append(r.ids, int(m.MessageID))
	if len(r.ids) == r.want {
		close(r.all)
	}
}

func (r *ackRecorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.ids) }

func (r *ackRecorder) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.all:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d of %d messages acked", r.count(), r.want)
	}
}

// check fails the test for an ack before durability or out of order; ids
// must be acked as 0, 1, 2, ... in the order of first.
func (r *ackRecorder) check(t *testing.T, order []int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.early) > 0 {
		t.Fatalf("%d messages acked before their sync, e.g. %d", len(r.early), r.early[0])
	}
	if len(r.ids) != len(order) {
		t.Fatalf("%d acks, want %d", len(r.ids), len(order))
	}
	for i := range order {
		if r.ids[i] != order[i] {
			t.Fatalf("ack %d was message %d, want %d: out of arrival order", i, r.ids[i], order[i])
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func startRun(t *testing.T, b *Batcher) (context.CancelFunc, chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(cancel)
	return cancel, done
}

func pipelineConfig() Config {
	c := testConfig()
	c.Queue = 4
	c.MinInterval = 0
	c.Linger = 0
	return c
}

// TestPipelineIntakeDuringSync: while a sync hangs, the batcher keeps
// taking messages (a queue of 4 takes 50 without blocking the source) but
// acks none of them; once syncs complete every message is acked after the
// sync that covered it, in arrival order.
func TestPipelineIntakeDuringSync(t *testing.T) {
	log := newGatedLog()
	b := New(pipelineConfig(), log, Options{Fsync: true})
	cancel, done := startRun(t, b)
	<-log.entered // the start's epoch entry is being synced

	const n = 50
	rec := newAckRecorder(log, n)
	order := make([]int, n)
	returned := make(chan struct{})
	go func() {
		for i := range n {
			order[i] = i
			b.Handle(msg(i, 1, rec.onAck))
		}
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(20 * time.Second):
		t.Fatal("the source blocked while a sync was in progress: the intake stopped")
	}
	if c := rec.count(); c != 0 {
		t.Fatalf("%d acks while the sync covering them had not started", c)
	}
	log.release()
	rec.wait(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec.check(t, order)
}

// TestPipelineQoS0NoDropWhileSyncHangs: QoS 0 messages sent one at a time
// while a sync hangs, each once the queue of 4 has room, all reach the
// batch (none is dropped), then all reach the log.
func TestPipelineQoS0NoDropWhileSyncHangs(t *testing.T) {
	log := newGatedLog()
	b := New(pipelineConfig(), log, Options{Fsync: true})
	cancel, done := startRun(t, b)
	<-log.entered
	const n = 200
	for i := range n {
		waitFor(t, "the batcher to take queued messages during the sync", func() bool { return b.Stats().Queued() < 4 })
		b.Handle(msg(i, 0, nil))
	}
	if d := b.Stats().Dropped.Load(); d != 0 {
		t.Fatalf("%d QoS 0 messages dropped while the queue was being drained", d)
	}
	log.release()
	waitFor(t, "all messages committed", func() bool { return b.Stats().Messages.Load() == n })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var lines int
	for _, e := range log.entries {
		lines += bytes.Count(e.Points, []byte("\n"))
	}
	if lines != n {
		t.Fatalf("%d points in the log, want %d", lines, n)
	}
}

// TestPipelineBoundsHoldSources: with a batch in its sync, the next batch
// stops at max_points and the queue fills: a QoS 1 source blocks after
// max_points + queue messages, and a QoS 0 message is then dropped.
func TestPipelineBoundsHoldSources(t *testing.T) {
	log := newGatedLog()
	cfg := pipelineConfig()
	cfg.MaxPoints = 10
	b := New(cfg, log, Options{Fsync: true})
	cancel, done := startRun(t, b)
	<-log.entered
	var sent atomic.Int32
	go func() {
		for i := range 100 {
			b.Handle(msg(i, 1, nil))
			sent.Add(1)
		}
	}()
	want := int32(cfg.MaxPoints + cfg.Queue) // in the open batch, then in the queue
	waitFor(t, "the open batch and the queue to fill", func() bool { return sent.Load() >= want })
	time.Sleep(50 * time.Millisecond) // a wrong batcher would take more meanwhile
	if got := sent.Load(); got != want {
		t.Fatalf("%d messages taken while a sync hangs, want %d (max_points %d + queue %d)", got, want, cfg.MaxPoints, cfg.Queue)
	}
	b.Handle(msg(1000, 0, nil))
	if d := b.Stats().Dropped.Load(); d != 1 {
		t.Fatalf("dropped = %d, want 1", d)
	}
	log.release()
	waitFor(t, "the source to finish", func() bool { return sent.Load() == 100 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPipelineDedupeAcrossBatches: a redelivery that arrives while the
// original is in a batch still being synced is not written again, and is
// acked only once the original is durable.
func TestPipelineDedupeAcrossBatches(t *testing.T) {
	log := newGatedLog()
	b := New(pipelineConfig(), log, Options{Fsync: true})
	cancel, done := startRun(t, b)
	<-log.entered // the epoch
	rec := newAckRecorder(log, 3)
	b.Handle(msg(1, 1, rec.onAck))
	log.gate <- struct{}{} // the epoch is durable
	<-log.entered          // the batch with message 1 is being synced
	redelivered := msg(1, 1, rec.onAck)
	redelivered.Dup = true
	redelivered.MessageID = 1 // same id and fingerprint
	b.Handle(redelivered)
	b.Handle(msg(2, 1, rec.onAck))
	waitFor(t, "the redelivery to be taken", func() bool { return b.Stats().Queued() == 0 })
	if c := rec.count(); c != 0 {
		t.Fatalf("%d acks before any sync of the messages completed", c)
	}
	log.release()
	rec.wait(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec.check(t, []int{1, 1, 2})
	if d := b.Stats().Deduped.Load(); d != 1 {
		t.Fatalf("deduped = %d, want 1", d)
	}
	var ones int
	for _, e := range log.entries {
		ones += bytes.Count(e.Points, []byte("f=1i"))
	}
	if ones != 1 {
		t.Fatalf("message 1 is %d times in the log, want once", ones)
	}
}

// TestPipelineShutdownDrains: messages queued while a sync hangs and the
// context is cancelled are all committed and acked before Run returns.
func TestPipelineShutdownDrains(t *testing.T) {
	log := newGatedLog()
	cfg := pipelineConfig()
	cfg.Queue = 100
	cfg.MaxPoints = 7 // several batches left at shutdown
	b := New(cfg, log, Options{Fsync: true})
	cancel, done := startRun(t, b)
	<-log.entered
	const n = 60
	rec := newAckRecorder(log, n)
	order := make([]int, n)
	for i := range n {
		order[i] = i
		b.Handle(msg(i, 1, rec.onAck))
	}
	cancel()
	log.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := rec.count(); c != n {
		t.Fatalf("%d of %d messages acked when Run returned", c, n)
	}
	rec.check(t, order)
}

// TestPipelineSyncFailureRetries: a failed sync holds the acks and the
// batch is written again; the intake goes on meanwhile; every message ends
// up in the log once and is acked after its sync, in order.
func TestPipelineSyncFailureRetries(t *testing.T) {
	log := newGatedLog()
	b := New(pipelineConfig(), log, Options{Fsync: true})
	b.retryDelay = time.Millisecond
	cancel, done := startRun(t, b)
	<-log.entered
	log.gate <- struct{}{} // the epoch is durable
	const n = 30
	rec := newAckRecorder(log, n)
	order := make([]int, n)
	log.failSync.Store(2)
	order[0] = 0
	b.Handle(msg(0, 1, rec.onAck))
	<-log.entered
	log.gate <- struct{}{} // the first attempt fails
	<-log.entered
	for i := 1; i < n; i++ { // the intake continues during the retries
		order[i] = i
		b.Handle(msg(i, 1, rec.onAck))
	}
	if c := rec.count(); c != 0 {
		t.Fatalf("%d acks after a failed sync", c)
	}
	log.release()
	rec.wait(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec.check(t, order)
	seen := map[string]int{}
	for _, e := range log.entries {
		for _, line := range bytes.SplitAfter(e.Points, []byte("\n")) {
			if len(line) > 0 {
				seen[string(line)]++
			}
		}
	}
	for i := range n {
		line := string(msg(i, 1, nil).Points)
		if seen[line] != 1 {
			t.Fatalf("message %d is %d times in the log, want once", i, seen[line])
		}
	}
}

// TestLingerHoldsSmallBatches: a trickle of QoS 0 messages every 2 ms with
// linger 40ms and no min_interval: commits start at least 40 ms after the
// first message of their batch, so over an elapsed time T there are at most
// T/40ms + 2 of them.
func TestLingerHoldsSmallBatches(t *testing.T) {
	log := &fakeLog{}
	cfg := testConfig()
	cfg.MinInterval = 0
	cfg.Linger = 40 * time.Millisecond
	cfg.FillBytes = 1 << 20
	b := New(cfg, log, Options{Fsync: true})
	start := time.Now()
	cancel, done := startRun(t, b)
	const n = 100
	for i := range n {
		b.Handle(msg(i, 0, nil))
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, "all messages committed", func() bool { return b.Stats().Messages.Load() == n })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if batches, most := b.Stats().Batches.Load(), uint64(elapsed/cfg.Linger)+2; batches > most {
		t.Fatalf("%d batches in %s with linger %s: at most %d", batches, elapsed, cfg.Linger, most)
	}
}

// TestLingerDoesNotStallAWindow: a broker that keeps at most 3 messages
// unacked stops sending. A batcher holding small batches for linger learns
// the window from the first batch that waits it out (and from its probes,
// which wait ever more rarely), so few batches wait for linger: counted
// through the clock-free batch sizes, no more than 1 + log2 of the number
// of batches plus the last one.
func TestLingerDoesNotStallAWindow(t *testing.T) {
	log := &fakeLog{}
	cfg := testConfig()
	cfg.MinInterval = 0
	cfg.Linger = 30 * time.Millisecond
	cfg.FillBytes = 1 << 20
	b := New(cfg, log, Options{Fsync: true})
	cancel, done := startRun(t, b)
	const n, window = 300, 3
	slots := make(chan struct{}, window)
	rec := newAckRecorder(log, n-window)
	go func() {
		for i := range n {
			slots <- struct{}{}
			b.Handle(msg(i, 1, func(m *ingest.Message) {
				if m.MessageID < n-window {
					rec.onAck(m)
				}
				<-slots
			}))
		}
	}()
	rec.wait(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// 100 batches: the first, and probes after 0, 1, 3, 7, 15, 31, 63
	// batches of backoff, wait; a batcher that does not learn waits in
	// every one.
	if lw := b.win.lingered; lw > 12 {
		t.Fatalf("%d of %d batches waited out linger for a window of %d", lw, b.Stats().Batches.Load(), window)
	}
	t.Logf("%d of %d batches waited out linger", b.win.lingered, b.Stats().Batches.Load())
}

// TestAckLatencyStamps: messages queued before a batch is cut carry the
// stamp of the first of them; a message queued after the cut carries a
// new stamp, not the backlog's.
func TestAckLatencyStamps(t *testing.T) {
	b := New(testConfig(), &fakeLog{}, Options{})
	b.Handle(msg(0, 0, nil))
	time.Sleep(2 * time.Millisecond)
	b.Handle(msg(1, 0, nil))
	first, second := <-b.queue, <-b.queue
	if first.t == 0 || second.t != first.t {
		t.Fatalf("stamps %d and %d: want one non-zero stamp for the messages queued before the cut", first.t, second.t)
	}
	b.stamp.Store(0) // the cut
	b.Handle(msg(2, 0, nil))
	if third := <-b.queue; third.t <= first.t {
		t.Fatalf("stamp after the cut %d, not after the backlog's %d", third.t, first.t)
	}
}

// TestQueueBytesHoldSources: with a batch in its sync and the next one at
// max_points, the queue takes messages only up to queue_bytes of points,
// far below its length: then a QoS 1 source blocks and a QoS 0 message is
// dropped; once the sync completes everything is committed.
func TestQueueBytesHoldSources(t *testing.T) {
	log := newGatedLog()
	cfg := pipelineConfig()
	cfg.MaxPoints = 10
	cfg.Queue = 1000
	size := len(msg(10, 1, nil).Points) // messages 10 to 99 are this long
	cfg.QueueBytes = wal.Size(3 * size)
	b := New(cfg, log, Options{Fsync: true})
	cancel, done := startRun(t, b)
	<-log.entered
	var sent atomic.Int32
	go func() {
		for i := range 100 {
			b.Handle(msg(i, 1, nil))
			sent.Add(1)
		}
	}()
	want := int32(cfg.MaxPoints + 3) // the open batch, then three messages' bytes
	waitFor(t, "the open batch and the queue to fill", func() bool { return sent.Load() >= want })
	time.Sleep(50 * time.Millisecond) // a batcher ignoring queue_bytes would take more meanwhile
	if got := sent.Load(); got != want {
		t.Fatalf("%d messages taken while a sync hangs, want %d (max_points %d + 3 × %d bytes)", got, want, cfg.MaxPoints, size)
	}
	b.Handle(msg(1000, 0, nil))
	if d := b.Stats().Dropped.Load(); d != 1 {
		t.Fatalf("dropped = %d, want 1", d)
	}
	log.release()
	waitFor(t, "the source to finish", func() bool { return sent.Load() == 100 })
	waitFor(t, "all committed", func() bool { return b.Stats().Messages.Load() == 100 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestShutdownGivesUpOnABrokenDisk: at shutdown, a batch whose sync keeps
// failing (a removed data_dir) is retried for the grace period only; Run
// then returns an error and the message is never acked, so the broker
// keeps it for the next start.
func TestShutdownGivesUpOnABrokenDisk(t *testing.T) {
	log := newGatedLog()
	b := New(pipelineConfig(), log, Options{Fsync: true})
	b.retryDelay = time.Millisecond
	b.grace = 50 * time.Millisecond
	cancel, done := startRun(t, b)
	<-log.entered // the start's epoch is being synced
	rec := newAckRecorder(log, 1)
	b.Handle(msg(0, 1, rec.onAck))
	cancel()
	// Let Run see the end of its context before the epoch completes, so
	// that the message's batch is committed by the shutdown drain (a batch
	// handed over before gives up with the context it was handed with).
	time.Sleep(20 * time.Millisecond)
	log.gate <- struct{}{} // the epoch is durable
	<-log.entered          // the message's batch is being synced
	log.failSync.Store(1 << 30)
	log.release()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil with its last batch never durable")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run kept retrying a failing write at shutdown")
	}
	if c := rec.count(); c != 0 {
		t.Fatalf("%d acks for a batch that never became durable", c)
	}
}

// TestHeldBatchIsNotWokenPerMessage: a batch filled past fill_bytes waits
// out min_interval, which no further message shortens, so the sources let
// the collecting goroutine sleep until an eighth of the queue is waiting
// instead of waking it for every message (which once cost a goroutine
// switch per message at the QoS 0 ceiling). 500 messages queued one by
// one during a long min_interval wake it a handful of times, not 500.
func TestHeldBatchIsNotWokenPerMessage(t *testing.T) {
	log := &fakeLog{}
	cfg := testConfig()
	cfg.MinInterval = time.Hour
	cfg.Linger = 20 * time.Millisecond
	cfg.FillBytes = 64
	cfg.Queue = 1024
	b := New(cfg, log, Options{Fsync: true})
	cancel, done := startRun(t, b)
	// The first commit starts at once: the epoch of a fresh start, with
	// the first message if it is queued in time ...
	b.Handle(msg(0, 0, nil))
	waitFor(t, "the first commit", func() bool { log.mu.Lock(); defer log.mu.Unlock(); return log.syncs > 0 })
	const n = 500 // ... and the next waits an hour
	for i := 1; i <= n; i++ {
		b.Handle(msg(i, 0, nil))
		time.Sleep(100 * time.Microsecond) // a source, not a burst
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := b.Stats().Messages.Load(); got != n+1 {
		t.Fatalf("%d messages committed, want %d", got, n+1)
	}
	if dropped := b.Stats().Dropped.Load(); dropped > 0 {
		t.Fatalf("%d messages dropped", dropped)
	}
	if b.wakeups > n/10 {
		t.Fatalf("the collector woke %d times for %d messages held by min_interval", b.wakeups, n)
	}
	t.Logf("%d wakeups for %d messages", b.wakeups, n)
}
