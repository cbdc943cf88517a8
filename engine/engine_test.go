package engine

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/detect"
	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/series"
	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

// memLog is an in-memory ingest log.
type memLog struct {
	entries []wal.Entry // entries[i] has index first+i
	first   uint64
	syncs   int
}

func (l *memLog) add(e wal.Entry) {
	if l.first == 0 {
		l.first = 1
	}
	l.entries = append(l.entries, e)
}

func (l *memLog) Read(i uint64, e *wal.Entry) error {
	if i < l.first || i >= l.first+uint64(len(l.entries)) {
		return wal.ErrNotFound
	}
	*e = l.entries[i-l.first]
	return nil
}
func (l *memLog) FirstIndex() uint64 { return l.first }
func (l *memLog) LastIndex() uint64 {
	if l.first == 0 {
		return 0
	}
	return l.first + uint64(len(l.entries)) - 1
}
func (l *memLog) TruncateFront(i uint64) error { return nil } // keep everything: tests replay freely
func (l *memLog) Sync() error                  { l.syncs++; return nil }

// memOutbox records appends and enforces the high-water contract.
type memOutbox struct {
	hw    uint64
	lines []byte
}

func (o *memOutbox) Append(idx uint64, points []byte, _ bool) error {
	if idx <= o.hw {
		return fmt.Errorf("append %d at or below high water %d", idx, o.hw)
	}
	o.hw = idx
	o.lines = append(o.lines, points...)
	return nil
}
func (o *memOutbox) HighWater() uint64 { return o.hw }
func (o *memOutbox) Sync() error       { return nil }

type memCkpt struct {
	saved []uint64
	data  map[uint64][]byte
}

func (c *memCkpt) Save(i uint64, d []byte) error {
	if c.data == nil {
		c.data = map[uint64][]byte{}
	}
	c.saved = append(c.saved, i)
	c.data[i] = append([]byte(nil), d...)
	return nil
}
func (c *memCkpt) Latest() (uint64, []byte, error) {
	if len(c.saved) == 0 {
		return 0, nil, wal.ErrNoCheckpoint
	}
	i := c.saved[len(c.saved)-1]
	return i, c.data[i], nil
}
func (c *memCkpt) Floor() uint64 { return 0 }

const sec = int64(time.Second)

// base is the event time the tests start at: results are stamped with their
// window start, and a zero timestamp would mean "none".
const base = 1_700_000_000 * sec

func stepConfig() StepConfig {
	return StepConfig{Name: "t10", Measurement: "temperature",
		Window:     window.Config{Type: "tumbling", Size: 10 * time.Second, MaxDelay: 2 * time.Second, IdleTimeout: 5 * time.Second},
		GroupBy:    []string{"zone"},
		Aggregates: []string{"count", "sum", "mean", "min", "max", "first", "last"},
		To:         []string{"out"}}
}

