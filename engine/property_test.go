package engine

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"pgregory.net/rapid"

	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/series"
	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

// The property tests state what the engine guarantees about how the log is
// cut into entries and where it stops and restarts:
//
//   - Checkpoint and restore: stopping after any entry, checkpointing and
//     continuing in a fresh engine restored from the checkpoint, or crashing
//     (losing everything since the last checkpoint) and replaying, gives
//     byte-identical sink output and an identical final state. This holds
//     for every log.
//   - Re-batching: the watermark is evaluated after every entry, so moving
//     entry boundaries can change which points are late. It cannot when
//     each batch lists its points in event-time order: a point is then
//     never behind one that came before it in its own batch, so a boundary
//     inside the batch moves the watermark only to where no window of the
//     batch's remaining points is. Splitting such batches into pieces with
//     the same ingest time (and adding heartbeats that repeat the last
//     ingest time) gives the same results; only results of different
//     windows may come in another order, so output is compared per result
//     identity (measurement, tags, time), every version in order. With
//     late: update a window is emitted again after every entry that updated
//     it, so there only the last version of each identity, the one the
//     upstream keeps, must be equal. Some things also evaluate at entry
//     ends and are kept out of this property: the idle timeout (the first
//     piece of a batch must hold a point the steps read, see rebatch; a
//     step fed by another step has no idle timeout here), the TTL sweep of
//     count windows and a session step's max_series (count_ttl and
//     session_cap are checked against restarts only).

// propFataler is what the helpers need of testing.T and rapid.T.
type propFataler interface {
	Fatalf(format string, args ...any)
}

// gPoint is a generated input point.
type gPoint struct {
	m    string // measurement
	zone int
	t    int64 // event time; 0: none, the entry's ingest time
	v    float64
}

// gEntry is a generated log entry.
type gEntry struct {
	kind   wal.Kind
	ingest int64
	points []gPoint
}

// eventTime is p's event time in an entry ingested at ingest.
func (p gPoint) eventTime(ingest int64) int64 {
	if p.t == 0 {
		return ingest
	}
	return p.t
}

const ms = int64(time.Millisecond)

// genLog draws a log: batches of points from a few zones whose timestamps
// trail the ingest time by up to 3 s (on time for most steps) or by 3–40 s
// (late), a few points without a timestamp or of another measurement,
// heartbeats, idle gaps of up to two minutes and epochs.
func genLog(t *rapid.T) []gEntry {
	n := rapid.IntRange(1, 45).Draw(t, "entries")
	proc := base + 10*sec
	ents := []gEntry{{kind: wal.KindEpoch, ingest: proc}}
	for range n {
		switch rapid.IntRange(0, 11).Draw(t, "kind") {
		case 0:
			proc += rapid.Int64Range(5, 120).Draw(t, "idle_s") * sec
			ents = append(ents, gEntry{kind: wal.KindHeartbeat, ingest: proc})
			continue
		case 1:
			proc += rapid.Int64Range(0, 3000).Draw(t, "step_ms") * ms
			ents = append(ents, gEntry{kind: wal.KindEpoch, ingest: proc})
			continue
		case 2:
			proc += rapid.Int64Range(0, 3000).Draw(t, "step_ms") * ms
			ents = append(ents, gEntry{kind: wal.KindHeartbeat, ingest: proc})
			continue
		}
		proc += rapid.Int64Range(0, 3000).Draw(t, "step_ms") * ms
		var pts []gPoint
		for k := rapid.IntRange(1, 6).Draw(t, "points"); k > 0; k-- {
			p := gPoint{m: "m", zone: rapid.IntRange(0, 3).Draw(t, "zone"),
				v: float64(rapid.IntRange(-400, 400).Draw(t, "v4")) / 4}
			switch rapid.IntRange(0, 19).Draw(t, "delay") {
			case 0:
				p.t = 0
			case 1, 2, 3:
				p.t = proc - rapid.Int64Range(3000, 40000).Draw(t, "late_ms")*ms
			default:
				p.t = proc - rapid.Int64Range(0, 3000).Draw(t, "delay_ms")*ms
			}
			if rapid.IntRange(0, 14).Draw(t, "other") == 14 {
				p.m = "x"
			}
			pts = append(pts, p)
		}
		ents = append(ents, gEntry{kind: wal.KindBatch, ingest: proc, points: pts})
	}
	return ents
}

