package batcher

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/wal"
)

// Log is the part of the ingest log the batcher writes. Append must not
// sync; Sync makes everything appended so far durable.
type Log interface {
	Append(entries ...*wal.Entry) (first, last uint64, err error)
	Sync() error
	Full() bool
	Read(index uint64, e *wal.Entry) error
	FirstIndex() uint64
	LastIndex() uint64
}

// Batcher is an ingest.Handler that commits messages to the log in groups.
// Handle and Connected may be called from any goroutine; Run owns the rest.
type Batcher struct {
	cfg    Config
	log    Log
	fsync  bool
	now    func() time.Time
	logger *slog.Logger
	notify func(last uint64)

	queue chan *ingest.Message
	stop  chan struct{}
	once  sync.Once

	mu       sync.Mutex
	down     map[string]bool // sources currently disconnected
	epochDue bool

	seen  *fingerprints
	batch batch
	stats Stats
	// queuedSince is the wall-clock time (unix ns) at which the oldest
	// message not yet taken into a batch was queued, 0 if none: see
	// Stats.AckLatency.
	queuedSince atomic.Int64
}

// Stats are the batcher's counters.
type Stats struct {
	Messages, Points, Batches, Syncs, Heartbeats atomic.Uint64
	// Deduped counts redelivered messages recognised and dropped.
	Deduped atomic.Uint64
	// Dropped counts QoS 0 messages lost to a full queue.
	Dropped atomic.Uint64
	// BlockedNanos is the time sources spent blocked on a full queue.
	BlockedNanos atomic.Int64
	// FullNanos is the time commits waited for the log to get below its cap.
	FullNanos atomic.Int64
	// LastBatch is the number of messages in the last commit.
	LastBatch atomic.Int64
	Queued    func() int
	// BatchSize observes the number of messages of each group commit.
	BatchSize *Histogram
	// AckLatency observes, once per group commit, the nanoseconds from the
	// queueing of the batch's oldest message to its ack. The queueing time
	// is stamped by the first message queued after the previous batch was
	// cut (one clock read per batch, not per message), so a batch cut by
	// max_points or linger with messages left behind passes its stamp on
	// to the next one: under overload the figure errs high, never low.
	AckLatency *Histogram
}

// Bucket bounds of the histograms in Stats.
var (
	BatchSizeBounds  = []int64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}
	AckLatencyBounds = []int64{1e6, 2.5e6, 5e6, 10e6, 25e6, 50e6, 100e6, 250e6, 500e6, 1e9, 2.5e9, 5e9, 10e9}
)

// Histogram counts observations in fixed buckets, without locks. Observe
// and Snapshot may be called concurrently; a snapshot taken during an
// Observe may see its bucket and its sum at different moments.
type Histogram struct {
	bounds []int64
	counts []atomic.Uint64 // one per bound, then +Inf
	sum    atomic.Int64
}

// NewHistogram returns a histogram with the given ascending upper bounds.
func NewHistogram(bounds []int64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe counts v in the first bucket whose bound is at least v.
func (h *Histogram) Observe(v int64) {
	i := sort.Search(len(h.bounds), func(i int) bool { return v <= h.bounds[i] })
	h.counts[i].Add(1)
	h.sum.Add(v)
}

// Bounds returns the upper bounds of the buckets, +Inf left out. The
// caller must not modify them.
func (h *Histogram) Bounds() []int64 { return h.bounds }

// Snapshot returns the count of each bucket, not cumulative, the last one
// for +Inf, and the sum of all observations.
func (h *Histogram) Snapshot() (counts []uint64, sum int64) {
	counts = make([]uint64, len(h.counts))
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
	}
	return counts, h.sum.Load()
}

// Options carries the batcher's collaborators.
type Options struct {
	// Fsync syncs each commit before acking (wal.durability: fsync).
	Fsync bool
	// Now is the clock that stamps ingest time; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Notify is called after each commit with the last durable index.
	Notify func(last uint64)
}

// New returns a batcher writing to log. It reads the fingerprints of the
// log's tail so that redeliveries after a restart are recognised.
func New(cfg Config, log Log, opts Options) *Batcher {
	b := &Batcher{cfg: cfg, log: log, fsync: opts.Fsync, now: opts.Now, logger: opts.Logger,
		notify: opts.Notify, queue: make(chan *ingest.Message, cfg.Queue), stop: make(chan struct{}),
		down: map[string]bool{}, epochDue: true, seen: newFingerprints(cfg.Dedupe)}
	if b.now == nil {
		b.now = time.Now
	}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	if b.notify == nil {
		b.notify = func(uint64) {}
	}
	b.stats.Queued = func() int { return len(b.queue) }
	b.stats.BatchSize = NewHistogram(BatchSizeBounds)
	b.stats.AckLatency = NewHistogram(AckLatencyBounds)
	b.loadTail()
	return b
}

