package ops

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// FloatRing is a fixed ring of float64s. In JSON it is the base64 of the
// values' IEEE-754 bits, little-endian: exact, and about 40% of the size
// of a list of decimal numbers, which matters in a checkpoint that holds
// one per series. A JSON list of numbers is read too.
type FloatRing [AnomalyRing]float64

// MarshalJSON encodes r as a base64 string.
func (r FloatRing) MarshalJSON() ([]byte, error) {
	var raw [AnomalyRing * 8]byte
	for i, v := range r {
		binary.LittleEndian.PutUint64(raw[i*8:], math.Float64bits(v))
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(raw[:]))
}

// UnmarshalJSON decodes a base64 string or a list of numbers.
func (r *FloatRing) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '[' {
		return json.Unmarshal(data, (*[AnomalyRing]float64)(r))
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("ring: %w", err)
	}
	if len(raw) != AnomalyRing*8 {
		return fmt.Errorf("ring: %d bytes, want %d", len(raw), AnomalyRing*8)
	}
	for i := range r {
		r[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[i*8:]))
	}
	return nil
}

// AnomalyRing is the number of past values an Anomaly keeps for its
// nearest-neighbour score. The ring and the lag distances are its only
// state besides a few scalars: 2 × 512 float64 (8 KiB) per series, whatever
// the series' length.
const AnomalyRing = 512

// AnomalyState is the checkpointable state of an Anomaly detector. All its
// fields stay finite, so it round-trips through JSON exactly.
type AnomalyState struct {
	N    int64   `json:"n"`
	Mean float64 `json:"mean"`
	Dev  float64 `json:"dev"`
	Long float64 `json:"long"`
	Prev float64 `json:"prev"`
	DDev float64 `json:"ddev"`
	// Typ is the running typical nearest-neighbour distance.
	Typ float64 `json:"typ"`
	// Ring holds the last values, clipped, backwards: value n (from 0) at
	// Ring[AnomalyRing-1-n%AnomalyRing].
	Ring FloatRing `json:"ring"`
	// Lag[l] is the squared distance between the pattern of the last Embed
	// values and the pattern l points earlier.
	Lag FloatRing `json:"lag"`
}

// Anomaly is the detector that works without tuning. It reports the larger
// of two z-scores:
//
//   - a level score: the distance of a value from an exponentially weighted
//     mean, in units of an exponentially weighted mean absolute deviation
//     (a MAD-like robust scale); optionally also the step between points;
//   - a nearest-neighbour score, the idea of KNN-CAD: the last Embed values
//     form a pattern, and the distance to the closest earlier pattern in
//     the last MaxLag points (not overlapping it), relative to the running
//     typical such distance, says how new the pattern is. A shape the
//     series showed before, such as yesterday's ramp, scores low; a shape
//     it never showed scores high.
//
// Values feeding the estimates are clipped to ClipZ scales, so one spike
// does not inflate a scale and hide the next, while a level shift is still
// learnt. The scale never falls below a tenth of its slow long-run value, so
// a quiet stretch does not make every ripple an anomaly. A z-score z maps to
// the score z / (z + Half).
//
// Step costs O(MaxLag) time (about 0.5 µs with the defaults) and no
// allocation: the lag distances are updated in place as the pattern slides,
// and one of them is recomputed exactly per point so rounding cannot build up.
type Anomaly struct {
	Alpha  float64 // weight of a new point in the mean
	Beta   float64 // weight of a new point in the scales
	Warmup int64   // points learnt before any score
	ClipZ  float64
	// Half is the z-score that scores 0.5.
	Half float64
	// LevelW, StepW and KNNW weigh the level, step and nearest-neighbour
	// z-scores before the largest is taken; 0 turns one off.
	LevelW, StepW, KNNW float64
	// Embed is the pattern length and MaxLag the furthest look-back of the
	// nearest-neighbour score; look-backs beyond AnomalyRing−1−Embed are
	// not used, and MaxLag < Embed turns the score off.
	Embed, MaxLag int
	Warn, Crit    float64 // score levels
	State         AnomalyState
}

// DefaultAnomaly returns the Anomaly detector with its defaults, chosen on
// the NAB series (see BENCHMARKS.md): patterns of 16 points compared with
// the last 480, a nearest-neighbour distance three times its typical value
// scores 0.6 (warn), a level z-score of 6 does too.
func DefaultAnomaly() Anomaly {
	return Anomaly{Alpha: 0.02, Beta: 0.01, Warmup: 50, ClipZ: 6, Half: 4,
		LevelW: 1, StepW: 0, KNNW: 2, Embed: 16, MaxLag: 480,
		Warn: 0.6, Crit: 0.75}
}

// Step scores v. Non-finite values are ignored.
func (d *Anomaly) Step(v float64, _ int64) Result {
	if !finite(v) {
		return Result{}
	}
	s := &d.State
	scale, dscale := d.scales()
	dv := v - s.Prev
	knn := d.neighbour(d.clip(v, scale))
	var r Result
	if s.N >= d.Warmup {
		z := math.Max(d.LevelW*math.Abs(v-s.Mean)/scale, d.StepW*math.Abs(dv)/dscale)
		if knn >= 0 {
			z = math.Max(z, d.KNNW*knn/math.Max(s.Typ, 0.01*scale))
		}
		sc := z / (z + d.Half)
		r = Result{Score: clamp01(sc), Level: zLevel(sc, d.Warn, d.Crit)}
	}
	d.learn(v, dv, scale, dscale, knn)
	return r
}

