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

	queue chan queued
	stop  chan struct{}
	once  sync.Once
	wake  chan struct{} // a source (re)connected: an epoch is due
	// nudged wakes Run when the queue holds nudge messages or more; nudge
	// is 0 while Run takes every message as it comes.
	nudged chan struct{}
	nudge  atomic.Int64

	mu       sync.Mutex
	down     map[string]bool // sources currently disconnected
	epochDue bool

	// seen and window belong to Run's collecting goroutine, entries to
	// its committer.
	seen    *fingerprints
	win     window
	wakeups int // rounds of Run's loop, for tests
	entries []*wal.Entry
	stats   Stats
	// retryDelay is the pause between attempts of a failed write.
	retryDelay time.Duration
	// grace bounds the retries of a failing write at shutdown
	// (shutdownGrace).
	grace time.Duration
	// stamp is the wall-clock time (unix ns) at which the first message
	// queued since the last batch was cut was queued, 0 if none yet: every
	// message queued meanwhile carries it (see Stats.AckLatency).
	stamp atomic.Int64
	// qbytes is the size of the points in the queue; room wakes a source
	// blocked on Config.QueueBytes or on held, waiters counts those
	// sources.
	qbytes atomic.Int64
	// held counts the QoS > 0 messages queued or in a batch and not yet
	// acked; sources block at Config.Dedupe of them (see overHeld).
	held atomic.Int64
	// extraSyncs counts syncs of the log other than group commits since
	// Run last looked (see tryWrite).
	extraSyncs atomic.Int64
	room       chan struct{}
	waiters    atomic.Int32
}

// queued is a message in the queue with its queueing stamp.
type queued struct {
	m *ingest.Message
	t int64
}

// Stats are the batcher's counters.
type Stats struct {
	Messages, Points, Batches, Syncs, Heartbeats atomic.Uint64
	// Deduped counts redelivered messages recognised and dropped.
	Deduped atomic.Uint64
	// DupUnmatched counts messages marked as redeliveries (DUP) whose
	// original was not found, which are kept as new: normal when the
	// original never reached the agent (lost with a connection), a missed
	// duplicate when it did.
	DupUnmatched atomic.Uint64
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
	// queueing of the batch's oldest message to its ack. Queueing times are
	// read once per batch, not per message: each message carries the time
	// at which the first message queued since the previous batch was cut
	// was queued. A message is thus stamped at most one batch early: under
	// a backlog the figure errs high by at most a commit cycle, never low.
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
		notify: opts.Notify, win: window{size: 8}, queue: make(chan queued, cfg.Queue), stop: make(chan struct{}), wake: make(chan struct{}, 1), room: make(chan struct{}, 1),
		nudged: make(chan struct{}, 1),
		down:   map[string]bool{}, epochDue: true, seen: newFingerprints(cfg.Dedupe)}
	if b.now == nil {
		b.now = time.Now
	}
	b.retryDelay = time.Second
	b.grace = shutdownGrace
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
	q := queued{m, b.stamp.Load()}
	if q.t == 0 {
		q.t = time.Now().UnixNano()
		b.stamp.CompareAndSwap(0, q.t)
	}
	size := int64(len(m.Points))
	var hold int64 // 1 for a message that waits for its ack
	if m.QoS > 0 {
		hold = 1
	}
	if !b.overBytes(size) && (hold == 0 || !b.overHeld()) {
		b.qbytes.Add(size)
		b.held.Add(hold)
		select {
		case b.queue <- q:
			b.maybeNudge()
			return
		default:
			b.qbytes.Add(-size)
			b.held.Add(-hold)
		}
	}
	if m.QoS == 0 {
		b.stats.Dropped.Add(1)
		return
	}
	start := time.Now()
	defer func() { b.stats.BlockedNanos.Add(int64(time.Since(start))) }()
	if !b.waitQueue(size) {
		return
	}
	b.qbytes.Add(size)
	b.held.Add(1)
	select {
	case b.queue <- q:
		b.maybeNudge()
	case <-b.stop:
		b.qbytes.Add(-size)
		b.held.Add(-1)
	}
}

// overHeld reports whether Config.Dedupe messages wait for their acks
// already. A broker's inflight window does not always bound them:
// mosquitto 2.0.11 sent a persistent session's backlog of 600k messages
// with up to 36k unacked at once with max_inflight_messages 1000, 59k
// with 20 (scripts/unacked-peak.sh). Every one of them may come again, redelivered after a
// reconnect, and is recognised as a redelivery only while its
// fingerprint is among the last Dedupe seen; each also holds its MQTT
// packet until its ack, about 400 bytes of heap.
func (b *Batcher) overHeld() bool {
	limit := int64(b.cfg.Dedupe)
	return limit > 0 && b.held.Load() >= limit
}