// Stats returns the live counters.
func (b *Batcher) Stats() *Stats { return &b.stats }

// Handle queues m. For QoS > 0 it blocks while the queue is full; a QoS 0
// message that finds the queue full is dropped and counted. After Run has
// returned, Handle drops messages without acking them, so the broker keeps
// QoS 1 messages for the next start.
func (b *Batcher) Handle(m *ingest.Message) {
	if b.queuedSince.Load() == 0 {
		b.queuedSince.CompareAndSwap(0, time.Now().UnixNano())
	}
	select {
	case b.queue <- m:
		return
	default:
	}
	if m.QoS == 0 {
		b.stats.Dropped.Add(1)
		return
	}
	start := time.Now()
	select {
	case b.queue <- m:
	case <-b.stop:
	}
	b.stats.BlockedNanos.Add(int64(time.Since(start)))
}

// Connected records a source's connection state. A (re)connect schedules an
// epoch entry; heartbeats pause while any source is down.
func (b *Batcher) Connected(source string, up bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if up {
		delete(b.down, source)
		b.epochDue = true
	} else {
		b.down[source] = true
	}
}

func (b *Batcher) takeEpoch() (epoch, allUp bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	epoch, b.epochDue = b.epochDue, false
	return epoch, len(b.down) == 0
}

// Run commits batches until ctx is done, then commits what is queued and
// returns. Sources must have stopped calling Handle by then for nothing to
// be left unacknowledged (what is left is redelivered by the broker).
func (b *Batcher) Run(ctx context.Context) error {
	defer b.once.Do(func() { close(b.stop) })
	hb := time.NewTicker(b.cfg.Heartbeat)
	defer hb.Stop()
	last := b.now()
	var lastCommit time.Time // wall clock: it paces the disk, it is not data
	for {
		if err := b.maybeEpoch(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return b.drain()
		case m := <-b.queue:
			if wait := b.cfg.MinInterval - time.Since(lastCommit); wait > 0 {
				// Let the next messages join this commit; at shutdown
				// commit at once.
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
				}
				t.Stop()
			}
			lastCommit = time.Now()
			if err := b.commit(ctx, m); err != nil {
				return err
			}
			last = b.now()
		case <-hb.C:
			if b.now().Sub(last) < b.cfg.Heartbeat {
				continue
			}
			if err := b.heartbeat(ctx); err != nil {
				return err
			}
			last = b.now()
		}
	}
}