func newTestEngine(t *testing.T, log *memLog, box *memOutbox, ck *memCkpt) *Engine {
	t.Helper()
	e, err := New(Config{Site: "s1", Steps: []StepConfig{stepConfig()}, Checkpoint: DefaultCheckpoint()},
		log, map[string]Outbox{"out": box}, ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	return e
}

// run applies everything in the log and flushes.
func run(t *testing.T, e *Engine) {
	t.Helper()
	e.Notify(e.log.LastIndex())
	if err := e.catchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Append what the flush pace holds back, as a checkpoint would.
	if err := e.flushNow(); err != nil {
		t.Fatal(err)
	}
}

func batch(ingest int64, lines ...string) wal.Entry {
	return wal.Entry{Kind: wal.KindBatch, IngestTime: ingest, Points: []byte(strings.Join(lines, "\n") + "\n")}
}

func TestWindowResults(t *testing.T) {
	log := &memLog{}
	log.add(wal.Entry{Kind: wal.KindEpoch, IngestTime: 100 * sec})
	log.add(batch(100*sec,
		fmt.Sprintf("temperature,zone=a value=1 %d", base+1*sec),
		fmt.Sprintf("temperature,zone=a value=3 %d", base+5*sec),
		fmt.Sprintf("temperature,zone=b value=10i %d", base+9*sec),
		fmt.Sprintf("humidity,zone=a value=99 %d", base+9*sec), // filtered out
	))
	log.add(batch(101*sec,
		fmt.Sprintf("temperature,zone=a value=2 %d", base+3*sec), // out of order, on time
		fmt.Sprintf("temperature,zone=a value=7 %d", base+11*sec),
	))
	// Watermark = 11 - 2 = 9 < 10: window [0,10) still open.
	log.add(batch(102*sec, fmt.Sprintf("temperature,zone=a value=8 %d", base+12*sec)))
	// Watermark = 12 - 2 = 10: window [0,10) fires.
	log.add(batch(103*sec, fmt.Sprintf("temperature,zone=a value=4 %d", base+9*sec))) // late
	box := &memOutbox{}
	e := newTestEngine(t, log, box, &memCkpt{})
	run(t, e)
	want := "" +
		"t10,site=s1,zone=a value_count=3i,value_sum=6,value_mean=2,value_min=1,value_max=3,value_first=1,value_last=3 1700000000000000000\n" +
		"t10,site=s1,zone=b value_count=1i,value_sum=10,value_mean=10,value_min=10,value_max=10,value_first=10,value_last=10 1700000000000000000\n"
	if string(box.lines) != want {
		t.Fatalf("results:\n%s\nwant:\n%s", box.lines, want)
	}
	if got := e.Stats().Late.Load(); got != 1 {
		t.Fatalf("late = %d, want 1", got)
	}
	if box.hw != 4 {
		t.Fatalf("outbox high water %d, want 4 (the entry that closed the window)", box.hw)
	}
	if log.syncs == 0 {
		t.Fatal("results reached the outbox without syncing the ingest log first (durability: write)")
	}
	if w, s := e.Stats().Windows.Load(), e.Stats().Series.Load(); w != 1 || s != 1 {
		t.Fatalf("open windows %d, series %d; want 1 and 1 (zone a in [10s, 20s))", w, s)
	}
	if err := e.Checkpoint(); err != nil || e.Stats().LastCheckpoint.Load() == 0 {
		t.Fatalf("checkpoint time not recorded (err %v)", err)
	}
}

func TestIdleTimeoutAndEpoch(t *testing.T) {
	log := &memLog{}
	log.add(wal.Entry{Kind: wal.KindEpoch, IngestTime: 100 * sec})
	log.add(batch(100*sec, fmt.Sprintf("temperature,zone=a value=1 %d", base+5*sec)))
	// Heartbeats for 4 s of processing time: not idle long enough.
	for i := int64(1); i <= 4; i++ {
		log.add(wal.Entry{Kind: wal.KindHeartbeat, IngestTime: (100 + i) * sec})
	}
	box := &memOutbox{}
	e := newTestEngine(t, log, box, &memCkpt{})
	run(t, e)
	if len(box.lines) != 0 {
		t.Fatalf("fired after 4s idle: %s", box.lines)
	}
	// The agent was down for an hour, then restarted: the epoch restarts the
	// idle clock, so the gap does not fire the window by itself.
	log.add(wal.Entry{Kind: wal.KindEpoch, IngestTime: 3700 * sec})
	log.add(wal.Entry{Kind: wal.KindHeartbeat, IngestTime: 3701 * sec})
	run(t, e)
	if len(box.lines) != 0 {
		t.Fatalf("downtime counted as idleness: %s", box.lines)
	}
	// A redelivered point that belongs to the open window is still on time.
	log.add(batch(3701*sec, fmt.Sprintf("temperature,zone=a value=3 %d", base+6*sec)))
	// Idle 5 s after that: the watermark moves to 6-2+5 = 9, then 10.
	for i := int64(1); i <= 6; i++ {
		log.add(wal.Entry{Kind: wal.KindHeartbeat, IngestTime: (3701 + i) * sec})
	}
	run(t, e)
	want := "t10,site=s1,zone=a value_count=2i,value_sum=4,value_mean=2,value_min=1,value_max=3,value_first=1,value_last=3 1700000000000000000\n"
	if string(box.lines) != want {
		t.Fatalf("results:\n%s\nwant:\n%s", box.lines, want)
	}
	if e.Stats().Late.Load() != 0 {
		t.Fatalf("late points after restart: %d", e.Stats().Late.Load())
	}
}

// randomLog builds a log of n batches of readings from several zones with
// bounded disorder, heartbeats and epochs.
func randomLog(seed uint64, n int) *memLog {
	rng := rand.New(rand.NewPCG(seed, 1))
	log := &memLog{}
	proc, evt := 1000*sec, base
	log.add(wal.Entry{Kind: wal.KindEpoch, IngestTime: proc})
	for i := 0; i < n; i++ {
		proc += int64(rng.IntN(900)) * int64(time.Millisecond)
		switch rng.IntN(10) {
		case 0:
			log.add(wal.Entry{Kind: wal.KindHeartbeat, IngestTime: proc})
			continue
		case 1:
			proc += 7 * sec
			log.add(wal.Entry{Kind: wal.KindHeartbeat, IngestTime: proc})
			continue
		case 2:
			log.add(wal.Entry{Kind: wal.KindEpoch, IngestTime: proc})
			continue
		}
		var lines []string
		for k := rng.IntN(5) + 1; k > 0; k-- {
			evt += int64(rng.IntN(500)) * int64(time.Millisecond)
			ts := evt - int64(rng.IntN(3000))*int64(time.Millisecond) // up to 3 s late: some are dropped
			lines = append(lines, fmt.Sprintf("temperature,zone=z%d value=%d.%02d %d", rng.IntN(3), rng.IntN(40), rng.IntN(100), ts))
		}
		log.add(batch(proc, lines...))
	}
	return log
}

// TestReplayDeterministic crashes the engine after every possible entry —
// restoring from its last checkpoint and replaying — and checks that the
// outbox ends byte-identical to an uninterrupted run's: nothing lost,
// nothing appended twice.
func TestReplayDeterministic(t *testing.T) {
	log := randomLog(42, 400)
	ref := &memOutbox{}
	e := newTestEngine(t, log, ref, &memCkpt{})
	run(t, e)
	if len(ref.lines) == 0 {
		t.Fatal("reference run produced nothing")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := 0; trial < 30; trial++ {
		box, ck := &memOutbox{}, &memCkpt{}
		var cur *Engine
		crash := func() { cur = newTestEngine(t, log, box, ck) } // state only from checkpoint + outbox
		crash()
		for cur.next <= log.LastIndex() {
			cur.Notify(log.LastIndex())
			// apply a random number of entries, maybe checkpoint, then crash
			for n := rng.IntN(40); n > 0 && cur.next <= log.LastIndex(); n-- {
				if err := cur.applyIndex(cur.next); err != nil {
					t.Fatal(err)
				}
				cur.next++
				if rng.IntN(3) == 0 {
					if err := cur.flush(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if rng.IntN(2) == 0 {
				if err := cur.Checkpoint(); err != nil {
					t.Fatal(err)
				}
			}
			crash()
		}
		run(t, cur)
		if !bytes.Equal(box.lines, ref.lines) {
			t.Fatalf("trial %d: outbox differs from the uninterrupted run\n%s", trial, diffLines(ref.lines, box.lines))
		}
	}
}

func diffLines(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	var b strings.Builder
	fmt.Fprintf(&b, "want %d lines, got %d\n", len(w), len(g))
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i, a, c)
			break
		}
	}
	return b.String()
}

// TestAggregatesOracle checks every aggregate against a plain computation
// over the accepted points.
func TestAggregatesOracle(t *testing.T) {
	log := &memLog{}
	rng := rand.New(rand.NewPCG(9, 9))
	type key struct {
		zone  string
		start int64
	}
	vals := map[key][]float64{}
	times := map[key][]int64{}
	proc := 100 * sec
	for i := 0; i < 500; i++ {
		ts := base + int64(i)*100*int64(time.Millisecond) // in order: nothing is late
		z := fmt.Sprintf("z%d", rng.IntN(4))
		v := float64(rng.IntN(10000)) / 7
		log.add(batch(proc, fmt.Sprintf("temperature,zone=%s value=%v %d", z, v, ts)))
		k := key{z, ts - ts%(10*sec)}
		vals[k], times[k] = append(vals[k], v), append(times[k], ts)
	}
	log.add(wal.Entry{Kind: wal.KindHeartbeat, IngestTime: proc + 60*sec})
	box := &memOutbox{}
	run(t, newTestEngine(t, log, box, &memCkpt{}))
	got := map[string]map[string]float64{}
	point.Parse(box.lines, func(p *point.Point) error {
		z, _ := p.Tag("zone")
		m := map[string]float64{}
		for _, f := range p.Fields {
			m[f.Key], _ = point.Float(f.Value)
		}
		got[fmt.Sprintf("%s/%d", z, p.Time)] = m
		return nil
	})
	if len(got) != len(vals) {
		t.Fatalf("%d results, want %d", len(got), len(vals))
	}
	for k, vs := range vals {
		g := got[fmt.Sprintf("%s/%d", k.zone, k.start)]
		sum, mn, mx := 0.0, math.Inf(1), math.Inf(-1)
		for _, v := range vs {
			sum += v
			mn, mx = math.Min(mn, v), math.Max(mx, v)
		}
		idx := make([]int, len(vs))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return times[k][idx[a]] < times[k][idx[b]] })
		want := map[string]float64{"value_count": float64(len(vs)), "value_sum": sum, "value_mean": sum / float64(len(vs)),
			"value_min": mn, "value_max": mx, "value_first": vs[idx[0]], "value_last": vs[idx[len(idx)-1]]}
		for name, w := range want {
			if math.Abs(g[name]-w) > 1e-9*math.Max(1, math.Abs(w)) {
				t.Errorf("%v %s = %v, want %v", k, name, g[name], w)
			}
		}
	}
}