// overBytes reports whether queueing size more bytes of points would pass
// Config.QueueBytes. One message always fits in an empty queue.
func (b *Batcher) overBytes(size int64) bool {
	limit := int64(b.cfg.QueueBytes)
	q := b.qbytes.Load()
	return limit > 0 && q > 0 && q+size > limit
}

// waitQueue blocks a QoS 1 source until its message fits under
// Config.QueueBytes and under the held bound (overHeld); false if the
// batcher stopped meanwhile.
func (b *Batcher) waitQueue(size int64) bool {
	full := func() bool { return b.overBytes(size) || b.overHeld() }
	if !full() {
		return true
	}
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	for full() {
		select {
		case b.nudged <- struct{}{}: // the collector may be waiting for a longer queue
		default:
		}
		select {
		case <-b.room:
		case <-b.stop:
			return false
		}
	}
	if b.waiters.Load() > 1 { // pass the wakeup on
		select {
		case b.room <- struct{}{}:
		default:
		}
	}
	return true
}

// maybeNudge wakes Run if it waits for the queue to reach a length.
func (b *Batcher) maybeNudge() {
	if at := b.nudge.Load(); at > 0 && int64(len(b.queue)) >= at {
		select {
		case b.nudged <- struct{}{}:
		default:
		}
	}
}

