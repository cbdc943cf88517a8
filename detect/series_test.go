package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ops"
)

const (
	nPoints = 3000
	onset   = 2000 // first anomalous point
	step    = int64(time.Minute)
)

// synth returns a noisy series, one point a minute, with an anomaly of the
// given kind from index onset on; "dropout" also removes points (NaN marks
// a point that is not sent).
func synth(kind string) []float64 {
	r := rand.New(rand.NewPCG(7, 8))
	v := make([]float64, nPoints)
	for i := range v {
		v[i] = 20 + r.NormFloat64()
		if kind == "seasonal" {
			v[i] += 8 * math.Sin(2*math.Pi*float64(i)/720) // a 12-hour cycle
		}
		if i < onset {
			continue
		}
		switch kind {
		case "spike":
			if i == onset {
				v[i] += 25
			}
		case "shift":
			v[i] += 15
		case "drift":
			v[i] += 0.05 * float64(i-onset)
		case "stuck":
			v[i] = 21.25
		case "dropout":
			if i < onset+30 {
				v[i] = math.NaN()
			} else if i < onset+40 {
				v[i] = 0 // the sensor comes back reading zero
			}
		}
	}
	return v
}

// detector returns the rule of a detector kind used by the tests, with
// settings a person would write; each call returns a fresh copy.
func detector(kind string) Config { return detectors()[kind] }

func detectors() map[string]Config {
	return map[string]Config{
		"threshold": cfg(func(c *Config) {
			t := DefaultThreshold()
			t.Warn, t.Crit, t.Hysteresis = 32, 40, 2
			c.Threshold = &t
		}),
		"zscore":  cfg(func(c *Config) { c.ZScore = &ZScoreConfig{Window: 120, WarnZ: 5, CritZ: 8} }),
		"ewma":    cfg(func(c *Config) { c.EWMA = &EWMAConfig{WarnZ: 5, CritZ: 8} }),
		"mad":     cfg(func(c *Config) { c.MAD = &MADConfig{Window: 121, WarnZ: 5, CritZ: 8} }),
		"rate":    cfg(func(c *Config) { c.Rate = &RateConfig{Warn: 12.0 / 60, Crit: 20.0 / 60} }),
		"stuck":   cfg(func(c *Config) { c.Stuck = &StuckConfig{Epsilon: 1e-9, Warn: 10 * time.Minute, Crit: time.Hour} }),
		"bounds":  cfg(func(c *Config) { c.Bounds = &BoundsConfig{Min: 1, Max: 100} }),
		"anomaly": cfg(func(c *Config) { c.Anomaly = &AnomalyConfig{} }),
		"no_data": cfg(func(c *Config) { c.NoData = &NoDataConfig{Warn: 10 * time.Minute, Crit: 20 * time.Minute} }),
	}
}

func cfg(f func(c *Config)) Config {
	c := DefaultConfig()
	f(&c)
	return c
}

// runSeries feeds v (NaN: no point) to a Series of c and returns the
// transitions as "i:from>to".
func runSeries(t testing.TB, c Config, v []float64) []string {
	s, err := NewSeries(c)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, x := range v {
		if math.IsNaN(x) {
			continue
		}
		score, _, tr := s.Step(x, int64(i)*step)
		if !(score >= 0 && score <= 1) {
			t.Fatalf("point %d: score %v", i, score)
		}
		if tr != nil {
			out = append(out, fmt.Sprintf("%d:%v>%v", tr.T/step, tr.From, tr.To))
		}
	}
	return out
}

// TestSynthetic runs every detector over each synthetic series: where the
// detector is meant for the anomaly, its first alert comes within 120
// points of the onset (300 for the slow drift); otherwise it raises nothing at all (after a warm-up
// of 300 points).
func TestSynthetic(t *testing.T) {
	meant := map[string][]string{
		"threshold": {"spike", "shift", "drift"},
		"zscore":    {"spike", "shift", "dropout"},
		"ewma":      {"spike", "shift", "dropout"},
		"mad":       {"spike", "shift", "dropout"},
		"rate":      {"spike", "shift", "dropout"},
		"stuck":     {"stuck"},
		"bounds":    {"dropout"},
		"anomaly":   {"spike", "shift", "dropout"},
		"no_data":   {"dropout"},
	}
	// Cases a detector may alert on though not meant for them: the
	// windowed and EWMA detectors notice the start of a drift, and a
	// stuck value is an outlier of a sort to some.
	mayAlert := map[string]bool{
		"zscore/drift": true, "ewma/drift": true, "mad/drift": true, "anomaly/drift": true,
		"mad/stuck": true, "anomaly/stuck": true, "zscore/stuck": true, "ewma/stuck": true,
		"threshold/spike": false,
	}
	for _, name := range Kinds {
		c := detector(name)
		for _, kind := range []string{"none", "seasonal", "spike", "shift", "drift", "stuck", "dropout"} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				trs := runSeries(t, c, synth(kind))
				first := -1
				for _, tr := range trs {
					var i int
					var from, to string
					fmt.Sscanf(strings.NewReplacer(":", " ", ">", " ").Replace(tr), "%d %s %s", &i, &from, &to)
					if i >= 300 && from == "ok" {
						first = i
						break
					}
				}
				want := false
				for _, k := range meant[name] {
					want = want || k == kind
				}
				within := 120
				if kind == "drift" {
					within = 300 // 0.05 a point reaches warn after 240
				}
				switch {
				case want && (first < onset || first > onset+within):
					t.Errorf("first alert at %d, want in [%d, %d]: %v", first, onset, onset+within, trs)
				case !want && first >= 0 && !mayAlert[name+"/"+kind]:
					t.Errorf("false alert at %d: %v", first, trs)
				case mayAlert[name+"/"+kind] && first >= 0 && first < onset:
					t.Errorf("false alert at %d before the onset: %v", first, trs)
				}
			})
		}
	}
}

