package ops

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/point"
	"pgregory.net/rapid"
)

const sec = int64(1e9)

type obs struct {
	v float64
	t int64
}

// fpoint returns a point with float field key = v and the given tags.
func fpoint(key string, v float64, tags ...point.Tag) *point.Point {
	fv, ok := lineprotocol.FloatValue(v)
	if !ok {
		panic("non-finite test value")
	}
	return &point.Point{Measurement: "m", Tags: tags, Fields: []point.Field{{Key: key, Value: fv}}}
}

func mustPlan(t testing.TB, names ...string) *Plan {
	t.Helper()
	pl, err := NewPlan(names)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// results returns g's result fields as key → float64, int64 or string,
// failing on a repeated key.
// tb is what testing.T and rapid.T share.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func results(t tb, pl *Plan, g *Group) (map[string]any, []string) {
	t.Helper()
	out := map[string]any{}
	var keys []string
	for _, f := range pl.AppendFields(nil, g) {
		if _, dup := out[f.Key]; dup {
			t.Fatalf("field %s written twice", f.Key)
		}
		keys = append(keys, f.Key)
		switch f.Value.Kind() {
		case lineprotocol.Float:
			out[f.Key] = f.Value.FloatV()
		case lineprotocol.Int:
			out[f.Key] = f.Value.IntV()
		case lineprotocol.String:
			out[f.Key] = f.Value.StringV()
		default:
			t.Fatalf("field %s of kind %v", f.Key, f.Value.Kind())
		}
	}
	return out, keys
}

// approx compares got with want: ints and strings exactly, floats within
// a relative tol.
func approx(got, want any, tol float64) bool {
	g, ok1 := got.(float64)
	w, ok2 := want.(float64)
	if !ok1 || !ok2 {
		return got == want
	}
	return math.Abs(g-w) <= tol*math.Max(1, math.Abs(w))
}

var allNumeric = []string{"count", "sum", "mean", "min", "max", "first", "last", "spread",
	"stddev", "variance", "median", "p90", "p99.9", "percentile(97.5)", "rate", "integral", "distinct"}

func TestAggregates(t *testing.T) {
	seq := func(n int) []obs { // 1..n at 1..n s
		o := make([]obs, n)
		for i := range o {
			o[i] = obs{float64(i + 1), int64(i+1) * sec}
		}
		return o
	}
	tests := []struct {
		name   string
		in     []obs
		want   map[string]any
		absent []string
	}{
		{"one point", []obs{{5, 10 * sec}}, map[string]any{
			"x_count": int64(1), "x_sum": 5.0, "x_mean": 5.0, "x_min": 5.0, "x_max": 5.0, "x_first": 5.0,
			"x_last": 5.0, "x_spread": 0.0, "x_median": 5.0, "x_p99_9": 5.0, "x_integral": 0.0, "x_distinct": int64(1)},
			[]string{"x_stddev", "x_variance", "x_rate"}},
		{"in order", []obs{{1, 0}, {3, 1 * sec}, {2, 3 * sec}}, map[string]any{
			"x_count": int64(3), "x_sum": 6.0, "x_mean": 2.0, "x_min": 1.0, "x_max": 3.0, "x_first": 1.0,
			"x_last": 2.0, "x_spread": 2.0, "x_variance": 1.0, "x_stddev": 1.0, "x_rate": 1.0 / 3,
			"x_integral": 2.0 + 5.0, "x_median": 2.0, "x_distinct": int64(3)}, nil},
		// Out of order: first/last by event time; the point inside the
		// span adds nothing to the integral (15 + 25, not 32.5).
		{"out of order", []obs{{2, 20 * sec}, {1, 10 * sec}, {3, 30 * sec}, {0, 15 * sec}}, map[string]any{
			"x_count": int64(4), "x_first": 1.0, "x_last": 3.0, "x_min": 0.0, "x_mean": 1.5,
			"x_rate": 0.1, "x_integral": 40.0}, nil},
		{"equal times", []obs{{7, 5 * sec}, {8, 5 * sec}, {9, 5 * sec}}, map[string]any{
			"x_first": 7.0, "x_last": 9.0, "x_spread": 2.0, "x_integral": 0.0, "x_variance": 1.0},
			[]string{"x_rate"}},
		{"negatives", []obs{{-3, 1 * sec}, {-1, 2 * sec}}, map[string]any{
			"x_mean": -2.0, "x_min": -3.0, "x_max": -1.0, "x_rate": 2.0, "x_integral": -2.0,
			"x_variance": 2.0, "x_stddev": math.Sqrt2, "x_median": -3.0}, nil},
		// 1..100: rank q·99, lower value.
		{"percentiles", seq(100), map[string]any{
			"x_median": 50.0, "x_p90": 90.0, "x_p99_9": 99.0, "x_p97_5": 97.0, "x_integral": 99 * 50.5}, nil},
		{"distinct: 0 and -0 are one value", []obs{{1, 1}, {1, 2}, {2, 3}, {math.Copysign(0, -1), 4}, {0, 5}},
			map[string]any{"x_distinct": int64(3)}, nil},
	}
	pl := mustPlan(t, allNumeric...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := pl.NewGroup(nil)
			for _, o := range tc.in {
				pl.Add(g, fpoint("x", o.v), o.t)
			}
			got, _ := results(t, pl, g)
			for k, w := range tc.want {
				tol := 1e-12
				if strings.Contains(k, "_p") || strings.HasSuffix(k, "median") {
					tol = sketchAccuracy
				}
				if !approx(got[k], w, tol) {
					t.Errorf("%s = %v, want %v", k, got[k], w)
				}
			}
			for _, k := range tc.absent {
				if v, ok := got[k]; ok {
					t.Errorf("%s = %v, want no field", k, v)
				}
			}
		})
	}
}

