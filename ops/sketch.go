package ops

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Percentiles come from a DDSketch (see sketch: ours, with the mapping and
// the encoding of github.com/DataDog/sketches-go, see sketch_enc.go) with a
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
var sketchMapping = newLogMapping(sketchAccuracy)

// sketch is a DDSketch of sketchMapping whose stores are tightStores:
// the positive store inline, the negative one allocated at the first
// negative value (most fields never see one). It adds, merges, ranks and
// encodes as a *ddsketch.DDSketch with the same stores does, in a quarter
// of its memory (no mapping interface, no empty negative store).
type sketch struct {
	pos  tightStore
	neg  *tightStore // nil while no negative value was added
	zero float64     // count of values of magnitude below the mapping's
}

// newSketch returns an empty sketch.
func newSketch() *sketch { return &sketch{pos: tightStore{maxBins: sketchMaxBins}} }

// add adds finite v, clamping its magnitude into the indexable range as
// sketchesgo would reject it.
func (s *sketch) add(v float64) {
	m := &sketchMapping
	switch {
	case v > m.minIndexable:
		s.pos.Add(m.index(min(v, m.maxIndexable)))
	case v < -m.minIndexable:
		s.negative().Add(m.index(min(-v, m.maxIndexable)))
	default:
		s.zero++
	}
}

// negative returns the negative store, creating it.
func (s *sketch) negative() *tightStore {
	if s.neg == nil {
		s.neg = newTightStore(sketchMaxBins)
	}
	return s.neg
}

// negCount is the count of negative values.
func (s *sketch) negCount() float64 {
	if s.neg == nil {
		return 0
	}
	return s.neg.count
}

// empty reports whether no value was added.
func (s *sketch) empty() bool { return s.zero == 0 && s.pos.IsEmpty() && s.negCount() == 0 }

// merge adds o's counts to s.
func (s *sketch) merge(o *sketch) {
	s.pos.mergeFrom(&o.pos)
	if o.negCount() != 0 {
		s.negative().mergeFrom(o.neg)
	}
	s.zero += o.zero
}

// clone returns a deep copy of s.
func (s *sketch) clone() *sketch {
	c := &sketch{pos: s.pos, zero: s.zero}
	c.pos.bins = slices.Clone(s.pos.bins)
	if s.neg != nil {
		c.neg = s.neg.clone()
	}
	return c
}

// encode appends the bytes (*ddsketch.DDSketch).Encode writes without the
// mapping: the zero count if any, then the non-empty stores.
func (s *sketch) encode(b *[]byte) {
	if s.zero != 0 {
		*b = appendVarfloat(append(*b, flagZeroCount), s.zero)
	}
	*b = s.pos.encode(*b, flagTypePositive)
	if s.neg != nil {
		*b = s.neg.encode(*b, flagTypeNegative)
	}
}

// quantile returns the value of rank ⌊q·(n−1)⌋ (0-based, ascending) of s,
// clamped to [lo, hi]. It walks the stores itself rather than calling
// DDSketch's GetValueAtQuantile, which takes the upper of two values for a
// fractional rank among negative values and the lower among positive ones.
func (s *sketch) quantile(q, lo, hi float64) float64 {
	nNeg, nZero := s.negCount(), s.zero
	// Counts decoded from a damaged checkpoint may be fractional or
	// negative: a rank below 0 would ask the negative store of a sketch
	// that has none.
	rank := max(math.Floor(q*(nNeg+nZero+s.pos.count-1)), 0)
	var v float64
	switch {
	case rank < nNeg: // the negative store is ordered by |v|
		v = -sketchMapping.value(s.neg.KeyAtRank(nNeg - 1 - rank))
	case rank < nNeg+nZero:
		v = 0
	default:
		v = sketchMapping.value(s.pos.KeyAtRank(rank - nNeg - nZero))
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
	sketch   *sketch
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
		e.sketch.add(v)
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
		e.sketch.merge(o.sketch)
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
		c.sketch = e.sketch.clone()
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
		e.sketch.encode(&j.Sketch)
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
		s, err := decodeSketch(j.Sketch)
		if err != nil {
			return fmt.Errorf("aggregate state: percentile sketch: %w", err)
		}
		e.sketch = s
	}
	return nil
}