func TestRecoverNoCheckpointStartsAtLogFront(t *testing.T) {
	log := &memLog{first: 5}
	log.entries = []wal.Entry{{Kind: wal.KindHeartbeat, IngestTime: 1}}
	e := newTestEngine(t, log, &memOutbox{}, &memCkpt{})
	if e.next != 5 {
		t.Fatalf("next = %d, want 5", e.next)
	}
}

type corruptLog struct{ *memLog }

func (l corruptLog) Read(i uint64, e *wal.Entry) error {
	if i == 2 {
		return &wal.CorruptionError{Index: 2, Err: errors.New("checksum mismatch")}
	}
	return l.memLog.Read(i, e)
}

func TestCorruptRecordSkipped(t *testing.T) {
	ml := &memLog{}
	ml.add(batch(1*sec, "temperature,zone=a value=1 1"))
	ml.add(batch(2*sec, "temperature,zone=a value=2 2"))
	ml.add(batch(3*sec, "temperature,zone=a value=3 3"))
	e, err := New(Config{Steps: []StepConfig{stepConfig()}, Checkpoint: DefaultCheckpoint()},
		corruptLog{ml}, map[string]Outbox{"out": &memOutbox{}}, &memCkpt{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Recover()
	run(t, e)
	if e.Stats().Corrupt.Load() != 1 || e.Stats().Points.Load() != 2 || e.next != 4 {
		t.Fatalf("corrupt=%d points=%d next=%d", e.Stats().Corrupt.Load(), e.Stats().Points.Load(), e.next)
	}
}

// TestRestoreKeepsOnlyUnchangedSteps reloads a checkpoint into a new config:
// a step whose window and grouping are unchanged keeps its open windows
// (other settings may change), a step whose window size changed starts
// empty.
func TestRestoreKeepsOnlyUnchangedSteps(t *testing.T) {
	log := &memLog{}
	log.add(batch(100*sec, fmt.Sprintf("temperature,zone=a value=1 %d", base+1*sec)))
	ck := &memCkpt{}
	e := newTestEngine(t, log, &memOutbox{}, ck)
	run(t, e)
	if err := e.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*StepConfig)
		state int
	}{
		{"delay and sinks changed", func(c *StepConfig) { c.Window.MaxDelay = time.Second; c.To = []string{"out2"} }, 1},
		{"aggregates changed", func(c *StepConfig) { c.Aggregates = []string{"sum", "p95"} }, 0},
		{"window size changed", func(c *StepConfig) { c.Window.Size = time.Minute }, 0},
		{"grouping changed", func(c *StepConfig) { c.GroupBy = nil }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := stepConfig()
			tc.edit(&sc)
			e2, err := New(Config{Steps: []StepConfig{sc}, Checkpoint: DefaultCheckpoint()}, log,
				map[string]Outbox{"out": &memOutbox{}, "out2": &memOutbox{}}, ck, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e2.Recover(); err != nil {
				t.Fatal(err)
			}
			if _, states := e2.steps[0].len(); states != tc.state {
				t.Fatalf("restored %d window states, want %d", states, tc.state)
			}
		})
	}
}

