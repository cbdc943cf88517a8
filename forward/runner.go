package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/rivulet-edge/rivulet/internal/bufs"
	"github.com/rivulet-edge/rivulet/wal"
)

// maxBatchBytes caps the line protocol sent in one request, below the
// default body limits of InfluxDB 1.x (25 MB) and 2.x.
const maxBatchBytes = 4 << 20

// logEvery is the least time between two failure log lines of one sink.
const logEvery = 30 * time.Second

// RunnerStats is a snapshot of one sink's delivery.
type RunnerStats struct {
	DeliveredPoints     uint64
	DeliveredRequests   uint64
	Retries             uint64 // failed attempts that will be retried
	DeadLetteredPoints  uint64
	DeadLetteredBatches uint64    // rejections: batches, or runs of lines of a partial write
	ExpiredPoints       uint64    // dropped unsent: older than the lane's ttl
	LastError           string    // empty until the first failure
	NextRetry           time.Time // zero unless waiting to retry
	ConsecutiveFailures int       // reset by a delivery or a dead-lettering
}

// Runner delivers one sink's outbox in order: it reads a batch after the
// cursor, writes it to the sink, and advances the cursor only when the sink
// has it (at-least-once; upstream writes are idempotent). It saves the
// cursor at most once per Config.CommitInterval while deliveries go on,
// once they pause, and when Run returns, after syncing a sink that buffers
// (the file sink), so that a saved cursor never runs ahead of what is
// durable upstream; after a crash, what was delivered since the last save
// is delivered again. A retryable
// failure repeats the same batch after a backoff, so nothing overtakes it; a
// permanent one dead-letters the batch and moves on.
type Runner struct {
	cfg        Config
	box        Outbox
	sink       Sink
	deadLetter string
	logger     *slog.Logger

	// Injected for tests.
	sleep func(ctx context.Context, d time.Duration) error
	rand  func() float64 // in [0, 1)
	now   func() time.Time

	buf                           []byte
	bufKeep                       bufs.Keeper // lets buf go after a burst
	failLog, resumeLog, expireLog logLimiter
	limit                         bucket

	unsaved  bool      // the cursor moved since the last save
	lastSave time.Time // when the cursor was last saved

	mu    sync.Mutex
	stats RunnerStats
}

// NewRunner returns a Runner for box and sink. deadLetter is the path of the
// sink's dead-letter file; empty drops rejected batches (still counted and
// logged). The Runner does not close sink.
func NewRunner(cfg Config, box Outbox, sink Sink, deadLetter string, logger *slog.Logger) *Runner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if s, ok := sink.(syncer); ok {
		if b, ok := box.(syncSetter); ok {
			b.SetSyncer(s.Sync)
		}
	}
	return &Runner{
		cfg:        cfg,
		box:        box,
		sink:       sink,
		deadLetter: deadLetter,
		logger:     logger.With("sink", cfg.Name),
		sleep:      sleepCtx,
		rand:       rand.Float64,
		now:        time.Now,
		failLog:    logLimiter{every: logEvery},
		resumeLog:  logLimiter{every: logEvery},
		expireLog:  logLimiter{every: logEvery},
		limit:      newBucket(int64(cfg.RateLimit)),
	}
}

// Stats returns a snapshot of the counters. It is safe to call from any
// goroutine.
func (r *Runner) Stats() RunnerStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Run delivers until ctx is done, then returns nil; a batch in flight is
// either finished or abandoned with the cursor where it was. Failures of the
// outbox are retried like failed deliveries; Run returns an error only when
// the outbox is closed under it. Run must not be called twice at once.
//
// After Config.ProbeAfter consecutive failures the next attempt carries a
// single entry (at most probePoints points when entries are small), so that
// a link that just came back is not hit by a full batch that times out
// again; full batches resume once the probe is delivered.
func (r *Runner) Run(ctx context.Context) error {
	for attempt := 0; ctx.Err() == nil; {
		// Wait before Next, so that an append between them is not missed.
		wake := r.box.Wait()
		probe := r.probing()
		maxPoints := r.cfg.BatchPoints
		if probe {
			maxPoints = min(maxPoints, probePoints)
		}
		entries, err := r.box.Next(maxPoints, maxBatchBytes)
		if err != nil {
			if err := r.outboxFailed(ctx, attempt, fmt.Errorf("outbox next: %w", err)); err != nil {
				return err
			}
			attempt++
			continue
		}
		attempt = 0
		if len(entries) == 0 {
			if err := r.idle(ctx, wake); err != nil {
				return err
			}
			continue
		}
		if probe {
			entries = entries[:1]
		}
		err = r.deliver(ctx, r.gather(entries), probe)
		// Decided after each delivery, so that a batch delivered once a
		// minute (a window's results) is not kept until the next one.
		r.buf = r.bufKeep.Bytes(r.buf, len(r.buf))
		if err != nil {
			return err
		}
	}
	r.finalSave()
	return nil
}

