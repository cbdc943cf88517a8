package main

import (
	"math"
	"testing"
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