// TestBorrowedStringsCopied checks that window state keeps no string that
// aliases a log entry: the engine parses with borrowed strings, and the
// entry's buffer is reused for the next read.
func TestBorrowedStringsCopied(t *testing.T) {
	e := newTestEngine(t, &memLog{}, &memOutbox{}, &memCkpt{})
	box := e.outboxes["out"].(*memOutbox)
	buf := []byte(fmt.Sprintf("temperature,zone=a value=1 %d\n", base+sec))
	e.Apply(1, &wal.Entry{Kind: wal.KindBatch, IngestTime: 100 * sec, Points: buf})
	copy(buf, bytes.Repeat([]byte("q"), len(buf))) // as the next Read would
	e.Apply(2, &wal.Entry{Kind: wal.KindBatch, IngestTime: 101 * sec,
		Points: []byte(fmt.Sprintf("temperature,zone=a value=3 %d\n", base+20*sec))})
	if err := e.flush(); err != nil {
		t.Fatal(err)
	}
	want := "t10,site=s1,zone=a value_count=1i,value_sum=1,value_mean=1,value_min=1,value_max=1,value_first=1,value_last=1 1700000000000000000\n"
	if string(box.lines) != want {
		t.Fatalf("results:\n%s\nwant:\n%s", box.lines, want)
	}
}

