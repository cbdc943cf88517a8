package detect

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
)

// pt returns a point of measurement m with one float field and tags given
// as "k=v" pairs.
func pt(m, field string, v float64, tags ...string) *point.Point {
	p := &point.Point{Measurement: m}
	for _, kv := range tags {
		k, val, _ := strings.Cut(kv, "=")
		p.SetTag(k, val)
	}
	p.AddField(field, lineprotocol.MustNewValue(v))
	return p
}

// collect returns an emit function appending each point as line protocol.
func collect(out *[]string) func(*point.Point) {
	return func(p *point.Point) { *out = append(*out, p.String()) }
}

func newOp(t testing.TB, c Config) *Op {
	o, err := New("hot", c)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestAlertPoint(t *testing.T) {
	c := detector("threshold")
	c.Threshold.Warn, c.Threshold.Crit = 30, 35
	c.Alert = ops.AlertConfig{}
	o := newOp(t, c)
	var out []string
	for i, v := range []float64{20, 41.2, 20} {
		o.Add(pt("temperature", "value", v, "zone=a", "sensor=s1"), int64(i+1)*1e9, 0, collect(&out))
	}
	want := []string{
		`alerts,level=crit,measurement=temperature,rule=hot,sensor=s1,zone=a score=1,value=41.2,threshold=35,message="temperature value 41.2 above crit 35 (sensor=s1,zone=a)" 2000000000`,
		`alerts,level=ok,measurement=temperature,rule=hot,sensor=s1,zone=a score=0,value=20,threshold=35,message="temperature value 20 back to ok from crit (sensor=s1,zone=a)" 3000000000`,
	}
	if strings.Join(out, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
	}
}

// TestSeriesIdentity: measurement and every tag make a series; points
// without the field are ignored.
func TestSeriesIdentity(t *testing.T) {
	o := newOp(t, detector("anomaly"))
	emit := func(*point.Point) {}
	o.Add(pt("a", "value", 1, "x=1"), 1, 1, emit)
	o.Add(pt("a", "value", 1, "x=1"), 2, 2, emit)
	o.Add(pt("a", "value", 1, "x=2"), 3, 3, emit)
	o.Add(pt("a", "value", 1, "x=1", "y=1"), 4, 4, emit)
	o.Add(pt("b", "value", 1, "x=1"), 5, 5, emit)
	o.Add(pt("b", "other", 1, "x=9"), 6, 6, emit)
	if o.Len() != 4 {
		t.Errorf("%d series, want 4", o.Len())
	}
}

// TestBorrowed: the point's strings may change after Add returns; the
// series keeps its own copies.
func TestBorrowed(t *testing.T) {
	c := detector("threshold")
	c.Alert = ops.AlertConfig{}
	o := newOp(t, c)
	buf := []byte("temperaturezoneA")
	s := func(a, b int) string { return string(buf[a:b]) } // copies, as a test stand-in
	_ = s
	p := &point.Point{Measurement: unsafeString(buf[:11]), Tags: []point.Tag{{Key: unsafeString(buf[11:15]), Value: unsafeString(buf[15:16])}}}
	p.AddField("value", lineprotocol.MustNewValue(50.0))
	var out []string
	o.Add(p, 1, 1, collect(&out))
	copy(buf, "XXXXXXXXXXXXXXXX")
	q := pt("temperature", "value", 10, "zone=A")
	o.Add(q, 2, 2, collect(&out))
	if len(out) != 2 || !strings.HasPrefix(out[1], "alerts,level=ok,measurement=temperature,rule=hot,zone=A ") {
		t.Errorf("got %q", out)
	}
}

func TestMaxSeriesAndTTL(t *testing.T) {
	c := detector("threshold")
	c.MaxSeries, c.TTL, c.Alert = 2, time.Minute, ops.AlertConfig{}
	o := newOp(t, c)
	var out []string
	min := int64(time.Minute)
	o.Add(pt("m", "value", 10, "s=1"), 0, 0, collect(&out))
	o.Add(pt("m", "value", 50, "s=2"), 0, 0, collect(&out)) // raises crit
	o.Add(pt("m", "value", 10, "s=3"), 0, 0, collect(&out))
	if o.Len() != 2 || o.Dropped() != 1 {
		t.Fatalf("len %d dropped %d, want 2 and 1", o.Len(), o.Dropped())
	}
	o.Advance(min-1, collect(&out))
	if o.Len() != 2 {
		t.Fatalf("expired too early: %d", o.Len())
	}
	o.Advance(min, collect(&out))
	if o.Len() != 1 { // s=1 expires; s=2 is in crit and stays
		t.Fatalf("len %d after TTL, want 1", o.Len())
	}
	o.Add(pt("m", "value", 10, "s=3"), min, min, collect(&out))
	if o.Len() != 2 || o.Dropped() != 1 {
		t.Fatalf("len %d dropped %d, want 2 and 1", o.Len(), o.Dropped())
	}
	if len(out) != 1 {
		t.Errorf("emitted %q", out)
	}
}

// TestNoData: silence on processing time raises warn then crit, each at
// the instant the silence crossed it whatever the Advance cadence; data
// recovers; downtime announced by Epoch is not silence.
func TestNoData(t *testing.T) {
	min := int64(time.Minute)
	run := func(advanceEvery int64) []string {
		o := newOp(t, detector("no_data")) // warn 10m, crit 20m
		var out []string
		emit := collect(&out)
		o.Add(pt("m", "value", 1, "s=a"), 0, 0, emit)
		o.Add(pt("m", "value", 1, "s=b"), 0, 5*min, emit)
		for proc := int64(0); proc <= 40*min; proc += advanceEvery {
			o.Advance(proc, emit)
		}
		o.Add(pt("m", "value", 1, "s=a"), 41*min, 41*min, emit)
		// The agent was down from 41m to 100m: not silence.
		o.Epoch(100 * min)
		o.Advance(105*min, emit)
		o.Add(pt("m", "value", 1, "s=a"), 105*min, 105*min, emit)
		o.Advance(114*min, emit)
		o.Add(pt("m", "value", 1, "s=b"), 114*min, 114*min, emit)
		o.Advance(200*min, emit)
		return out
	}
	summary := func(out []string) string {
		var s []string
		for _, line := range out {
			p := parse(t, line)
			ser, _ := p.Tag("s")
			lvl, _ := p.Tag("level")
			s = append(s, fmt.Sprintf("%s %s %d", ser, lvl, p.Time/min))
		}
		return strings.Join(s, ", ")
	}
	// Each Advance visits series in key order, so a coarse cadence
	// groups the same transitions differently; the times never change.
	wants := map[int64]string{
		min:      "a warn 10, b warn 15, a crit 20, b crit 25",
		7 * min:  "a warn 10, a crit 20, b warn 15, b crit 25",
		40 * min: "a warn 10, a crit 20, b warn 15, b crit 25",
	}
	rest := ", a ok 41, b ok 114, a warn 115, a crit 125, b warn 124, b crit 134"
	for _, every := range []int64{min, 7 * min, 40 * min} {
		if got := summary(run(every)); got != wants[every]+rest {
			t.Errorf("advance every %dm:\n got %s\nwant %s", every/min, got, wants[every]+rest)
		}
	}
}

func parse(t testing.TB, line string) point.Point {
	var out point.Point
	if err := point.Parse([]byte(line+"\n"), func(p *point.Point) error { out = p.Clone(); return nil }); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return out
}

// feed is one input of a restore test: a point of series s (or an
// Advance when s is empty) at minute i.
type feed struct {
	s string
	v float64
	i int64
}

// workload interleaves three series with spikes, a shift, dropouts and
// silences, and Advance calls, for the rules under test.
func workload() []feed {
	var in []feed
	sv := synth("shift")
	sp := synth("spike")
	for i := range int64(2600) {
		if i%50 == 0 {
			in = append(in, feed{i: i})
		}
		if i < 2100 || i > 2160 { // a silence of an hour in series a
			in = append(in, feed{"a", sv[i], i})
		}
		in = append(in, feed{"b", sp[i], i})
		if i%3 == 0 {
			v := 20 + 15*math.Sin(float64(i)/40)
			if i >= 1200 && i < 1500 {
				v = 7 // stuck for five hours
			}
			in = append(in, feed{"c", v, i})
		}
	}
	return in
}

func play(o *Op, in []feed, out *[]string) {
	emit := collect(out)
	min := int64(time.Minute)
	for _, f := range in {
		if f.s == "" {
			o.Advance(f.i*min, emit)
			continue
		}
		o.Add(pt("m", "value", f.v, "s="+f.s), f.i*min, f.i*min, emit)
	}
}

// TestRestore checks that a restart neither repeats nor loses an alert.
// Chained: the operator is checkpointed and restored into a new Op before
// every single input, so every split position is crossed, and the alerts
// must equal those of the uninterrupted run. Split: one restart at a stride
// of positions, each replayed from the start.
func TestRestore(t *testing.T) {
	in := workload()
	for _, name := range Kinds {
		if name == "bounds" {
			continue // stateless but for the alert, which threshold covers
		}
		t.Run(name, func(t *testing.T) {
			c := detector(name)
			c.Alert = ops.AlertConfig{Cooldown: 5, FlapLimit: 3, FlapWindow: 10}
			switch name {
			case "threshold", "anomaly", "mad":
				c.Sustain = SustainConfig{Points: 2, Duration: time.Minute}
				c.Alert.MinPoints = 2
			}
			var want []string
			play(newOp(t, c), in, &want)
			if len(want) == 0 {
				t.Fatal("the workload raises no alert")
			}
			t.Logf("%d alerts", len(want))
			var got []string
			o := newOp(t, c)
			every, stride := 1, 211
			if testing.Short() {
				every, stride = 13, 1009
			}
			for i := range in {
				if i%every == 0 {
					o = reload(t, c, o)
				}
				play(o, in[i:i+1], &got)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("chained: %d alerts, want %d\n%s", len(got), len(want), diff(got, want))
			}
			for cut := 0; cut <= len(in); cut += stride {
				got = got[:0]
				a := newOp(t, c)
				play(a, in[:cut], &got)
				play(reload(t, c, a), in[cut:], &got)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("cut at %d: %d alerts, want %d\n%s", cut, len(got), len(want), diff(got, want))
				}
			}
		})
	}
}

