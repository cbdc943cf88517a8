package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
)

// Agg names one of the basic aggregates that State computes by itself.
//
// Deprecated: compile an aggregate list with NewPlan, which knows every
// aggregate; Agg, ParseAgg, KnownAggregate and AggregateNames remain for
// callers of State alone.
type Agg uint8

// The basic aggregates: all mergeable and O(1) in memory.
const (
	Count Agg = iota
	Sum
	Mean
	Min
	Max
	First
	Last
	numAggs
)

var aggNames = [numAggs]string{"count", "sum", "mean", "min", "max", "first", "last"}

// String returns the config name of a.
func (a Agg) String() string {
	if a >= numAggs {
		return "Agg(" + strconv.Itoa(int(a)) + ")"
	}
	return aggNames[a]
}

// ParseAgg returns the basic aggregate called name.
//
// Deprecated: use NewPlan.
func ParseAgg(name string) (Agg, bool) {
	for i, n := range aggNames {
		if n == name {
			return Agg(i), true
		}
	}
	return 0, false
}

// KnownAggregate reports whether name is one of the basic aggregates.
//
// Deprecated: use NewPlan, which reports every problem of a list.
func KnownAggregate(name string) bool { _, ok := ParseAgg(name); return ok }

// AggregateNames lists the basic aggregates for error messages.
//
// Deprecated: NewPlan's errors list every known aggregate.
func AggregateNames() string { return strings.Join(aggNames[:], ", ") }

// State is the running basic aggregate of one numeric field in one window
// and group: count, sum, min, max and the first and last values by event
// time. The zero value is an empty state. On equal times the earlier
// arrival is first and the later arrival last, so the result depends only
// on the order of the log. Non-finite values (NaN, ±Inf) are skipped.
//
// Its JSON form is the object of its fields with the tags below; a sum that
// overflowed to ±Inf is written as the string "+Inf" or "-Inf" (plain JSON
// numbers cannot hold it), and either form is read back.
type State struct {
	N         int64   `json:"n"`
	Sum       float64 `json:"sum"`
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	First     float64 `json:"first"`
	FirstTime int64   `json:"first_t"`
	Last      float64 `json:"last"`
	LastTime  int64   `json:"last_t"`
}

// Add folds one value observed at event time t (ns) into s. A non-finite v
// is ignored.
func (s *State) Add(v float64, t int64) {
	if v-v != 0 { // NaN or ±Inf
		return
	}
	if s.N == 0 {
		*s = State{N: 1, Sum: v, Min: v, Max: v, First: v, FirstTime: t, Last: v, LastTime: t}
		return
	}
	s.N++
	s.Sum += v
	if v < s.Min {
		s.Min = v
	}
	if v > s.Max {
		s.Max = v
	}
	if t < s.FirstTime {
		s.First, s.FirstTime = v, t
	}
	if t >= s.LastTime {
		s.Last, s.LastTime = v, t
	}
}

// Merge folds o, whose values arrived after those of s, into s. The result
// equals adding o's values to s one by one for N, Min, Max, First and Last
// (ties of time go as for Add: s's first, o's last) and, up to the rounding
// of the order of summation, for Sum.
func (s *State) Merge(o *State) {
	switch {
	case o.N == 0:
		return
	case s.N == 0:
		*s = *o
		return
	}
	s.N += o.N
	s.Sum += o.Sum
	s.Min = math.Min(s.Min, o.Min)
	s.Max = math.Max(s.Max, o.Max)
	if o.FirstTime < s.FirstTime {
		s.First, s.FirstTime = o.First, o.FirstTime
	}
	if o.LastTime >= s.LastTime {
		s.Last, s.LastTime = o.Last, o.LastTime
	}
}

// Value returns aggregate a of s. Count is returned as a float; callers that
// write it emit an integer field. The mean of an empty state is NaN.
func (s *State) Value(a Agg) float64 {
	switch a {
	case Count:
		return float64(s.N)
	case Sum:
		return s.Sum
	case Mean:
		return s.Sum / float64(s.N)
	case Min:
		return s.Min
	case Max:
		return s.Max
	case First:
		return s.First
	case Last:
		return s.Last
	}
	return math.NaN()
}

// stateJSON is State's JSON form, with floats that survive ±Inf.
type stateJSON struct {
	N         int64  `json:"n"`
	Sum       jfloat `json:"sum"`
	Min       jfloat `json:"min"`
	Max       jfloat `json:"max"`
	First     jfloat `json:"first"`
	FirstTime int64  `json:"first_t"`
	Last      jfloat `json:"last"`
	LastTime  int64  `json:"last_t"`
}

// MarshalJSON writes s as documented on State.
func (s State) MarshalJSON() ([]byte, error) {
	return json.Marshal(stateJSON{s.N, jfloat(s.Sum), jfloat(s.Min), jfloat(s.Max),
		jfloat(s.First), s.FirstTime, jfloat(s.Last), s.LastTime})
}

