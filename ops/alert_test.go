package ops

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
)

// levels parses a compact level string: '.' ok, 'w' warn, 'c' crit.
func levels(s string) []Level {
	out := make([]Level, len(s))
	for i, r := range s {
		out[i] = map[rune]Level{'.': OK, 'w': Warn, 'c': Crit}[r]
	}
	return out
}

// transitions runs a over in and renders each transition as "i:from>to".
func transitions(a *Alert, in []Level, from int) []string {
	var out []string
	for i, l := range in {
		if tr := a.Step(l, int64(from+i)); tr != nil {
			out = append(out, fmt.Sprintf("%d:%v>%v", tr.T, tr.From, tr.To))
		}
	}
	return out
}

func TestAlert(t *testing.T) {
	cases := []struct {
		name string
		cfg  AlertConfig
		in   string
		want string
	}{
		{"state changes only", AlertConfig{}, "..wwwcc.", "[2:ok>warn 5:warn>crit 7:crit>ok]"},
		{"min duration", AlertConfig{MinPoints: 3}, ".ww..www.cc...", "[7:ok>warn 13:warn>ok]"},
		{"min duration escalates", AlertConfig{MinPoints: 2}, "wwcc....", "[1:ok>warn 3:warn>crit 5:crit>ok]"},
		{"cooldown", AlertConfig{Cooldown: 3}, "w.w.w.....w", "[0:ok>warn 1:warn>ok 10:ok>warn]"},
		{"flapping held", AlertConfig{FlapLimit: 2, FlapWindow: 10}, "w.w.w.w.w...........", "[0:ok>warn 1:warn>ok 2:ok>warn 18:warn>ok]"},
		{"no flapping", AlertConfig{}, "w.w.", "[0:ok>warn 1:warn>ok 2:ok>warn 3:warn>ok]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := &Alert{Config: c.cfg}
			if got := fmt.Sprint(transitions(a, levels(c.in), 0)); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

// TestAlertRestore stops in the middle of an alert, restores the state from
// JSON and checks that no transition is repeated or lost.
func TestAlertRestore(t *testing.T) {
	in := levels("..wwwccc..ww.w.w.w..cc.....ww")
	cfg := AlertConfig{MinPoints: 2, Cooldown: 2, FlapLimit: 2, FlapWindow: 4}
	want := fmt.Sprint(transitions(&Alert{Config: cfg}, in, 0))
	for cut := range in {
		a := &Alert{Config: cfg}
		got := transitions(a, in[:cut], 0)
		js, err := json.Marshal(a.State)
		if err != nil {
			t.Fatal(err)
		}
		b := &Alert{Config: cfg}
		if err := json.Unmarshal(js, &b.State); err != nil {
			t.Fatal(err)
		}
		got = append(got, transitions(b, in[cut:], cut)...)
		if fmt.Sprint(got) != want {
			t.Fatalf("cut at %d: %v, want %s", cut, got, want)
		}
	}
}

// TestNoStorm feeds a series full of NaN, ±Inf and huge values to the
// default detector and alert: they must not raise more than a few alerts.
func TestNoStorm(t *testing.T) {
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308, math.MaxFloat64, 5e-324}
	d := DefaultAnomaly()
	a := &Alert{Config: DefaultAlertConfig()}
	raised := 0
	for i := range 10000 {
		v := 10 + math.Sin(float64(i)/10)
		if i > 500 && i%7 == 0 {
			v = bad[i%len(bad)]
		}
		if tr := a.Step(d.Step(v, int64(i)).Level, int64(i)); tr != nil && tr.From == OK {
			raised++
		}
	}
	if raised > 10 {
		t.Errorf("%d alerts raised", raised)
	}
}