// TestDetectAlertsTakeTheLane runs a window step feeding a detect step: the
// alerts go to the sink's priority lane, the window results to the sink,
// and a restart in the middle of the alert neither repeats nor loses a
// transition.
func TestDetectAlertsTakeTheLane(t *testing.T) {
	win := stepConfig()
	win.Aggregates = []string{"max"}
	crit := 35.0
	det := StepConfig{Name: "hot", From: "t10", To: []string{"out"},
		Detect: &detect.Config{Field: "value_max", Threshold: &detect.ThresholdConfig{Warn: math.NaN(), Crit: crit}, Alert: ops.DefaultAlertConfig(), TTL: time.Hour, MaxSeries: 10}}
	log := &memLog{}
	// Windows of 10s: max 30 (ok), 40 (crit), 41 (crit, no new alert), 20 (recovery).
	for i, v := range []int{30, 40, 41, 20, 20, 20} {
		log.add(batch(int64(100+10*i)*sec, fmt.Sprintf("temperature,zone=a value=%d %d", v, base+int64(10*i+1)*sec)))
	}
	want := []string{"alerts,level=crit,measurement=t10,rule=hot,site=s1,zone=a", "alerts,level=ok,measurement=t10,rule=hot,site=s1,zone=a"}
	for _, restart := range []bool{false, true} {
		box, lane, ck := &memOutbox{}, &memOutbox{}, &memCkpt{}
		boxes := map[string]Outbox{"out": box, "out" + AlertLane: lane}
		open := func() *Engine {
			e, err := New(Config{Site: "s1", Steps: []StepConfig{win, det}, Checkpoint: DefaultCheckpoint()}, log, boxes, ck, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Recover(); err != nil {
				t.Fatal(err)
			}
			return e
		}
		e := open()
		for i := range log.entries {
			e.Apply(uint64(i+1), &log.entries[i])
			if restart {
				if err := e.Checkpoint(); err != nil {
					t.Fatal(err)
				}
				e = open()
			}
		}
		if err := e.Checkpoint(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(lane.lines)), "\n") {
			got = append(got, strings.Fields(l)[0])
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("restart=%v: alert lane:\n%s\nwant series:\n%s", restart, lane.lines, strings.Join(want, "\n"))
		}
		if strings.Contains(string(box.lines), "alerts") || strings.Count(string(box.lines), "t10,") != 4 {
			t.Errorf("restart=%v: sink out:\n%s", restart, box.lines)
		}
	}
}

