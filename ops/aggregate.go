package ops

import (
	"math"
	"strings"
)

// Agg names one aggregate function.
type Agg uint8

// The aggregates of this version. All are mergeable and O(1) in memory.
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
func (a Agg) String() string { return aggNames[a] }

// ParseAgg returns the aggregate called name.
func ParseAgg(name string) (Agg, bool) {
	for i, n := range aggNames {
		if n == name {
			return Agg(i), true
		}
	}
	return 0, false
}

// KnownAggregate reports whether name is an aggregate of this version.
func KnownAggregate(name string) bool { _, ok := ParseAgg(name); return ok }

// AggregateNames lists the known aggregates for error messages.
func AggregateNames() string { return strings.Join(aggNames[:], ", ") }

// State is the running aggregate of one numeric field in one window and
// group. The zero value is an empty state. First and Last follow event time;
// on equal times the earlier arrival is first and the later arrival last, so
// the result depends only on the order of the log.
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

// Add folds one value observed at event time t into s.
func (s *State) Add(v float64, t int64) {
	if s.N == 0 {
		*s = State{N: 1, Sum: v, Min: v, Max: v, First: v, FirstTime: t, Last: v, LastTime: t}
		return
	}
	s.N++
	s.Sum += v
	s.Min = math.Min(s.Min, v)
	s.Max = math.Max(s.Max, v)
	if t < s.FirstTime {
		s.First, s.FirstTime = v, t
	}
	if t >= s.LastTime {
		s.Last, s.LastTime = v, t
	}
}

// Value returns aggregate a of s. Count is returned as a float; callers that
// write it emit an integer field.
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