// sortBatches orders every batch's points by event time, keeping the
// arrival order of equal times.
func sortBatches(in []gEntry) []gEntry {
	out := make([]gEntry, len(in))
	for i, e := range in {
		e.points = slices.Clone(e.points)
		slices.SortStableFunc(e.points, func(a, b gPoint) int {
			return cmpInt(a.eventTime(e.ingest), b.eventTime(e.ingest))
		})
		out[i] = e
	}
	return out
}

// rebatch cuts every batch into pieces with the batch's ingest time and
// adds heartbeats that repeat the previous entry's ingest time. The first
// piece holds a point the steps read: a piece with none would let the
// idle timeout move the watermark at the batch's ingest time, which the
// whole batch, data at that very time, does not.
func rebatch(t *rapid.T, in []gEntry) []gEntry {
	var out []gEntry
	for _, e := range in {
		if e.kind == wal.KindBatch {
			from, data := 0, false
			for i := 1; i < len(e.points); i++ {
				data = data || e.points[i-1].m == "m"
				if data && rapid.Bool().Draw(t, "cut") {
					out = append(out, gEntry{kind: wal.KindBatch, ingest: e.ingest, points: e.points[from:i]})
					from = i
				}
			}
			out = append(out, gEntry{kind: wal.KindBatch, ingest: e.ingest, points: e.points[from:]})
		} else {
			out = append(out, e)
		}
		if rapid.IntRange(0, 4).Draw(t, "repeat") == 0 {
			out = append(out, gEntry{kind: wal.KindHeartbeat, ingest: e.ingest})
		}
	}
	return out
}

// walEntries renders generated entries as log entries.
func walEntries(in []gEntry) []wal.Entry {
	out := make([]wal.Entry, len(in))
	for i, e := range in {
		out[i] = wal.Entry{Kind: e.kind, IngestTime: e.ingest}
		for _, p := range e.points {
			line := fmt.Sprintf("%s,zone=z%d value=%s", p.m, p.zone, strconv.FormatFloat(p.v, 'f', -1, 64))
			if p.t != 0 {
				line += " " + strconv.FormatInt(p.t, 10)
			}
			out[i].Points = append(out[i].Points, line+"\n"...)
		}
	}
	return out
}