// TestSeasonalNoStorm: on a seasonal series without anomaly the default
// detector raises nothing over ten cycles.
func TestSeasonalNoStorm(t *testing.T) {
	v := make([]float64, 7200)
	r := rand.New(rand.NewPCG(9, 10))
	for i := range v {
		v[i] = 50 + 20*math.Sin(2*math.Pi*float64(i)/720) + r.NormFloat64()
	}
	if trs := runSeries(t, detector("anomaly"), v); len(trs) > 0 {
		t.Errorf("alerts on a seasonal series: %v", trs)
	}
}

// level string: '.' below warn, 'w' between warn and crit, 'c' above crit,
// 'h' in the hysteresis band under warn, 'k' in the band under crit.
func thresholdValues(s string) []float64 {
	m := map[rune]float64{'.': 10, 'h': 31, 'w': 35, 'k': 39, 'c': 45}
	out := make([]float64, len(s))
	for i, r := range s {
		out[i] = m[r]
	}
	return out
}

// TestAlerting runs a threshold rule (warn 32, crit 40, hysteresis 2) with
// sustain and alert settings over value patterns and checks the exact
// transitions, worked out by hand.
func TestAlerting(t *testing.T) {
	cases := []struct {
		name    string
		sustain SustainConfig
		alert   ops.AlertConfig
		in      string
		want    string
	}{
		{"state changes only", SustainConfig{}, ops.AlertConfig{}, "..wwwcc..", "[2:ok>warn 5:warn>crit 7:crit>ok]"},
		{"hysteresis holds", SustainConfig{}, ops.AlertConfig{}, ".whhh.ckkkw.", "[1:ok>warn 5:warn>ok 6:ok>crit 10:crit>warn 11:warn>ok]"},
		{"sustain points", SustainConfig{Points: 3}, ops.AlertConfig{}, ".ww.www..", "[6:ok>warn 7:warn>ok]"},
		{"sustain duration", SustainConfig{Duration: 2 * time.Minute}, ops.AlertConfig{}, ".ww.www..", "[6:ok>warn 7:warn>ok]"},
		{"sustain both", SustainConfig{Points: 2, Duration: 3 * time.Minute}, ops.AlertConfig{}, "ww.wwwww.", "[6:ok>warn 8:warn>ok]"},
		{"min points", SustainConfig{}, ops.AlertConfig{MinPoints: 2}, ".w..ww.ww..", "[5:ok>warn 10:warn>ok]"},
		{"cooldown", SustainConfig{}, ops.AlertConfig{Cooldown: 3}, "w.w.w.....w", "[0:ok>warn 1:warn>ok 10:ok>warn]"},
		{"flapping", SustainConfig{}, ops.AlertConfig{FlapLimit: 2, FlapWindow: 6}, "w.w.w.w.w.........",
			"[0:ok>warn 1:warn>ok 2:ok>warn 14:warn>ok]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf := detector("threshold")
			conf.Sustain, conf.Alert = c.sustain, c.alert
			if got := fmt.Sprint(runSeries(t, conf, thresholdValues(c.in))); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

// TestNonFinite: NaN, ±Inf and huge values between normal ones raise no
// alert storm in any detector, and bounds reports them.
func TestNonFinite(t *testing.T) {
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308, math.MaxFloat64, 5e-324}
	for _, name := range Kinds {
		c := detector(name)
		t.Run(name, func(t *testing.T) {
			s, err := NewSeries(c)
			if err != nil {
				t.Fatal(err)
			}
			raised := 0
			for i := range 20000 {
				v := 20 + math.Sin(float64(i)/10)
				if i > 500 && i%7 == 0 {
					v = bad[i%len(bad)]
				}
				if _, _, tr := s.Step(v, int64(i)*step); tr != nil && tr.From == ops.OK {
					raised++
				}
			}
			if raised > 20000/(c.Alert.Cooldown+1)+1 {
				t.Errorf("%d alerts raised", raised)
			}
			if name == "bounds" && raised == 0 {
				t.Error("bounds raised nothing")
			}
		})
	}
}