// reload checkpoints o and restores the checkpoint into a new Op.
func reload(t testing.TB, c Config, o *Op) *Op {
	js, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	b := newOp(t, c)
	if err := json.Unmarshal(js, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func diff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("first difference at %d:\n got %s\nwant %s", i, g, w)
		}
	}
	return ""
}

// TestRestoreOtherSettings: a checkpoint of other detector settings keeps
// the alert level (no repeated alert) and relearns the detector.
func TestRestoreOtherSettings(t *testing.T) {
	c := detector("threshold")
	c.Alert = ops.AlertConfig{}
	a := newOp(t, c)
	var out []string
	a.Add(pt("m", "value", 50, "s=1"), 1, 1, collect(&out))
	js, _ := json.Marshal(a)
	c.Threshold.Crit = 45
	b := newOp(t, c)
	if err := json.Unmarshal(js, b); err != nil {
		t.Fatal(err)
	}
	b.Add(pt("m", "value", 50, "s=1"), 2, 2, collect(&out))
	b.Add(pt("m", "value", 10, "s=1"), 3, 3, collect(&out))
	if len(out) != 2 || !strings.Contains(out[1], "level=ok") {
		t.Errorf("got %q", out)
	}
	if err := b.UnmarshalJSON([]byte("{")); err == nil {
		t.Error("no error for a broken checkpoint")
	}
}

