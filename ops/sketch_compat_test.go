package ops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
)

// refSketch is the sketch of earlier versions, the reference: a
// *ddsketch.DDSketch with two tightStores, values clamped into range on
// the library's error, and ranks walked over the library's stores.
type refSketch struct{ *ddsketch.DDSketch }

func newRefSketch() refSketch {
	return refSketch{ddsketch.NewDDSketch(libMapping, newTightStore(sketchMaxBins), newTightStore(sketchMaxBins))}
}

func (r refSketch) add(v float64) {
	if r.Add(v) == nil {
		return
	}
	lim := r.MaxIndexableValue()
	if v < 0 {
		lim = -lim
	}
	if err := r.Add(lim); err != nil {
		panic(err)
	}
}

func (r refSketch) quantile(q float64) float64 {
	neg, pos := r.GetNegativeValueStore(), r.GetPositiveValueStore()
	nNeg, nZero := neg.TotalCount(), r.GetZeroCount()
	rank := math.Floor(q * (nNeg + nZero + pos.TotalCount() - 1))
	switch {
	case rank < nNeg:
		return -r.Value(neg.KeyAtRank(nNeg - 1 - rank))
	case rank < nNeg+nZero:
		return 0
	}
	return r.Value(pos.KeyAtRank(rank - nNeg - nZero))
}

// sketchValue draws a value of a kind: mixed signs with zeros, positive
// only, negative only, or magnitudes out of the mapping's range.
func sketchValue(r *rand.Rand, kind string) float64 {
	switch kind {
	case "positive":
		return 20 + r.Float64()*5
	case "negative":
		return -1 - r.ExpFloat64()*100
	case "extreme":
		return []float64{math.MaxFloat64, -math.MaxFloat64, 5e-324, -5e-324, 1e-308, 0, 1e300, -1e-300}[r.IntN(8)]
	}
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return -r.NormFloat64() * 1e3
	}
	return r.NormFloat64() * math.Pow(10, float64(r.IntN(20)-10))
}

// TestSketchMatchesDDSketch: over random data, split in two and merged,
// sketch encodes to the same bytes and gives the same quantiles as the
// library's DDSketch, and decodes the library's encoding back to itself.
func TestSketchMatchesDDSketch(t *testing.T) {
	for _, kind := range []string{"mixed", "positive", "negative", "extreme"} {
		for _, n := range []int{0, 1, 2, 7, 100, 3000} {
			t.Run(fmt.Sprintf("%s/%d", kind, n), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(n), 3))
				got, gotB, ref, refB := newSketch(), newSketch(), newRefSketch(), newRefSketch()
				for i := range n {
					v := sketchValue(r, kind)
					if i%3 == 1 {
						gotB.add(v)
						refB.add(v)
					} else {
						got.add(v)
						ref.add(v)
					}
				}
				compareSketch(t, got, ref)
				got.merge(gotB)
				if err := ref.MergeWith(refB.DDSketch); err != nil {
					t.Fatal(err)
				}
				compareSketch(t, got, ref)
				compareSketch(t, got.clone(), ref)
			})
		}
	}
}

func compareSketch(t *testing.T, got *sketch, ref refSketch) {
	t.Helper()
	var gb, rb []byte
	got.encode(&gb)
	ref.Encode(&rb, true)
	if !bytes.Equal(gb, rb) {
		t.Fatalf("encoding %x, DDSketch's %x", gb, rb)
	}
	if got.empty() != ref.IsEmpty() {
		t.Fatalf("empty %v, DDSketch's %v", got.empty(), ref.IsEmpty())
	}
	back, err := decodeSketch(rb)
	if err != nil {
		t.Fatal(err)
	}
	var bb []byte
	back.encode(&bb)
	if !bytes.Equal(bb, rb) {
		t.Fatalf("decoded and encoded again: %x, want %x", bb, rb)
	}
	if ref.IsEmpty() {
		return
	}
	for q := 0.0; q <= 1; q += 0.0125 {
		lo, hi := -math.MaxFloat64, math.MaxFloat64
		if g, w := got.quantile(q, lo, hi), ref.quantile(q); g != w {
			t.Fatalf("q%v = %v, DDSketch's %v", q, g, w)
		}
		if g, w := back.quantile(q, lo, hi), ref.quantile(q); g != w {
			t.Fatalf("decoded: q%v = %v, DDSketch's %v", q, g, w)
		}
	}
}