func TestFieldOrder(t *testing.T) {
	pl := mustPlan(t, "max", "count", "distinct(host)", "topk(2,host)")
	g := pl.NewGroup([]point.Tag{{Key: "site", Value: "a"}})
	p := &point.Point{Tags: []point.Tag{{Key: "host", Value: "h1"}}, Fields: []point.Field{
		{Key: "z", Value: lineprotocol.IntValue(3)},
		{Key: "a", Value: lineprotocol.UintValue(4)},
		{Key: "s", Value: lineprotocol.MustNewValue("text")},
		{Key: "b", Value: lineprotocol.BoolValue(true)},
	}}
	pl.Add(g, p, 1)
	_, keys := results(t, pl, g)
	want := []string{"a_max", "a_count", "z_max", "z_count", "host_distinct", "host_top1", "host_top1_count"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("fields %v, want %v", keys, want)
	}
}

func TestTagAggregates(t *testing.T) {
	pl := mustPlan(t, "count", "distinct(host)", "topk(2,host)", "topk(3, dc)")
	g := pl.NewGroup(nil)
	for i, h := range []string{"a", "b", "a", "c", "a", "b", "", "-"} {
		var tags []point.Tag
		if h != "-" {
			tags = append(tags, point.Tag{Key: "host", Value: h})
		}
		tags = append(tags, point.Tag{Key: "dc", Value: string(rune('x' + i%2))})
		pl.Add(g, fpoint("v", 1, tags...), int64(i))
	}
	got, _ := results(t, pl, g)
	want := map[string]any{
		"v_count": int64(8), "host_distinct": int64(4), // a, b, c and ""
		"host_top1": "a", "host_top1_count": int64(3), "host_top2": "b", "host_top2_count": int64(2),
		// A tie of counts: by value.
		"dc_top1": "x", "dc_top1_count": int64(4), "dc_top2": "y", "dc_top2_count": int64(4),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestNewPlanErrors(t *testing.T) {
	tests := []struct {
		names []string
		want  []string // substrings, each must appear
	}{
		{[]string{"count", "mean", "p101"}, []string{`aggregates[2]: unknown aggregate "p101" (known: count, sum`}},
		{[]string{"p0", "p100", "pp", "p1e1", "p.5", "percentile(x)", "percentile(100)"},
			[]string{`aggregates[0]: unknown`, `aggregates[1]: unknown`, `aggregates[2]: unknown`,
				`aggregates[3]: unknown`, `aggregates[4]: unknown`, `aggregates[5]: unknown`, `aggregates[6]: unknown`}},
		{[]string{"mean", "mean"}, []string{`aggregates[1]: "mean" repeats aggregates[0]`}},
		{[]string{"p95", "percentile(95)"}, []string{`aggregates[1]: "percentile(95)" repeats aggregates[0]`}},
		{[]string{"topk(3,host)", "topk(5,host)"}, []string{`aggregates[1]:`}},
		{[]string{"topk(0,host)", "topk(101,h)", "topk(3)", "distinct()"},
			[]string{`aggregates[0]: topk(0,host): k must be`, `aggregates[1]:`, `aggregates[2]: topk(3): want topk(k,tag)`,
				`aggregates[3]: distinct(): the tag name is empty`}},
		{nil, []string{"empty"}},
	}
	for _, tc := range tests {
		_, err := NewPlan(tc.names)
		if err == nil {
			t.Errorf("NewPlan(%q) = nil error", tc.names)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("NewPlan(%q) = %v\nwant it to contain %q", tc.names, err, w)
			}
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "aggregates") {
				t.Errorf("error line %q does not name the entry", line)
			}
		}
	}
	names := []string{"median", "p50", "p99.9", "percentile(97.5)", "distinct", "distinct(host)", "topk(3,host)"}
	pl, err := NewPlan(names)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pl.Names(), names) {
		t.Errorf("Names() = %q", pl.Names())
	}
}

