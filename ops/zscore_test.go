package ops

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func zscore() Detector { return NewZScore(100, 100, 5, 8, 0) }
func mad() Detector    { return NewMAD(101, 101, 5, 8, 0) }

// TestWindowedDetectors runs the windowed detectors over the synthetic
// series of TestDetectors: a spike, a level shift and a dropout are found
// within [1500, 1700], a clean or seasonal series raises nothing. A slow
// drift and a stuck value are left to Threshold and Stuck.
func TestWindowedDetectors(t *testing.T) {
	cases := []struct {
		name  string
		d     func() Detector
		kind  string
		found bool
	}{
		{"zscore/none", zscore, "none", false},
		{"zscore/seasonal", zscore, "seasonal", false},
		{"zscore/spike", zscore, "spike", true},
		{"zscore/shift", zscore, "shift", true},
		{"zscore/dropout", zscore, "dropout", true},
		{"zscore/stuck", zscore, "stuck", false},
		{"mad/none", mad, "none", false},
		{"mad/seasonal", mad, "seasonal", false},
		{"mad/spike", mad, "spike", true},
		{"mad/shift", mad, "shift", true},
		{"mad/dropout", mad, "dropout", true},
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

// naiveZ is the z-score of v against vals computed from scratch.
func naiveZ(vals []float64, v float64) float64 {
	mean := 0.0
	for _, x := range vals {
		mean += x
	}
	mean /= float64(len(vals))
	ss := 0.0
	for _, x := range vals {
		ss += (x - mean) * (x - mean)
	}
	return math.Abs(v-mean) / math.Sqrt(ss/float64(len(vals)))
}

// TestZScoreExact compares every score with a from-scratch computation over
// the same window, on values with a large mean against a small spread,
// where naive running sums of squares lose every digit.
func TestZScoreExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const w = 16
	d := NewZScore(w, w, 1e9, 1e9, 0) // levels off: only the score is checked
	var hist []float64
	for i := range 5000 {
		v := 1e9 + r.NormFloat64()*0.01
		got := d.Step(v, 0).Score * 1e9
		if len(hist) >= w {
			want := naiveZ(hist[len(hist)-w:], v)
			if math.Abs(got-want) > 1e-4*(1+want) {
				t.Fatalf("point %d: z %v, want %v", i, got, want)
			}
		}
		hist = append(hist, v)
	}
}

// naiveMAD is the modified z-score of v against vals from scratch.
func naiveMAD(vals []float64, v float64) float64 {
	s := slices.Sorted(slices.Values(vals))
	med := median(s)
	dev := make([]float64, len(s))
	for i, x := range s {
		dev[i] = math.Abs(x - med)
	}
	slices.Sort(dev)
	return 0.6745 * math.Abs(v-med) / median(dev)
}

func TestMADExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, w := range []int{5, 8, 33} {
		d := NewMAD(w, w, 1e9, 1e9, 0)
		var hist []float64
		for i := range 3000 {
			v := math.Round(r.NormFloat64()*1000) / 10
			if i%97 == 0 {
				v += 500 // spikes must not move the median much
			}
			got := d.Step(v, 0).Score * 1e9
			if len(hist) >= w {
				want := naiveMAD(hist[len(hist)-w:], v)
				if math.IsInf(want, 0) || math.IsNaN(want) {
					hist = append(hist, v)
					continue // MAD 0: the fallback scale applies
				}
				if math.Abs(got-want) > 1e-9*(1+want) {
					t.Fatalf("window %d, point %d: z %v, want %v", w, i, got, want)
				}
			}
			hist = append(hist, v)
		}
	}
}

// TestMADQuantised: a series that is mostly one value (MAD 0) with rare
// steps of one unit must not alert on each step.
func TestMADQuantised(t *testing.T) {
	d := NewMAD(64, 64, 5, 8, 0)
	alerts := 0
	for i := range 2000 {
		v := 20.0
		if i%10 == 0 {
			v = 21
		}
		if d.Step(v, 0).Level > OK {
			alerts++
		}
	}
	if alerts > 0 {
		t.Errorf("%d alerts on a quantised series", alerts)
	}
}

func TestWindowedCheckpoint(t *testing.T) {
	v := synth("shift")
	cases := map[string]func() (Detector, any){
		"zscore": func() (Detector, any) { d := zscore().(*ZScore); return d, &d.State },
		"mad":    func() (Detector, any) { d := mad().(*MAD); return d, &d.State },
	}
	for name, mk := range cases {
		for _, cut := range []int{0, 1, 50, 150, 1505} {
			a, sa := mk()
			b, sb := mk()
			for i := range cut {
				a.Step(v[i], int64(i)*1e9)
			}
			js, err := json.Marshal(sa)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(js, sb); err != nil {
				t.Fatal(err)
			}
			for i := cut; i < n; i++ {
				ra, rb := a.Step(v[i], int64(i)*1e9), b.Step(v[i], int64(i)*1e9)
				if ra != rb {
					t.Fatalf("%s cut %d, point %d: %+v after restore, want %+v", name, cut, i, rb, ra)
				}
			}
		}
	}
}

// TestWindowedDamagedState: a checkpoint whose fields disagree must not
// make Step panic.
func TestWindowedDamagedState(t *testing.T) {
	z := zscore().(*ZScore)
	z.State = ZScoreState{Ring: []float64{1, 2, 3}, Next: -7}
	m := mad().(*MAD)
	m.State = MADState{Ring: []float64{1, 2, 3}, Sorted: []float64{9}, Next: 99}
	for i := range 300 {
		z.Step(float64(i), 0)
		m.Step(float64(i), 0)
	}
}

func FuzzWindowed(f *testing.F) {
	f.Add(floats(1, 2, 3, math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308, 5e-324))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds := []Detector{NewZScore(8, 4, 5, 8, 0), NewMAD(9, 4, 5, 8, 0)}
		alerts := make([]Alert, len(ds))
		raised := make([]int, len(ds))
		cfg := DefaultAlertConfig()
		for i := 0; i+8 <= len(b); i += 8 {
			v := math.Float64frombits(binary.LittleEndian.Uint64(b[i:]))
			for k, d := range ds {
				r := d.Step(v, int64(i))
				if !(r.Score >= 0 && r.Score <= 1) || r.Level > Crit {
					t.Fatalf("%T: result %+v for %v", d, r, v)
				}
				alerts[k].Config = cfg
				if tr := alerts[k].Step(r.Level, int64(i)); tr != nil && tr.From == OK {
					raised[k]++
				}
			}
		}
		for k, n := range raised {
			if n > len(b)/8/(cfg.Cooldown+1)+1 {
				t.Errorf("%T: %d alerts", ds[k], n)
			}
		}
		st := ds[0].(*ZScore).State
		if !finite(st.Sum) || !finite(st.SumSq) {
			t.Fatalf("zscore state not finite: %+v", st)
		}
	})
}

func BenchmarkWindowed(b *testing.B) {
	v := synth("seasonal")
	for _, c := range []struct {
		name string
		mk   func() Detector
	}{
		{"zscore/60", func() Detector { return NewZScore(60, 60, 4, 6, 0) }},
		{"zscore/1000", func() Detector { return NewZScore(1000, 60, 4, 6, 0) }},
		{"mad/64", func() Detector { return NewMAD(64, 64, 4, 6, 0) }},
		{"mad/256", func() Detector { return NewMAD(256, 64, 4, 6, 0) }},
		{"mad/1024", func() Detector { return NewMAD(1024, 64, 4, 6, 0) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := c.mk()
			for i := range 2000 { // fill the window first
				d.Step(v[i%n], 0)
			}
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