// FuzzOp feeds arbitrary float64 values (8 bytes each) to every rule: no
// panic, and no more alerts than the cooldown lets through.
func FuzzOp(f *testing.F) {
	f.Add(floatBytes(1, 2, 3, math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308, 5e-324))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, name := range Kinds {
			c := detector(name)
			o := newOp(t, c)
			raised := 0
			emit := func(p *point.Point) {
				if !strings.Contains(p.String(), "level=ok") {
					raised++
				}
			}
			n := 0
			for i := 0; i+8 <= len(b); i += 8 {
				v := math.Float64frombits(binary.LittleEndian.Uint64(b[i:]))
				p := &point.Point{Measurement: "m"}
				if fv, ok := lineprotocol.FloatValue(v); ok {
					p.AddField("value", fv)
				} else {
					p.AddField("value", lineprotocol.MustNewValue(math.Copysign(1e308, v)))
				}
				o.Add(p, int64(i)*1e9, int64(i)*1e9, emit)
				o.Advance(int64(i)*1e9, emit)
				n++
			}
			if limit := 2*(n/(c.Alert.Cooldown+1)+1) + 2; raised > limit {
				t.Errorf("%s: %d alerts for %d points", name, raised, n)
			}
			if _, err := json.Marshal(o); err != nil {
				t.Errorf("%s: checkpoint: %v", name, err)
			}
		}
	})
}

