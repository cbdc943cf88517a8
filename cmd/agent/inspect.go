package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/wal"
)

const inspectUsage = `usage: rivulet inspect wal|checkpoint|outbox --config FILE [flags]

Prints what is in data_dir, in human terms, without changing a byte:
  wal         the ingest log: segments, entries (the last 20 unless --from or
              --limit say otherwise), damaged records and what the next start
              would repair
  checkpoint  the retained checkpoints and the state in the newest valid one:
              watermarks, idle clocks, late points, open windows
  outbox      per sink: cursor, high-water mark, backlog

The agent must be stopped: inspect refuses while a rivulet holds data_dir
(inspect a copy of data_dir instead).

flags:
`

// inspectOpts are the flags of rivulet inspect.
type inspectOpts struct {
	sink   string
	from   uint64
	limit  uint64
	points bool
}

func cmdInspect(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, inspectUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "site config file (YAML, TOML or JSON)")
	var o inspectOpts
	fs.StringVar(&o.sink, "sink", "", "outbox: only this sink")
	fs.Uint64Var(&o.from, "from", 0, "wal, outbox: first index to list (default: the last --limit entries)")
	fs.Uint64Var(&o.limit, "limit", 20, "wal, outbox: entries to list; 0 lists all")
	fs.BoolVar(&o.points, "points", false, "wal, outbox: print the line-protocol lines too")
	what := ""
	if len(args) > 0 && !isFlag(args[0]) {
		what, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if what == "" && fs.NArg() == 1 {
		what = fs.Arg(0)
	}
	if what != "wal" && what != "checkpoint" && what != "outbox" {
		fmt.Fprintf(stderr, "rivulet inspect: say what to inspect: wal, checkpoint or outbox\n\n")
		fs.Usage()
		return exitCode(2)
	}
	cfg, err := loadToolConfig("inspect", *path, stderr)
	if err != nil {
		return err
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	switch what {
	case "wal":
		return inspectWAL(stdout, filepath.Join(cfg.DataDir, dirLog), o)
	case "checkpoint":
		return inspectCheckpoints(stdout, filepath.Join(cfg.DataDir, dirCheckpoint), cfg)
	}
	return inspectOutboxes(stdout, cfg, o)
}

func isFlag(s string) bool { return len(s) > 0 && s[0] == '-' }

// loadToolConfig loads the config for a tool command; problems are printed
// and reported as exit status 2, as validate does.
func loadToolConfig(cmd, path string, stderr io.Writer) (*config.Config, error) {
	if path == "" {
		fmt.Fprintf(stderr, "rivulet %s: --config FILE is required\n", cmd)
		return nil, exitCode(2)
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitCode(2)
	}
	return cfg, nil
}

// lockDataDir takes a shared lock on data_dir/LOCK. The agent takes it
// exclusively, so this fails while an agent runs (opening its logs then
// would be unsafe: Open repairs tails, TruncateFront rewrites segments) and
// keeps an agent from starting while a read-only command runs. The caller
// closes the file to release the lock.
func lockDataDir(dir string) (*os.File, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		// No agent ever ran here; create the file so one cannot start
		// under us. A read-only copy of data_dir cannot be written by an
		// agent either, so go on unlocked there.
		if f, err = os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err != nil {
			return nil, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("data_dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data_dir %s is in use by a running rivulet (stop it first, or copy data_dir)", dir)
		}
		return nil, fmt.Errorf("data_dir lock %s: %w", path, err)
	}
	return f, nil
}

// fmtTime formats ns since the epoch as RFC 3339 UTC with milliseconds.
func fmtTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// page returns the indexes to list in [first, last]: from --from on, or the
// last --limit; ok is false when there is nothing to list.
func (o inspectOpts) page(first, last uint64) (from, to uint64, ok bool) {
	if first == 0 || last < first {
		return 0, 0, false
	}
	from, to = first, last
	switch {
	case o.from > 0:
		from = max(o.from, first)
		if o.limit > 0 && o.limit-1 < last-from {
			to = from + o.limit - 1
		}
	case o.limit > 0 && o.limit-1 < last-first:
		from = last - o.limit + 1
	}
	return from, to, from <= to
}