// idle waits for an append or the end of ctx; with the cursor not saved,
// it saves it once CommitInterval has passed since the last save.
func (r *Runner) idle(ctx context.Context, wake <-chan struct{}) error {
	var due <-chan time.Time
	if r.unsaved {
		t := time.NewTimer(r.lastSave.Add(r.cfg.CommitInterval).Sub(r.now()))
		defer t.Stop()
		due = t.C
	}
	select {
	case <-wake:
	case <-ctx.Done():
	case <-due:
		return r.save(ctx)
	}
	return nil
}

// maybeSave saves the cursor if it moved and CommitInterval has passed
// since the last save.
func (r *Runner) maybeSave(ctx context.Context) error {
	if !r.unsaved || r.now().Sub(r.lastSave) < r.cfg.CommitInterval {
		return nil
	}
	return r.save(ctx)
}

// syncer is a Sink whose Write leaves lines in a buffer or the page cache
// (the file sink): Sync makes everything written durable.
type syncer interface {
	Sync() error
}

// save makes what was delivered durable upstream, then persists the
// cursor. A failed sync rewinds the outbox to its saved cursor, so that the
// lines the sink may have lost are written again; a failed save is retried
// at the next one. It returns an error only when the outbox closed under
// Run.
func (r *Runner) save(ctx context.Context) error {
	r.lastSave = r.now()
	if s, ok := r.sink.(syncer); ok {
		if err := s.Sync(); err != nil {
			r.box.Rewind()
			r.unsaved = false
			r.pause(ctx, r.failures(), err)
			return nil
		}
	}
	if err := r.box.Save(); err != nil {
		return r.outboxFailed(ctx, 0, fmt.Errorf("outbox save: %w", err))
	}
	r.unsaved = false
	return nil
}

// finalSave saves the cursor as Run returns; a closed outbox (shutdown
// closed it first) leaves it where it was, to be delivered again.
func (r *Runner) finalSave() {
	if !r.unsaved {
		return
	}
	if s, ok := r.sink.(syncer); ok {
		if err := s.Sync(); err != nil {
			r.logger.Warn("sink sync at shutdown failed; the last deliveries will be repeated", "err", err)
			return
		}
	}
	if err := r.box.Save(); err != nil && !errors.Is(err, wal.ErrClosed) {
		r.logger.Warn("saving the cursor at shutdown failed; the last deliveries will be repeated", "err", err)
		return
	}
	r.unsaved = false
}

// probePoints caps the points of a probe batch.
const probePoints = 100

// probing reports whether the next attempt should be a probe.
func (r *Runner) probing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg.ProbeAfter > 0 && r.stats.ConsecutiveFailures >= r.cfg.ProbeAfter
}

// batch is the concatenated lines of the unexpired outbox entries first
// through last; committing last also commits the expired ones among them.
type batch struct {
	lines       []byte
	seqs        []uint64 // the entries in lines
	ends        []int    // where each entry's lines end in lines
	first, last uint64
}

func (b batch) points() int { return bytes.Count(b.lines, []byte{'\n'}) }

// span returns the part of b in lines[off:end], with the seqs of the
// entries it touches.
func (b batch) span(off, end int) batch {
	i := sort.SearchInts(b.ends, off+1)
	j := sort.SearchInts(b.ends, end)
	i, j = min(i, len(b.seqs)-1), min(j, len(b.seqs)-1)
	return batch{lines: b.lines[off:end], first: b.seqs[i], last: b.seqs[j]}
}

