package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/rivulet-edge/rivulet/batcher"
	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/forward"
	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/wal"
)

// agent holds the opened parts of one running site.
type agent struct {
	cfg        *config.Config
	logger     *slog.Logger
	lock       *os.File
	log        *wal.Log
	ckpt       *wal.Checkpoints
	outboxes   map[string]*wal.Outbox
	quarantine *ingest.Quarantine
	engine     *engine.Engine
	batcher    *batcher.Batcher
	sources    []*ingest.MQTT
	runners    []*forward.Runner
	sinks      []forward.Sink
}

// Layout of data_dir.
const (
	dirLog        = "log"
	dirCheckpoint = "checkpoints"
	dirOutbox     = "outbox"
	// dirAlertOutbox and dirRawOutbox hold each sink's alert lane (first)
	// and raw-point lane (last); dirOutbox holds the results lane.
	dirAlertOutbox = "outbox-alerts"
	dirRawOutbox   = "outbox-raw"
	dirQuarantine  = "quarantine"
	dirDeadLetter  = "deadletter"
	lockFile       = "LOCK"
)

// openAgent opens the data directory, repairs and recovers the logs, and
// builds every stage, sink first, without starting any.
func openAgent(cfg *config.Config, logger *slog.Logger, stdout io.Writer) (a *agent, err error) {
	a = &agent{cfg: cfg, logger: logger, outboxes: map[string]*wal.Outbox{}}
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimit))
	}
	if cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := a.openStorage(); err != nil {
		return nil, err
	}
	if err := a.openSinks(stdout); err != nil {
		return nil, err
	}
	if err := a.openEngine(); err != nil {
		return nil, err
	}
	fsync := cfg.WAL.Durability == wal.DurabilityFsync
	a.batcher = batcher.New(cfg.Batch, a.log, batcher.Options{Fsync: fsync, Logger: logger, Notify: a.engine.Notify})
	for _, sc := range cfg.Sources.MQTT {
		src, err := ingest.NewMQTT(sc, a.batcher, a.quarantine, logger)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", sc.Name, err)
		}
		a.sources = append(a.sources, src)
	}
	return a, nil
}

func (a *agent) openStorage() error {
	dir := a.cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if err := a.lockDir(); err != nil {
		return err
	}
	qdir := filepath.Join(dir, dirQuarantine)
	var err error
	if a.quarantine, err = ingest.OpenQuarantine(qdir, 64<<20, a.logger); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	// With fsync durability nothing reads an entry before its sync, so a
	// failed write or sync (a full disk) rolls the log back to the last
	// sync and the batcher writes the same batch again when it can. The
	// engine truncates whole segments: a checkpoint then removes files and
	// writes nothing.
	opts := wal.Options{SegmentSize: int64(a.cfg.WAL.SegmentSize), MaxSize: int64(a.cfg.WAL.MaxSize),
		Quarantine: qdir, Logger: a.logger, RollbackUnsynced: a.cfg.WAL.Durability == wal.DurabilityFsync,
		WholeSegments: true, Compress: a.cfg.WAL.Compression == wal.CompressionS2}
	var rep wal.Repair
	if a.log, rep, err = wal.Open(filepath.Join(dir, dirLog), opts); err != nil {
		return fmt.Errorf("ingest log: %w", err)
	}
	if !rep.Empty() {
		a.logger.Warn("ingest log repaired", "repair", rep.String())
	}
	if a.ckpt, err = wal.OpenCheckpoints(filepath.Join(dir, dirCheckpoint), qdir); err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	return nil
}

