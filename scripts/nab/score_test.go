package main

import (
	"math"
	"testing"

	"github.com/rivulet-edge/rivulet/ops"
)

func TestScore(t *testing.T) {
	n := 1000
	wins := []window{{Lo: 300, Hi: 399}, {Lo: 700, Hi: 749}}
	cases := []struct {
		name string
		det  []int
		want float64 // normalised
	}{
		{"null", nil, 0},
		{"perfect", []int{300, 700}, 100},
		{"perfect and later hits in window", []int{300, 350, 700, 749}, 100},
		{"probation ignored", []int{10, 300, 700}, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := normalise(score(n, wins, c.det, standard).Raw, len(wins), standard)
			if math.Abs(got-c.want) > 1e-9 {
				t.Errorf("score = %v, want %v", got, c.want)
			}
		})
	}
}

func TestScoreEarlyBeatsLate(t *testing.T) {
	wins := []window{{Lo: 300, Hi: 399}}
	early := score(1000, wins, []int{301}, standard).Raw
	end := score(1000, wins, []int{399}, standard).Raw
	if !(early > end) || math.Abs(end-(-0+scaledSigmoid(-0.01)/scaledSigmoid(-1))) > 1e-9 {
		t.Errorf("early %v, end %v", early, end)
	}
}

func TestScoreFalsePositive(t *testing.T) {
	wins := []window{{Lo: 800, Hi: 899}}
	// A false positive before any window costs the full A_FP.
	got := score(1000, wins, []int{200, 800}, standard).Raw
	if want := 1 - 0.11; math.Abs(got-want) > 1e-9 {
		t.Errorf("raw = %v, want %v", got, want)
	}
	// Just after a window it costs almost nothing; far after, nearly A_FP.
	near := score(2000, wins, []int{800, 900}, standard).Raw - 1
	far := score(2000, wins, []int{800, 1800}, standard).Raw - 1
	if !(near > -0.01 && near < 0) || math.Abs(far+0.11) > 1e-9 {
		t.Errorf("near %v, far %v", near, far)
	}
}

// TestThresholdAtWarnIsDefault checks that the optimised score at the
// default warn level is the default score, on a series with a shift and
// spikes scored by the default detector.
func TestThresholdAtWarnIsDefault(t *testing.T) {
	s := &series{N: 3000, Wins: []window{{Lo: 1900, Hi: 2100}}}
	for i := range s.N {
		v := 10 + math.Sin(float64(i)/9) + 0.1*math.Sin(float64(i)*1.7)
		if i%400 == 399 || i >= 2000 {
			v += 8
		}
		s.Times = append(s.Times, int64(i))
		s.Values = append(s.Values, v)
	}
	s.apply(ops.DefaultAnomaly())
	def, opt := atDefault(s), atThreshold(s, ops.DefaultAnomaly().Warn)
	if def.Raw != opt.Raw || def.Count != opt.Count || def.Count == 0 {
		t.Errorf("default %+v, at warn threshold %+v", def, opt)
	}
}