// TestNonFinite: NaN and ±Inf never reach a point (lineprotocol refuses
// them) but State.Add skips them; an overflowed sum writes no field and
// survives JSON.
func TestNonFinite(t *testing.T) {
	var s State
	for _, v := range []float64{math.NaN(), 1, math.Inf(1), math.Inf(-1), 2} {
		s.Add(v, 1)
	}
	if s.N != 2 || s.Min != 1 || s.Max != 2 || s.Sum != 3 {
		t.Errorf("state %+v, want the NaN and Infs skipped", s)
	}
	pl := mustPlan(t, "sum", "max", "variance", "integral")
	g := pl.NewGroup(nil)
	pl.Add(g, fpoint("x", math.MaxFloat64), 0)
	pl.Add(g, fpoint("x", math.MaxFloat64), sec)
	got, _ := results(t, pl, g)
	if _, ok := got["x_sum"]; ok {
		t.Errorf("x_sum = %v written, want no field for +Inf", got["x_sum"])
	}
	if got["x_max"] != math.MaxFloat64 {
		t.Errorf("x_max = %v", got["x_max"])
	}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var back Group
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(back.Fields[0].State.Sum, 1) {
		t.Errorf("sum after JSON = %v, want +Inf", back.Fields[0].State.Sum)
	}
}