// gather concatenates entries into a batch, leaving out the expired ones.
// A batch of one entry is that entry's points, not a copy: a window's
// results, 1.5 MB at 10k series, are delivered from the outbox's memory.
// Sinks only read lines.
func (r *Runner) gather(entries []wal.OutEntry) batch {
	b := batch{lines: r.buf[:0], first: entries[0].Seq, last: entries[len(entries)-1].Seq}
	ttl, now := r.ttl(), r.now()
	expired, expiredEntries := 0, 0
	var only []byte // the first entry kept, copied once a second one comes
	for _, e := range entries {
		if ttl > 0 && isExpired(e, now.Add(-ttl)) {
			expired += bytes.Count(e.Points, []byte{'\n'})
			expiredEntries++
			continue
		}
		switch len(b.seqs) {
		case 0:
			only = e.Points
			b.ends = append(b.ends, len(only))
		case 1:
			b.lines = append(append(b.lines, only...), e.Points...)
			b.ends = append(b.ends, len(b.lines))
		default:
			b.lines = append(b.lines, e.Points...)
			b.ends = append(b.ends, len(b.lines))
		}
		b.seqs = append(b.seqs, e.Seq)
	}
	if len(b.seqs) == 1 {
		b.lines = only // r.buf stays as it was
	} else {
		r.buf = b.lines
	}
	if expiredEntries > 0 {
		r.expired(expired, expiredEntries, ttl)
	}
	return b
}

// isExpired reports whether e's newest point and its append time are both
// known and before cutoff. Requiring both keeps a replay of old data, or a
// backlog recovered after a restart, for one TTL after it was queued.
func isExpired(e wal.OutEntry, cutoff time.Time) bool {
	if e.Appended.IsZero() || !e.Appended.Before(cutoff) {
		return false
	}
	newest, ok := newestTime(e.Points)
	return ok && newest < cutoff.UnixNano()
}

// ttl is the time to live of the lane the last Next read: Lanes are
// alerts, results and raw in that order; a plain Outbox holds results.
func (r *Runner) ttl() time.Duration {
	lane := 1
	if l, ok := r.box.(*Lanes); ok {
		lane = l.from
	}
	switch lane {
	case 0:
		return time.Duration(r.cfg.TTL.Alerts)
	case 1:
		return time.Duration(r.cfg.TTL.Results)
	}
	return time.Duration(r.cfg.TTL.Raw)
}

func (r *Runner) expired(points, entries int, ttl time.Duration) {
	r.mu.Lock()
	r.stats.ExpiredPoints += uint64(points)
	r.mu.Unlock()
	if ok, suppressed := r.expireLog.allow(r.now()); ok {
		r.logger.Warn("undelivered results older than the ttl dropped", "points", points,
			"entries", entries, "ttl", ttl, "suppressed", suppressed)
	}
}

// deliver writes b until the sink takes it or rejects it for good, then
// commits; it returns early, without committing, when ctx ends, when a
// full batch failed often enough that Run should send a probe instead, or
// when a failing batch should let a lane of higher priority (an alert
// raised during the outage) go first.
func (r *Runner) deliver(ctx context.Context, b batch, probe bool) error {
	for {
		err := r.write(ctx, b)
		if err == nil {
			return r.commit(ctx, b.last)
		}
		if errors.Is(err, errUnsynced) {
			r.box.Rewind() // Run reads the lost entries again, in order
			r.unsaved = false
			r.pause(ctx, r.failures(), err)
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		// The sink fails and will take nothing for a while: save now, so
		// that a disk cap can reclaim what it took before.
		if r.unsaved {
			if err := r.save(ctx); err != nil {
				return err
			}
		}
		if !r.pause(ctx, r.failures(), err) {
			return nil
		}
		if (!probe && len(b.seqs) > 1 && r.probing()) || r.overtaken() {
			return nil
		}
	}
}

func (r *Runner) overtaken() bool {
	l, ok := r.box.(*Lanes)
	return ok && l.overtaken()
}

func (r *Runner) failures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats.ConsecutiveFailures
}

// commit moves the cursor past a delivered batch, retrying a failed
// Advance (not the delivery) until it holds or ctx ends, and saves it when
// CommitInterval has passed since the last save.
func (r *Runner) commit(ctx context.Context, seq uint64) error {
	for attempt := 0; ; attempt++ {
		err := r.box.Advance(seq)
		if err == nil {
			break
		}
		err = r.outboxFailed(ctx, attempt, fmt.Errorf("outbox commit %d: %w", seq, err))
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
	r.unsaved = true
	return r.maybeSave(ctx)
}

// outboxFailed handles a failed Next, Advance or Save: a closed outbox ends Run
// (quietly if ctx is done: shutdown closed it first), anything else waits a
// backoff. It returns nil to go on.
func (r *Runner) outboxFailed(ctx context.Context, attempt int, err error) error {
	if errors.Is(err, wal.ErrClosed) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("sink %s: %w", r.cfg.Name, err)
	}
	r.pause(ctx, attempt, err)
	return nil
}