// renderLog describes generated entries for failure messages, times in
// seconds from base.
func renderLog(ents []gEntry) string {
	var b strings.Builder
	for _, e := range ents {
		fmt.Fprintf(&b, "%d @%.3f", e.kind, float64(e.ingest-base)/1e9)
		for _, p := range e.points {
			fmt.Fprintf(&b, " %s/z%d/%.3f=%g", p.m, p.zone, float64(p.eventTime(e.ingest)-base)/1e9, p.v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// propPipeline is a pipeline under test: its steps, each writing to a sink
// named after it (and late points to <name>_late).
type propPipeline struct {
	name  string
	steps func(t *rapid.T) []StepConfig
	// restartOnly: the pipeline's results depend on where entries end, so
	// it is only checked against restarts.
	restartOnly bool
}

func propWindow(name string, w window.Config, aggs ...string) StepConfig {
	if w.Late == "" {
		w.Late = window.LateDrop
	}
	if len(aggs) == 0 {
		aggs = []string{"count", "sum", "mean", "min", "max", "first", "last"}
	}
	return StepConfig{Name: name, Measurement: "m", Window: w, GroupBy: []string{"zone"}, Aggregates: aggs, To: []string{name}}
}

func drawDelay(t *rapid.T) time.Duration {
	return time.Duration(rapid.SampledFrom([]int64{0, 500, 2000, 5000}).Draw(t, "max_delay_ms")) * time.Millisecond
}

func drawIdle(t *rapid.T) time.Duration {
	return time.Duration(rapid.SampledFrom([]int64{0, 3, 10, 30}).Draw(t, "idle_s")) * time.Second
}

var propPipelines = []propPipeline{
	{"tumbling", func(t *rapid.T) []StepConfig {
		s := propWindow("tumbling", window.Config{Type: "tumbling", Size: 10 * time.Second,
			MaxDelay: drawDelay(t), IdleTimeout: drawIdle(t)})
		s.MaxSeries = rapid.SampledFrom([]int{0, 2}).Draw(t, "max_series") // 0: no cap
		return []StepConfig{s}
	}, false},
	{"tumbling_fill", func(t *rapid.T) []StepConfig {
		s := propWindow("tumbling_fill", window.Config{Type: "tumbling", Size: 5 * time.Second,
			MaxDelay: drawDelay(t), IdleTimeout: drawIdle(t)}, "count", "mean", "last")
		s.Fill = rapid.SampledFrom([]string{"zero", "previous", "-1.5"}).Draw(t, "fill")
		s.StateTTL = 30 * time.Second
		return []StepConfig{s}
	}, false},
	{"hopping", func(t *rapid.T) []StepConfig {
		s := propWindow("hopping", window.Config{Type: "hopping", Size: 10 * time.Second, Slide: 4 * time.Second,
			Offset: time.Second, MaxDelay: drawDelay(t), IdleTimeout: drawIdle(t), Late: window.LateSide,
			LateTo: []string{"hopping_late"}})
		return []StepConfig{s}
	}, false},
	{"hopping_fill", func(t *rapid.T) []StepConfig {
		s := propWindow("hopping_fill", window.Config{Type: "hopping", Size: 6 * time.Second, Slide: 4 * time.Second,
			MaxDelay: drawDelay(t), IdleTimeout: drawIdle(t)}, "count", "max")
		s.Fill, s.StateTTL = "previous", 20*time.Second
		return []StepConfig{s}
	}, false},
	{"session_side", func(t *rapid.T) []StepConfig {
		s := propWindow("session_side", window.Config{Type: "session", Gap: 3 * time.Second, MaxDelay: drawDelay(t),
			IdleTimeout: drawIdle(t), Late: window.LateSide, LateTo: []string{"session_side_late"}}, "count", "first", "last")
		return []StepConfig{s}
	}, false},
	// A session step caps the groups it holds at once; groups leave when
	// their sessions close, after an entry, so where a batch is cut decides
	// which group gets a freed place.
	{"session_cap", func(t *rapid.T) []StepConfig {
		s := propWindow("session_cap", window.Config{Type: "session", Gap: 3 * time.Second, MaxDelay: drawDelay(t),
			IdleTimeout: drawIdle(t)}, "count", "first", "last")
		s.MaxSeries = 2
		return []StepConfig{s}
	}, true},
	{"session", func(t *rapid.T) []StepConfig {
		w := window.Config{Type: "session", Gap: 4 * time.Second, MaxDelay: drawDelay(t), IdleTimeout: drawIdle(t)}
		if rapid.Bool().Draw(t, "max_duration") {
			w.MaxDuration = 15 * time.Second
		}
		if rapid.Bool().Draw(t, "update") {
			w.Late, w.AllowedLateness, w.LateTo = window.LateUpdate, 8*time.Second, []string{"session_late"}
		}
		return []StepConfig{propWindow("session", w)}
	}, false},
	{"count", func(t *rapid.T) []StepConfig {
		s := propWindow("count", window.Config{Type: "count", Points: 4,
			Every: rapid.SampledFrom([]int{1, 2, 4}).Draw(t, "every")})
		s.StateTTL = 24 * time.Hour // longer than any log: no sweep
		return []StepConfig{s}
	}, false},
	// The TTL sweep runs after entries: a group seen again in the same
	// batch is kept or dropped depending on where the batch is cut.
	{"count_ttl", func(t *rapid.T) []StepConfig {
		s := propWindow("count_ttl", window.Config{Type: "count", Points: 3, Every: 3})
		s.StateTTL = time.Duration(rapid.IntRange(5, 60).Draw(t, "ttl_s")) * time.Second
		return []StepConfig{s}
	}, true},
	{"late_update", func(t *rapid.T) []StepConfig {
		return []StepConfig{propWindow("late_update", window.Config{Type: "tumbling", Size: 10 * time.Second,
			MaxDelay: drawDelay(t), IdleTimeout: drawIdle(t), Late: window.LateUpdate,
			AllowedLateness: time.Duration(rapid.IntRange(1, 30).Draw(t, "lateness_s")) * time.Second,
			LateTo:          []string{"late_update_late"}})}
	}, false},
	{"late_update_hopping", func(t *rapid.T) []StepConfig {
		return []StepConfig{propWindow("late_update_hopping", window.Config{Type: "hopping", Size: 9 * time.Second,
			Slide: 3 * time.Second, MaxDelay: drawDelay(t), IdleTimeout: drawIdle(t), Late: window.LateUpdate,
			AllowedLateness: 6 * time.Second, LateTo: []string{"late_update_hopping_late"}})}
	}, false},
	{"stateful", func(t *rapid.T) []StepConfig {
		op := rapid.SampledFrom([]string{"delta", "ewma", "cumulative_sum", "moving_average", "no_data"}).Draw(t, "op")
		c := series.Config{Op: op, TTL: time.Minute, MaxSeries: 100, Alpha: 0.5, Points: 3, After: 20 * time.Second}
		return []StepConfig{{Name: "stateful", Measurement: "m", Stateful: &c, To: []string{"stateful"}}}
	}, false},
	{"chain", func(t *rapid.T) []StepConfig {
		first := propWindow("chain5s", window.Config{Type: "tumbling", Size: 5 * time.Second,
			MaxDelay: drawDelay(t), IdleTimeout: drawIdle(t)}, "count", "sum", "max")
		// The second step reads results that come at the first step's
		// watermark moves, which re-batching shifts between entries; with
		// an idle timeout the second one's watermark would also depend on
		// where the entries end (see rebatch).
		second := propWindow("chain20s", window.Config{Type: "tumbling", Size: 20 * time.Second,
			MaxDelay: drawDelay(t)}, "sum", "max", "last")
		second.From, second.Measurement = "chain5s", ""
		return []StepConfig{first, second}
	}, false},
}

// sinksOf returns the sinks the steps write to, sorted.
func sinksOf(steps []StepConfig) []string {
	var sinks []string
	for _, s := range steps {
		sinks = append(sinks, s.To...)
		sinks = append(sinks, s.Window.LateTo...)
	}
	slices.Sort(sinks)
	return slices.Compact(sinks)
}

// propRun is what a run leaves behind.
type propRun struct {
	out    map[string][]byte
	state  []byte     // the final checkpoint
	counts []opCounts // per step
}

// propHarness runs a pipeline over a log, optionally stopping, restarting
// and crashing it.
type propHarness struct {
	t     propFataler
	steps []StepConfig
	log   *memLog
	boxes map[string]*memOutbox
	ck    *memCkpt
}

func newPropHarness(t propFataler, steps []StepConfig, ents []wal.Entry) *propHarness {
	h := &propHarness{t: t, steps: steps, log: &memLog{}, boxes: map[string]*memOutbox{}, ck: &memCkpt{}}
	for _, e := range ents {
		h.log.add(e)
	}
	for _, s := range sinksOf(steps) {
		h.boxes[s] = &memOutbox{}
	}
	return h
}

// start builds an engine from the last checkpoint, as after a restart.
func (h *propHarness) start() *Engine {
	boxes := map[string]Outbox{}
	for name, b := range h.boxes {
		boxes[name] = b
	}
	e, err := New(Config{Site: "p", Steps: h.steps, Checkpoint: DefaultCheckpoint()}, h.log, boxes, h.ck, nil)
	if err != nil {
		h.t.Fatalf("new engine: %v", err)
	}
	if _, err := e.Recover(); err != nil {
		h.t.Fatalf("recover: %v", err)
	}
	return e
}

// The actions between entries of an interrupted run.
const (
	actNone = iota
	actFlush
	actRestart // checkpoint, then continue in a fresh engine
	actCrash   // drop the engine: continue from the last checkpoint
	actCount
)

// run applies the whole log. acts says what happens after each applied
// entry (replayed entries included) until it runs out.
func (h *propHarness) run(acts []int) propRun {
	e := h.start()
	for e.next <= h.log.LastIndex() {
		if err := e.applyIndex(e.next); err != nil {
			h.t.Fatalf("apply %d: %v", e.next, err)
		}
		e.next++
		if len(acts) == 0 {
			continue
		}
		act := acts[0]
		acts = acts[1:]
		switch act {
		case actFlush:
			if err := e.flush(); err != nil {
				h.t.Fatalf("flush: %v", err)
			}
		case actRestart:
			if err := e.Checkpoint(); err != nil {
				h.t.Fatalf("checkpoint: %v", err)
			}
			_, saved, _ := h.ck.Latest()
			e = h.start()
			again, err := e.snapshot(e.next - 1)
			if err != nil {
				h.t.Fatalf("snapshot: %v", err)
			}
			if !bytes.Equal(again, saved) {
				h.t.Fatalf("state after restore differs from the checkpoint at %d:\nsaved    %s\nrestored %s", e.next-1, saved, again)
			}
		case actCrash:
			e = h.start()
		}
	}
	if err := e.Checkpoint(); err != nil {
		h.t.Fatalf("checkpoint: %v", err)
	}
	r := propRun{out: map[string][]byte{}}
	_, r.state, _ = h.ck.Latest()
	for name, b := range h.boxes {
		r.out[name] = b.lines
	}
	for _, s := range e.steps {
		r.counts = append(r.counts, s.counts())
	}
	return r
}

func runOnce(t propFataler, steps []StepConfig, ents []wal.Entry) propRun {
	return newPropHarness(t, steps, ents).run(nil)
}

// TestPropertyCheckpointRestore: stopping, restarting and crashing at random
// entries changes nothing, byte for byte, for every pipeline and log.
func TestPropertyCheckpointRestore(t *testing.T) {
	for _, pp := range propPipelines {
		t.Run(pp.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				steps := pp.steps(t)
				ents := walEntries(genLog(t))
				want := runOnce(t, steps, ents)
				acts := rapid.SliceOfN(rapid.IntRange(0, actCount-1), 0, 3*len(ents)).Draw(t, "acts")
				got := newPropHarness(t, steps, ents).run(acts)
				for name, w := range want.out {
					if !bytes.Equal(got.out[name], w) {
						t.Fatalf("sink %s differs after restarts:\n%s", name, diffLines(w, got.out[name]))
					}
				}
				if !bytes.Equal(got.state, want.state) {
					t.Fatalf("final state differs after restarts:\nwant %s\ngot  %s", want.state, got.state)
				}
			})
		})
	}
}

// TestPropertyRebatch: splitting time-ordered batches into pieces with the
// same ingest time, and repeating heartbeats, gives the same results.
func TestPropertyRebatch(t *testing.T) {
	for _, pp := range propPipelines {
		if pp.restartOnly {
			continue
		}
		t.Run(pp.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				steps := pp.steps(t)
				coarse := sortBatches(genLog(t))
				fine := rebatch(t, coarse)
				t.Logf("coarse log:\n%s", renderLog(coarse))
				t.Logf("fine log:\n%s", renderLog(fine))
				want := runOnce(t, steps, walEntries(coarse))
				got := runOnce(t, steps, walEntries(fine))
				lastOnly := slices.ContainsFunc(steps, func(s StepConfig) bool { return s.Window.Late == window.LateUpdate })
				for name, w := range want.out {
					if d := diffByIdentity(w, got.out[name], lastOnly); d != "" {
						t.Fatalf("sink %s differs after re-batching:\n%s", name, d)
					}
				}
				if !slices.Equal(got.counts, want.counts) {
					t.Fatalf("step counters differ after re-batching: want %+v, got %+v", want.counts, got.counts)
				}
			})
		})
	}
}