// TestGroupWatermark: zone b's clock lags zone a's by 30 s. With one
// watermark per step b's points are late and dropped; with one per group
// each zone's windows fire on its own time and nothing is late.
func TestGroupWatermark(t *testing.T) {
	log := &memLog{}
	for i := range 6 {
		at := base + int64(10*i+1)*sec
		log.add(batch(int64(100+10*i)*sec,
			fmt.Sprintf("temperature,zone=a value=%d %d", i, at),
			fmt.Sprintf("temperature,zone=b value=%d %d", 10+i, at-30*sec)))
	}
	for _, tc := range []struct {
		scope         string
		late, results int
	}{{window.WatermarkStep, 5, 5}, {window.WatermarkGroup, 0, 8}} {
		sc := stepConfig()
		sc.Window.IdleTimeout = 0
		sc.Window.Watermark = tc.scope
		box := &memOutbox{}
		e, err := New(Config{Site: "s1", Steps: []StepConfig{sc}, Checkpoint: DefaultCheckpoint()},
			log, map[string]Outbox{"out": box}, &memCkpt{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Recover(); err != nil {
			t.Fatal(err)
		}
		run(t, e)
		// One watermark (a's time − 2 s): b's first window [−30, −20) fires
		// after entry 0 and each later b point falls in a fired window: 5
		// late; a's windows 0, 10, 20, 30 fire. Per group: a's 4 windows
		// fire (its watermark 51 − 2), and b's 4 windows −30 … 0 (21 − 2).
		if got := e.Stats().Late.Load(); got != uint64(tc.late) {
			t.Errorf("%s: %d late, want %d", tc.scope, got, tc.late)
		}
		if got := strings.Count(string(box.lines), "\n"); got != tc.results {
			t.Errorf("%s: %d results, want %d:\n%s", tc.scope, got, tc.results, box.lines)
		}
		// A checkpoint and restart after every entry changes nothing.
		box2, ck := &memOutbox{}, &memCkpt{}
		for i := range log.entries {
			e, err := New(Config{Site: "s1", Steps: []StepConfig{sc}, Checkpoint: DefaultCheckpoint()},
				log, map[string]Outbox{"out": box2}, ck, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Recover(); err != nil {
				t.Fatal(err)
			}
			e.Apply(uint64(i+1), &log.entries[i])
			if err := e.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		if string(box2.lines) != string(box.lines) {
			t.Errorf("%s: with restarts:\n%s\nwithout:\n%s", tc.scope, box2.lines, box.lines)
		}
	}
}

// TestSessionKeepsItsIdentity: with late: update, a late point that would
// move a fired session's start is too late; one inside it updates the
// session, which is emitted again with the same start.
func TestSessionKeepsItsIdentity(t *testing.T) {
	sc := StepConfig{Name: "s", Measurement: "temperature", GroupBy: []string{"zone"}, Aggregates: []string{"count"}, To: []string{"out"},
		Window: window.Config{Type: window.KindSession, Gap: 5 * time.Second, Late: window.LateUpdate, AllowedLateness: time.Minute}}
	log := &memLog{}
	at := func(s int64) int64 { return base + s*sec }
	log.add(batch(100*sec, fmt.Sprintf("temperature,zone=a value=1 %d", at(10)), fmt.Sprintf("temperature,zone=a value=1 %d", at(12))))
	log.add(batch(101*sec, fmt.Sprintf("temperature,zone=b value=1 %d", at(30)))) // watermark 30: session a [10,12] fires
	log.add(batch(102*sec, fmt.Sprintf("temperature,zone=a value=1 %d", at(11)))) // inside: update, same start
	log.add(batch(103*sec, fmt.Sprintf("temperature,zone=a value=1 %d", at(8))))  // before the start: too late
	box := &memOutbox{}
	e, err := New(Config{Site: "s1", Steps: []StepConfig{sc}, Checkpoint: DefaultCheckpoint()}, log, map[string]Outbox{"out": box}, &memCkpt{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	run(t, e)
	want := fmt.Sprintf("s,site=s1,zone=a value_count=2i,session_s=2 %d\ns,site=s1,zone=a value_count=3i,session_s=2 %d\n", at(10), at(10))
	if string(box.lines) != want {
		t.Errorf("results:\n%s\nwant:\n%s", box.lines, want)
	}
	if c := e.steps[0].counts(); c.LateUpdated != 1 || c.LateDropped != 1 {
		t.Errorf("late counts %+v, want 1 updated and 1 dropped", c)
	}
}

// TestSignatureSurvivesARestart: two configs decoded separately (as in two
// processes) with the same blocks have the same signature, so a restart
// keeps the steps' state. A detect step keeps it across a new threshold
// (detect relearns, alert states stay) but not across a new field or
// detector; a stateful step's whole block counts.
func TestSignatureSurvivesARestart(t *testing.T) {
	mk := func(field string, crit float64) StepConfig {
		d := detect.DefaultConfig()
		d.Field = field
		th := detect.DefaultThreshold()
		th.Crit = crit
		d.Threshold = &th
		return StepConfig{Name: "hot", Detect: &d, To: []string{"out"}}
	}
	if a, b := signature(mk("value", 35)), signature(mk("value", 35)); a != b {
		t.Errorf("same detect config, different signatures:\n%s\n%s", a, b)
	}
	if signature(mk("value", 35)) != signature(mk("value", 36)) {
		t.Error("a new threshold must keep the detect state")
	}
	if signature(mk("value", 35)) == signature(mk("temp", 35)) {
		t.Error("a new field must drop the detect state")
	}
	st := func(alpha float64) StepConfig {
		c := series.DefaultConfig()
		c.Op, c.Alpha = "ewma", alpha
		return StepConfig{Name: "e", Stateful: &c, To: []string{"out"}}
	}
	if signature(st(0.2)) != signature(st(0.2)) || signature(st(0.2)) == signature(st(0.3)) {
		t.Error("stateful signatures must follow the block, not its address")
	}
}

// TestUnreadableStepStateStartsEmpty: a step state the operator refuses
// does not keep the engine from recovering; the step starts empty.
func TestUnreadableStepStateStartsEmpty(t *testing.T) {
	ck := &memCkpt{}
	sc := stepConfig()
	bad := fmt.Sprintf(`{"version":2,"index":1,"proc":1,"steps":[{"name":%q,"sig":%q,"kind":"window","state":{"panes":"not a list"}}]}`, sc.Name, signature(sc.normalized()))
	if err := ck.Save(1, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	log := &memLog{}
	log.add(batch(100*sec, fmt.Sprintf("temperature,zone=a value=1 %d", base+sec)))
	var logs bytes.Buffer
	e, err := New(Config{Site: "s1", Steps: []StepConfig{sc}, Checkpoint: DefaultCheckpoint()},
		log, map[string]Outbox{"out": &memOutbox{}}, ck, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Recover(); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if _, st := e.steps[0].len(); st != 0 || !strings.Contains(logs.String(), "cannot restore the step's state") {
		t.Fatalf("%d states after an unreadable checkpoint, want 0; log:\n%s", st, logs.String())
	}
}