// UnmarshalJSON reads what MarshalJSON (or encoding/json's default form of
// State) wrote.
func (s *State) UnmarshalJSON(b []byte) error {
	var j stateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("aggregate state: %w", err)
	}
	*s = State{j.N, float64(j.Sum), float64(j.Min), float64(j.Max),
		float64(j.First), j.FirstTime, float64(j.Last), j.LastTime}
	return nil
}

// jfloat is a float64 whose JSON form is its shortest exact decimal, or the
// string "NaN", "+Inf" or "-Inf" for the values JSON numbers cannot hold.
type jfloat float64

// MarshalJSON writes f so that UnmarshalJSON restores the identical bits
// (the sign of zero aside).
func (f jfloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON reads a JSON number or one of the strings MarshalJSON
// writes; null leaves f unchanged.
func (f *jfloat) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
		if s != "NaN" && s != "+Inf" && s != "-Inf" {
			return fmt.Errorf("invalid float %q", s)
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("invalid float %q", s)
	}
	*f = jfloat(v)
	return nil
}

// numKind is the kind of an aggregate of a numeric field.
type numKind uint8

const (
	kCount numKind = iota
	kSum
	kMean
	kMin
	kMax
	kFirst
	kLast
	kSpread
	kStddev
	kVariance
	kQuantile
	kRate
	kIntegral
	kDistinct
)

// simpleKinds maps the aggregates without parameters to their kinds.
var simpleKinds = map[string]numKind{
	"count": kCount, "sum": kSum, "mean": kMean, "min": kMin, "max": kMax,
	"first": kFirst, "last": kLast, "spread": kSpread, "stddev": kStddev,
	"variance": kVariance, "rate": kRate, "integral": kIntegral, "distinct": kDistinct,
}

// knownList is the list of aggregates in NewPlan's errors.
const knownList = "count, sum, mean, min, max, first, last, spread, stddev, variance, " +
	"median, pNN (0<NN<100, e.g. p95, p99.9), percentile(NN), rate, integral, " +
	"distinct, distinct(tag), topk(k,tag)"

// maxTopK bounds k of topk(k,tag); the summary keeps topKFactor·k values.
const (
	maxTopK    = 100
	topKFactor = 8
)

// numAgg is one aggregate of every numeric field.
type numAgg struct {
	kind   numKind
	q      float64 // kQuantile: the quantile in (0,1)
	suffix string  // the result field is the field key + suffix
}

// tagAgg is one aggregate of the values of a tag.
type tagAgg struct {
	name     string // as written in the config; identifies its TagState
	tag      string
	k        int // 0 for distinct(tag), else topk's k
	capacity int // topk: values kept before Space-Saving evicts
}

// Plan is a compiled aggregate list: what a Group keeps and what its result
// holds. A Plan is safe for concurrent use (its one changing part, a cache
// of result field names, is copied on write); the Groups it works on are
// not.
type Plan struct {
	names []string
	num   []numAgg
	tags  []tagAgg
	// What the numeric aggregates need beyond State.
	welford, integral, quantiles, distinct bool
	// fieldNames caches the result field names of the numeric fields
	// seen; see resultNames.
	fieldNames atomic.Pointer[map[string][]string]
}

// maxCachedFields bounds Plan.fieldNames: past it, the names of further
// field keys are built for every result.
const maxCachedFields = 64

// resultNames returns the result field names of the numeric field key, one
// per numeric aggregate in plan order (key + suffix). Every group of a step
// has the same few field keys, so the names are built once per key rather
// than once per result field (50k allocations when a window with five
// aggregates closes over 10k series). The cache is copied on write, which
// keeps the Plan safe for concurrent use.
func (pl *Plan) resultNames(key string) []string {
	m := pl.fieldNames.Load()
	if m != nil {
		if names, ok := (*m)[key]; ok {
			return names
		}
	}
	names := make([]string, len(pl.num))
	for i := range pl.num {
		names[i] = key + pl.num[i].suffix
	}
	next := map[string][]string{}
	if m != nil {
		if len(*m) >= maxCachedFields {
			return names
		}
		next = maps.Clone(*m)
	}
	next[strings.Clone(key)] = names
	pl.fieldNames.CompareAndSwap(m, &next) // a lost race only costs a rebuild
	return names
}

