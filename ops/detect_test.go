package ops

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

const n = 2000

// synth returns a noisy base series with an anomaly from index 1500 on.
func synth(kind string) []float64 {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float64, n)
	for i := range v {
		v[i] = 20 + r.NormFloat64()
		switch {
		case kind == "seasonal":
			v[i] += 10 * math.Sin(2*math.Pi*float64(i)/288)
		case i < 1500:
		case kind == "spike" && i == 1500:
			v[i] += 30
		case kind == "shift":
			v[i] += 15
		case kind == "drift":
			v[i] += 0.05 * float64(i-1500)
		case kind == "stuck":
			v[i] = 21.5
		case kind == "dropout":
			v[i] = 0
		}
	}
	return v
}

// run feeds series to d and returns the first index at or after 200 with a
// level of at least min, or -1, and the number of points at that level.
func run(d Detector, v []float64, min Level) (first, count int) {
	first = -1
	for i, x := range v {
		r := d.Step(x, int64(i)*1e9)
		if r.Score < 0 || r.Score > 1 || math.IsNaN(r.Score) {
			panic("score out of range")
		}
		if i >= 200 && r.Level >= min {
			if first < 0 {
				first = i
			}
			count++
		}
	}
	return first, count
}

func TestDetectors(t *testing.T) {
	cases := []struct {
		name  string
		d     func() Detector
		kind  string
		found bool // an alert at or shortly after 1500, and none before
	}{
		{"anomaly/none", anomaly, "none", false},
		{"anomaly/seasonal", anomaly, "seasonal", false},
		{"anomaly/spike", anomaly, "spike", true},
		{"anomaly/shift", anomaly, "shift", true},
		// The EWMA-based detectors adapt to a steady trend, so a slow drift is
		// for Threshold; Anomaly must at least not storm.
		{"anomaly/drift", anomaly, "drift", false},
		{"anomaly/dropout", anomaly, "dropout", true},
		{"ewma/none", ewma, "none", false},
		{"ewma/spike", ewma, "spike", true},
		{"ewma/shift", ewma, "shift", true},
		{"ewma/dropout", ewma, "dropout", true},
		{"threshold/none", threshold, "none", false},
		{"threshold/shift", threshold, "shift", true},
		{"threshold/drift", threshold, "drift", true},
		{"rate/none", rate, "none", false},
		{"rate/spike", rate, "spike", true},
		{"rate/dropout", rate, "dropout", true},
		{"stuck/none", stuck, "none", false},
		{"stuck/seasonal", stuck, "seasonal", false},
		{"stuck/stuck", stuck, "stuck", true},
		{"bounds/none", bounds, "none", false},
		{"bounds/dropout", bounds, "dropout", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			first, _ := run(c.d(), synth(c.kind), Warn)
			if c.found && (first < 1500 || first > 1700) {
				t.Errorf("first alert at %d, want in [1500, 1700]", first)
			}
			if !c.found && first >= 0 {
				t.Errorf("false alert at %d", first)
			}
		})
	}
}

func anomaly() Detector { d := DefaultAnomaly(); return &d }
func ewma() Detector    { return &EWMA{Alpha: 0.02, Warmup: 50, WarnZ: 5, CritZ: 8} }
func threshold() Detector {
	return &Threshold{Warn: 28, Crit: 40, WarnReset: 26, CritReset: 38, Sustain: 3}
}
func rate() Detector   { return &Rate{Warn: 8, Crit: 15} }
func stuck() Detector  { return &Stuck{Epsilon: 1e-9, Warn: 10, Crit: 60} }
func bounds() Detector { return &Bounds{Min: 1, Max: 100} }

func TestThresholdHysteresis(t *testing.T) {
	cases := []struct {
		name    string
		sustain int
		in      []float64
		want    []Level
	}{
		{"hysteresis", 1,
			[]float64{0, 28, 27, 26, 25, 41, 39, 37, 10},
			[]Level{OK, Warn, Warn, OK, OK, Crit, Crit, Warn, OK}},
		{"sustain", 3,
			[]float64{29, 29, 0, 29, 29, 29, 29, 0},
			[]Level{OK, OK, OK, OK, OK, Warn, Warn, OK}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &Threshold{Warn: 28, Crit: 40, WarnReset: 26, CritReset: 38, Sustain: c.sustain}
			for i, v := range c.in {
				if got := d.Step(v, 0).Level; got != c.want[i] {
					t.Errorf("point %d (%v): level %v, want %v", i, v, got, c.want[i])
				}
			}
		})
	}
}

func TestThresholdBelow(t *testing.T) {
	d := &Threshold{Warn: 10, Crit: 5, WarnReset: 12, CritReset: 7, Below: true}
	if got := d.Step(4, 0); got.Level != Crit || got.Score != 1 {
		t.Errorf("got %+v", got)
	}
	if got := d.Step(13, 0); got.Level != OK || got.Score != 0 {
		t.Errorf("got %+v", got)
	}
}

// TestCheckpoint saves each detector's state mid-series as JSON, restores it
// into a fresh detector and checks the rest of the output is identical.
func TestCheckpoint(t *testing.T) {
	v := synth("shift")
	cases := map[string]func() (Detector, any){
		"anomaly":   func() (Detector, any) { d := DefaultAnomaly(); return &d, &d.State },
		"ewma":      func() (Detector, any) { d := ewma().(*EWMA); return d, &d.State },
		"threshold": func() (Detector, any) { d := threshold().(*Threshold); return d, &d.State },
		"rate":      func() (Detector, any) { d := rate().(*Rate); return d, &d.State },
		"stuck":     func() (Detector, any) { d := stuck().(*Stuck); return d, &d.State },
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			a, sa := mk()
			b, sb := mk()
			for i := range 1505 {
				a.Step(v[i], int64(i)*1e9)
			}
			js, err := json.Marshal(sa)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(js, sb); err != nil {
				t.Fatal(err)
			}
			for i := 1505; i < n; i++ {
				ra, rb := a.Step(v[i], int64(i)*1e9), b.Step(v[i], int64(i)*1e9)
				if ra != rb {
					t.Fatalf("point %d: %+v after restore, want %+v", i, rb, ra)
				}
			}
		})
	}
}

func BenchmarkDetectors(b *testing.B) {
	v := synth("seasonal")
	for name, mk := range map[string]func() Detector{
		"anomaly": anomaly, "ewma": ewma, "threshold": threshold,
		"rate": rate, "stuck": stuck, "bounds": bounds,
	} {
		b.Run(name, func(b *testing.B) {
			d := mk()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d.Step(v[i%n], int64(i)*1e9)
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