// printView prints the layout of a log or outbox directory and what the
// next start would repair in it.
func printView(w io.Writer, v *wal.View) {
	if v.LastIndex() == 0 || v.LastIndex() < v.FirstIndex() {
		fmt.Fprintf(w, "  entries: none (next index %d)\n", v.LastIndex()+1)
	} else {
		fmt.Fprintf(w, "  entries %d..%d (%d)\n", v.FirstIndex(), v.LastIndex(), v.LastIndex()-v.FirstIndex()+1)
	}
	fmt.Fprintf(w, "  %d segment file(s), %d bytes\n", len(v.Segments), v.Size())
	for _, s := range v.Segments {
		span := "no entries"
		if s.Entries > 0 {
			span = fmt.Sprintf("entries %d..%d", s.First, s.First+s.Entries-1)
		}
		fmt.Fprintf(w, "    %-26s %12d bytes  %s\n", filepath.Base(s.Path), s.Size, span)
	}
	if t := v.Tail; t.Bytes > 0 {
		fmt.Fprintf(w, "  damaged tail: %d record(s), %d bytes after offset %d of %s; the next start cuts them (saving them to quarantine unless they are zeros)\n",
			t.Records, t.Bytes, t.Offset, filepath.Base(t.Segment))
	}
	for _, name := range v.Pending {
		fmt.Fprintf(w, "  left by an interrupted write: %s (the next start finishes or removes it)\n", name)
	}
}

// printLines prints line protocol indented under an entry.
func printLines(w io.Writer, points []byte) {
	for line := range bytes.Lines(points) {
		fmt.Fprintf(w, "        %s", line)
	}
}

// walSummary counts the whole log for inspect wal's last line.
type walSummary struct {
	kinds            map[wal.Kind]int
	entries, damaged int
	points           int
	minT, maxT       int64
	// compressed counts the entries stored compressed, lp the bytes of
	// their points and stored their records' bytes on disk.
	compressed, lp, stored int
}

func (s *walSummary) add(e *wal.Entry) {
	if s.entries == 0 || e.IngestTime < s.minT {
		s.minT = e.IngestTime
	}
	if s.entries == 0 || e.IngestTime > s.maxT {
		s.maxT = e.IngestTime
	}
	s.entries++
	s.kinds[e.Kind]++
	s.points += bytes.Count(e.Points, []byte{'\n'})
}

func (s *walSummary) String() string {
	out := fmt.Sprintf("summary: %d entries (%d batch, %d heartbeat, %d epoch, %d damaged), %d points",
		s.entries+s.damaged, s.kinds[wal.KindBatch], s.kinds[wal.KindHeartbeat], s.kinds[wal.KindEpoch], s.damaged, s.points)
	if s.entries > 0 {
		out += fmt.Sprintf(", ingest time %s to %s", fmtTime(s.minT), fmtTime(s.maxT))
	}
	if s.compressed > 0 {
		out += fmt.Sprintf("; %d entries compressed: %d bytes of points in %d bytes (%.1f×)",
			s.compressed, s.lp, s.stored, float64(s.lp)/float64(max(1, s.stored)))
	}
	return out
}

func inspectWAL(w io.Writer, dir string, o inspectOpts) error {
	v, err := wal.OpenView(dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(w, "ingest log %s: none yet\n", dir)
		return nil
	} else if err != nil {
		return err
	}
	fmt.Fprintf(w, "ingest log %s\n", dir)
	printView(w, v)
	from, to, listed := o.page(v.FirstIndex(), v.LastIndex())
	if !listed && o.from > v.LastIndex() {
		fmt.Fprintf(w, "\n  no entries from %d on: the log ends at %d\n", o.from, v.LastIndex())
	}
	if listed {
		fmt.Fprintf(w, "\n  %8s  %-9s  %-24s  %5s  %6s  %8s\n", "index", "kind", "ingest time (UTC)", "fps", "points", "bytes")
	}
	sum := walSummary{kinds: map[wal.Kind]int{}}
	var e wal.Entry
	for i := v.FirstIndex(); i > 0 && i <= v.LastIndex(); i++ {
		err := v.Read(i, &e)
		show := listed && i >= from && i <= to
		switch {
		case err != nil:
			sum.damaged++
			if show {
				fmt.Fprintf(w, "  %8d  damaged: %v\n", i, err)
			}
		default:
			sum.add(&e)
			if v.Compressed(i) {
				sum.compressed, sum.lp, sum.stored = sum.compressed+1, sum.lp+len(e.Points), sum.stored+v.RecordLen(i)
			}
			if show {
				fmt.Fprintf(w, "  %8d  %-9s  %-24s  %5d  %6d  %8d\n", i, e.Kind, fmtTime(e.IngestTime),
					len(e.Fingerprints), bytes.Count(e.Points, []byte{'\n'}), v.RecordLen(i))
				if o.points {
					printLines(w, e.Points)
				}
			}
		}
	}
	fmt.Fprintf(w, "\n%s\n", &sum)
	return nil
}

