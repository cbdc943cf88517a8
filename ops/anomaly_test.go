package ops

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAnomalyLagDistances checks the incrementally kept lag distances
// against a direct sum over the input, before and long after the ring
// wrapped. ClipZ is huge so the ring holds the inputs unchanged.
func TestAnomalyLagDistances(t *testing.T) {
	d := DefaultAnomaly()
	d.ClipZ = 1e300
	r := rand.New(rand.NewPCG(3, 4))
	var in []float64
	for i := range 5000 {
		v := 1000 + 50*math.Sin(float64(i)/7) + r.NormFloat64()
		if i%613 == 0 {
			v += 1e4 // spikes enter and leave the patterns
		}
		in = append(in, v)
		d.Step(v, int64(i))
		if i != 40 && i != 300 && i != 511 && i != 2000 && i != 4999 {
			continue
		}
		for l := 1; l <= d.MaxLag && l <= i-d.Embed+1; l++ {
			want := 0.0
			for k := range d.Embed {
				x := in[i-k] - in[i-k-l]
				want += x * x
			}
			got := d.State.Lag[l]
			if math.Abs(got-want) > 1e-9*(1+want)+1e-6 {
				t.Fatalf("point %d lag %d: distance %v, want %v", i, l, got, want)
			}
		}
	}
}

// square returns a square wave of the given period with noise, its pulse
// in period odd (odd < 0: none) half as high.
func square(n, period, odd int) []float64 {
	r := rand.New(rand.NewPCG(5, 6))
	v := make([]float64, n)
	for i := range v {
		v[i] = 20 + r.NormFloat64()
		switch {
		case i%period >= period/2:
		case i/period == odd:
			v[i] += 30
		default:
			v[i] += 60
		}
	}
	return v
}

// TestAnomalyPatterns checks what the nearest-neighbour score adds: a
// repeating pulse that a level or step detector flags on every edge raises
// no alert once it repeated, and a pulse of half the height, whose values
// stay within the usual range, is found on its rising edge.
func TestAnomalyPatterns(t *testing.T) {
	cases := []struct {
		name  string
		odd   int
		first int // first alert at or after 600 in [first, first+20], or -1
	}{
		{"regular", -1, -1},
		{"half pulse", 15, 15 * 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := DefaultAnomaly()
			a := Alert{Config: DefaultAlertConfig()}
			got := -1
			for i, v := range square(2400, 100, c.odd) {
				tr := a.Step(d.Step(v, int64(i)).Level, int64(i))
				if tr != nil && tr.From == OK && i >= 600 && got < 0 {
					got = i
				}
			}
			if c.first < 0 && got >= 0 || c.first >= 0 && (got < c.first || got > c.first+20) {
				t.Errorf("first alert at %d, want %d", got, c.first)
			}
		})
	}
}

// TestAnomalyHostileInput feeds non-finite and extreme values: the score
// stays in [0, 1], the state stays finite and marshals, and after the
// input turns normal the detector is quiet again.
func TestAnomalyHostileInput(t *testing.T) {
	d := DefaultAnomaly()
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308, 5e-324}
	for i := range 3000 {
		v := 10 + math.Sin(float64(i)/10)
		if i < 1000 && i%5 == 0 {
			v = bad[i%len(bad)]
		}
		r := d.Step(v, int64(i))
		if !(r.Score >= 0 && r.Score <= 1) {
			t.Fatalf("point %d: score %v", i, r.Score)
		}
		if i > 2500 && r.Level != OK {
			t.Fatalf("point %d: level %v on a clean sine", i, r.Level)
		}
	}
	if _, err := json.Marshal(d.State); err != nil {
		t.Fatalf("marshal state: %v", err)
	}
}

// TestAnomalyCheckpointWhileFilling restores the state at several points,
// before and after the ring filled, and checks the output is unchanged.
func TestAnomalyCheckpointWhileFilling(t *testing.T) {
	v := square(1500, 100, 10)
	for _, cut := range []int{0, 10, 30, 300, 700, 1100} {
		a, b := DefaultAnomaly(), DefaultAnomaly()
		for i := range cut {
			a.Step(v[i], int64(i))
		}
		js, err := json.Marshal(a.State)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(js, &b.State); err != nil {
			t.Fatal(err)
		}
		for i := cut; i < len(v); i++ {
			if ra, rb := a.Step(v[i], int64(i)), b.Step(v[i], int64(i)); ra != rb {
				t.Fatalf("cut %d, point %d: %+v after restore, want %+v", cut, i, rb, ra)
			}
		}
	}
}

// BenchmarkAnomaly measures the default detector on a noisy daily pattern
// once its ring is full.
func BenchmarkAnomaly(b *testing.B) {
	v := square(4096, 288, -1)
	d := DefaultAnomaly()
	for i, x := range v {
		d.Step(x, int64(i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Step(v[i%len(v)], int64(i))
		i++
	}
}

// TestFloatRingJSON: rings are written as base64 of their bits, exactly,
// and a list of numbers (the format before) still reads.
func TestFloatRingJSON(t *testing.T) {
	var r FloatRing
	r[0], r[1], r[AnomalyRing-1] = 1.5, -0.1, math.MaxFloat64
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != '"' || len(b) > 6000 {
		t.Fatalf("encoded as %d bytes starting %q, want a base64 string", len(b), b[:1])
	}
	var back FloatRing
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Fatalf("round trip: %v", err)
	}
	list, _ := json.Marshal([AnomalyRing]float64(r))
	var old FloatRing
	if err := json.Unmarshal(list, &old); err != nil || old != r {
		t.Fatalf("list format: %v", err)
	}
	if err := json.Unmarshal([]byte(`"AAAA"`), &old); err == nil {
		t.Error("a short ring must be refused")
	}
}