func floatBytes(vs ...float64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

// BenchmarkSeries measures one detector step with sustain and alert state.
func BenchmarkSeries(b *testing.B) {
	v := synth("seasonal")
	for _, name := range Kinds {
		b.Run(name, func(b *testing.B) {
			s, err := NewSeries(detector(name))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Step(v[i%nPoints], int64(i)*step)
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkOpAdd measures Op.Add for known series: key lookup, field
// lookup, detector, sustain, alert; no transitions after warm-up.
func BenchmarkOpAdd(b *testing.B) {
	v := synth("seasonal")
	for _, name := range Kinds {
		b.Run(name, func(b *testing.B) {
			o := newOp(b, detector(name))
			ps := make([]*point.Point, 16)
			for k := range ps {
				ps[k] = pt("temperature", "value", 0, "site=x", fmt.Sprintf("sensor=s%02d", k), "zone=a")
			}
			emitted := 0
			emit := func(*point.Point) { emitted++ }
			for i := range 1000 * len(ps) {
				p := ps[i%len(ps)]
				p.Fields[0].Value, _ = lineprotocol.FloatValue(v[(i/len(ps))%nPoints])
				o.Add(p, int64(i/len(ps))*step, int64(i/len(ps))*step, emit)
			}
			emitted = 0
			b.ReportAllocs()
			i := 1000 * len(ps)
			for b.Loop() {
				p := ps[i%len(ps)]
				p.Fields[0].Value, _ = lineprotocol.FloatValue(v[(i/len(ps))%nPoints])
				o.Add(p, int64(i/len(ps))*step, int64(i/len(ps))*step, emit)
				i++
			}
			b.ReportMetric(float64(emitted), "alerts")
		})
	}
}

// BenchmarkAdvanceIdle measures Advance when nothing is due: it must not
// scan the series or allocate.
func BenchmarkAdvanceIdle(b *testing.B) {
	o := newOp(b, detector("no_data"))
	for k := range 1000 {
		o.Add(pt("m", "value", 1, fmt.Sprintf("s=%d", k)), 0, 0, func(*point.Point) {})
	}
	o.Advance(1, func(*point.Point) {})
	b.ReportAllocs()
	for b.Loop() {
		o.Advance(int64(time.Minute), func(*point.Point) {})
	}
}
