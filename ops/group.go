package ops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/point"
)

// Group is the state of one window for one group of series: one
// FieldState per numeric field seen, sorted by key, and one TagState per
// tag aggregate of the plan. Its memory is bounded per field and tag
// aggregate whatever the number of points (see Extra and TagState).
//
// A Group's JSON form restores an identical state: adding the same points
// to a restored Group gives the same results as to the original. A Group
// from a plan with other aggregates is accepted: aggregates it lacks start
// from the points added after the change, and states the plan does not
// name are kept and ignored. A Group is not safe for concurrent use.
type Group struct {
	Tags    []point.Tag  `json:"tags,omitempty"`
	Fields  []FieldState `json:"fields,omitempty"`
	TagAggs []TagState   `json:"tag_aggs,omitempty"`
}

// FieldState is the state of one numeric field: State for the basic
// aggregates and, when the plan needs them, Extra for the others.
type FieldState struct {
	Key   string `json:"key"`
	State State  `json:"state"`
	Extra *Extra `json:"extra,omitempty"`
}

// TagState is the state of one tag aggregate, named by its config entry
// (e.g. "topk(3,host)"). Points without the tag are not counted.
type TagState struct {
	Agg      string    `json:"agg"`
	Distinct *distinct `json:"distinct,omitempty"`
	Top      *topK     `json:"top,omitempty"`
}

// NewGroup returns an empty Group with tags, kept as given (the caller
// clones them when they are borrowed).
func (pl *Plan) NewGroup(tags []point.Tag) *Group {
	g := &Group{Tags: tags}
	if len(pl.tags) > 0 {
		g.TagAggs = make([]TagState, len(pl.tags))
		for i := range pl.tags {
			g.TagAggs[i].Agg = pl.tags[i].name
		}
	}
	return g
}

// Add folds point p at event time t (ns) into g: every numeric field
// (point.Float) and the tags of the tag aggregates. Non-finite values (NaN,
// ±Inf) are skipped entirely: they count nowhere. p's strings may be
// borrowed: Add copies a string only when it creates state for it. For a
// field seen before, Add allocates nothing (nor do the sketches, once their
// range is established).
func (pl *Plan) Add(g *Group, p *point.Point, t int64) {
	if g.Fields == nil {
		pl.initFields(g, p)
	}
	for i := range p.Fields {
		v, ok := point.Float(p.Fields[i].Value)
		if !ok || v-v != 0 { // not numeric, NaN or ±Inf
			continue
		}
		f := pl.field(g, p.Fields[i].Key)
		if pl.extended() {
			pl.addExtra(f, v, t)
		}
		f.State.Add(v, t)
	}
	for i := range pl.tags {
		a := &pl.tags[i]
		if v, ok := p.Tag(a.tag); ok {
			pl.tagState(g, i).add(a, v)
		}
	}
}

// fieldBlock holds a group's only numeric field in one allocation, with
// the Extra and the sketch a plan with percentiles keeps for it: one
// object instead of three, and 16 bytes fewer than their size classes.
type fieldBlock struct {
	extraBlock
	s sketch
}

// extraBlock is fieldBlock for a plan without percentiles.
type extraBlock struct {
	f [1]FieldState
	e Extra
}

// initFields sizes the Fields of g, which has none, to the numeric fields
// of p, its first point; a single one is created with its Extra and
// sketch in a fieldBlock when the plan needs them.
func (pl *Plan) initFields(g *Group, p *point.Point) {
	n, key := 0, ""
	for i := range p.Fields {
		if v, ok := point.Float(p.Fields[i].Value); ok && v-v == 0 {
			n, key = n+1, p.Fields[i].Key
		}
	}
	switch {
	case n == 0:
		return
	case n > 1 || !pl.extended():
		g.Fields = make([]FieldState, 0, n)
		return
	}
	var b *extraBlock
	if pl.quantiles {
		fb := &fieldBlock{}
		fb.s.pos.maxBins = sketchMaxBins
		fb.e.sketch = &fb.s
		b = &fb.extraBlock
	} else {
		b = &extraBlock{}
	}
	b.f[0] = FieldState{Key: strings.Clone(key), Extra: &b.e}
	g.Fields = b.f[:]
}

