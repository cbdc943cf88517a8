package engine

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

// benchBatchPoints is the number of points in one benchmarked log entry.
const benchBatchPoints = 1000

func benchStep() StepConfig {
	return StepConfig{Name: "t1m", Measurement: "temperature",
		Window:     window.Config{Type: "tumbling", Size: time.Minute, MaxDelay: 5 * time.Second, IdleTimeout: 30 * time.Second},
		GroupBy:    []string{"device", "zone"},
		Aggregates: []string{"count", "mean", "min", "max"},
		To:         []string{"out"}}
}

// benchStart is the start of the minute window all benchmark points fall in.
var benchStart = window.NewTumbling(time.Minute).Start(base)

// benchLines returns n points over the given number of series, starting with
// series first, all in the first 40 s of the window at benchStart, so that
// the watermark (5 s behind) never closes it.
func benchLines(first, n, series int) []byte {
	var b strings.Builder
	for i := range n {
		s := (first + i) % series
		fmt.Fprintf(&b, "temperature,device=d%05d,zone=z%d value=%d.5,humidity=4%d.25 %d\n",
			s, s%7, 20+i%5, i%10, benchStart+int64(i%40)*sec)
	}
	return []byte(b.String())
}

// BenchmarkApply measures Engine.Apply of one batch entry in steady state:
// every series already has its window open, and no window closes.
func BenchmarkApply(b *testing.B) {
	for _, series := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("series=%d/points=%d", series, benchBatchPoints), func(b *testing.B) {
			e, err := New(Config{Site: "s1", Steps: []StepConfig{benchStep()}, Checkpoint: DefaultCheckpoint()},
				&memLog{}, map[string]Outbox{"out": &memOutbox{}}, &memCkpt{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			nent := max(1, series/benchBatchPoints)
			ents := make([]wal.Entry, nent)
			for i := range ents {
				ents[i] = wal.Entry{Kind: wal.KindBatch, IngestTime: benchStart + sec,
					Points: benchLines(i*benchBatchPoints, benchBatchPoints, series)}
			}
			for i := range ents { // open every window
				e.Apply(uint64(i+1), &ents[i])
			}
			if _, st := e.steps[0].len(); st != series {
				b.Fatalf("%d series open, want %d", st, series)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(ents[0].Points)))
			b.ResetTimer()
			i := 0
			for b.Loop() {
				e.Apply(uint64(nent+i+1), &ents[i%nent])
				i++
			}
			b.ReportMetric(float64(b.N)*benchBatchPoints/b.Elapsed().Seconds(), "points/s")
			if st := e.Stats(); st.Results.Load() != 0 || st.Late.Load() != 0 {
				b.Fatalf("steady state broken: %d results, %d late", st.Results.Load(), st.Late.Load())
			}
		})
	}
}

