package series

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/point"
	"pgregory.net/rapid"
)

// model is a plain reimplementation of Op for the property tests: maps,
// full scans and no scratch.
type model struct {
	c                     Config
	series                map[string]*mseries
	epoch                 int64
	dropped, ooo, expired int
	out                   []string
}

type mseries struct {
	m      string
	tags   []point.Tag
	seen   int64
	silent bool
	prev   map[string]float64 // last value or running value
	prevT  map[string]int64
	window map[string][]float64
	state  string
	since  int64
}

func newModel(c Config) *model {
	return &model{c: c, series: map[string]*mseries{}, epoch: math.MinInt64}
}

func (m *model) start(s *mseries) int64 { return max(s.seen, m.epoch) }

// order is the tuple order of (measurement, key1, value1, …).
func order(a, b *mseries) int {
	if c := strings.Compare(a.m, b.m); c != 0 {
		return c
	}
	for i := 0; i < len(a.tags) && i < len(b.tags); i++ {
		if c := cmp.Or(strings.Compare(a.tags[i].Key, b.tags[i].Key), strings.Compare(a.tags[i].Value, b.tags[i].Value)); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.tags), len(b.tags))
}

func (m *model) emit(p point.Point) { m.out = append(m.out, render(&p)) }

func (m *model) noData(s *mseries, at int64, silent float64) {
	p := point.Point{Measurement: "r", Tags: slices.Clone(s.tags), Time: at}
	p.SetTag("measurement", s.m)
	v, _ := lineprotocol.FloatValue(silent)
	p.AddField("silent_s", v)
	m.emit(p)
}

func (m *model) advance(proc int64) {
	if m.c.Op == "no_data" {
		var due []*mseries
		for _, s := range m.series {
			if !s.silent && proc-m.start(s) >= int64(m.c.After) {
				due = append(due, s)
			}
		}
		slices.SortFunc(due, func(a, b *mseries) int { return cmp.Or(cmp.Compare(m.start(a), m.start(b)), order(a, b)) })
		for _, s := range due {
			s.silent = true
			at := m.start(s) + int64(m.c.After)
			m.noData(s, at, float64(at-s.seen)/1e9)
		}
	}
	for k, s := range m.series {
		if m.c.TTL > 0 && proc-m.start(s) >= int64(m.c.TTL) {
			delete(m.series, k)
			m.expired++
		}
	}
}

