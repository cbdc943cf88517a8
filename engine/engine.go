package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/rivulet-edge/rivulet/internal/bufs"
	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/wal"
)

// Log is the part of the ingest log the engine reads. Read must fill e and
// may reuse its slices; it returns *wal.CorruptionError for a damaged record.
// Sync makes every entry written so far durable.
type Log interface {
	Read(index uint64, e *wal.Entry) error
	Sync() error
	FirstIndex() uint64
	LastIndex() uint64
	TruncateFront(index uint64) error
}

// SharedReader is a Log that can lend an entry's points instead of copying
// them (wal.Log): e.Points then stays valid and unchanged, and the engine
// reads each entry once, so the copy would be a waste.
type SharedReader interface {
	ReadShared(index uint64, e *wal.Entry) error
}

// Outbox is the part of a sink's outbox the engine writes. Append requires
// ingestIndex above HighWater; Sync makes every append durable.
type Outbox interface {
	Append(ingestIndex uint64, points []byte, sync bool) error
	HighWater() uint64
	Sync() error
}

// Checkpointer stores engine state atomically, keeping older checkpoints;
// Floor is the index of the oldest one kept.
type Checkpointer interface {
	Save(index uint64, state []byte) error
	Latest() (index uint64, state []byte, err error)
	Floor() uint64
}

// Config is what the engine needs from the site config.
type Config struct {
	Site       string
	Steps      []StepConfig
	Checkpoint CheckpointConfig
	// Sync makes outbox appends durable before a checkpoint can cover them
	// (wal.durability: fsync).
	Sync bool
}

// Engine runs the pipeline over the ingest log. Notify may be called from any
// goroutine; everything else belongs to the goroutine that calls Run.
type Engine struct {
	cfg       Config
	log       Log
	read      func(index uint64, e *wal.Entry) error // log's ReadShared, else Read
	outboxes  map[string]Outbox
	ckpt      Checkpointer
	logger    *slog.Logger
	steps     []*step
	inputs    []*step // the steps that read the ingest stream
	cur       uint64  // index of the entry being applied
	out       point.Point
	next      uint64 // index of the next entry to apply
	proc      int64  // processing time: highest ingest time applied
	hwm       map[string]uint64
	pending   map[string]*pendingOut
	pace      flushPace // spaces flush's appends; see pace.go
	committed atomic.Uint64
	wake      chan struct{}
	entry     wal.Entry
	// entryKeep lets go of the entry's points buffer after a burst: a
	// compressed record is decompressed into it (batches of up to
	// batch.max_bytes while draining).
	entryKeep bufs.Keeper
	enc       point.Encoder
	dec       point.Decoder
	line      []byte
	stats     Stats
}

type pendingOut struct {
	index uint64
	lines []byte
	keep  bufs.Keeper // lets lines go after a burst (a window closing over many series)
	// burst is the length of the last flush larger than bufs.Small: the
	// size the next burst (the next close of the same windows) is likely
	// to reach, so that lines grows to it in one step, not by doubling.
	burst int
	// expect counts the results the steps writing here announced since
	// the last flush (step.expect: a window about to emit its groups), and
	// n the lines queued since then. The first close of a process has no
	// burst to go by: the results still announced, at the average length
	// of those queued, tell how long lines will get.
	expect, n int
}

// want returns the length lines is likely to reach before the next
// flush, or 0 when nothing tells.
func (po *pendingOut) want() int {
	if po.expect > po.n && po.n > 0 {
		w := (po.expect - po.n) * (len(po.lines) / po.n)
		return len(po.lines) + w + w/16
	}
	if po.burst > 0 {
		return po.burst + po.burst/16
	}
	return 0
}

