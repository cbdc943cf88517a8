package ops

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
)

// Percentiles come from a DDSketch (github.com/DataDog/sketches-go) with a
// logarithmic mapping of relative accuracy sketchAccuracy: pNN returns, for
// x the value of rank ⌊q·(n−1)⌋ (0-based, ascending, q = NN/100: the lower
// of two neighbours, as DDSketch ranks), an x̂ with |x̂ − x| ≤ 0.01·|x|.
// The bound holds while the sketch has not collapsed: each sign has a
// store of at most sketchMaxBins bins (16 KiB each at most), and when the
// magnitudes of the positive (or negative) values span more than a factor
// of about 6·10¹⁷ (γ^2048, γ = 1.01/0.99), the lowest bins are merged and
// only the quantiles that fall in them lose the bound. Magnitudes below
// about 2.2·10⁻³⁰⁸ count as zero, exactly; those above the largest the
// mapping indexes are clamped to it. Results are clamped to the field's
// exact [min, max], which only tightens the bound.
const (
	sketchAccuracy = 0.01
	sketchMaxBins  = 2048
)

// sketchMapping is shared by every sketch: it is immutable.
var sketchMapping = func() *mapping.LogarithmicMapping {
	m, err := mapping.NewLogarithmicMapping(sketchAccuracy)
	if err != nil {
		panic(err) // a constant accuracy in (0,1) cannot fail
	}
	return m
}()

// newSketch returns an empty sketch whose stores hold only the bins in use
// (see tightStore).
func newSketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(sketchMapping, newTightStore(sketchMaxBins), newTightStore(sketchMaxBins))
}

// sketchAdd adds finite v to s, clamping it into the indexable range.
func sketchAdd(s *ddsketch.DDSketch, v float64) {
	if s.Add(v) == nil {
		return
	}
	lim := s.MaxIndexableValue()
	if v < 0 {
		lim = -lim
	}
	_ = s.Add(lim) // in range: cannot fail
}

// quantile returns the value of rank ⌊q·(n−1)⌋ (0-based, ascending) of s,
// clamped to [lo, hi]. It walks the stores itself rather than calling
// GetValueAtQuantile, which takes the upper of two values for a fractional
// rank among negative values and the lower among positive ones.
func quantile(s *ddsketch.DDSketch, q, lo, hi float64) float64 {
	neg, pos := s.GetNegativeValueStore(), s.GetPositiveValueStore()
	nNeg, nZero := neg.TotalCount(), s.GetZeroCount()
	rank := math.Floor(q * (nNeg + nZero + pos.TotalCount() - 1))
	var v float64
	switch {
	case rank < nNeg: // the negative store is ordered by |v|
		v = -s.Value(neg.KeyAtRank(nNeg - 1 - rank))
	case rank < nNeg+nZero:
		v = 0
	default:
		v = s.Value(pos.KeyAtRank(rank - nNeg - nZero))
	}
	return min(max(v, lo), hi)
}

// Extra is the state of the aggregates of a field beyond State, present
// when the plan needs them: Welford's running mean and sum of squared
// deviations (variance, stddev), the trapezoidal area (integral), a
// DDSketch (percentiles) and a distinct-value counter (distinct). Its size
// is bounded: 2·16 KiB for the sketch, 8 KiB for the exact distinct set or
// 4 KiB once it is a HyperLogLog.
type Extra struct {
	n        int64   // points seen by the Welford part
	mean, m2 float64 // Welford
	area     float64 // value·nanoseconds
	sketch   *ddsketch.DDSketch
	distinct *distinct
}

// addExtra folds v at time t into f's Extra, before f.State sees it: the
// integral needs the first and last points so far.
func (pl *Plan) addExtra(f *FieldState, v float64, t int64) {
	e := f.Extra
	if e == nil {
		e = &Extra{}
		f.Extra = e
	}
	if pl.welford {
		e.n++
		d := v - e.mean
		e.mean += d / float64(e.n)
		e.m2 += d * (v - e.mean)
	}
	if pl.integral {
		e.area += integralStep(&f.State, v, t)
	}
	if pl.quantiles {
		if e.sketch == nil {
			e.sketch = newSketch()
		}
		sketchAdd(e.sketch, v)
	}
	if pl.distinct {
		if e.distinct == nil {
			e.distinct = &distinct{}
		}
		e.distinct.add(hashFloat(v))
	}
}

