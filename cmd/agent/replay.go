package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/wal"
)

const replayUsage = `usage: rivulet replay --config FILE --to FILE [--from N] [--flush]

Runs the ingest log kept in data_dir through the pipeline in --config (which
may differ from the one that ran: backfill a new step, recompute after a
fix) and writes every result of every step as line protocol to --to ("-":
stdout). It starts from empty state and never touches the outboxes, the
checkpoints or the log; the agent must be stopped.

Replay covers what the log retains: the agent truncates it below its
checkpoints, so it starts at the log's first index (printed), and windows
that began before that entry are incomplete. Windows still open when the log
ends are not written unless --flush fires them; those may be incomplete too,
since their data may have arrived after the log ends.

flags:
`

// replaySink is the one outbox every step of a replay writes to, so that a
// step sending to several sinks is written once.
const replaySink = "replay"

func cmdReplay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, replayUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "site config file (YAML, TOML or JSON)")
	to := fs.String("to", "", `file to write the results to ("-": stdout)`)
	from := fs.Uint64("from", 0, "first ingest index to replay (default: the log's first)")
	flush := fs.Bool("flush", false, "at the end, fire the windows still open (they may be incomplete)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *to == "" {
		fmt.Fprintln(stderr, "rivulet replay: --to FILE is required (- for stdout)")
		return exitCode(2)
	}
	cfg, err := loadToolConfig("replay", *path, stderr)
	if err != nil {
		return err
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	v, err := wal.OpenView(filepath.Join(cfg.DataDir, dirLog))
	if err != nil {
		return fmt.Errorf("ingest log: %w", err)
	}
	return replayTo(cfg, v, replayOpts{from: *from, flush: *flush}, *to, stdout, stderr)
}

// replayTo runs the replay into the file named to and reports on stderr.
func replayTo(cfg *config.Config, v *wal.View, o replayOpts, to string, stdout, stderr io.Writer) (err error) {
	first, last := max(v.FirstIndex(), o.from, 1), v.LastIndex()
	if first > last {
		fmt.Fprintf(stderr, "nothing to replay: the ingest log holds entries %d..%d\n", v.FirstIndex(), last)
	} else {
		fmt.Fprintf(stderr, "replaying ingest log entries %d..%d (the log retains %d..%d)\n", first, last, v.FirstIndex(), last)
		if first > 1 {
			fmt.Fprintf(stderr, "entries before %d are not replayed: windows open at that point come out incomplete\n", first)
		}
	}
	if v.Tail.Bytes > 0 {
		fmt.Fprintf(stderr, "the log ends in a damaged tail (%d record(s), %d bytes), not replayed\n", v.Tail.Records, v.Tail.Bytes)
	}
	out := stdout
	if to != "-" {
		f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		out = f
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := replay(cfg, v, o, bw, logger)
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stderr, res.report(to))
	return nil
}

type replayOpts struct {
	from  uint64
	flush bool
}

// replayResult is what a replay did.
type replayResult struct {
	entries, points, late, damaged, results uint64
	open, series                            int    // windows and series still open at the end
	fired                                   uint64 // results of the open windows --flush fired
}

func (r replayResult) report(to string) string {
	s := fmt.Sprintf("replayed %d entries (%d points, %d late, %d damaged): %d results written to %s",
		r.entries, r.points, r.late, r.damaged, r.results+r.fired, to)
	switch {
	case r.fired > 0:
		s += fmt.Sprintf("\n--flush fired %d open window(s) (%d series, %d results); they may be incomplete", r.open, r.series, r.fired)
	case r.open > 0:
		s += fmt.Sprintf("\n%d window(s) (%d series) were still open at the end of the log and are not written; --flush writes them", r.open, r.series)
	}
	return s
}

// replay runs the log from o.from through a fresh engine whose every step
// writes to out. The engine drains the log and checkpoints into memory
// (Run with a done context does exactly that); --flush then fires what the
// final state still holds.
func replay(cfg *config.Config, v *wal.View, o replayOpts, out io.Writer, logger *slog.Logger) (replayResult, error) {
	var res replayResult
	sink := &writerOutbox{w: out}
	ckpt := &memCheckpoints{}
	src := &viewLog{View: v, from: max(o.from, 1)}
	eng, err := runEngine(replayConfig(cfg, false), src, sink, ckpt, logger)
	if err != nil {
		return res, err
	}
	st := eng.Stats()
	res.entries, res.points, res.late = st.Entries.Load(), st.Points.Load(), st.Late.Load()
	res.damaged, res.results = st.Corrupt.Load(), st.Results.Load()
	state, err := engine.Summarize(ckpt.state)
	if err != nil {
		return res, err
	}
	res.open, res.series = state.Open()
	if !o.flush || res.open == 0 {
		return res, nil
	}
	res.fired, err = fireOpen(cfg, state, ckpt, sink, logger)
	return res, err
}

