package main

import "math"

// profile is a NAB cost profile.
type profile struct{ TP, FP, FN float64 }

// standard is the NAB standard profile: A_TP = 1, A_FP = −0.11, A_FN = −1.
var standard = profile{TP: 1, FP: 0.11, FN: 1}

// window is a labelled anomaly window as inclusive point indices.
type window struct{ Lo, Hi int }

func (w window) width() int { return w.Hi - w.Lo + 1 }

// tally is the outcome of scoring one series.
type tally struct {
	Raw           float64   // NAB raw score
	Windows       int       // labelled windows
	Detected      int       // windows with a detection
	FP            int       // detections outside every window
	Early         []float64 // fraction of each detected window elapsed at first detection
	Points, Count int       // points, detections counted (after probation)
}

// scaledSigmoid is NAB's 2σ(−5y) − 1: about 0.987 at the start of a window
// (y = −1), 0 at its end, and −1 well after it (y > 3).
func scaledSigmoid(y float64) float64 {
	if y > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*y)) - 1
}

// probation is NAB's probationary period: detections in the first 15 % of a
// series (at most 750 points) are not scored.
func probation(n int) int {
	return min(int(math.Floor(0.15*float64(n))), int(math.Floor(0.15*5000)))
}

// score scores detections (increasing point indices) in a series of n points
// with windows wins (sorted, disjoint), following the NAB paper: the first
// detection in a window earns A_TP scaled by the sigmoid of its position
// relative to the window end; a detection outside windows costs A_FP scaled
// by its distance past the previous window (the full cost if none precedes
// it); each window without detection costs A_FN.
func score(n int, wins []window, detections []int, p profile) tally {
	t := tally{Windows: len(wins), Points: n}
	hit := make([]bool, len(wins))
	maxTP := scaledSigmoid(-1)
	start := probation(n)
	for _, i := range detections {
		if i < start || i >= n {
			continue
		}
		t.Count++
		k, in := locate(wins, i)
		switch {
		case in && !hit[k]:
			w := wins[k]
			hit[k] = true
			t.Detected++
			t.Early = append(t.Early, float64(i-w.Lo)/float64(w.width()))
			t.Raw += p.TP * scaledSigmoid(-float64(w.Hi-i+1)/float64(w.width())) / maxTP
		case in:
		default:
			t.FP++
			t.Raw += p.FP * fpCost(wins, k, i)
		}
	}
	t.Raw -= p.FN * float64(t.Windows-t.Detected)
	return t
}

// fpCost is the unweighted (negative) score of a false positive at i, with
// k the index of the last window ending before i, or −1.
func fpCost(wins []window, k, i int) float64 {
	if k < 0 {
		return -1
	}
	w := wins[k]
	return scaledSigmoid(float64(i-w.Hi) / float64(max(w.width()-1, 1)))
}

// locate returns the window holding i and true, or the last window that
// ends before i (−1 if none) and false.
func locate(wins []window, i int) (int, bool) {
	k := -1
	for j, w := range wins {
		if i >= w.Lo && i <= w.Hi {
			return j, true
		}
		if w.Hi < i {
			k = j
		}
	}
	return k, false
}

// normalise maps a raw score over windows windows so that the null detector
// scores 0 and the perfect detector 100.
func normalise(raw float64, windows int, p profile) float64 {
	null := -p.FN * float64(windows)
	perfect := p.TP * float64(windows)
	if perfect == null {
		return 0
	}
	return 100 * (raw - null) / (perfect - null)
}