// identity returns a result line's measurement and tags, and its time.
func identity(line string) string {
	key, _, _ := strings.Cut(line, " ")
	return key + " @" + line[strings.LastIndexByte(line, ' ')+1:]
}

// byIdentity groups lines by identity, keeping their order, or only the
// last line of each identity.
func byIdentity(data []byte, lastOnly bool) map[string][]string {
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		switch {
		case line == "":
		case lastOnly:
			m[identity(line)] = []string{line}
		default:
			m[identity(line)] = append(m[identity(line)], line)
		}
	}
	return m
}

// diffByIdentity compares two outputs per result identity and describes the
// first difference, or returns "".
func diffByIdentity(want, got []byte, lastOnly bool) string {
	w, g := byIdentity(want, lastOnly), byIdentity(got, lastOnly)
	keys := sortedKeys(w)
	for k := range g {
		if _, ok := w[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if !slices.Equal(w[k], g[k]) {
			return fmt.Sprintf("identity %s:\n  want %q\n  got  %q\nwhole output, want:\n%sgot:\n%s", k, w[k], g[k], want, got)
		}
	}
	return ""
}

// hopCase is a generated input for the hopping brute force: points in
// event-time order, or in any order when the delay exceeds their span.
type hopCase struct {
	size, slide, offset, delay int64
	points                     []gPoint // t set, in arrival order
	batches                    []int    // points per entry
}

func genHopCase(t *rapid.T) hopCase {
	unit := rapid.SampledFrom([]int64{100 * ms, 250 * ms, sec}).Draw(t, "unit")
	c := hopCase{size: rapid.Int64Range(1, 30).Draw(t, "size_units") * unit}
	c.slide = rapid.Int64Range(1, c.size/unit).Draw(t, "slide_units") * unit
	c.offset = rapid.Int64Range(0, c.size/ms-1).Draw(t, "offset_ms") * ms
	c.delay = rapid.SampledFrom([]int64{0, 300 * ms, 2 * sec, int64(time.Hour)}).Draw(t, "max_delay")
	tt := base + rapid.Int64Range(0, 10_000).Draw(t, "start_ms")*ms
	n := rapid.IntRange(1, 120).Draw(t, "points")
	for range n {
		tt += rapid.SampledFrom([]int64{0, 1, 7, 50, 333, 1000, 4000}).Draw(t, "step_ms") * ms
		c.points = append(c.points, gPoint{m: "m", zone: rapid.IntRange(0, 3).Draw(t, "zone"), t: tt,
			v: float64(rapid.IntRange(-1000, 1000).Draw(t, "v4")) / 4})
	}
	if span := tt - c.points[0].t; c.delay > span && rapid.Bool().Draw(t, "shuffle") {
		// Nothing fires before the final flush: any arrival order is on time.
		c.points = rapid.Permutation(c.points).Draw(t, "order")
	}
	for left := n; left > 0; {
		k := min(left, rapid.IntRange(1, 10).Draw(t, "batch"))
		c.batches = append(c.batches, k)
		left -= k
	}
	return c
}

// floorDiv divides rounding toward minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// hopWant is the expected result of one window and zone.
type hopWant struct {
	start int64
	zone  int
	vals  []float64 // in arrival order
	times []int64
}

// bruteHopping recomputes every hopping window from the raw points: for
// each point, the windows k·slide + offset that hold it.
func bruteHopping(c hopCase) []*hopWant {
	byKey := map[[2]int64]*hopWant{}
	for _, p := range c.points {
		lo := floorDiv(p.t-c.size-c.offset, c.slide) + 1 // first k with start > t − size
		hi := floorDiv(p.t-c.offset, c.slide)            // last k with start ≤ t
		for k := lo; k <= hi; k++ {
			s := k*c.slide + c.offset
			key := [2]int64{s, int64(p.zone)}
			w := byKey[key]
			if w == nil {
				w = &hopWant{start: s, zone: p.zone}
				byKey[key] = w
			}
			w.vals, w.times = append(w.vals, p.v), append(w.times, p.t)
		}
	}
	var out []*hopWant
	for _, w := range byKey {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b *hopWant) int {
		if c := cmpInt(a.start, b.start); c != 0 {
			return c
		}
		return a.zone - b.zone
	})
	return out
}

