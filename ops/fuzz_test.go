package ops

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzDetectors feeds arbitrary float64 series (8 bytes each, little
// endian) to every detector and an alert: no panic, scores in [0, 1], state
// finite, and no more alerts than the cooldown lets through.
func FuzzDetectors(f *testing.F) {
	f.Add(floats(1, 2, 3, math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds := []Detector{anomaly(), ewma(), threshold(), rate(), stuck(), bounds()}
		cfg := DefaultAlertConfig()
		alerts := make([]Alert, len(ds))
		raised := make([]int, len(ds))
		for i := 0; i+8 <= len(b); i += 8 {
			v := math.Float64frombits(binary.LittleEndian.Uint64(b[i:]))
			for k, d := range ds {
				r := d.Step(v, int64(i)*1e9)
				if !(r.Score >= 0 && r.Score <= 1) || r.Level > Crit {
					t.Fatalf("%T: result %+v for %v", d, r, v)
				}
				alerts[k].Config = cfg
				if tr := alerts[k].Step(r.Level, int64(i)); tr != nil && tr.From == OK {
					raised[k]++
				}
			}
		}
		points := len(b) / 8
		for k, n := range raised {
			if n > points/(cfg.Cooldown+1)+1 {
				t.Errorf("%T: %d alerts in %d points", ds[k], n, points)
			}
		}
		st := ds[0].(*Anomaly).State
		for _, x := range []float64{st.Mean, st.Dev, st.DDev, st.Long, st.Prev} {
			if !finite(x) {
				t.Fatalf("anomaly state not finite: %+v", st)
			}
		}
	})
}

func floats(vs ...float64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}