// Connected records a source's connection state. A (re)connect schedules an
// epoch entry; heartbeats pause while any source is down.
func (b *Batcher) Connected(source string, up bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if up {
		delete(b.down, source)
		b.epochDue = true
		select {
		case b.wake <- struct{}{}:
		default:
		}
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

// shutdownGrace bounds the retries of a failing write once Run's context
// is done.
const shutdownGrace = 10 * time.Second

// Run commits batches until ctx is done, then commits what is queued and
// returns. Sources must have stopped calling Handle by then for nothing to
// be left unacknowledged (what is left is redelivered by the broker).
//
// Run is a pipeline of two goroutines: this one collects messages into the
// open batch while a committer writes, syncs and acks the previous one, so
// a slow fsync does not stop the intake. At most one batch is being
// committed at a time, batches are committed in the order they were
// collected, and the open batch stops taking messages at its bounds (then
// the queue fills and sources block or drop as before).
func (b *Batcher) Run(ctx context.Context) error {
	defer b.once.Do(func() { close(b.stop) })
	work := make(chan job)
	done := make(chan error, 1)
	go func() {
		for j := range work {
			done <- b.commit(j.ctx, j.batch)
		}
	}()
	defer close(work)
	hb := time.NewTicker(b.cfg.Heartbeat)
	defer hb.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		bufs     [2]batch
		open     = &bufs[0]
		inFlight *batch // the batch the committer holds, nil when idle
		// lastStart is the wall-clock start of the last commit: it paces
		// the disk, it is not data.
		lastStart  time.Time
		lastCommit = b.now()
		stopping   bool
		commitCtx  = ctx
		ctxDone    = ctx.Done()
	)
	for {
		if stopping {
			b.collect(open)
			if inFlight == nil && open.empty() && len(b.queue) == 0 {
				return nil
			}
		}
		// Hand the open batch to the committer when it is idle, the pacing
		// allows and there is something to write; otherwise the batch is
		// held (see holdFor).
		holding := false
		if inFlight == nil {
			if b.epochPending() {
				open.epoch = true
			}
			if !open.empty() {
				now := time.Now()
				var wait time.Duration
				if !stopping {
					b.collect(open)
					wait = b.holdFor(open, now, lastStart)
				}
				if wait <= 0 {
					if open.epoch {
						open.epoch, _ = b.takeEpoch()
					}
					b.learnWindow(open, now)
					lastStart = now
					b.stamp.Store(0) // messages queued from now on start the next batch's clock
					inFlight = open
					work <- job{commitCtx, open}
					if open == &bufs[0] {
						open = &bufs[1]
					} else {
						open = &bufs[0]
					}
					continue
				}
				timer.Reset(wait)
				holding = true
			}
		}
		// While a batch is held or being committed, the queue is left to
		// fill: a source wakes this goroutine only when enough is queued
		// to matter (see nudgeAt), not for every message.
		var in chan queued
		if !open.full(&b.cfg) {
			in = b.queue
			if at := b.nudgeAt(open, inFlight != nil, holding && !stopping); at > 0 {
				b.nudge.Store(int64(at))
				if len(b.queue) < at {
					in = nil
				}
			}
		}
		b.wakeups++
		select {
		case <-ctxDone:
			// Commit what is queued, but not forever: with the disk gone
			// (a full disk, a removed data_dir) the retries end after
			// shutdownGrace and the unacked messages stay with the broker,
			// which redelivers them to the next start.
			var cancel context.CancelFunc
			commitCtx, cancel = context.WithTimeout(context.Background(), b.grace)
			defer cancel()
			stopping, ctxDone = true, nil
		case q := <-in:
			b.add(open, q)
			b.collect(open)
		case <-b.nudged:
			b.collect(open)
		case err := <-done:
			inFlight = nil
			if err != nil {
				return err
			}
			// min_interval bounds every sync of the ingest log, not only
			// the group commits': each extra one (a segment rotation at
			// high throughput) pushes the next commit back by an interval.
			if x := b.extraSyncs.Swap(0); x > 0 {
				lastStart = lastStart.Add(time.Duration(min(x, 100)) * b.cfg.MinInterval)
			}
			lastCommit = b.now()
		case <-timer.C:
		case <-b.wake:
		case <-hb.C:
			if stopping || inFlight != nil || !open.empty() || b.now().Sub(lastCommit) < b.cfg.Heartbeat {
				break
			}
			b.mu.Lock()
			open.heartbeat = len(b.down) == 0
			b.mu.Unlock()
		}
		b.nudge.Store(0)
		if holding {
			timer.Stop()
		}
	}
}

// nudgeAt returns the queue length at which a source should wake the
// collecting goroutine, 0 to take every message as it comes: while the
// committer is busy, an eighth of the queue (the rest leaves the collector
// time to be scheduled before QoS 0 messages drop); while a batch lingers,
// as many messages as would make it stop waiting; while it only waits for
// min_interval, which no message shortens, an eighth again.
func (b *Batcher) nudgeAt(open *batch, busy, holding bool) int {
	part := max(1, cap(b.queue)/8)
	switch {
	case busy:
		return part
	case !holding:
		return 0
	case !b.lingering(open):
		return part
	}
	at := part
	if open.unacked > 0 {
		at = min(at, b.win.size-open.unacked)
	}
	if b.cfg.FillBytes > 0 && open.count > 0 {
		per := max(1, len(open.points)/open.count)
		at = min(at, (int(b.cfg.FillBytes)-len(open.points))/per+1)
	}
	return max(1, at)
}

// lingering reports whether the open batch may still wait for linger:
// it is neither full nor filled to fill_bytes nor holding the learned
// inflight window (see holdFor).
func (b *Batcher) lingering(open *batch) bool {
	return open.count > 0 && b.cfg.Linger > 0 && !open.full(&b.cfg) && !b.overHeld() &&
		(b.cfg.FillBytes <= 0 || len(open.points) < int(b.cfg.FillBytes)) &&
		(open.unacked == 0 || open.unacked < b.win.size)
}

// job is a batch handed to the committer with the context its write
// retries under.
type job struct {
	ctx   context.Context
	batch *batch
}

// holdFor returns how much longer the open batch should wait before its
// commit starts: until min_interval has passed since the last start and,
// while the batch is small, up to linger after its first message (see
// Config.Linger). 0 or less means now.
func (b *Batcher) holdFor(open *batch, now, lastStart time.Time) time.Duration {
	wait := b.cfg.MinInterval - now.Sub(lastStart)
	if !b.lingering(open) {
		return wait
	}
	return max(wait, open.opened.Add(b.cfg.Linger).Sub(now))
}

// learnWindow updates the estimate of the brokers' inflight window as the
// open batch is cut. A broker that waits for acks stops sending when the
// batcher holds its whole window: a batch that waited out linger holding n
// QoS 1 messages suggests a window of n, so the next batches stop waiting
// at n. Stopping there may be too early (the window may be larger), so now
// and then the estimate is raised by an eighth as a probe; a probe that
// ends in a linger wait again means the estimate was right, and the next
// probe waits twice as many batches (up to 64).
func (b *Batcher) learnWindow(open *batch, now time.Time) {
	w := &b.win
	switch {
	case open.count == 0 || b.cfg.Linger <= 0 || open.unacked == 0:
	case !now.Before(open.opened.Add(b.cfg.Linger)):
		if w.probing && open.unacked < w.size {
			w.backoff = min(2*w.backoff+1, 64)
			w.skip = w.backoff
		}
		w.size, w.probing = open.unacked, false
		w.lingered++
	case open.unacked >= w.size:
		if w.probing {
			w.backoff, w.probing = 0, false // the window was larger
		}
		if w.skip > 0 {
			w.skip--
			break
		}
		w.size += max(1, w.size/8)
		w.probing = true
	}
}

// window is the estimate of the brokers' inflight window: see learnWindow.
type window struct {
	size          int
	probing       bool
	skip, backoff int
	lingered      int // batches that waited out linger, for tests
}

// epochPending reports whether an epoch entry is due, without taking it.
func (b *Batcher) epochPending() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.epochDue
}