func inspectOutboxes(w io.Writer, cfg *config.Config, o inspectOpts) error {
	root := filepath.Join(cfg.DataDir, dirOutbox)
	names := map[string]bool{}
	for _, s := range cfg.Sinks {
		names[s.Name] = true
	}
	ents, _ := os.ReadDir(root)
	for _, de := range ents {
		if de.IsDir() {
			names[de.Name()] = true
		}
	}
	if o.sink != "" && !names[o.sink] {
		return fmt.Errorf("no sink %q in the config or in %s", o.sink, root)
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if o.sink != "" && name != o.sink {
			continue
		}
		if err := inspectOutbox(w, name, filepath.Join(root, name), o); err != nil {
			return fmt.Errorf("outbox %s: %w", name, err)
		}
		// The sink's other lanes, when they exist.
		for _, l := range sinkLanes {
			if l.dir == dirOutbox {
				continue
			}
			dir := filepath.Join(filepath.Dir(root), l.dir, name)
			if _, err := os.Stat(dir); err != nil {
				continue
			}
			if err := inspectOutbox(w, name+" ("+l.name+" lane)", dir, o); err != nil {
				return fmt.Errorf("outbox %s, %s lane: %w", name, l.name, err)
			}
		}
	}
	return nil
}

func inspectOutbox(w io.Writer, name, dir string, o inspectOpts) error {
	v, err := wal.OpenOutboxView(dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(w, "outbox %s (%s): none yet\n", name, dir)
		return nil
	} else if err != nil {
		return err
	}
	fmt.Fprintf(w, "outbox %s (%s)\n", name, dir)
	printView(w, v.View)
	fmt.Fprintf(w, "  cursor %d (delivered through ingest index %d); high-water mark: ingest index %d\n",
		v.Cursor, v.Delivered, v.HighWater())
	if v.CursorErr != nil {
		fmt.Fprintf(w, "  cursor file damaged: %v (the next start quarantines it and delivers again from the first entry)\n", v.CursorErr)
	}
	if v.Clamped {
		fmt.Fprintf(w, "  the cursor file says %d, past the last entry (unsynced entries were lost); the next start clamps it\n", v.ClampedFrom)
	}
	n, size := v.Backlog()
	if n == 0 {
		fmt.Fprintf(w, "  backlog: none\n\n")
		return nil
	}
	var e wal.Entry
	first := "damaged"
	if err := v.Read(v.Cursor+1, &e); err == nil {
		first = fmt.Sprintf("from ingest index %d", e.IngestTime)
	}
	fmt.Fprintf(w, "  backlog: %d entries, %d bytes; first pending: seq %d %s\n", n, size, v.Cursor+1, first)
	if o.points {
		printPending(w, v, o)
	}
	fmt.Fprintln(w)
	return nil
}

// printPending lists the pending entries, --limit of them from the first.
func printPending(w io.Writer, v *wal.OutboxView, o inspectOpts) {
	from, last := max(v.Cursor+1, o.from), v.LastIndex()
	var e wal.Entry
	for seq, n := from, uint64(0); seq <= last && (o.limit == 0 || n < o.limit); seq, n = seq+1, n+1 {
		if err := v.Read(seq, &e); err != nil {
			fmt.Fprintf(w, "    seq %d damaged: %v\n", seq, err)
			continue
		}
		fmt.Fprintf(w, "    seq %d (ingest index %d), %d lines\n", seq, e.IngestTime, bytes.Count(e.Points, []byte{'\n'}))
		printLines(w, e.Points)
	}
}