// drain commits everything still queued at shutdown.
func (b *Batcher) drain() error {
	for {
		select {
		case m := <-b.queue:
			if err := b.commit(context.Background(), m); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (b *Batcher) maybeEpoch(ctx context.Context) error {
	if epoch, _ := b.takeEpoch(); epoch {
		return b.writeMarker(ctx, wal.KindEpoch)
	}
	return nil
}

func (b *Batcher) heartbeat(ctx context.Context) error {
	b.mu.Lock()
	allUp := len(b.down) == 0
	b.mu.Unlock()
	if !allUp {
		return nil
	}
	b.stats.Heartbeats.Add(1)
	return b.writeMarker(ctx, wal.KindHeartbeat)
}

func (b *Batcher) writeMarker(ctx context.Context, kind wal.Kind) error {
	e := &wal.Entry{Kind: kind, IngestTime: b.now().UnixNano()}
	_, err := b.write(ctx, e)
	return err
}

// commit collects a batch starting with first, writes it as one entry,
// syncs once, then acks its messages in arrival order.
func (b *Batcher) commit(ctx context.Context, first *ingest.Message) error {
	b.collect(first)
	defer b.batch.reset()
	queued := b.takeQueued()
	if b.batch.hasData() {
		e := &wal.Entry{Kind: wal.KindBatch, IngestTime: b.now().UnixNano(),
			Fingerprints: b.batch.fps, Points: b.batch.points}
		if _, err := b.write(ctx, e); err != nil {
			return err
		}
	}
	for _, m := range b.batch.msgs {
		m.Ack()
	}
	b.stats.Batches.Add(1)
	b.stats.Messages.Add(uint64(len(b.batch.msgs)))
	b.stats.Points.Add(uint64(b.batch.n))
	b.stats.LastBatch.Store(int64(len(b.batch.msgs)))
	b.stats.BatchSize.Observe(int64(len(b.batch.msgs)))
	b.stats.AckLatency.Observe(time.Now().UnixNano() - queued)
	return nil
}

// takeQueued returns the queueing time of the batch just collected (see
// Stats.AckLatency) and clears it for the next message to stamp, unless
// messages are still queued: their stamp is this one. A message queued
// while the previous batch was cut may have found the stamp still set and
// left none; its batch is then timed from now.
func (b *Batcher) takeQueued() int64 {
	t := b.queuedSince.Load()
	if len(b.queue) == 0 {
		b.queuedSince.CompareAndSwap(t, 0)
	}
	if t == 0 {
		return time.Now().UnixNano()
	}
	return t
}

// collect takes first and then whatever is queued, until the queue is empty
// or a bound is reached: the batch follows the load, linger caps the time a
// continuous stream can keep one batch open.
func (b *Batcher) collect(first *ingest.Message) {
	b.add(first)
	deadline := time.Now().Add(b.cfg.Linger)
	for b.batch.n < b.cfg.MaxPoints && len(b.batch.points) < int(b.cfg.MaxBytes) {
		select {
		case m := <-b.queue:
			b.add(m)
			if time.Now().After(deadline) {
				return
			}
		default:
			return
		}
	}
}

// add puts m into the batch unless it is a redelivery of a message already
// in the log, which is only acked.
func (b *Batcher) add(m *ingest.Message) {
	b.batch.msgs = append(b.batch.msgs, m)
	if m.QoS > 0 {
		if m.Dup && b.seen.has(m.Fingerprint) {
			b.stats.Deduped.Add(1)
			return
		}
		b.seen.add(m.Fingerprint)
		b.batch.fps = append(b.batch.fps, m.Fingerprint)
	}
	b.batch.points = append(b.batch.points, m.Points...)
	b.batch.n += m.N
}

// write appends e and makes it durable, retrying on failure (a full disk
// must not crash the agent: sources stay unacknowledged meanwhile) until ctx
// is done. It waits while the log is at its size cap.
func (b *Batcher) write(ctx context.Context, e *wal.Entry) (uint64, error) {
	b.waitRoom(ctx)
	for attempt := 0; ; attempt++ {
		last, err := b.tryWrite(e)
		if err == nil {
			b.notify(last)
			return last, nil
		}
		if attempt%30 == 0 {
			b.logger.Error("cannot write ingest log; holding acks and retrying", "err", err)
		}
		if ctx.Err() != nil && attempt > 0 {
			return 0, fmt.Errorf("write ingest log: %w", err)
		}
		time.Sleep(time.Second)
	}
}

func (b *Batcher) tryWrite(e *wal.Entry) (uint64, error) {
	_, last, err := b.log.Append(e)
	if err != nil {
		return 0, err
	}
	if b.fsync {
		if err := b.log.Sync(); err != nil {
			return 0, err
		}
		b.stats.Syncs.Add(1)
	}
	return last, nil
}

// waitRoom blocks while the log is at its cap; the engine's checkpoints
// truncate it. Acknowledged data is never dropped to make room.
func (b *Batcher) waitRoom(ctx context.Context) {
	if !b.log.Full() {
		return
	}
	start := time.Now()
	b.logger.Warn("ingest log at its size cap; holding sources until a checkpoint frees space")
	for b.log.Full() && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	b.stats.FullNanos.Add(int64(time.Since(start)))
}

// loadTail fills the fingerprint set from the newest log entries, oldest
// first, so that the set holds what it would have held before the restart.
func (b *Batcher) loadTail() {
	var (
		e     wal.Entry
		tail  [][]uint64
		total int
	)
	first := b.log.FirstIndex()
	for i := b.log.LastIndex(); i >= first && i > 0 && total < b.seen.cap(); i-- {
		if err := b.log.Read(i, &e); err != nil {
			continue
		}
		tail = append(tail, append([]uint64(nil), e.Fingerprints...))
		total += len(e.Fingerprints)
	}
	for i := len(tail) - 1; i >= 0; i-- {
		for _, fp := range tail[i] {
			b.seen.add(fp)
		}
	}
}
