package ops

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Distinct counting: values are hashed to 64 bits (hashFloat, hashString;
// fixed and seedless, so the same in every process) and the hashes are
// kept exactly, as a sorted set, up to distinctExact of them: the count is
// exact (floats hash bijectively; two strings share a hash with
// probability ~2⁻⁶⁴). The next new hash turns the set into a HyperLogLog
// of 2^hllP one-byte registers (4 KiB), whose estimate (Ertl's improved
// estimator, no empirical bias tables) has a standard error of
// 1.04/√4096 ≈ 1.6%. Both forms merge without loss: the union of sets,
// the register-wise maximum of sketches.
const (
	distinctExact = 1024
	hllP          = 12
	hllM          = 1 << hllP
	hllQ          = 64 - hllP // bits left for the rank
)

// distinct is a distinct-value counter; the zero value is empty.
type distinct struct {
	set  []uint64 // sorted; nil once regs is in use
	regs []uint8  // HyperLogLog registers, nil while exact
}

// add adds one hashed value. It allocates only when the exact set grows or
// turns into a HyperLogLog.
func (d *distinct) add(h uint64) {
	if d.regs != nil {
		d.addHLL(h)
		return
	}
	i, found := slices.BinarySearch(d.set, h)
	if found {
		return
	}
	if len(d.set) >= distinctExact {
		d.toHLL()
		d.addHLL(h)
		return
	}
	d.set = slices.Insert(d.set, i, h)
}

// toHLL turns the exact set into registers.
func (d *distinct) toHLL() {
	d.regs = make([]uint8, hllM)
	for _, h := range d.set {
		d.addHLL(h)
	}
	d.set = nil
}

// addHLL records h: the first hllP bits pick the register, which keeps
// the largest rank (leading zeros + 1) of the other hllQ bits seen.
func (d *distinct) addHLL(h uint64) {
	r := uint8(bits.LeadingZeros64(h<<hllP|1<<(hllP-1))) + 1
	if i := h >> hllQ; r > d.regs[i] {
		d.regs[i] = r
	}
}

// count returns the number of distinct values: exact or estimated.
func (d *distinct) count() int64 {
	if d.regs == nil {
		return int64(len(d.set))
	}
	var c [hllQ + 2]int
	for _, r := range d.regs {
		c[r]++
	}
	const m = float64(hllM)
	z := m * hllTau(1-float64(c[hllQ+1])/m)
	for k := hllQ; k >= 1; k-- {
		z = 0.5 * (z + float64(c[k]))
	}
	z += m * hllSigma(float64(c[0])/m)
	return int64(math.Round(m * m / (2 * math.Ln2) / z))
}

// hllSigma and hllTau are the series of Ertl's estimator ("New cardinality
// estimation algorithms for HyperLogLog sketches", 2017), summed until
// they stop changing.
func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == prev {
			return z / 3
		}
	}
}

// merge folds o into d; o is unchanged.
func (d *distinct) merge(o *distinct) {
	if d.regs == nil && o.regs == nil {
		d.mergeSet(o.set)
		if len(d.set) > distinctExact {
			d.toHLL()
		}
		return
	}
	if d.regs == nil {
		d.toHLL()
	}
	if o.regs == nil {
		for _, h := range o.set {
			d.addHLL(h)
		}
		return
	}
	for i, r := range o.regs {
		d.regs[i] = max(d.regs[i], r)
	}
}

// mergeSet makes d.set the union of d.set and sorted o, in place from the
// back: it allocates only when d.set must grow.
func (d *distinct) mergeSet(o []uint64) {
	added := 0
	for i, j := 0, 0; j < len(o); {
		switch {
		case i < len(d.set) && d.set[i] < o[j]:
			i++
		case i < len(d.set) && d.set[i] == o[j]:
			i, j = i+1, j+1
		default:
			added, j = added+1, j+1
		}
	}
	if added == 0 {
		return
	}
	n := len(d.set)
	d.set = slices.Grow(d.set, added)[:n+added]
	i, j := n-1, len(o)-1
	for k := n + added - 1; j >= 0; k-- {
		switch {
		case i >= 0 && d.set[i] > o[j]:
			d.set[k] = d.set[i]
			i--
		case i >= 0 && d.set[i] == o[j]:
			d.set[k] = d.set[i]
			i, j = i-1, j-1
		default:
			d.set[k] = o[j]
			j--
		}
	}
}

// clone returns a deep copy of d (nil for nil).
func (d *distinct) clone() *distinct {
	if d == nil {
		return nil
	}
	return &distinct{set: slices.Clone(d.set), regs: slices.Clone(d.regs)}
}

// distinctJSON is distinct's JSON form: the sorted hashes, or the
// registers in base64.
type distinctJSON struct {
	Set []uint64 `json:"set,omitempty"`
	HLL []byte   `json:"hll,omitempty"`
}

// MarshalJSON writes d.
func (d *distinct) MarshalJSON() ([]byte, error) {
	return json.Marshal(distinctJSON{Set: d.set, HLL: d.regs})
}

// UnmarshalJSON reads what MarshalJSON wrote, checking its invariants.
func (d *distinct) UnmarshalJSON(b []byte) error {
	var j distinctJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("distinct state: %w", err)
	}
	switch {
	case j.HLL != nil && len(j.HLL) != hllM:
		return fmt.Errorf("distinct state: %d registers, want %d", len(j.HLL), hllM)
	case j.HLL != nil && len(j.Set) > 0:
		return fmt.Errorf("distinct state: both a set and registers")
	case len(j.Set) > distinctExact:
		return fmt.Errorf("distinct state: %d values in the exact set, at most %d", len(j.Set), distinctExact)
	}
	for i := 1; i < len(j.Set); i++ {
		if j.Set[i] <= j.Set[i-1] {
			return fmt.Errorf("distinct state: the set is not sorted")
		}
	}
	for _, r := range j.HLL {
		if r > hllQ+1 {
			return fmt.Errorf("distinct state: register value %d out of range", r)
		}
	}
	*d = distinct{set: j.Set, regs: j.HLL}
	return nil
}

// mix64 is MurmurHash3's 64-bit finalizer: a bijection that spreads every
// input bit over the output, as HyperLogLog needs.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// hashFloat hashes a value of a numeric field; 0 and −0 are one value.
func hashFloat(v float64) uint64 {
	if v == 0 {
		v = 0
	}
	return mix64(math.Float64bits(v))
}

// hashString hashes a tag value: FNV-1a 64, then mix64.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}
