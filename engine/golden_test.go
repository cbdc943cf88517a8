package engine_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/wal"
)

// The golden cases live in ../testdata/golden/<case>/:
//
//	pipeline.yaml  the `pipeline:` list of a site config (sinks out, late
//	               and alerts exist)
//	input.txt      the ingest log: "@<ingest time in s>" starts a batch
//	               entry, "@epoch <s>" is an epoch entry, other lines are
//	               line protocol with timestamps in seconds; # comments
//	expected.txt   "<sink> <line protocol, timestamps in seconds>" per
//	               result, in the order written; # comments
//
// The expected results are worked out by hand (see each case's comments),
// never copied from the engine's output. Each case runs three ways: in
// one go, with a checkpoint and a restart in a fresh engine after every
// entry, and with every batch split into one entry per point.

var goldenSinks = []string{"out", "late", "alerts"}

func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("../testdata/golden/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			steps := loadPipeline(t, filepath.Join(dir, "pipeline.yaml"))
			entries := loadInput(t, filepath.Join(dir, "input.txt"))
			want := loadExpected(t, filepath.Join(dir, "expected.txt"))
			check := func(mode string, got map[string][]byte) {
				t.Helper()
				for _, sink := range goldenSinks {
					if diff := comparePoints(want[sink], got[sink]); diff != "" {
						t.Errorf("%s: sink %s:\n%s", mode, sink, diff)
					}
				}
			}
			check("one run", runGolden(t, steps, entries, false))
			check("restart after every entry", runGolden(t, steps, entries, true))
			check("one point per entry", runGolden(t, steps, splitEntries(entries), false))
		})
	}
}

func loadPipeline(t *testing.T, path string) []engine.StepConfig {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	site := "site: g1\ndata_dir: /tmp/golden\nsources: {mqtt: [{name: s, broker: tcp://127.0.0.1:1883, qos: 0, topics: [{filter: x, format: influx}]}]}\n" +
		"sinks:\n  - {name: out, type: stdout}\n  - {name: late, type: stdout}\n  - {name: alerts, type: stdout}\n" + string(data)
	cfg, err := config.LoadBytes([]byte(site), "yaml", nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg.Pipeline
}

func loadInput(t *testing.T, path string) []wal.Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []wal.Entry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "@epoch "):
			entries = append(entries, wal.Entry{Kind: wal.KindEpoch, IngestTime: seconds(t, path, n, strings.TrimPrefix(line, "@epoch "))})
		case strings.HasPrefix(line, "@"):
			entries = append(entries, wal.Entry{Kind: wal.KindBatch, IngestTime: seconds(t, path, n, line[1:])})
		default:
			if len(entries) == 0 || entries[len(entries)-1].Kind != wal.KindBatch {
				t.Fatalf("%s:%d: a point before any @<time> batch line", path, n)
			}
			e := &entries[len(entries)-1]
			err := point.ParsePrecision([]byte(line), lineprotocol.Second, func(p *point.Point) error {
				var err error
				e.Points, err = point.AppendLine(e.Points, p)
				return err
			})
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
		}
	}
	return entries
}

func seconds(t *testing.T, path string, n int, s string) int64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		t.Fatalf("%s:%d: bad time %q", path, n, s)
	}
	return int64(math.Round(f * 1e9))
}

func loadExpected(t *testing.T, path string) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sink, lp, ok := strings.Cut(line, " ")
		if !ok || !slices.Contains(goldenSinks, sink) {
			t.Fatalf("%s:%d: want <sink> <line protocol>, sinks %v", path, n+1, goldenSinks)
		}
		err := point.ParsePrecision([]byte(lp), lineprotocol.Second, func(p *point.Point) error {
			var err error
			out[sink], err = point.AppendLine(out[sink], p)
			return err
		})
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n+1, err)
		}
	}
	return out
}

// splitEntries gives every point its own entry, same ingest time.
func splitEntries(in []wal.Entry) []wal.Entry {
	var out []wal.Entry
	for _, e := range in {
		if e.Kind != wal.KindBatch {
			out = append(out, e)
			continue
		}
		for _, line := range bytes.SplitAfter(e.Points, []byte("\n")) {
			if len(line) > 0 {
				out = append(out, wal.Entry{Kind: wal.KindBatch, IngestTime: e.IngestTime, Points: line})
			}
		}
	}
	return out
}