// NewPlan compiles names, the `aggregates:` list of a step. Known names:
// count, sum, mean, min, max, first, last (by event time), spread
// (max−min), stddev and variance (sample, n−1; none for one point),
// median (= p50), pNN for any 0<NN<100 (p95, p99.9) and percentile(NN)
// (DDSketch, ±1%: see sketchAccuracy), rate ((last−first)/seconds between
// them; none for one point or equal times), integral (trapezoidal, in
// value·seconds: see integralStep), distinct (values of each numeric
// field), distinct(tag) and topk(k,tag) with 1 ≤ k ≤ 100 (see distinct and
// topK for their bounds).
// Two entries that would write the same result field are refused. The
// error joins one error per bad entry, each starting "aggregates[i]: ".
func NewPlan(names []string) (*Plan, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("aggregates: the list is empty")
	}
	pl := &Plan{names: append([]string(nil), names...)}
	var errs []error
	seen := map[string]int{}
	for i, raw := range names {
		out, err := pl.parse(strings.TrimSpace(raw))
		if err != nil {
			errs = append(errs, fmt.Errorf("aggregates[%d]: %w", i, err))
			continue
		}
		if j, dup := seen[out]; dup {
			errs = append(errs, fmt.Errorf("aggregates[%d]: %q repeats aggregates[%d] %q", i, raw, j, names[j]))
			continue
		}
		seen[out] = i
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return pl, nil
}

// Names returns the aggregate list the plan was compiled from.
func (pl *Plan) Names() []string { return append([]string(nil), pl.names...) }

// parse appends the aggregate called name to pl and returns a key that is
// equal for two entries that would write the same result fields.
func (pl *Plan) parse(name string) (string, error) {
	if k, ok := simpleKinds[name]; ok {
		pl.addNum(numAgg{kind: k, suffix: "_" + name})
		return "_" + name, nil
	}
	if name == "median" {
		pl.addNum(numAgg{kind: kQuantile, q: 0.5, suffix: "_median"})
		return "_median", nil
	}
	if num, ok := cutCall(name, "percentile"); ok {
		return pl.parseQuantile(name, strings.TrimSpace(num))
	}
	if num, ok := strings.CutPrefix(name, "p"); ok {
		return pl.parseQuantile(name, num)
	}
	if tag, ok := cutCall(name, "distinct"); ok {
		return pl.parseDistinct(name, strings.TrimSpace(tag))
	}
	if args, ok := cutCall(name, "topk"); ok {
		return pl.parseTopK(name, args)
	}
	return "", unknown(name)
}

func unknown(name string) error {
	return fmt.Errorf("unknown aggregate %q (known: %s)", name, knownList)
}

// cutCall returns the text between "fn(" and the closing ")" of s.
func cutCall(s, fn string) (string, bool) {
	rest, ok := strings.CutPrefix(s, fn)
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 2 || rest[0] != '(' || rest[len(rest)-1] != ')' {
		return "", false
	}
	return rest[1 : len(rest)-1], true
}

// parseQuantile adds the percentile num (digits with at most one dot,
// strictly between 0 and 100) as field suffix _p<num> with '.' → '_'.
func (pl *Plan) parseQuantile(name, num string) (string, error) {
	if !isDecimal(num) {
		return "", unknown(name)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 || v >= 100 {
		return "", unknown(name)
	}
	suffix := "_p" + strings.ReplaceAll(num, ".", "_")
	pl.addNum(numAgg{kind: kQuantile, q: v / 100, suffix: suffix})
	return suffix, nil
}

// isDecimal reports whether s is digits with at most one inner dot.
func isDecimal(s string) bool {
	dots, digits := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && i > 0 && i < len(s)-1:
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

func (pl *Plan) parseDistinct(name, tag string) (string, error) {
	if tag == "" {
		return "", fmt.Errorf("%s: the tag name is empty", name)
	}
	pl.tags = append(pl.tags, tagAgg{name: name, tag: tag})
	return "tag " + tag + "_distinct", nil
}

func (pl *Plan) parseTopK(name, args string) (string, error) {
	ks, tag, ok := strings.Cut(args, ",")
	ks, tag = strings.TrimSpace(ks), strings.TrimSpace(tag)
	if !ok || tag == "" {
		return "", fmt.Errorf("%s: want topk(k,tag)", name)
	}
	k, err := strconv.Atoi(ks)
	if err != nil || k < 1 || k > maxTopK {
		return "", fmt.Errorf("%s: k must be an integer from 1 to %d", name, maxTopK)
	}
	pl.tags = append(pl.tags, tagAgg{name: name, tag: tag, k: k, capacity: topKFactor * k})
	return "tag " + tag + "_top", nil
}

func (pl *Plan) addNum(a numAgg) {
	pl.num = append(pl.num, a)
	switch a.kind {
	case kStddev, kVariance:
		pl.welford = true
	case kIntegral:
		pl.integral = true
	case kQuantile:
		pl.quantiles = true
	case kDistinct:
		pl.distinct = true
	}
}

// extended reports whether a field needs an Extra beyond its State.
func (pl *Plan) extended() bool {
	return pl.welford || pl.integral || pl.quantiles || pl.distinct
}