func (d *Anomaly) clip(v, scale float64) float64 {
	s := &d.State
	if s.N > d.Warmup {
		lim := d.ClipZ * scale
		v = s.Mean + math.Max(-lim, math.Min(v-s.Mean, lim))
	}
	const big = 1e150 // squares and their sums stay finite
	return math.Max(-big, math.Min(v, big))
}

// neighbour stores x in the ring, updates the lag distances and returns the
// root mean square distance of the last pattern to its nearest earlier
// pattern that does not overlap it, or −1 if there is none yet.
func (d *Anomaly) neighbour(x float64) float64 {
	s := &d.State
	const R = AnomalyRing
	e, m := d.Embed, min(d.MaxLag, R-1-d.Embed)
	if e < 1 || m < e {
		return -1
	}
	const mask = R - 1
	p := R - 1 - int(s.N%R)
	s.Ring[p] = x
	// The value l points before x is at Ring[(p+l)&mask]. Update lags
	// 1…m in at most three runs in which neither index wraps.
	old := s.Ring[(p+e)&mask]
	best := math.Inf(1)
	for l := 1; l <= m; {
		c, q := (p+l)&mask, (p+e+l)&mask
		n := min(m-l+1, R-c, R-q)
		if l >= e {
			best = math.Min(best, slide(s.Lag[l:l+n], s.Ring[c:c+n], s.Ring[q:q+n], x, old))
		} else {
			n = min(n, e-l)
			slide(s.Lag[l:l+n], s.Ring[c:c+n], s.Ring[q:q+n], x, old)
		}
		l += n
	}
	// Recompute one lag exactly per point: the lag whose earlier pattern
	// just became complete while the ring fills, then each lag in turn, so
	// rounding never accumulates.
	fix := int(s.N) - e + 1
	if fix < 1 || fix > m {
		fix = 1 + int(s.N%int64(m))
	}
	sum := 0.0
	for j := range e {
		a := s.Ring[(p+j)&mask] - s.Ring[(p+j+fix)&mask]
		sum += a * a
	}
	s.Lag[fix] = sum
	hi := min(m, int(s.N)-e+1)
	switch {
	case hi < e:
		return -1
	case hi < m: // the ring is filling: lags past hi hold no distance yet
		best = math.Inf(1)
		for _, v := range s.Lag[e : hi+1] {
			best = math.Min(best, v)
		}
	case fix >= e:
		best = math.Min(best, sum)
	}
	return math.Sqrt(math.Max(best, 0) / float64(e))
}

// slide moves each lag distance one point on: the new pair of values
// (x and cur[i]) enters the sum and the oldest pair (old and prv[i]) leaves.
// It returns the smallest new distance.
func slide(lag, cur, prv []float64, x, old float64) float64 {
	cur, prv = cur[:len(lag)], prv[:len(lag)]
	best := math.Inf(1)
	for i := range lag {
		a, b := x-cur[i], old-prv[i]
		v := lag[i] + a*a - b*b
		lag[i] = v
		if v < best {
			best = v
		}
	}
	return best
}

func (d *Anomaly) scales() (float64, float64) {
	s := &d.State
	floor := 1e-9 * (1 + math.Abs(s.Mean))
	scale := math.Max(1.2533*s.Dev, math.Max(0.1*s.Long, floor))
	return scale, math.Max(1.2533*s.DDev, math.Max(0.05*s.Long, floor))
}

func (d *Anomaly) learn(v, dv, scale, dscale, knn float64) {
	s := &d.State
	s.N++
	if s.N == 1 {
		s.Mean, s.Prev = v, v
		return
	}
	a := math.Max(d.Alpha, 1/float64(s.N))
	b := math.Max(d.Beta, 1/float64(s.N))
	lim, dlim := math.Inf(1), math.Inf(1)
	if s.N > d.Warmup {
		lim, dlim = d.ClipZ*scale, d.ClipZ*dscale
	}
	dev := math.Min(math.Abs(v-s.Mean), lim)
	dv = math.Max(-dlim, math.Min(dv, dlim))
	s.Mean += a * math.Max(-lim, math.Min(v-s.Mean, lim))
	s.Dev += b * (dev - s.Dev)
	s.DDev += b * (math.Abs(dv) - s.DDev)
	s.Long += math.Max(b/20, 1/float64(s.N)) * (s.Dev - s.Long)
	s.Prev = v
	switch {
	case knn < 0:
	case s.Typ == 0: // the first distance, or a constant series so far
		s.Typ = knn
	default:
		s.Typ += b * (math.Min(knn, d.ClipZ*s.Typ) - s.Typ)
	}
	if !finite(s.Mean) || !finite(s.Dev) || !finite(s.DDev) || !finite(s.Long) || !finite(s.Typ) {
		*s = AnomalyState{}
	}
}