// TestGroupRestoresDDSketchState: groups checkpointed by the version that
// kept a *ddsketch.DDSketch (testdata/group_ddsketch_v1.json: each case's
// first half of values, the JSON after all of them, and the results that
// version computed) restore, take the second half and give the same
// results and the same JSON.
func TestGroupRestoresDDSketchState(t *testing.T) {
	data := [][]float64{
		{21.5, 21.7, 22.1, 21.9, 22.4, 21.2},
		{-3, -1.5, 0, 2, 4.25, -0.5, 0, 7, -12, 3},
		{0, 0, 0, 0},
		{-1e300, -2e-300, 5e-310, 1e300, -7, 7},
		{-1, -2, -3, -4, -5, -6, -7, -8},
		{1e-305, 3, 1e305, 2, 1, 0.5},
	}
	b, err := os.ReadFile("testdata/group_ddsketch_v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Group   json.RawMessage   `json:"group"`
		Final   json.RawMessage   `json:"final"`
		Results map[string]string `json:"results"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) != len(data) {
		t.Fatalf("%d cases, want %d", len(cases), len(data))
	}
	pl := mustPlan(t, "count", "mean", "min", "max", "p95", "p1", "median", "stddev")
	for c, vals := range data {
		var g Group
		if err := json.Unmarshal(cases[c].Group, &g); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals[len(vals)/2:] {
			pl.Add(&g, fpoint("x", v), int64(1000+i))
		}
		fields := pl.AppendFields(nil, &g)
		if len(fields) != len(cases[c].Results) {
			t.Errorf("case %d: %d fields, want %d", c, len(fields), len(cases[c].Results))
		}
		for _, f := range fields {
			if got, want := fmt.Sprint(f.Value.Interface()), cases[c].Results[f.Key]; got != want {
				t.Errorf("case %d: %s = %s, want %s", c, f.Key, got, want)
			}
		}
		js, err := json.Marshal(&g)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := json.Compact(&want, cases[c].Final); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(js, want.Bytes()) {
			t.Errorf("case %d: JSON\n%s\nwant\n%s", c, js, want.Bytes())
		}
	}
}

// TestFirstFieldLayouts: whatever the fields of a group's first point
// (none, one, several, non-finite ones) and of the points after it, a
// group created by Add (which allocates its first field with its Extra
// and sketch in one block) ends in the state of a group whose Fields
// start non-nil, which Add extends field by field.
func TestFirstFieldLayouts(t *testing.T) {
	f := func(kv ...any) *point.Point {
		p := &point.Point{Measurement: "m"}
		for i := 0; i < len(kv); i += 2 {
			p.Fields = append(p.Fields, point.Field{Key: kv[i].(string), Value: lineprotocol.MustNewValue(kv[i+1])})
		}
		return p
	}
	seqs := map[string][]*point.Point{
		"one field":           {f("x", 1.5), f("x", -2.0), f("x", 0.0)},
		"second field later":  {f("x", 1.5), f("a", 3.0), f("x", 2.0), f("z", -1.0)},
		"several at first":    {f("y", 1.0, "x", 2.0), f("x", 3.0)},
		"text and int fields": {f("s", "on", "x", int64(4)), f("x", 5.0)},
		"bool and uint first": {f("b", true, "y", uint64(2)), f("x", 1.0)},
		"no numeric first":    {f("s", "on"), f("x", 1.0)},
	}
	plans := [][]string{{"count", "mean"}, {"count", "p95"}, {"stddev", "p50", "distinct", "integral"}, {"max", "distinct(host)"}}
	for name, seq := range seqs {
		for _, names := range plans {
			t.Run(fmt.Sprint(name, names), func(t *testing.T) {
				pl := mustPlan(t, names...)
				got, want := pl.NewGroup(nil), pl.NewGroup(nil)
				want.Fields = []FieldState{}
				for i, p := range seq {
					pl.Add(got, p, int64(i))
					pl.Add(want, p, int64(i))
				}
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(want)
				if !bytes.Equal(gj, wj) {
					t.Fatalf("state\n%s\nwant\n%s", gj, wj)
				}
				if g, w := pl.AppendFields(nil, got), pl.AppendFields(nil, want); fmt.Sprint(g) != fmt.Sprint(w) {
					t.Fatalf("results %v, want %v", g, w)
				}
			})
		}
	}
}

// TestNewFieldAllocs: a group's first point of one field allocates the
// field's block and the sketch's first bin array, nothing else.
func TestNewFieldAllocs(t *testing.T) {
	pl := mustPlan(t, "count", "mean", "min", "max", "p95")
	p := fpoint("value", 21.5)
	allocs := testing.AllocsPerRun(50, func() {
		pl.Add(&Group{}, p, 1)
	})
	if allocs > 3 { // block, key copy, bins
		t.Fatalf("%.0f allocations for a new field, want at most 3", allocs)
	}
}

// TestSketchCorruptIndexes: an encoding whose bins lie far outside the
// mapping's indexes (a corrupt checkpoint) decodes without panicking and
// gives quantiles within the clamped range.
func TestSketchCorruptIndexes(t *testing.T) {
	ref := newRefSketch()
	for _, idx := range []int{-1 << 40, 1 << 40, 3, -1 << 62} {
		ref.GetPositiveValueStore().Add(idx)
		ref.GetNegativeValueStore().Add(idx)
	}
	var b []byte
	ref.Encode(&b, true)
	s, err := decodeSketch(b)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.pos.count + s.negCount(); n != 8 {
		t.Fatalf("count %v after decoding, want 8", n)
	}
	for _, q := range []float64{0, 0.5, 1} {
		if v := s.quantile(q, -10, 10); v < -10 || v > 10 {
			t.Fatalf("q%v = %v outside [-10, 10]", q, v)
		}
	}
}