// grow makes room in lines for a line of n bytes. It doubles: a window
// closing over 10k series queues 1.5 MB of results at once, and append's
// steps of 1.25× for large slices would allocate five times that on the
// way. Once past bufs.Small, it goes straight to the length want expects
// and a bit: doubling up to it allocates twice as much and holds two
// copies at once.
func (po *pendingOut) grow(n int) {
	extra := max(cap(po.lines), n)
	if len(po.lines) >= bufs.Small {
		extra = max(extra, po.want()-len(po.lines))
	}
	po.lines = slices.Grow(po.lines, extra)
}

// Stats are the engine's counters; read them with (*Engine).Stats.
type Stats struct {
	Entries, Points, Late, Results, Skipped, Corrupt, Checkpoints atomic.Uint64
	Index                                                         atomic.Uint64
	// Windows and Series are the open windows and the keyed states in them
	// (one per window and group), summed over the steps; updated after
	// every catch-up.
	Windows, Series atomic.Int64
	// steps is the per-step snapshot published with Windows and Series.
	steps atomic.Pointer[[]StepStats]
	// LastCheckpoint is the wall-clock time (unix ns) at which this process
	// last saved a checkpoint, or found at a checkpoint tick that the saved
	// one was still current (nothing applied since), 0 before the first
	// save. It is for monitoring
	// only: nothing the engine computes depends on it.
	LastCheckpoint atomic.Int64
}

// AlertLane is the suffix of the outbox key of a sink's priority lane:
// when outboxes holds "<sink>"+AlertLane, a detect step's alerts for that
// sink go there, so that the sink's runner can deliver them first.
const AlertLane = "#alerts"

// RawLane is the suffix of the outbox key of a sink's low-priority lane:
// raw points (pass_to) and late points (late_to) go there when it exists,
// behind the sink's alerts and results.
const RawLane = "#raw"

// New builds an engine. outboxes must hold one outbox per sink named in the
// steps' To, PassTo and LateTo lists, and every step's From must name the
// ingest stream or an earlier step.
func New(cfg Config, log Log, outboxes map[string]Outbox, ckpt Checkpointer, logger *slog.Logger) (*Engine, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, log: log, outboxes: outboxes, ckpt: ckpt, logger: logger,
		hwm: map[string]uint64{}, pending: map[string]*pendingOut{}, wake: make(chan struct{}, 1)}
	e.read = log.Read
	if r, ok := log.(SharedReader); ok {
		e.read = r.ReadShared
	}
	byName := map[string]*step{}
	for _, sc := range cfg.Steps {
		for _, list := range [][]string{sc.To, sc.PassTo, sc.Window.LateTo} {
			for _, to := range list {
				if outboxes[to] == nil {
					return nil, fmt.Errorf("step %s: no outbox for sink %q", sc.Name, to)
				}
			}
		}
		s, err := newStep(e, sc)
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", sc.Name, err)
		}
		if s.kind == KindDetect {
			// Alerts take the sinks' priority lane where there is one.
			laneOf(s.to, AlertLane, outboxes)
		}
		laneOf(s.passTo, RawLane, outboxes)
		laneOf(s.lateTo, RawLane, outboxes)
		if src := sc.Source(); src == Input {
			e.inputs = append(e.inputs, s)
		} else if up := byName[src]; up != nil {
			up.consumers = append(up.consumers, s)
		} else {
			return nil, fmt.Errorf("step %s: from %q is not an earlier step", sc.Name, src)
		}
		byName[sc.Name] = s
		e.steps = append(e.steps, s)
	}
	for name, o := range outboxes {
		e.hwm[name] = o.HighWater()
	}
	return e, nil
}

// laneOf points each sink in sinks to its lane with the given suffix,
// where outboxes has one.
func laneOf(sinks []string, suffix string, outboxes map[string]Outbox) {
	for i, to := range sinks {
		if outboxes[to+suffix] != nil {
			sinks[i] = to + suffix
		}
	}
}