func (m *model) add(p *point.Point, t, proc int64) {
	m.advance(proc)
	var keys []string
	var vals []float64
	for _, f := range p.Fields {
		v, ok := point.Float(f.Value)
		if ok && (len(m.c.Fields) == 0 || slices.Contains(m.c.Fields, f.Key)) {
			keys, vals = append(keys, f.Key), append(vals, v)
		}
	}
	if len(keys) == 0 {
		return
	}
	tags := slices.Clone(p.Tags)
	slices.SortFunc(tags, func(a, b point.Tag) int { return strings.Compare(a.Key, b.Key) })
	id := p.Measurement
	for _, t := range tags {
		id += "\x00" + t.Key + "\x00" + t.Value
	}
	s := m.series[id]
	if s == nil {
		if len(m.series) >= m.c.MaxSeries {
			m.dropped++
			return
		}
		s = &mseries{m: p.Measurement, tags: tags, prev: map[string]float64{}, prevT: map[string]int64{}, window: map[string][]float64{}}
		m.series[id] = s
	} else if s.silent {
		s.silent = false
		m.noData(s, proc, 0)
	}
	s.seen = proc
	out := point.Point{Measurement: "r", Tags: tags, Time: t}
	result := func(k string, r float64) {
		if v, ok := lineprotocol.FloatValue(r); ok {
			out.AddField(k+"_"+m.c.Op, v)
		}
	}
	late, changed := false, false
	for i, k := range keys {
		v := vals[i]
		prev, seen := s.prev[k]
		switch m.c.Op {
		case "rate", "derivative", "delta":
			if seen && t <= s.prevT[k] {
				late = true
				continue
			}
			if seen {
				d := v - prev
				if m.c.Counter && v < prev {
					d = max(v, 0)
				}
				unit := float64(time.Second)
				if m.c.Op == "derivative" {
					unit = float64(m.c.Unit)
				}
				if m.c.Op != "delta" {
					d /= float64(t-s.prevT[k]) / unit
				}
				result(k, d)
			}
			s.prev[k], s.prevT[k] = v, t
		case "ewma":
			if seen {
				v = m.c.Alpha*v + (1-m.c.Alpha)*prev
			}
			s.prev[k] = v
			result(k, v)
		case "cumulative_sum":
			s.prev[k] = prev + v
			result(k, prev+v)
		case "moving_average":
			w := append(s.window[k], v)
			if len(w) > m.c.Points {
				w = w[1:]
			}
			s.window[k] = w
			sum := 0.0
			for _, x := range w {
				sum += x
			}
			result(k, sum/float64(len(w)))
		case "on_change":
			changed = changed || !seen || prev != v
			s.prev[k] = v
		case "state_duration":
			if s.state != "" && t < s.prevT[k] {
				late = true
				continue
			}
			st := "below"
			if v > m.c.Threshold {
				st = "above"
			}
			if st != s.state {
				s.state, s.since = st, t
			}
			s.prevT[k] = t
			sv, _ := lineprotocol.StringValue(st)
			dv, _ := lineprotocol.FloatValue(float64(t-s.since) / 1e9)
			out.AddField("state", sv)
			out.AddField("state_duration", dv)
		}
	}
	if late {
		m.ooo++
	}
	if changed {
		out.Fields = p.Fields
	}
	if len(out.Fields) > 0 {
		m.emit(out)
	}
}

func (m *model) run(evs []ev) {
	for _, e := range evs {
		switch e.kind {
		case 'a':
			m.add(&e.p, e.t*sec, e.proc*sec)
		case 'v':
			m.advance(e.proc * sec)
		case 'e':
			m.epoch = max(m.epoch, e.proc*sec)
		}
	}
}

// genConfig draws a valid Config of any op with small parameters.
func genConfig(t *rapid.T) Config {
	c := DefaultConfig()
	c.Op = rapid.SampledFrom(opNames[:]).Draw(t, "op")
	if c.Op == "state_duration" || rapid.Bool().Draw(t, "listed") {
		c.Fields = []string{"a"}
	}
	switch c.Op {
	case "rate", "derivative", "delta":
		c.Counter = rapid.Bool().Draw(t, "counter")
	}
	c.Unit = time.Duration(rapid.IntRange(1, 2).Draw(t, "unit")) * time.Second
	if c.Op == "rate" {
		c.Unit = time.Second
	}
	c.Alpha = rapid.SampledFrom([]float64{0.25, 0.5, 1}).Draw(t, "alpha")
	c.Points = rapid.IntRange(1, 4).Draw(t, "points")
	c.Threshold = float64(rapid.IntRange(-2, 2).Draw(t, "threshold"))
	c.After = time.Duration(rapid.IntRange(1, 5).Draw(t, "after")) * time.Second
	c.TTL = 0
	if rapid.Bool().Draw(t, "ttl") {
		c.TTL = c.After + time.Duration(rapid.IntRange(1, 15).Draw(t, "ttl_s"))*time.Second
	}
	c.MaxSeries = rapid.IntRange(1, 4).Draw(t, "max_series")
	return c
}