// pause records a failure and waits the backoff for retry attempt+1. It
// returns false when ctx ended the wait.
func (r *Runner) pause(ctx context.Context, attempt int, err error) bool {
	d := r.backoff(attempt, err)
	r.failed(err, d)
	serr := r.sleep(ctx, d)
	r.mu.Lock()
	r.stats.NextRetry = time.Time{}
	r.mu.Unlock()
	return serr == nil
}

// write makes one attempt: it sends b, or dead-letters what the sink
// rejected for good. A nil result means the cursor may move past b.
func (r *Runner) write(ctx context.Context, b batch) error {
	if len(b.lines) == 0 {
		return nil
	}
	if err := r.limit.take(ctx, len(b.lines), r.now, r.sleep); err != nil {
		return err
	}
	err := r.sink.Write(ctx, b.lines)
	var perm *PermanentError
	var part *PartialError
	switch {
	case err == nil:
		r.delivered(b.points())
		return nil
	case errors.As(err, &part):
		return r.rejectSome(b, part)
	case errors.As(err, &perm):
		if dlErr := r.reject(b, perm); dlErr != nil {
			return fmt.Errorf("%w; dead-letter: %w", err, dlErr)
		}
		return nil
	}
	return err
}

// rejectSome dead-letters the lines of b the sink rejected and counts the
// rest as delivered.
func (r *Runner) rejectSome(b batch, part *PartialError) error {
	rejected := 0
	for _, rj := range part.Rejected {
		sub := b.span(rj.Off, rj.End)
		perm := &PermanentError{Err: rj.Err, Status: rj.Status}
		if err := r.reject(sub, perm); err != nil {
			return fmt.Errorf("%w; dead-letter: %w", part, err)
		}
		rejected += sub.points()
	}
	if n := b.points() - rejected; n > 0 {
		r.delivered(n)
	}
	return nil
}

// backoff returns the wait before retry number attempt+1: full jitter over
// Initial·2^attempt capped at Max, and never less than the upstream's After.
func (r *Runner) backoff(attempt int, err error) time.Duration {
	b := r.cfg.Retry.Initial
	for i := 0; i < attempt && b < r.cfg.Retry.Max; i++ {
		if b > r.cfg.Retry.Max/2 {
			b = r.cfg.Retry.Max
			break
		}
		b *= 2
	}
	b = min(b, r.cfg.Retry.Max)
	d := time.Duration(r.rand() * float64(b))
	var re *RetryableError
	if errors.As(err, &re) && re.After > d {
		d = re.After
	}
	return d
}

func (r *Runner) delivered(points int) {
	r.mu.Lock()
	failures := r.stats.ConsecutiveFailures
	r.stats.DeliveredPoints += uint64(points)
	r.stats.DeliveredRequests++
	r.stats.ConsecutiveFailures = 0
	r.mu.Unlock()
	if failures > 0 {
		if ok, suppressed := r.resumeLog.allow(r.now()); ok {
			r.logger.Info("delivery resumed", "after_failures", failures, "suppressed", suppressed)
		}
	}
}

func (r *Runner) failed(err error, d time.Duration) {
	now := r.now()
	r.mu.Lock()
	r.stats.Retries++
	r.stats.ConsecutiveFailures++
	r.stats.LastError = err.Error()
	r.stats.NextRetry = now.Add(d)
	failures := r.stats.ConsecutiveFailures
	r.mu.Unlock()
	if ok, suppressed := r.failLog.allow(now); ok {
		r.logger.Warn("delivery failed, will retry", "err", err, "retry_in", d,
			"consecutive_failures", failures, "suppressed", suppressed)
	}
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logLimiter lets one log line through per period and counts the rest.
type logLimiter struct {
	every      time.Duration
	last       time.Time
	suppressed int
}

// allow reports whether to log at now, and how many lines it held back
// since the last one it let through.
func (l *logLimiter) allow(now time.Time) (bool, int) {
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}
