package ops

import (
	"math"
	"testing"
)

func TestState(t *testing.T) {
	type obs struct {
		v float64
		t int64
	}
	tests := []struct {
		name string
		in   []obs
		want map[Agg]float64
	}{
		{"one", []obs{{5, 10}}, map[Agg]float64{Count: 1, Sum: 5, Mean: 5, Min: 5, Max: 5, First: 5, Last: 5}},
		{"in order", []obs{{1, 1}, {2, 2}, {6, 3}}, map[Agg]float64{Count: 3, Sum: 9, Mean: 3, Min: 1, Max: 6, First: 1, Last: 6}},
		{"out of order: first/last by event time", []obs{{2, 20}, {1, 10}, {3, 30}, {0, 15}},
			map[Agg]float64{Count: 4, Sum: 6, Mean: 1.5, Min: 0, Max: 3, First: 1, Last: 3}},
		{"equal times: earlier arrival first, later arrival last", []obs{{7, 5}, {8, 5}, {9, 5}},
			map[Agg]float64{First: 7, Last: 9}},
		{"negatives", []obs{{-3, 1}, {-1, 2}}, map[Agg]float64{Min: -3, Max: -1, Mean: -2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s State
			for _, o := range tc.in {
				s.Add(o.v, o.t)
			}
			for a, w := range tc.want {
				if got := s.Value(a); math.Abs(got-w) > 1e-12 {
					t.Errorf("%s = %v, want %v", a, got, w)
				}
			}
		})
	}
}

func TestParseAgg(t *testing.T) {
	for i := Agg(0); i < numAggs; i++ {
		a, ok := ParseAgg(i.String())
		if !ok || a != i {
			t.Errorf("ParseAgg(%q) = %v, %v", i.String(), a, ok)
		}
	}
	if KnownAggregate("median") {
		t.Error("median is not an aggregate of this version")
	}
}