// Recover loads the newest checkpoint and positions the engine after it;
// without one the engine starts at the front of the log. It returns the
// index replay starts from.
func (e *Engine) Recover() (uint64, error) {
	idx, data, err := e.ckpt.Latest()
	switch {
	case errors.Is(err, wal.ErrNoCheckpoint):
		e.next = max(e.log.FirstIndex(), 1)
	case err != nil:
		return 0, fmt.Errorf("load checkpoint: %w", err)
	default:
		if err := e.restore(data); err != nil {
			return 0, fmt.Errorf("checkpoint %d: %w", idx, err)
		}
		e.next = idx + 1
		if first := e.log.FirstIndex(); first > e.next {
			e.logger.Warn("ingest log starts after the checkpoint; entries in between are gone",
				"checkpoint", idx, "log_first", first)
			e.next = first
		}
	}
	e.committed.Store(e.log.LastIndex())
	e.stats.Index.Store(e.next - 1)
	e.countOpen()
	return e.next, nil
}

// Notify tells the engine that entries up to last are durable in the log.
func (e *Engine) Notify(last uint64) {
	for {
		cur := e.committed.Load()
		if last <= cur || e.committed.CompareAndSwap(cur, last) {
			break
		}
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Stats returns the engine's live counters.
func (e *Engine) Stats() *Stats { return &e.stats }

// Run applies entries as they become durable and checkpoints every
// checkpoint interval. When ctx is done it applies what is durable, writes a
// final checkpoint and returns.
func (e *Engine) Run(ctx context.Context) error {
	tick := time.NewTicker(e.cfg.Checkpoint.Interval)
	defer tick.Stop()
	failures := 0
	// saved is the index the newest checkpoint covers: with no entry
	// applied since, the state is the same and the tick writes nothing.
	saved := e.next - 1
	// With checkpoint.log_ratio, a tick also waits for the log to grow by
	// that many times the newest checkpoint's size (logged is the log's
	// size after it) or for max_interval.
	sizer, _ := e.log.(cappedLog)
	var logged int64
	var last int // bytes of the newest checkpoint this process wrote
	lastAt := time.Now()
	// retryAt paces the checkpoints makeRoom asks for after one failed:
	// without it a failing checkpoint would be tried again at every commit.
	var retryAt time.Time
	save := func() {
		n, err := e.checkpoint()
		if err != nil {
			e.logger.Error("checkpoint failed", "err", err)
			retryAt = time.Now().Add(time.Second)
			return
		}
		saved, last, lastAt = e.next-1, n, time.Now()
		if sizer != nil {
			logged = sizer.Size()
		}
	}
	for {
		if err := e.catchUp(ctx); err != nil && ctx.Err() == nil {
			if failures%30 == 0 { // the first failure, then about every 30 s
				e.logger.Error("engine stalled; retrying every second", "err", err, "failures", failures+1)
			}
			failures++
			if !sleepCtx(ctx, time.Second) {
				continue
			}
		} else {
			if failures > 0 {
				e.logger.Info("engine resumed", "failures", failures)
				failures = 0
			}
			if sizer != nil && ctx.Err() == nil {
				e.makeRoom(sizer, &saved, logged, func() {
					if time.Now().After(retryAt) {
						save()
					}
				})
			}
		}
		select {
		case <-ctx.Done():
			return e.shutdown()
		case <-e.wake:
		case <-tick.C:
			if e.next-1 == saved {
				e.stats.LastCheckpoint.Store(time.Now().UnixNano()) // still current
				continue
			}
			cc := e.cfg.Checkpoint
			if cc.LogRatio > 0 && sizer != nil && last > 0 && time.Since(lastAt) < cc.MaxInterval &&
				float64(sizer.Size()-logged) < cc.LogRatio*float64(last) {
				continue
			}
			save()
		}
	}
}

// cappedLog is a Log that knows its size and its cap (wal.Log).
type cappedLog interface {
	Size() int64
	Full() bool
	MaxSize() int64
}

// makeRoom keeps the ingest log below its size cap, where the batcher holds
// the sources until a checkpoint lets the log be truncated. It checkpoints,
// whatever the tick and log_ratio say, once the log has grown by a quarter
// of its cap since the newest checkpoint (so that the log, which keeps
// everything after the older of the two checkpoints retained, stays near
// half its cap while the engine keeps up) or is full. A full log whose
// every entry is applied and checkpointed is held only by the fallback
// checkpoint: new entries, which a checkpoint needs, cannot come, so the
// fallback is dropped and the log truncated up to the newest.
func (e *Engine) makeRoom(log cappedLog, saved *uint64, logged int64, save func()) {
	full := log.Full()
	if e.next-1 != *saved && (full || log.MaxSize() > 0 && log.Size()-logged >= log.MaxSize()/4) {
		save()
		full = log.Full()
	}
	if !full || e.next-1 != *saved {
		return
	}
	d, ok := e.ckpt.(interface{ DropFallback() (uint64, error) })
	floor := e.ckpt.Floor()
	if !ok || floor >= *saved {
		return
	}
	kept, err := d.DropFallback()
	if err != nil {
		// The newest checkpoint was set aside: write it again.
		e.logger.Error("ingest log full: cannot drop the fallback checkpoint", "err", err)
		*saved = 0
		return
	}
	e.logger.Warn("ingest log at its size cap with every entry checkpointed: dropped the fallback checkpoint to truncate it",
		"dropped_below", kept, "fallback", floor, "max_size", log.MaxSize())
	if err := e.log.TruncateFront(kept + 1); err != nil {
		e.logger.Error("truncate ingest log", "below", kept+1, "err", err)
	}
}

func (e *Engine) shutdown() error {
	if err := e.catchUp(context.Background()); err != nil {
		return err
	}
	return e.Checkpoint()
}

// catchUp applies every durable entry not yet applied, flushing results to
// the outboxes every chunk so memory stays bounded during a long replay.
func (e *Engine) catchUp(ctx context.Context) error {
	const chunk = 256
	for n := 0; e.next <= e.committed.Load(); n++ {
		if err := e.applyIndex(e.next); err != nil {
			return err
		}
		e.next++
		e.stats.Index.Store(e.next - 1)
		if n%chunk == chunk-1 {
			if err := e.flush(); err != nil {
				return err
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	e.countOpen()
	return e.flush()
}

// StepStats are one step's counters, as of the last catch-up.
type StepStats struct {
	Name, Kind string
	// Windows and Series are the open windows and the keyed states held.
	Windows, Series int
	// Late points by outcome: dropped, updated (re-emitted window), side
	// (sent to late_to).
	LateDropped, LateUpdated, LateSide uint64
	// Refused counts points refused by max_series; Expired, state dropped by
	// a TTL; OutOfOrder, points a per-series operator skipped; Errors,
	// points a stateless operator failed on.
	Refused, Expired, OutOfOrder, Errors uint64
}

// StepStats returns the per-step counters as of the last catch-up, in
// pipeline order.
func (s *Stats) StepStats() []StepStats {
	if p := s.steps.Load(); p != nil {
		return *p
	}
	return nil
}

// countOpen publishes the number of open windows and keyed states, and the
// per-step counters.
func (e *Engine) countOpen() {
	var windows, series int
	steps := make([]StepStats, 0, len(e.steps))
	for _, s := range e.steps {
		w, st := s.len()
		windows, series = windows+w, series+st
		c := s.counts()
		steps = append(steps, StepStats{Name: s.name, Kind: s.kind, Windows: w, Series: st,
			LateDropped: c.LateDropped, LateUpdated: c.LateUpdated, LateSide: c.LateSide,
			Refused: c.Refused, Expired: c.Expired, OutOfOrder: c.OutOfOrder, Errors: s.errors})
	}
	e.stats.Windows.Store(int64(windows))
	e.stats.Series.Store(int64(series))
	e.stats.steps.Store(&steps)
}

func (e *Engine) applyIndex(idx uint64) error {
	err := e.read(idx, &e.entry)
	var ce *wal.CorruptionError
	switch {
	case errors.As(err, &ce):
		e.stats.Corrupt.Add(1)
		e.logger.Error("skipping damaged log record (quarantined)", "index", idx, "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("read log entry %d: %w", idx, err)
	}
	e.Apply(idx, &e.entry)
	e.entry.Points = e.entryKeep.Bytes(e.entry.Points, len(e.entry.Points))
	return nil
}

// Apply runs one log entry through the pipeline. It is exported for tests
// that drive the engine without a log.
func (e *Engine) Apply(idx uint64, ent *wal.Entry) {
	e.stats.Entries.Add(1)
	e.cur = idx
	if ent.IngestTime > e.proc {
		e.proc = ent.IngestTime
	}
	lateBefore := e.lateTotal()
	switch ent.Kind {
	case wal.KindEpoch:
		for _, s := range e.steps {
			if s.op != nil {
				s.op.Epoch(e.proc)
			}
		}
	case wal.KindBatch:
		e.applyPoints(ent)
	}
	for _, s := range e.steps {
		s.advance(e.proc)
	}
	// The counters are shared with readers: add them once per entry.
	e.stats.Late.Add(e.lateTotal() - lateBefore)
}

func (e *Engine) applyPoints(ent *wal.Entry) {
	var points uint64
	err := e.dec.Parse(ent.Points, func(p *point.Point) error {
		points++
		t := p.Time
		if t == 0 {
			t = ent.IngestTime
		}
		for _, s := range e.inputs {
			s.in(p, t, e.proc)
		}
		return nil
	})
	e.stats.Points.Add(points)
	if err != nil {
		// Ingest wrote these lines itself; a parse failure means damage that
		// passed the checksum, which is reported, not fatal.
		e.stats.Corrupt.Add(1)
		e.logger.Error("undecodable points in log entry", "err", err)
	}
}

// lateTotal sums the late points counted by every step.
func (e *Engine) lateTotal() (n uint64) {
	for _, s := range e.steps {
		n += s.counts().late()
	}
	return n
}

// route queues p for sinks; see routeAt.
func (e *Engine) route(sinks []string, p *point.Point) { e.routeAt(sinks, p, p.Time) }

// routeAt queues point p with event time t (used when p has no timestamp)
// for every sink in sinks whose outbox does not already hold the results
// of the entry being applied. Every point written gets the site tag.
func (e *Engine) routeAt(sinks []string, p *point.Point, t int64) {
	if len(sinks) == 0 {
		return
	}
	q := p
	if _, ok := p.Tag("site"); (!ok && e.cfg.Site != "") || p.Time == 0 {
		e.out.Measurement, e.out.Fields, e.out.Time = p.Measurement, p.Fields, p.Time
		if e.out.Time == 0 {
			e.out.Time = t
		}
		e.out.Tags = append(e.out.Tags[:0], p.Tags...)
		if _, ok := p.Tag("site"); !ok && e.cfg.Site != "" {
			e.out.SetTag("site", e.cfg.Site)
		}
		q = &e.out
	}
	var err error
	e.line, err = e.enc.Append(e.line[:0], q)
	if err != nil {
		e.logger.Error("unencodable result", "measurement", p.Measurement, "err", err)
		return
	}
	e.stats.Results.Add(1)
	for _, sink := range sinks {
		if e.cur <= e.hwm[sink] {
			e.stats.Skipped.Add(1)
			continue
		}
		po := e.pendingFor(sink)
		po.index = e.cur
		if len(po.lines)+len(e.line) > cap(po.lines) {
			po.grow(len(e.line))
		}
		po.lines = append(po.lines, e.line...)
		po.n++
	}
}

// pendingFor returns the results queued for sink.
func (e *Engine) pendingFor(sink string) *pendingOut {
	po := e.pending[sink]
	if po == nil {
		po = &pendingOut{}
		e.pending[sink] = po
	}
	return po
}

// flush appends the queued results to the outboxes when the flush pace
// says they are due (see flushPace); otherwise they wait in memory, and a
// wakeup brings the engine back when they are.
func (e *Engine) flush() error {
	pending := 0
	for _, po := range e.pending {
		pending += len(po.lines)
	}
	if !e.pace.due(e.cfg.Checkpoint.FlushInterval, pending, e.wakeUp) {
		return nil
	}
	return e.flushNow()
}

// wakeUp makes Run catch up (and flush) without a new entry.
func (e *Engine) wakeUp() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// flushNow appends the queued results to the outboxes, one entry per sink
// stamped with the highest producing index.
func (e *Engine) flushNow() error {
	names := make([]string, 0, len(e.pending))
	for name, po := range e.pending {
		if len(po.lines) > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		if err := e.syncLog(); err != nil {
			return err
		}
	}
	for _, name := range names {
		po := e.pending[name]
		box := e.outboxes[name]
		if err := box.Append(po.index, po.lines, e.cfg.Sync); err != nil {
			// An earlier attempt may have appended and then failed to sync
			// (a full disk): the outbox has these results, make them durable.
			if !errors.Is(err, wal.ErrBelowHighWater) || box.HighWater() < po.index {
				return fmt.Errorf("outbox %s: %w", name, err)
			}
			if err := box.Sync(); err != nil {
				return fmt.Errorf("outbox %s: sync: %w", name, err)
			}
		}
		e.hwm[name] = po.index
		if len(po.lines) > bufs.Small {
			po.burst = len(po.lines)
		}
		po.lines = po.keep.Bytes(po.lines, len(po.lines))
	}
	for _, po := range e.pending {
		po.expect, po.n = 0, 0
	}
	if len(names) > 0 {
		e.pace.flushed()
	}
	return nil
}

// Checkpoint flushes results, saves the state at the last applied index and
// truncates the ingest log below the oldest retained checkpoint.
func (e *Engine) Checkpoint() error {
	_, err := e.checkpoint()
	return err
}

// checkpoint is Checkpoint; it also returns the size of the saved state.
func (e *Engine) checkpoint() (int, error) {
	if err := e.flush(); err != nil {
		return 0, err
	}
	if err := e.syncLog(); err != nil {
		return 0, err
	}
	if err := e.syncOutboxes(); err != nil {
		return 0, err
	}
	idx := e.next - 1
	data, err := e.snapshot(idx)
	if err != nil {
		return 0, err
	}
	if err := e.ckpt.Save(idx, data); err != nil {
		return 0, fmt.Errorf("save checkpoint %d: %w", idx, err)
	}
	e.stats.Checkpoints.Add(1)
	e.stats.LastCheckpoint.Store(time.Now().UnixNano())
	if floor := e.ckpt.Floor(); floor > 0 {
		if err := e.log.TruncateFront(floor + 1); err != nil {
			return len(data), fmt.Errorf("truncate ingest log below %d: %w", floor+1, err)
		}
	}
	return len(data), nil
}

// syncLog makes the ingest log durable up to what the engine has applied
// before an outbox entry or a checkpoint refers to its indexes. With
// wal.durability: fsync every entry is synced before the engine sees it;
// with write, a power loss could otherwise leave the log shorter than a
// durable reference to it, and new entries would reuse indexes that the
// checkpoint or an outbox's high-water mark already covers.
func (e *Engine) syncLog() error {
	if e.cfg.Sync {
		return nil
	}
	if err := e.log.Sync(); err != nil {
		return fmt.Errorf("sync ingest log: %w", err)
	}
	return nil
}

// syncOutboxes appends the results a checkpoint is about to cover, whatever
// the flush pace, and makes them durable (already so with wal.durability:
// fsync, where every append syncs).
func (e *Engine) syncOutboxes() error {
	if err := e.flushNow(); err != nil {
		return err
	}
	if e.cfg.Sync {
		return nil
	}
	names := make([]string, 0, len(e.outboxes))
	for name := range e.outboxes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := e.outboxes[name].Sync(); err != nil {
			return fmt.Errorf("sync outbox %s: %w", name, err)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true
	case <-t.C:
		return false
	}
}