// field returns the state of field key, creating it (with a copy of key).
func (pl *Plan) field(g *Group, key string) *FieldState {
	fs := g.Fields
	lo, hi := 0, len(fs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if fs[m].Key < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(fs) && fs[lo].Key == key {
		return &fs[lo]
	}
	g.Fields = slices.Insert(g.Fields, lo, FieldState{Key: strings.Clone(key)})
	return &g.Fields[lo]
}

// tagState returns the state of tag aggregate i of pl, creating it.
func (pl *Plan) tagState(g *Group, i int) *TagState {
	name := pl.tags[i].name
	if i < len(g.TagAggs) && g.TagAggs[i].Agg == name {
		return &g.TagAggs[i]
	}
	for j := range g.TagAggs {
		if g.TagAggs[j].Agg == name {
			return &g.TagAggs[j]
		}
	}
	g.TagAggs = append(g.TagAggs, TagState{Agg: name})
	return &g.TagAggs[len(g.TagAggs)-1]
}

// add folds one value v of the tag of aggregate a.
func (s *TagState) add(a *tagAgg, v string) {
	if a.k == 0 {
		if s.Distinct == nil {
			s.Distinct = &distinct{}
		}
		s.Distinct.add(hashString(v))
		return
	}
	if s.Top == nil {
		s.Top = &topK{}
	}
	s.Top.add(v, a.capacity)
}

// Empty reports whether no value has been folded into g.
func (pl *Plan) Empty(g *Group) bool {
	for i := range g.Fields {
		if g.Fields[i].State.N > 0 {
			return false
		}
	}
	for i := range g.TagAggs {
		if !g.TagAggs[i].empty() {
			return false
		}
	}
	return true
}

func (s *TagState) empty() bool {
	return (s.Distinct == nil || s.Distinct.count() == 0) && (s.Top == nil || len(s.Top.e) == 0)
}

// Merge folds src into dst; src is left unchanged and shares nothing with
// dst afterwards. dst's tags are kept. When src's points came after dst's
// (panes merged in time order, dst the earlier), the result equals adding
// all the points to one Group: exactly for count, min, max, first, last,
// spread, rate and the distinct and top-k summaries below their bounds; for
// sum, mean and integral up to the rounding of the order of summation
// (exactly when the partial sums are exact, e.g. integer data); for
// variance and stddev within float rounding (Chan et al.'s formula);
// sketches merge without further loss.
func (pl *Plan) Merge(dst, src *Group) {
	for i := range src.Fields {
		s := &src.Fields[i]
		if s.State.N == 0 {
			continue
		}
		d := pl.field(dst, s.Key)
		if d.State.N == 0 {
			d.State, d.Extra = s.State, s.Extra.clone()
			continue
		}
		if s.Extra != nil {
			if d.Extra == nil {
				d.Extra = &Extra{}
			}
			d.Extra.merge(s.Extra, &d.State, &s.State, pl.integral)
		}
		d.State.Merge(&s.State)
	}
	for i := range src.TagAggs {
		s := &src.TagAggs[i]
		d := dst.tagAggNamed(s.Agg)
		if s.Distinct != nil {
			if d.Distinct == nil {
				d.Distinct = &distinct{}
			}
			d.Distinct.merge(s.Distinct)
		}
		if s.Top != nil {
			if d.Top == nil {
				d.Top = &topK{}
			}
			d.Top.merge(s.Top, pl.topCapacity(s.Agg))
		}
	}
}

// tagAggNamed returns g's state of the tag aggregate called name,
// creating it.
func (g *Group) tagAggNamed(name string) *TagState {
	for j := range g.TagAggs {
		if g.TagAggs[j].Agg == name {
			return &g.TagAggs[j]
		}
	}
	g.TagAggs = append(g.TagAggs, TagState{Agg: name})
	return &g.TagAggs[len(g.TagAggs)-1]
}

// topCapacity is the capacity of the top-k aggregate called name; for a
// name the plan does not know (a group from another plan), the capacity of
// the k it names, parsed again.
func (pl *Plan) topCapacity(name string) int {
	for i := range pl.tags {
		if pl.tags[i].name == name {
			return pl.tags[i].capacity
		}
	}
	var other Plan
	if _, err := other.parse(name); err == nil && len(other.tags) == 1 && other.tags[0].k > 0 {
		return other.tags[0].capacity
	}
	return topKFactor * maxTopK
}

// Clone returns a deep copy of g that shares no mutable state with it.
func (pl *Plan) Clone(g *Group) *Group {
	c := &Group{Tags: slices.Clone(g.Tags), Fields: slices.Clone(g.Fields)}
	for i := range c.Fields {
		c.Fields[i].Extra = c.Fields[i].Extra.clone()
	}
	if g.TagAggs != nil {
		c.TagAggs = make([]TagState, len(g.TagAggs))
		for i, s := range g.TagAggs {
			c.TagAggs[i] = TagState{Agg: s.Agg, Distinct: s.Distinct.clone(), Top: s.Top.clone()}
		}
	}
	return c
}

// AppendFields appends the result fields of g to dst and returns it. The
// numeric fields come first, sorted by field key, each with its aggregates
// in plan order, named key + "_" + aggregate: count and distinct are
// integers, the others floats; a percentile is named as written with '.'
// turned into '_' (p99.9 → _p99_9, percentile(97.5) → _p97_5, median →
// _median). Then come the tag aggregates in plan order: <tag>_distinct
// (integer) and <tag>_top1 … <tag>_topK (strings, by count then value) each
// followed by <tag>_topN_count (integer). An aggregate without a value
// (variance of one point, rate without two distinct times) or with a
// non-finite one (an overflowed sum) writes no field.
func (pl *Plan) AppendFields(dst []point.Field, g *Group) []point.Field {
	for i := range g.Fields {
		f := &g.Fields[i]
		if f.State.N == 0 {
			continue
		}
		names := pl.resultNames(f.Key)
		for j := range pl.num {
			dst = appendNum(dst, f, &pl.num[j], names[j])
		}
	}
	for i := range pl.tags {
		a := &pl.tags[i]
		for j := range g.TagAggs {
			if g.TagAggs[j].Agg == a.name {
				dst = g.TagAggs[j].appendFields(dst, a)
				break
			}
		}
	}
	return dst
}

// appendNum appends aggregate a of field f as name, if it has a finite
// value.
func appendNum(dst []point.Field, f *FieldState, a *numAgg, name string) []point.Field {
	s := &f.State
	switch a.kind {
	case kCount:
		return append(dst, point.Field{Key: name, Value: lineprotocol.IntValue(s.N)})
	case kDistinct:
		if f.Extra == nil || f.Extra.distinct == nil {
			return dst
		}
		return append(dst, point.Field{Key: name, Value: lineprotocol.IntValue(f.Extra.distinct.count())})
	}
	v, ok := numValue(f, a)
	if !ok {
		return dst
	}
	if fv, ok := lineprotocol.FloatValue(v); ok {
		dst = append(dst, point.Field{Key: name, Value: fv})
	}
	return dst
}

// numValue returns the float aggregate a of f and whether it has one.
func numValue(f *FieldState, a *numAgg) (float64, bool) {
	s, e := &f.State, f.Extra
	switch a.kind {
	case kSum:
		return s.Sum, true
	case kMean:
		return s.Sum / float64(s.N), true
	case kMin:
		return s.Min, true
	case kMax:
		return s.Max, true
	case kFirst:
		return s.First, true
	case kLast:
		return s.Last, true
	case kSpread:
		return s.Max - s.Min, true
	case kRate:
		if s.N < 2 || s.LastTime == s.FirstTime {
			return 0, false
		}
		return (s.Last - s.First) / (float64(uint64(s.LastTime)-uint64(s.FirstTime)) / 1e9), true
	case kVariance, kStddev:
		if e == nil || e.n < 2 {
			return 0, false
		}
		v := max(e.m2, 0) / float64(e.n-1)
		if a.kind == kStddev {
			v = math.Sqrt(v)
		}
		return v, true
	case kIntegral:
		if e == nil {
			return 0, false
		}
		return e.area / 1e9, true
	case kQuantile:
		if e == nil || e.sketch == nil || e.sketch.empty() {
			return 0, false
		}
		return e.sketch.quantile(a.q, s.Min, s.Max), true
	}
	return 0, false
}

// appendFields appends the result fields of tag aggregate a.
func (s *TagState) appendFields(dst []point.Field, a *tagAgg) []point.Field {
	if a.k == 0 {
		if s.Distinct == nil {
			return dst
		}
		return append(dst, point.Field{Key: a.tag + "_distinct", Value: lineprotocol.IntValue(s.Distinct.count())})
	}
	if s.Top == nil {
		return dst
	}
	rank := 0
	s.Top.top(a.k, func(val []byte, n int64) {
		rank++
		v, ok := lineprotocol.StringValueFromBytes(val)
		if !ok {
			return
		}
		key := a.tag + "_top" + strconv.Itoa(rank)
		dst = append(dst, point.Field{Key: key, Value: v},
			point.Field{Key: key + "_count", Value: lineprotocol.IntValue(n)})
	})
	return dst
}

// groupJSON is Group's JSON form; Fields is decoded by hand to also read
// the engine's earlier form, an object of States by field key.
type groupJSON struct {
	Tags    []point.Tag     `json:"tags,omitempty"`
	Fields  json.RawMessage `json:"fields,omitempty"`
	TagAggs []TagState      `json:"tag_aggs,omitempty"`
}

// UnmarshalJSON reads a Group, or a group checkpointed by the engine
// before Plan ({"tags":…,"fields":{"key":State,…}}), and checks that the
// field keys are unique.
func (g *Group) UnmarshalJSON(b []byte) error {
	var j groupJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("aggregate group: %w", err)
	}
	*g = Group{Tags: j.Tags, TagAggs: j.TagAggs}
	if f := bytes.TrimSpace(j.Fields); len(f) > 0 && f[0] == '{' {
		var m map[string]State
		if err := json.Unmarshal(f, &m); err != nil {
			return fmt.Errorf("aggregate group: %w", err)
		}
		for k, s := range m {
			g.Fields = append(g.Fields, FieldState{Key: k, State: s})
		}
	} else if len(f) > 0 {
		if err := json.Unmarshal(f, &g.Fields); err != nil {
			return fmt.Errorf("aggregate group: %w", err)
		}
	}
	slices.SortStableFunc(g.Fields, func(a, b FieldState) int { return strings.Compare(a.Key, b.Key) })
	for i := 1; i < len(g.Fields); i++ {
		if g.Fields[i].Key == g.Fields[i-1].Key {
			return fmt.Errorf("aggregate group: field %q twice", g.Fields[i].Key)
		}
	}
	return nil
}