// runGolden runs entries through a fresh engine and returns each sink's
// output. With restart it checkpoints after every entry and continues in a
// new engine restored from that checkpoint.
func runGolden(t *testing.T, steps []engine.StepConfig, entries []wal.Entry, restart bool) map[string][]byte {
	t.Helper()
	log := &gLog{}
	boxes := map[string]*gBox{}
	outboxes := map[string]engine.Outbox{}
	for _, s := range goldenSinks {
		boxes[s] = &gBox{}
		outboxes[s] = boxes[s]
	}
	ck := &gCkpt{}
	cfg := engine.Config{Site: "g1", Steps: steps, Checkpoint: engine.DefaultCheckpoint()}
	start := func() *engine.Engine {
		e, err := engine.New(cfg, log, outboxes, ck, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Recover(); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start()
	for _, ent := range entries {
		log.entries = append(log.entries, ent)
		idx := uint64(len(log.entries))
		e.Apply(idx, &log.entries[idx-1])
		if restart {
			if err := e.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			e = start()
		}
	}
	if err := e.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for s, b := range boxes {
		got[s] = b.lines
	}
	return got
}

type gLog struct{ entries []wal.Entry }

func (l *gLog) Read(i uint64, e *wal.Entry) error {
	if i < 1 || i > uint64(len(l.entries)) {
		return wal.ErrNotFound
	}
	*e = l.entries[i-1]
	return nil
}
func (l *gLog) Sync() error                { return nil }
func (l *gLog) FirstIndex() uint64         { return 1 }
func (l *gLog) LastIndex() uint64          { return uint64(len(l.entries)) }
func (l *gLog) TruncateFront(uint64) error { return nil }

type gBox struct {
	hw    uint64
	lines []byte
}

func (b *gBox) Append(idx uint64, points []byte, _ bool) error {
	if idx <= b.hw {
		return fmt.Errorf("append %d at or below high water %d", idx, b.hw)
	}
	b.hw = idx
	b.lines = append(b.lines, points...)
	return nil
}
func (b *gBox) HighWater() uint64 { return b.hw }
func (b *gBox) Sync() error       { return nil }

type gCkpt struct {
	idx  uint64
	data []byte
}

func (c *gCkpt) Save(i uint64, d []byte) error { c.idx, c.data = i, slices.Clone(d); return nil }
func (c *gCkpt) Latest() (uint64, []byte, error) {
	if c.data == nil {
		return 0, nil, wal.ErrNoCheckpoint
	}
	return c.idx, c.data, nil
}
func (c *gCkpt) Floor() uint64 { return 0 }

// comparePoints compares two line-protocol streams point by point, floats
// within a relative 1e-9, and describes the first differences.
func comparePoints(want, got []byte) string {
	w, g := parseAll(want), parseAll(got)
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var ws, gs string
		if i < len(w) {
			ws = w[i].String()
		}
		if i < len(g) {
			gs = g[i].String()
		}
		if i >= len(w) || i >= len(g) || !samePoint(w[i], g[i]) {
			fmt.Fprintf(&b, "  #%d want %s\n     got  %s\n", i, ws, gs)
		}
	}
	return b.String()
}

func parseAll(data []byte) []point.Point {
	var ps []point.Point
	_ = point.Parse(data, func(p *point.Point) error {
		p.Time = p.Time / int64(time.Second) * int64(time.Second)
		ps = append(ps, p.Clone())
		return nil
	})
	return ps
}

func samePoint(a, b point.Point) bool {
	if a.Measurement != b.Measurement || a.Time != b.Time || len(a.Tags) != len(b.Tags) || len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Tags {
		if a.Tags[i] != b.Tags[i] {
			return false
		}
	}
	fa, fb := slices.Clone(a.Fields), slices.Clone(b.Fields)
	byKey := func(x, y point.Field) int { return strings.Compare(x.Key, y.Key) }
	slices.SortFunc(fa, byKey)
	slices.SortFunc(fb, byKey)
	for i := range fa {
		if fa[i].Key != fb[i].Key {
			return false
		}
		x, okx := point.Float(fa[i].Value)
		y, oky := point.Float(fb[i].Value)
		if okx && oky && fa[i].Value.Kind() != lineprotocol.String {
			if fa[i].Value.Kind() != fb[i].Value.Kind() || math.Abs(x-y) > 1e-9*max(1, math.Abs(x)) {
				return false
			}
			continue
		}
		if !fa[i].Value.Equal(fb[i].Value) {
			return false
		}
	}
	return true
}