// genEvents draws calls with proc never decreasing and event times that
// are sometimes out of order.
func genEvents(t *rapid.T) []ev {
	n := rapid.IntRange(0, 40).Draw(t, "n")
	var evs []ev
	proc := int64(0)
	for range n {
		proc += int64(rapid.IntRange(0, 3).Draw(t, "dproc"))
		switch rapid.IntRange(0, 9).Draw(t, "kind") {
		case 0:
			evs = append(evs, epoch(proc))
		case 1, 2:
			evs = append(evs, adv(proc))
		default:
			p := point.Point{Measurement: rapid.SampledFrom([]string{"m", "k"}).Draw(t, "measurement")}
			if host := rapid.SampledFrom([]string{"", "a", "b", "c\x00"}).Draw(t, "host"); host != "" {
				p.Tags = append(p.Tags, point.Tag{Key: "host", Value: host})
			}
			for _, f := range []string{"a", "b"} {
				switch rapid.IntRange(0, 3).Draw(t, "field_"+f) {
				case 1:
					p.AddField(f, lineprotocol.MustNewValue(float64(rapid.IntRange(-5, 5).Draw(t, "v"))))
				case 2:
					p.AddField(f, lineprotocol.MustNewValue(int64(rapid.IntRange(-5, 5).Draw(t, "v"))))
				case 3:
					p.AddField(f, lineprotocol.MustNewValue("s"))
				}
			}
			evs = append(evs, addPoint(p, proc+int64(rapid.IntRange(-2, 2).Draw(t, "dt")), proc))
		}
	}
	return evs
}

// TestModel checks every op against the model on random inputs, and that
// a checkpoint and restore anywhere changes nothing.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genConfig(t)
		evs := genEvents(t)
		o, err := New("r", c)
		if err != nil {
			t.Fatal(err)
		}
		got := run(o, evs)
		m := newModel(c)
		m.run(evs)
		if !slices.Equal(got, m.out) {
			t.Fatalf("%+v\n got %q\nwant %q", c, got, m.out)
		}
		counts := [4]int{o.Len(), int(o.Dropped()), int(o.OutOfOrder()), int(o.Expired())}
		if want := [4]int{len(m.series), m.dropped, m.ooo, m.expired}; counts != want {
			t.Fatalf("len, dropped, out of order, expired = %v, want %v", counts, want)
		}
		i := rapid.IntRange(0, len(evs)).Draw(t, "split")
		split, r := splitRun(t, c, evs, i)
		if !slices.Equal(split, got) {
			t.Fatalf("split at %d:\n got %q\nwant %q", i, split, got)
		}
		a, _ := json.Marshal(o)
		b, _ := json.Marshal(r)
		if string(a) != string(b) {
			t.Fatalf("split at %d: final state\n got %s\nwant %s", i, b, a)
		}
	})
}

// TestKey checks that keys round-trip and compare as tuples.
func TestKey(t *testing.T) {
	name := rapid.StringOfN(rapid.SampledFrom([]rune{0, 1, 2, 3, 'a', 'b'}), 0, 4, -1)
	gen := func(t *rapid.T, label string) *mseries {
		s := &mseries{m: name.Draw(t, label+"m")}
		keys := rapid.SliceOfDistinct(name, func(s string) string { return s }).Draw(t, label+"keys")
		slices.Sort(keys)
		for _, k := range keys {
			s.tags = append(s.tags, point.Tag{Key: k, Value: name.Draw(t, label+"v")})
		}
		return s
	}
	rapid.Check(t, func(t *rapid.T) {
		a, b := gen(t, "a"), gen(t, "b")
		ka, kb := string(appendKey(nil, a.m, a.tags)), string(appendKey(nil, b.m, b.tags))
		m, tags, ok := parseKey(ka, nil)
		if !ok || m != a.m || !slices.Equal(tags, a.tags) {
			t.Fatalf("parseKey(%q) = %q %q %v, want %q %q", ka, m, tags, ok, a.m, a.tags)
		}
		if got, want := strings.Compare(ka, kb), order(a, b); got != want {
			t.Fatalf("key order %d, tuple order %d: %q %q", got, want, ka, kb)
		}
	})
}