// lockDir takes an exclusive lock on data_dir so two agents never share it.
func (a *agent) lockDir() error {
	f, err := os.OpenFile(filepath.Join(a.cfg.DataDir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("data_dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("data_dir %s is in use by another rivulet (lock %s): %w", a.cfg.DataDir, lockFile, err)
	}
	a.lock = f
	return nil
}

// outboxSegment is the segment size of the outboxes. tidwall keeps the
// segment being written and the one before it in memory, for each of the
// three lanes of every sink, so segments are small; a segment fills at
// 256 KiB of records (compressed with wal.compression: s2), and starting
// the next costs an fsync.
const outboxSegment = 256 << 10

// sinkLanes are a sink's outboxes in delivery order; rank orders them for
// on_full: drop_oldest, which drops from the lowest rank first.
var sinkLanes = []struct {
	name, dir, suffix string
	rank              int
}{
	{"alerts", dirAlertOutbox, engine.AlertLane, 2},
	{"results", dirOutbox, "", 1},
	{"raw", dirRawOutbox, engine.RawLane, 0},
}

func (a *agent) openSinks(stdout io.Writer) error {
	qdir := filepath.Join(a.cfg.DataDir, dirQuarantine)
	// The overall cap (outbox.max_size) spans every lane of every sink.
	var overall *wal.Budget
	if oc := a.cfg.Outbox; oc.MaxSize > 0 {
		policy := wal.Block
		if oc.OnFull == forward.OnFullDropOldest {
			policy = wal.DropOldest
		}
		overall = wal.NewBudget(int64(oc.MaxSize), policy)
	}
	for _, sc := range a.cfg.Sinks {
		// Three lanes per sink, delivered in this order: alerts, results,
		// raw and late points.
		var lanes []forward.Outbox
		policy := wal.Block
		if sc.OnFull == forward.OnFullDropOldest {
			policy = wal.DropOldest
		}
		budget := wal.NewBudget(int64(sc.MaxBacklog), policy)
		for _, l := range sinkLanes {
			// Results are line protocol too: wal.compression applies to
			// them as to the ingest log (a window close at 10k series is
			// one record of 1.5 MB).
			box, rep, err := wal.OpenOutbox(filepath.Join(a.cfg.DataDir, l.dir, sc.Name),
				wal.Options{SegmentSize: outboxSegment, Quarantine: qdir, Logger: a.logger,
					Compress: a.cfg.WAL.Compression == wal.CompressionS2})
			if err != nil {
				return fmt.Errorf("outbox %s (%s lane): %w", sc.Name, l.name, err)
			}
			a.outboxes[sc.Name+l.suffix] = box
			if !rep.Empty() {
				a.logger.Warn("outbox repaired", "sink", sc.Name, "lane", l.name, "repair", rep.String())
			}
			budget.Add(box, l.rank)
			if overall != nil {
				overall.Add(box, l.rank)
			}
			lanes = append(lanes, box)
		}
		var sink forward.Sink
		var err error
		if sc.Type == "stdout" {
			sink = forward.NewStdout(stdout)
		} else if sink, err = forward.New(sc, a.logger); err != nil {
			return fmt.Errorf("sink %s: %w", sc.Name, err)
		}
		a.sinks = append(a.sinks, sink)
		dl := filepath.Join(a.cfg.DataDir, dirDeadLetter, sc.Name+".lp")
		a.runners = append(a.runners, forward.NewRunner(sc, forward.NewLanes(lanes...), sink, dl, a.logger))
	}
	return nil
}

func (a *agent) openEngine() error {
	boxes := map[string]engine.Outbox{}
	for name, b := range a.outboxes {
		boxes[name] = b
	}
	ecfg := engine.Config{Site: a.cfg.Site, Steps: a.cfg.Pipeline, Checkpoint: a.cfg.Checkpoint,
		Sync: a.cfg.WAL.Durability == wal.DurabilityFsync}
	var err error
	if a.engine, err = engine.New(ecfg, a.log, boxes, a.ckpt, a.logger); err != nil {
		return err
	}
	from, err := a.engine.Recover()
	if err != nil {
		return err
	}
	a.logger.Info("recovered", "replay_from", from, "log_last", a.log.LastIndex())
	return nil
}

// close releases everything opened; safe on a partly opened agent.
func (a *agent) close() {
	for _, s := range a.sinks {
		s.Close()
	}
	for _, b := range a.outboxes {
		b.Close()
	}
	if a.log != nil {
		a.log.Close()
	}
	if a.quarantine != nil {
		a.quarantine.Close()
	}
	if a.lock != nil {
		a.lock.Close()
	}
}

// stage runs a set of long-lived parts and reports the first failure.
type stage struct {
	name   string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

func startStage(name string, failed chan<- struct{}, fns ...func(context.Context) error) *stage {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stage{name: name, cancel: cancel}
	for _, fn := range fns {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := fn(ctx); err != nil {
				s.mu.Lock()
				s.err = errors.Join(s.err, err)
				s.mu.Unlock()
				select {
				case failed <- struct{}{}:
				default:
				}
			}
		}()
	}
	return s
}

// stop cancels the stage, waits for it and returns its errors.
func (s *stage) stop() error {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return fmt.Errorf("%s: %w", s.name, s.err)
	}
	return nil
}

// run starts the stages sink first and, when ctx is done or a stage fails,
// stops them source first so that everything received is committed,
// processed, checkpointed and, time permitting, delivered.
func (a *agent) run(ctx context.Context) error {
	failed := make(chan struct{}, 1)
	observe := []func(context.Context) error{
		func(ctx context.Context) error { return a.logStatus(ctx, time.Minute) },
		func(ctx context.Context) error { return a.superviseSystemd(ctx, 20*time.Second) },
	}
	if a.cfg.HTTP.Listen != "" {
		observe = append(observe, func(ctx context.Context) error { return a.serveHTTP(ctx, a.cfg.HTTP.Listen, a.logger) })
	}
	obs := startStage("observe", failed, observe...)
	var fwd []func(context.Context) error
	for _, r := range a.runners {
		fwd = append(fwd, r.Run)
	}
	forwarders := startStage("forward", failed, fwd...)
	eng := startStage("engine", failed, a.engine.Run)
	bat := startStage("batcher", failed, a.batcher.Run)
	var srcFns []func(context.Context) error
	for _, s := range a.sources {
		srcFns = append(srcFns, s.Run)
	}
	sources := startStage("sources", failed, srcFns...)
	a.logger.Info("rivulet running", "site", a.cfg.Site, "sources", len(a.sources), "steps", len(a.cfg.Pipeline), "sinks", len(a.cfg.Sinks))
	select {
	case <-ctx.Done():
		a.logger.Info("shutting down")
	case <-failed:
		a.logger.Error("a stage failed; shutting down")
	}
	errs := []error{sources.stop(), bat.stop(), eng.stop()}
	bs, es := a.batcher.Stats(), a.engine.Stats()
	a.logger.Info("pipeline drained", "messages", bs.Messages.Load(), "results", es.Results.Load(),
		"late_points", es.Late.Load(), "checkpoint_index", es.Index.Load())
	a.drainOutboxes(2 * time.Second)
	errs = append(errs, forwarders.stop())
	errs = append(errs, obs.stop())
	return errors.Join(errs...)
}

// drainOutboxes gives the sinks up to d to deliver what the final engine
// pass produced; whatever is left is delivered after the next start.
func (a *agent) drainOutboxes(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		pending := 0
		for _, b := range a.outboxes {
			n, _ := b.Backlog()
			pending += n
		}
		if pending == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