// TestPlanChange: a Group built by one plan works under another.
func TestPlanChange(t *testing.T) {
	old := mustPlan(t, "count", "distinct(host)")
	g := old.NewGroup(nil)
	old.Add(g, fpoint("x", 1, point.Tag{Key: "host", Value: "a"}), 0)
	pl := mustPlan(t, "count", "stddev", "p50", "topk(1,host)", "distinct(host)")
	pl.Add(g, fpoint("x", 3, point.Tag{Key: "host", Value: "b"}), sec)
	pl.Add(g, fpoint("x", 5, point.Tag{Key: "host", Value: "b"}), 2*sec)
	got, _ := results(t, pl, g)
	want := map[string]any{"x_count": int64(3), "x_stddev": math.Sqrt2, "x_p50": 3.0,
		"host_top1": "b", "host_top1_count": int64(2), "host_distinct": int64(2)}
	for k, w := range want {
		if !approx(got[k], w, sketchAccuracy) {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	h := pl.Clone(g)
	pl.Merge(h, old.NewGroup(nil))
	pl.Merge(h, g)
	if got2, _ := results(t, pl, h); got2["x_count"] != int64(6) {
		t.Errorf("merged count %v", got2["x_count"])
	}
}

func TestEmpty(t *testing.T) {
	pl := mustPlan(t, "count", "topk(2,host)")
	g := pl.NewGroup(nil)
	if !pl.Empty(g) {
		t.Error("new group not empty")
	}
	pl.Add(g, &point.Point{Tags: []point.Tag{{Key: "host", Value: "a"}},
		Fields: []point.Field{{Key: "s", Value: lineprotocol.MustNewValue("x")}}}, 1)
	if pl.Empty(g) {
		t.Error("group with a tag value is empty")
	}
	if fs := pl.AppendFields(nil, g); len(fs) != 2 {
		t.Errorf("fields %v", fs)
	}
}

// ref computes the aggregates of in (arrival order) the simple way, for
// the field x; quantiles are returned exactly (the checks allow the
// sketch's bound). The integral assumes in is in time order.
func ref(in []obs) map[string]any {
	n := len(in)
	m := map[string]any{"x_count": int64(n)}
	sum, mn, mx := 0.0, math.Inf(1), math.Inf(-1)
	first, last := in[0], in[0]
	for i, o := range in {
		sum += o.v
		mn, mx = math.Min(mn, o.v), math.Max(mx, o.v)
		if o.t < first.t {
			first = o
		}
		if o.t >= last.t {
			last = o
		}
		if i > 0 {
			m["x_integral"] = m["x_integral"].(float64) + float64(o.t-in[i-1].t)*(in[i-1].v+o.v)/2
		} else {
			m["x_integral"] = 0.0
		}
	}
	m["x_integral"] = m["x_integral"].(float64) / 1e9
	mean := sum / float64(n)
	m["x_sum"], m["x_mean"], m["x_min"], m["x_max"] = sum, mean, mn, mx
	m["x_first"], m["x_last"], m["x_spread"] = first.v, last.v, mx-mn
	if last.t != first.t {
		m["x_rate"] = (last.v - first.v) / (float64(last.t-first.t) / 1e9)
	}
	if n > 1 {
		ss := 0.0
		for _, o := range in {
			ss += (o.v - mean) * (o.v - mean)
		}
		m["x_variance"] = ss / float64(n-1)
		m["x_stddev"] = math.Sqrt(ss / float64(n-1))
	}
	sorted := make([]float64, n)
	set := map[float64]bool{}
	for i, o := range in {
		sorted[i] = o.v
		set[o.v+0] = true // +0 folds -0 into 0
	}
	slices.Sort(sorted)
	for name, q := range map[string]float64{"x_median": 0.5, "x_p90": 0.9, "x_p99_9": 0.999, "x_p97_5": 0.975} {
		m[name] = sorted[int(math.Floor(q*float64(n-1)))]
	}
	m["x_distinct"] = int64(len(set))
	return m
}

// refTop returns the top k of values by count then value, as result fields.
func refTop(tag string, values []string, k int, into map[string]any) {
	counts := map[string]int64{}
	for _, v := range values {
		counts[v]++
	}
	keys := slices.Collect(maps.Keys(counts))
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for i := 0; i < k && i < len(keys); i++ {
		into[fmt.Sprintf("%s_top%d", tag, i+1)] = keys[i]
		into[fmt.Sprintf("%s_top%d_count", tag, i+1)] = counts[keys[i]]
	}
	into[tag+"_distinct"] = int64(len(counts))
}

// checkRef compares got with the reference: exactly, except variance and
// stddev (relative 1e-9) and percentiles (the sketch's bound).
func checkRef(t *rapid.T, got, want map[string]any, exact bool) {
	for k, w := range want {
		tol := 0.0
		switch {
		case strings.HasSuffix(k, "variance"), strings.HasSuffix(k, "stddev"):
			tol = 1e-9
		case strings.HasSuffix(k, "median") || strings.Contains(k, "_p"):
			g, _ := got[k].(float64)
			if wv := w.(float64); math.Abs(g-wv) > sketchAccuracy*math.Abs(wv)*(1+1e-9) {
				t.Fatalf("%s = %v, true %v: outside the sketch's bound", k, g, wv)
			}
			continue
		case !exact:
			tol = 1e-9
		}
		if !approx(got[k], w, tol) {
			t.Fatalf("%s = %v, want %v", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Fatalf("unexpected field %s = %v", k, got[k])
		}
	}
}

// drawPoints draws points in time order (exact: integer values, times in
// half seconds, so every sum is exact) with a host tag each.
func drawPoints(t *rapid.T, exact bool) ([]obs, []string) {
	n := rapid.SampledFrom([]int{1, 2, 3, 10, 300}).Draw(t, "n")
	in := make([]obs, n)
	hosts := make([]string, n)
	ts := rapid.Int64Range(-1e18, 1e18).Draw(t, "t0")
	for i := range in {
		ts += rapid.Int64Range(0, 4).Draw(t, "dt") * sec / 2
		var v float64
		if exact {
			v = float64(rapid.IntRange(-1000, 1000).Draw(t, "v"))
		} else {
			v = rapid.Float64Range(-1e6, 1e6).Draw(t, "v")
			if math.Abs(v) < 1e-6 {
				v = 0 // keep the range within the sketch's 2048 bins (see TestSketchCollapse)
			}
		}
		in[i] = obs{v, ts}
		hosts[i] = rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f", "g"}).Draw(t, "host")
	}
	return in, hosts
}

var propPlan = append(slices.Clone(allNumeric), "distinct(host)", "topk(2,host)")

// TestMergeMatchesOneGroup: points split into panes at random boundaries
// and merged in time order give what one Group gives, and both match the
// reference.
func TestMergeMatchesOneGroup(t *testing.T) {
	pl := mustPlan(t, propPlan...)
	for _, exact := range []bool{true, false} {
		rapid.Check(t, func(t *rapid.T) {
			in, hosts := drawPoints(t, exact)
			one := pl.NewGroup(nil)
			panes := []*Group{pl.NewGroup(nil)}
			for i, o := range in {
				p := fpoint("x", o.v, point.Tag{Key: "host", Value: hosts[i]})
				pl.Add(one, p, o.t)
				if rapid.IntRange(0, 9).Draw(t, "cut") == 0 {
					panes = append(panes, pl.NewGroup(nil))
				}
				pl.Add(panes[len(panes)-1], p, o.t)
			}
			merged := pl.Clone(panes[0])
			for _, p := range panes[1:] {
				before, _ := json.Marshal(p)
				pl.Merge(merged, p)
				if after, _ := json.Marshal(p); string(after) != string(before) {
					t.Fatalf("Merge changed src")
				}
			}
			want := ref(in)
			refTop("host", hosts, 2, want)
			gotOne, _ := results(t, pl, one)
			gotMerged, _ := results(t, pl, merged)
			checkRef(t, gotOne, want, exact)
			checkRef(t, gotMerged, want, exact)
		})
	}
}

// TestJSONRoundTrip: stopping at a random point, restoring from JSON and
// going on gives the same state and results as never stopping.
func TestJSONRoundTrip(t *testing.T) {
	pl := mustPlan(t, propPlan...)
	rapid.Check(t, func(t *rapid.T) {
		in, hosts := drawPoints(t, false)
		stop := rapid.IntRange(0, len(in)).Draw(t, "stop")
		a, b := pl.NewGroup([]point.Tag{{Key: "dc", Value: "x"}}), pl.NewGroup([]point.Tag{{Key: "dc", Value: "x"}})
		for i, o := range in {
			if i == stop {
				data, err := json.Marshal(b)
				if err != nil {
					t.Fatal(err)
				}
				b = &Group{}
				if err := json.Unmarshal(data, b); err != nil {
					t.Fatal(err)
				}
			}
			p := fpoint("x", o.v, point.Tag{Key: "host", Value: hosts[i]})
			pl.Add(a, p, o.t)
			pl.Add(b, p, o.t)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Fatalf("state differs after a round trip:\n%s\n%s", ja, jb)
		}
		ra, _ := results(t, pl, a)
		rb, _ := results(t, pl, b)
		if !reflect.DeepEqual(ra, rb) {
			t.Fatalf("results differ:\n%v\n%v", ra, rb)
		}
	})
}

// TestLegacyGroupJSON: a group the engine checkpointed before Plan (a map
// of States) is read back.
func TestLegacyGroupJSON(t *testing.T) {
	old := `{"tags":[{"Key":"host","Value":"a"}],"fields":{"temp":{"n":2,"sum":3,"min":1,"max":2,"first":1,"first_t":5,"last":2,"last_t":6},"hum":{"n":1,"sum":40,"min":40,"max":40,"first":40,"first_t":5,"last":40,"last_t":5}}}`
	var g Group
	if err := json.Unmarshal([]byte(old), &g); err != nil {
		t.Fatal(err)
	}
	pl := mustPlan(t, "count", "mean", "stddev")
	pl.Add(&g, fpoint("temp", 3), 7)
	got, _ := results(t, pl, &g)
	want := map[string]any{"hum_count": int64(1), "hum_mean": 40.0, "temp_count": int64(3), "temp_mean": 2.0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if g.Tags[0] != (point.Tag{Key: "host", Value: "a"}) {
		t.Errorf("tags %v", g.Tags)
	}
	if err := json.Unmarshal([]byte(`{"fields":[{"key":"a"},{"key":"a"}]}`), &g); err == nil {
		t.Error("a field twice accepted")
	}
}

// TestAddAllocs: in steady state Add allocates nothing, for every kind of
// aggregate (the sketch's range and the sets already established).
func TestAddAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	for _, bp := range benchPlans {
		pl := mustPlan(t, bp.aggs...)
		ps := benchPoints(4096, bp.hosts)
		g := pl.NewGroup(nil)
		for i, p := range ps {
			pl.Add(g, p, int64(i))
		}
		i := 0
		if n := testing.AllocsPerRun(2000, func() { pl.Add(g, ps[i&4095], int64(i)); i++ }); n != 0 {
			t.Errorf("%s: %v allocations per point", bp.name, n)
		}
	}
}