// collect moves queued messages into the open batch until the queue is
// empty or a bound is reached, and raises the inflight window estimate.
func (b *Batcher) collect(open *batch) {
	for !open.full(&b.cfg) {
		select {
		case q := <-b.queue:
			b.add(open, q)
		default:
			return
		}
	}
}

// commit writes the batch (an epoch entry first when one is due, the
// points, a heartbeat) with one append and one sync, then acks its
// messages in arrival order. It runs in the committer goroutine.
func (b *Batcher) commit(ctx context.Context, bt *batch) error {
	defer bt.reset()
	entries := b.entries[:0]
	if bt.epoch {
		entries = append(entries, &wal.Entry{Kind: wal.KindEpoch, IngestTime: b.now().UnixNano()})
	}
	if bt.hasData() {
		entries = append(entries, &wal.Entry{Kind: wal.KindBatch, IngestTime: b.now().UnixNano(),
			Fingerprints: bt.fps, Points: bt.points})
	}
	if bt.heartbeat {
		entries = append(entries, &wal.Entry{Kind: wal.KindHeartbeat, IngestTime: b.now().UnixNano()})
	}
	b.entries = entries
	defer clear(b.entries)
	if len(entries) > 0 {
		if _, err := b.write(ctx, entries...); err != nil {
			return err
		}
	}
	if bt.heartbeat {
		b.stats.Heartbeats.Add(1)
	}
	if bt.count == 0 {
		return nil
	}
	for _, m := range bt.msgs {
		m.Ack()
	}
	b.held.Add(-int64(len(bt.msgs)))
	if b.waiters.Load() > 0 {
		select {
		case b.room <- struct{}{}:
		default:
		}
	}
	b.stats.Batches.Add(1)
	b.stats.Messages.Add(uint64(bt.count))
	b.stats.Points.Add(uint64(bt.n))
	b.stats.LastBatch.Store(int64(bt.count))
	b.stats.BatchSize.Observe(int64(bt.count))
	b.stats.AckLatency.Observe(time.Now().UnixNano() - bt.queued)
	return nil
}

// add puts a queued message into the open batch unless it is a redelivery
// of a message already in the log or in a batch collected before, which is
// only acked (after that batch, since batches commit in order).
func (b *Batcher) add(bt *batch, q queued) {
	m := q.m
	b.qbytes.Add(-int64(len(m.Points)))
	if b.waiters.Load() > 0 {
		select {
		case b.room <- struct{}{}:
		default:
		}
	}
	if bt.count == 0 {
		bt.queued, bt.opened = q.t, time.Now()
	}
	bt.count++
	if m.QoS > 0 {
		bt.msgs = append(bt.msgs, m)
		bt.unacked++
		if m.Dup {
			if b.seen.has(m.Fingerprint) || m.LegacyFingerprint != 0 && b.seen.has(m.LegacyFingerprint) {
				b.stats.Deduped.Add(1)
				m.ReleasePoints()
				return
			}
			b.stats.DupUnmatched.Add(1)
		}
		b.seen.add(m.Fingerprint)
		bt.fps = append(bt.fps, m.Fingerprint)
	}
	bt.points = append(bt.points, m.Points...)
	bt.n += m.N
	// The message waits in bt.msgs for its ack; its points need not.
	m.ReleasePoints()
}

// write appends entries and makes them durable, retrying on failure (a
// full disk must not crash the agent: sources stay unacknowledged
// meanwhile) until ctx is done. It waits while the log is at its size cap.
func (b *Batcher) write(ctx context.Context, entries ...*wal.Entry) (uint64, error) {
	b.waitRoom(ctx)
	for attempt := 0; ; attempt++ {
		last, err := b.tryWrite(entries)
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
		time.Sleep(b.retryDelay)
	}
}

func (b *Batcher) tryWrite(entries []*wal.Entry) (uint64, error) {
	counter, _ := b.log.(interface{ Syncs() uint64 })
	var before uint64
	if counter != nil {
		before = counter.Syncs()
	}
	_, last, err := b.log.Append(entries...)
	if err != nil {
		return 0, err
	}
	if b.fsync {
		if err := b.log.Sync(); err != nil {
			return 0, err
		}
		b.stats.Syncs.Add(1)
	}
	if counter != nil {
		// The log's other syncs meanwhile (a full segment synced as the
		// next one starts, a checkpoint's truncation) count against the
		// same budget as group commits: see Run.
		n := counter.Syncs() - before
		if b.fsync {
			n--
		}
		if n > 0 && n < 1<<20 {
			b.extraSyncs.Add(int64(n))
		}
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