// fireOpen fires every window the final state holds: it restores that
// state into an engine whose steps have no max_delay and an idle timeout of
// 1ns, and feeds it one heartbeat far enough past the newest window that
// every watermark passes every window end.
func fireOpen(cfg *config.Config, st *engine.Summary, ckpt *memCheckpoints, sink *writerOutbox, logger *slog.Logger) (uint64, error) {
	var span time.Duration
	for _, sc := range cfg.Pipeline {
		span = max(span, sc.Window.Size, sc.Window.Gap, sc.Window.MaxDuration)
	}
	// A window starts at or before its step's max event time, so it ends
	// by max event + size; with no delay the watermark is max event + the
	// idle time since the last data, which is at least span here.
	hb := &heartbeatLog{index: ckpt.index + 1, at: st.Proc + int64(span) + 1}
	eng, err := runEngine(replayConfig(cfg, true), hb, sink, ckpt, logger)
	if err != nil {
		return 0, err
	}
	return eng.Stats().Results.Load(), nil
}

// replayConfig is the engine config of a replay: every step writes to
// replaySink; fire makes windows fire as soon as processing time moves.
func replayConfig(cfg *config.Config, fire bool) engine.Config {
	ec := engine.Config{Site: cfg.Site, Checkpoint: engine.CheckpointConfig{Interval: time.Hour}, Sync: true}
	for _, sc := range cfg.Pipeline {
		if len(sc.To) > 0 {
			sc.To = []string{replaySink}
		}
		if len(sc.PassTo) > 0 {
			sc.PassTo = []string{replaySink}
		}
		if len(sc.Window.LateTo) > 0 {
			sc.Window.LateTo = []string{replaySink}
		}
		if fire {
			sc.Window.MaxDelay, sc.Window.IdleTimeout = 0, time.Nanosecond
		}
		ec.Steps = append(ec.Steps, sc)
	}
	return ec
}

// runEngine recovers an engine over log (from ckpt's state, if any) and
// applies the whole log.
func runEngine(ec engine.Config, log engine.Log, sink *writerOutbox, ckpt *memCheckpoints, logger *slog.Logger) (*engine.Engine, error) {
	eng, err := engine.New(ec, log, map[string]engine.Outbox{replaySink: sink}, ckpt, logger)
	if err != nil {
		return nil, err
	}
	if _, err := eng.Recover(); err != nil {
		return nil, err
	}
	eng.Notify(log.LastIndex())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := eng.Run(ctx); err != nil {
		return nil, err
	}
	return eng, nil
}

// viewLog is the engine's read-only ingest log: a wal.View seen from index
// from on.
type viewLog struct {
	*wal.View
	from uint64
}

func (l *viewLog) FirstIndex() uint64 { return max(l.View.FirstIndex(), l.from) }
func (l *viewLog) Sync() error        { return nil }

func (l *viewLog) TruncateFront(uint64) error {
	return errors.New("replay: the ingest log is read-only")
}

// heartbeatLog is a log of one heartbeat entry at index, ingest time at.
type heartbeatLog struct {
	index uint64
	at    int64
}

func (l *heartbeatLog) Read(index uint64, e *wal.Entry) error {
	if index != l.index {
		return wal.ErrNotFound
	}
	*e = wal.Entry{Kind: wal.KindHeartbeat, IngestTime: l.at, Fingerprints: e.Fingerprints[:0], Points: e.Points[:0]}
	return nil
}

func (l *heartbeatLog) Sync() error                { return nil }
func (l *heartbeatLog) FirstIndex() uint64         { return l.index }
func (l *heartbeatLog) LastIndex() uint64          { return l.index }
func (l *heartbeatLog) TruncateFront(uint64) error { return nil }

// writerOutbox is an engine outbox that writes results to w as they come.
type writerOutbox struct {
	w    io.Writer
	high uint64
}

func (o *writerOutbox) Append(ingestIndex uint64, points []byte, _ bool) error {
	if _, err := o.w.Write(points); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	o.high = ingestIndex
	return nil
}

func (o *writerOutbox) HighWater() uint64 { return o.high }
func (o *writerOutbox) Sync() error       { return nil }

// memCheckpoints keeps the last checkpoint in memory; Floor is 0 so that the
// engine never truncates the log.
type memCheckpoints struct {
	index uint64
	state []byte
}

func (c *memCheckpoints) Save(index uint64, state []byte) error {
	c.index, c.state = index, append([]byte(nil), state...)
	return nil
}

func (c *memCheckpoints) Latest() (uint64, []byte, error) {
	if c.state == nil {
		return 0, nil, wal.ErrNoCheckpoint
	}
	return c.index, c.state, nil
}

func (c *memCheckpoints) Floor() uint64 { return 0 }