// integralStep is the area that point (t,v) adds to a field of state s.
// The integral is the trapezoidal area (value·ns) of the points ordered by
// event time, kept as the area between the first and the last point: a
// point at or after the last adds the trapezoid from the last to it; one
// before the first adds the trapezoid from it to the first; one strictly
// inside the span (first ≤ t < last, an out-of-order point) adds nothing —
// a deterministic approximation that is exact for points in time order.
func integralStep(s *State, v float64, t int64) float64 {
	switch {
	case s.N == 0:
		return 0
	case t >= s.LastTime:
		return trapezoid(s.LastTime, s.Last, t, v)
	case t < s.FirstTime:
		return trapezoid(t, v, s.FirstTime, s.First)
	}
	return 0
}

// trapezoid is the area under the segment (t0,v0)–(t1,v1), t0 ≤ t1.
func trapezoid(t0 int64, v0 float64, t1 int64, v1 float64) float64 {
	return float64(uint64(t1)-uint64(t0)) * (v0*0.5 + v1*0.5)
}

// merge folds o into e; ds and ss are the States of e's and o's field
// before they merge. Integral: o after e adds the trapezoid between e's
// last and o's first point, o before e the one between o's last and e's
// first; overlapping spans add the two areas only (the approximation of
// integralStep).
func (e *Extra) merge(o *Extra, ds, ss *State, integral bool) {
	switch {
	case o.n == 0:
	case e.n == 0:
		e.n, e.mean, e.m2 = o.n, o.mean, o.m2
	default: // Chan, Golub and LeVeque's pairwise update
		n := e.n + o.n
		d := o.mean - e.mean
		fe, fo, fn := float64(e.n), float64(o.n), float64(n)
		e.mean += d * fo / fn
		e.m2 += o.m2 + d*d*fe*fo/fn
		e.n = n
	}
	if integral {
		switch {
		case ss.FirstTime >= ds.LastTime:
			e.area += trapezoid(ds.LastTime, ds.Last, ss.FirstTime, ss.First)
			e.area += o.area
		case ss.LastTime <= ds.FirstTime:
			e.area = o.area + trapezoid(ss.LastTime, ss.Last, ds.FirstTime, ds.First) + e.area
		default:
			e.area += o.area
		}
	}
	if o.sketch != nil {
		if e.sketch == nil {
			e.sketch = newSketch()
		}
		_ = e.sketch.MergeWith(o.sketch) // same mapping: cannot fail
	}
	if o.distinct != nil {
		if e.distinct == nil {
			e.distinct = &distinct{}
		}
		e.distinct.merge(o.distinct)
	}
}

// clone returns a deep copy of e (nil for nil).
func (e *Extra) clone() *Extra {
	if e == nil {
		return nil
	}
	c := *e
	if e.sketch != nil {
		c.sketch = e.sketch.Copy()
	}
	c.distinct = e.distinct.clone()
	return &c
}

// extraJSON is Extra's JSON form; the sketch is DDSketch's own binary
// encoding (without the mapping, which is fixed), in base64.
type extraJSON struct {
	N        int64     `json:"n"`
	Mean     jfloat    `json:"mean"`
	M2       jfloat    `json:"m2"`
	Area     jfloat    `json:"area"`
	Sketch   []byte    `json:"sketch,omitempty"`
	Distinct *distinct `json:"distinct,omitempty"`
}

// MarshalJSON writes e in a form that UnmarshalJSON restores exactly.
func (e *Extra) MarshalJSON() ([]byte, error) {
	j := extraJSON{N: e.n, Mean: jfloat(e.mean), M2: jfloat(e.m2), Area: jfloat(e.area), Distinct: e.distinct}
	if e.sketch != nil {
		e.sketch.Encode(&j.Sketch, true)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (e *Extra) UnmarshalJSON(b []byte) error {
	var j extraJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("aggregate state: %w", err)
	}
	*e = Extra{n: j.N, mean: float64(j.Mean), m2: float64(j.M2), area: float64(j.Area), distinct: j.Distinct}
	if j.Sketch != nil {
		e.sketch = newSketch()
		if err := e.sketch.DecodeAndMergeWith(j.Sketch); err != nil {
			return fmt.Errorf("aggregate state: percentile sketch: %w", err)
		}
	}
	return nil
}