// BenchmarkFire measures a step firing one window of N groups and encoding
// the results, as Engine.Apply does when the watermark passes the window.
func BenchmarkFire(b *testing.B) {
	for _, series := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("series=%d", series), func(b *testing.B) {
			lines := benchLines(0, series, series)
			var enc point.Encoder
			var out []byte
			emit := func(p *point.Point) {
				var err error
				if out, err = enc.Append(out, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				op, err := newGridOp(benchStep().normalized(), nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := point.Parse(lines, func(p *point.Point) error { op.Add(p, p.Time, benchStart+sec, nil); return nil }); err != nil {
					b.Fatal(err)
				}
				out = out[:0]
				b.StartTimer()
				op.Advance(benchStart+time.Hour.Nanoseconds(), emit)
			}
			if n := strings.Count(string(out), "\n"); n != series {
				b.Fatalf("%d results, want %d", n, series)
			}
			b.ReportMetric(float64(b.N)*float64(series)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// benchStream is a cyclic engine input: every series sends one point per
// second of log time, in entries of benchBatchPoints points ingested 1 s
// after their timestamps. One cycle is 10 s of log time; with shift set,
// each cycle moves every timestamp and ingest time 10 s on (patched in
// place, timer stopped), so windows keep opening and firing; without, the
// same 10 s repeat and no window ever closes.
type benchStream struct {
	ents   []wal.Entry
	offs   [][]int   // per entry, the offsets of the points' timestamps
	ts     [][]int64 // per entry, the timestamps of cycle 0
	ingest []int64
	shift  bool
	cycle  int64
	points int // per cycle
}

// benchCycle is the log time one benchStream cycle covers.
const benchCycle = 10 * sec

func newBenchStream(series int, start int64, shift bool) *benchStream {
	s := &benchStream{shift: shift}
	var b []byte
	var offs []int
	var ts []int64
	emit := func(ingest int64) {
		s.ents = append(s.ents, wal.Entry{Kind: wal.KindBatch, IngestTime: ingest, Points: b})
		s.offs, s.ts, s.ingest = append(s.offs, offs), append(s.ts, ts), append(s.ingest, ingest)
		b, offs, ts = nil, nil, nil
	}
	for sec_ := range benchCycle / sec {
		t := start + sec_*sec
		for i := range series {
			b = append(b, "temperature,device=d"...)
			b = strconv.AppendInt(b, int64(100000+i), 10)
			b = append(b, " value="...)
			b = strconv.AppendInt(b, int64(15+(i+int(sec_))%20), 10) // spread for the sketch
			b = append(b, '.', byte('0'+i%10), ' ')
			offs, ts = append(offs, len(b)), append(ts, t)
			b = strconv.AppendInt(b, t, 10) // 19 digits until 2286
			b = append(b, '\n')
			if len(offs) == benchBatchPoints {
				emit(t + sec)
			}
		}
		if len(offs) > 0 {
			emit(t + sec)
		}
	}
	s.points = series * int(benchCycle/sec)
	return s
}

// next moves the stream one cycle on (nothing without shift).
func (s *benchStream) next() {
	if !s.shift {
		return
	}
	s.cycle++
	d := s.cycle * benchCycle
	var digits [24]byte
	for i := range s.ents {
		for j, off := range s.offs[i] {
			copy(s.ents[i].Points[off:], strconv.AppendInt(digits[:0], s.ts[i][j]+d, 10))
		}
		s.ents[i].IngestTime = s.ingest[i] + d
	}
}

// cpuTime returns the CPU time (user + system) the process has used. On a
// shared machine points per CPU-second is steadier than points per
// wall-clock second; with -cpu 1 it is the throughput of one core.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEngine runs step over stream: warm cycles first (every window kind
// reaches its steady state), then timed cycles until the benchmark ends,
// flushing results to a discarding outbox once per cycle. It reports
// points/s (decoded points in, results encoded and out, firing included),
// points/cpu-s, allocs/point and results/s. An op is one 10 s cycle.
func benchEngine(b *testing.B, step StepConfig, series int, shift bool, warm int) {
	e, err := New(Config{Site: "s1", Steps: []StepConfig{step}, Checkpoint: DefaultCheckpoint()},
		&memLog{}, map[string]Outbox{"out": &discardOutbox{}}, &memCkpt{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	st := newBenchStream(series, window.NewTumbling(time.Hour).Start(base), shift)
	idx := uint64(0)
	cycle := func() {
		for i := range st.ents {
			idx++
			e.Apply(idx, &st.ents[i])
		}
		if err := e.flush(); err != nil {
			b.Fatal(err)
		}
	}
	for range warm {
		cycle()
		st.next()
	}
	results0 := e.Stats().Results.Load()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	cycles := 0
	var cpu time.Duration
	for b.Loop() {
		c0 := cpuTime(b)
		cycle()
		cpu += cpuTime(b) - c0
		cycles++
		b.StopTimer()
		st.next()
		b.StartTimer()
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	points := float64(cycles * st.points)
	results := e.Stats().Results.Load() - results0
	b.ReportMetric(points/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/points, "allocs/point")
	b.ReportMetric(float64(results)/b.Elapsed().Seconds(), "results/s")
	b.ReportMetric(points/cpu.Seconds(), "points/cpu-s")
	if shift && results == 0 && cycles*int(benchCycle) >= int(step.Window.Size)+int(step.Window.Slide)+int(10*sec) {
		b.Fatal("no window fired")
	}
	if !shift && results != 0 {
		b.Fatalf("steady state broken: %d results", results)
	}
	if late := e.Stats().Late.Load(); late != 0 {
		b.Fatalf("%d late points", late)
	}
}

// benchGridStep is a window step per device for the engine benchmarks.
func benchGridStep(w window.Config, aggs ...string) StepConfig {
	w.MaxDelay, w.IdleTimeout = 5*time.Second, 30*time.Second
	return StepConfig{Name: "w", Measurement: "temperature", Window: w, GroupBy: []string{"device"},
		Aggregates: aggs, MaxSeries: 1_000_000, To: []string{"out"}}
}

// BenchmarkEngineTumbling10k: 1-minute tumbling windows, count, mean, min
// and max of one field, 10k devices, one point per device per second.
// steady: no window closes (the hot path: decode, group lookup, fold);
// firing: log time moves on, so every minute 10k windows fire and 10k new
// ones open, all included in points/s.
func BenchmarkEngineTumbling10k(b *testing.B) {
	step := benchGridStep(window.Config{Type: "tumbling", Size: time.Minute}, "count", "mean", "min", "max")
	b.Run("steady", func(b *testing.B) { benchEngine(b, step, 10_000, false, 1) })
	b.Run("firing", func(b *testing.B) { benchEngine(b, step, 10_000, true, 7) })
}

// BenchmarkEngineHopping: 5-minute windows every 10 s (30 panes of 10 s
// per window), count, mean, min and max, 10k devices, one point per device
// per second. Every 10 s of log time 10k windows fire, each merging 30
// panes; points/s includes that.
func BenchmarkEngineHopping(b *testing.B) {
	step := benchGridStep(window.Config{Type: "hopping", Size: 5 * time.Minute, Slide: 10 * time.Second},
		"count", "mean", "min", "max")
	benchEngine(b, step, 10_000, true, 32)
}

// BenchmarkEngineP95: BenchmarkEngineTumbling10k's firing case with p95
// (DDSketch) added to the four aggregates.
func BenchmarkEngineP95(b *testing.B) {
	step := benchGridStep(window.Config{Type: "tumbling", Size: time.Minute}, "count", "mean", "min", "max", "p95")
	b.Run("steady", func(b *testing.B) { benchEngine(b, step, 10_000, false, 1) })
	b.Run("firing", func(b *testing.B) { benchEngine(b, step, 10_000, true, 7) })
}

// BenchmarkEngineHeapPerSeriesWindow reports the heap held per open
// series-window (B/series-window): 10k devices, two points each, in one
// open 1-minute window, as in TestMemory100kSeries.
func BenchmarkEngineHeapPerSeriesWindow(b *testing.B) {
	for _, tc := range []struct {
		name string
		aggs []string
	}{
		{"aggs=count,mean,min,max", nil},
		{"aggs=count,mean,min,max,p95", []string{"count", "mean", "min", "max", "p95"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const series = 10_000
			var growth uint64
			for b.Loop() {
				var e *Engine
				growth, e = openSeriesHeap(b, series, tc.aggs...)
				runtime.KeepAlive(e)
			}
			b.ReportMetric(float64(growth)/series, "B/series-window")
		})
	}
}

// BenchmarkSnapshot10k encodes the checkpoint of the harness pipeline
// (scripts/bench) at 10k series, as the agent does every
// checkpoint.interval; bytes is the size of the checkpoint.
func BenchmarkSnapshot10k(b *testing.B) {
	e, err := New(Config{Site: "s1", Steps: harnessSteps(), Checkpoint: DefaultCheckpoint()},
		&memLog{}, map[string]Outbox{"out": &discardOutbox{}}, &memCkpt{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	idx := feedHarness(b, e, 10000)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		data, err := e.snapshot(idx)
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size), "bytes")
}