// line renders the expected result in the engine's field order.
func (w *hopWant) line() string {
	sum, mn, mx := 0.0, math.Inf(1), math.Inf(-1)
	first, last := 0, 0
	for i, v := range w.vals {
		sum += v
		mn, mx = min(mn, v), max(mx, v)
		if w.times[i] < w.times[first] {
			first = i
		}
		if w.times[i] >= w.times[last] {
			last = i
		}
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return fmt.Sprintf("hop,site=p,zone=z%d value_count=%di,value_sum=%s,value_mean=%s,value_min=%s,value_max=%s,value_first=%s,value_last=%s %d",
		w.zone, len(w.vals), f(sum), f(sum/float64(len(w.vals))), f(mn), f(mx), f(w.vals[first]), f(w.vals[last]), w.start)
}

// canonical re-encodes line protocol so that float formatting cannot
// differ between the engine and the test.
func canonical(t propFataler, data []byte) []string {
	var out []string
	err := point.Parse(data, func(p *point.Point) error {
		var b strings.Builder
		b.WriteString(p.Measurement)
		for _, tag := range p.Tags {
			fmt.Fprintf(&b, ",%s=%s", tag.Key, tag.Value)
		}
		for i, f := range p.Fields {
			sep := ","
			if i == 0 {
				sep = " "
			}
			switch f.Value.Kind() {
			case lineprotocol.Int:
				fmt.Fprintf(&b, "%s%s=%di", sep, f.Key, f.Value.IntV())
			default:
				v, _ := point.Float(f.Value)
				fmt.Fprintf(&b, "%s%s=%s", sep, f.Key, strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		fmt.Fprintf(&b, " %d", p.Time)
		out = append(out, b.String())
		return nil
	})
	if err != nil {
		t.Fatalf("parse results: %v", err)
	}
	return out
}

// TestPropertyHoppingBruteForce: with time-ordered input, or any order
// under a max_delay longer than the input (nothing is late), and a final
// idle flush, every hopping window result equals a direct
// computation over the raw points in [start, start+size) of its group, and
// results come in window start order, then group order.
func TestPropertyHoppingBruteForce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genHopCase(t)
		step := StepConfig{Name: "hop", Measurement: "m",
			Window: window.Config{Type: "hopping", Size: time.Duration(c.size), Slide: time.Duration(c.slide),
				Offset: time.Duration(c.offset), MaxDelay: time.Duration(c.delay), IdleTimeout: time.Second, Late: window.LateDrop},
			GroupBy: []string{"zone"}, Aggregates: []string{"count", "sum", "mean", "min", "max", "first", "last"}, To: []string{"hop"},
			MaxSeries: 100, StateTTL: time.Hour, Fill: "none"}
		if c.slide == c.size && rapid.Bool().Draw(t, "as_tumbling") {
			step.Window.Type, step.Window.Slide = "tumbling", 0
		}
		if err := step.Validate(); err != nil {
			t.Fatalf("generated an invalid step: %v", err)
		}
		var gents []gEntry
		proc := base + 20*sec
		i := 0
		for _, k := range c.batches {
			proc = max(proc, c.points[i+k-1].t) + rapid.Int64Range(0, 500).Draw(t, "lag_ms")*ms
			gents = append(gents, gEntry{kind: wal.KindBatch, ingest: proc, points: c.points[i : i+k]})
			i += k
		}
		// Idle long enough for the watermark to pass every window.
		gents = append(gents, gEntry{kind: wal.KindHeartbeat, ingest: proc + c.delay + c.size + 2*sec})
		got := runOnce(t, []StepConfig{step}, walEntries(gents))
		var want []string
		for _, w := range bruteHopping(c) {
			want = append(want, w.line())
		}
		gotLines := canonical(t, got.out["hop"])
		if !slices.Equal(gotLines, want) {
			t.Fatalf("hopping %s/%s offset %s delay %s:\nwant %d results:\n%s\ngot %d:\n%s",
				time.Duration(c.size), time.Duration(c.slide), time.Duration(c.offset), time.Duration(c.delay),
				len(want), strings.Join(want, "\n"), len(gotLines), strings.Join(gotLines, "\n"))
		}
		if got.counts[0] != (opCounts{}) {
			t.Fatalf("counters %+v for time-ordered input, want none", got.counts[0])
		}
	})
}

// directRun runs entries through one step and returns its sink's output.
func directRun(t *testing.T, step StepConfig, ents []wal.Entry) string {
	t.Helper()
	r := runOnce(t, []StepConfig{step}, ents)
	return string(r.out[step.Name])
}

// TestFillAfterWatermarkJump: when one watermark move fires a group's data
// window and the empty windows after it, fill must fill those too.
func TestFillAfterWatermarkJump(t *testing.T) {
	step := propWindow("f5", window.Config{Type: "tumbling", Size: 5 * time.Second}, "count", "max")
	step.Fill = "zero"
	got := directRun(t, step, []wal.Entry{
		batch(base+1*sec, fmt.Sprintf("m,zone=a value=3 %d", base+1*sec)),
		batch(base+21*sec, fmt.Sprintf("m,zone=b value=4 %d", base+21*sec)), // watermark 21 s: [0,5) … [15,20) fire
		batch(base+26*sec, fmt.Sprintf("m,zone=b value=5 %d", base+26*sec)), // watermark 26 s: [20,25) fires
	})
	want := fmt.Sprintf(""+
		"f5,site=p,zone=a value_count=1i,value_max=3 %[1]d\n"+
		"f5,site=p,zone=a value_count=0i,value_max=0 %[2]d\n"+
		"f5,site=p,zone=a value_count=0i,value_max=0 %[3]d\n"+
		"f5,site=p,zone=a value_count=0i,value_max=0 %[4]d\n"+
		"f5,site=p,zone=a value_count=0i,value_max=0 %[5]d\n"+
		"f5,site=p,zone=b value_count=1i,value_max=4 %[5]d\n",
		base, base+5*sec, base+10*sec, base+15*sec, base+20*sec)
	if got != want {
		t.Fatalf("results:\n%s\nwant:\n%s", got, want)
	}
}

// TestSessionLatenessExpires: with late: update, a fired session is held
// for allowed_lateness of watermark time and no longer, even when the
// watermark moves without any other session closing.
func TestSessionLatenessExpires(t *testing.T) {
	w := window.Config{Type: "session", Gap: 4 * time.Second, Late: window.LateUpdate, AllowedLateness: 8 * time.Second}
	step := propWindow("s4", w, "count")
	r := runOnce(t, []StepConfig{step}, []wal.Entry{
		batch(base+100*sec, fmt.Sprintf("m,zone=a value=1 %d", base+100*sec)), // session a: [100, 104)
		batch(base+110*sec, fmt.Sprintf("m,zone=b value=1 %d", base+110*sec)), // watermark 110: a fires, held until 112
		batch(base+113*sec, fmt.Sprintf("m,zone=b value=1 %d", base+113*sec)), // watermark 113: a no longer held
		batch(base+114*sec, fmt.Sprintf("m,zone=a value=1 %d", base+101*sec)), // too late to update a
	})
	want := fmt.Sprintf("s4,site=p,zone=a value_count=1i,session_s=0 %d\n", base+100*sec)
	if got := string(r.out["s4"]); got != want {
		t.Fatalf("results:\n%s\nwant:\n%s", got, want)
	}
	if c := r.counts[0]; c.LateUpdated != 0 || c.LateDropped != 1 {
		t.Fatalf("late counts %+v, want 1 dropped, 0 updated", c)
	}
}
