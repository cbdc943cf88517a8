package ops

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// The index mapping and the binary encoding of a percentile sketch. Both
// are those of github.com/DataDog/sketches-go (a logarithmic mapping of
// gamma (1+α)/(1−α) and index offset 0; its flag-tagged encoding), which
// earlier versions used to keep and checkpoint sketches: checkpoints keep
// their bytes across the change, and a sketch indexes every value as it
// did. They are written here so that the library, and the protobuf runtime
// it brings (0.7 MB of code, its registries initialized at every start),
// stay out of the binary; the tests check both against the library.

// logMapping maps a positive value v to the index ⌊log_γ v⌋ and an index
// back to a value within the relative accuracy of every value it holds.
type logMapping struct {
	gamma, multiplier, relAccuracy float64
	minIndexable, maxIndexable     float64
}

const (
	minNormalFloat64 = 0x1p-1022
	// expOverflow is about where math.Exp overflows (the library's bound).
	expOverflow = 7.094361393031e+02
)

func newLogMapping(accuracy float64) logMapping {
	gamma := (1 + accuracy) / (1 - accuracy)
	m := logMapping{gamma: gamma, multiplier: 1 / math.Log(gamma)}
	m.relAccuracy = 1 - 2/(1+gamma)
	// Indexes fit in an int32; math.Exp of the largest value's index does
	// not overflow.
	m.minIndexable = math.Max(math.Exp(math.MinInt32/m.multiplier+1), minNormalFloat64*gamma)
	m.maxIndexable = math.Min(math.Exp(math.MaxInt32/m.multiplier-1), math.Exp(expOverflow)/(2*gamma)*(gamma+1))
	return m
}

// index is the bin of v, v in [minIndexable, maxIndexable].
func (m *logMapping) index(v float64) int {
	i := math.Log(v) * m.multiplier
	if i >= 0 {
		return int(i)
	}
	return int(i) - 1
}

// value is the value a bin stands for: its lower bound times 1+α.
func (m *logMapping) value(index int) float64 {
	return math.Exp(float64(index)/m.multiplier) * (1 + m.relAccuracy)
}

// Flags: the low two bits are the type, the high six a subflag.
const (
	flagTypeFeatures = 0b00
	flagTypePositive = 0b01
	flagTypeMapping  = 0b10
	flagTypeNegative = 0b11

	binsDeltasAndCounts = 1 << 2 // index deltas and counts of non-empty bins
	binsDeltas          = 2 << 2 // index deltas, a count of 1 each
	binsContiguous      = 3 << 2 // first index, index step, one count per bin

	flagZeroCount  = 1<<2 | flagTypeFeatures // a varfloat follows
	flagMappingLog = 0<<2 | flagTypeMapping  // gamma, index offset (float64 LE)
	// Summary statistics the library can append (a float64 LE each):
	// skipped on decoding, as it skips them.
	flagCount = 0x28<<2 | flagTypeFeatures
	flagSum   = 0x21<<2 | flagTypeFeatures
	flagMin   = 0x22<<2 | flagTypeFeatures
	flagMax   = 0x23<<2 | flagTypeFeatures
)

// maxVarLen is the longest varint or varfloat: the ninth byte carries 8
// bits, not 7.
const maxVarLen = 9

func appendUvarint(b []byte, v uint64) []byte {
	for i := 0; i < maxVarLen-1 && v >= 0x80; i++ {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func uvarintSize(v uint64) int {
	n := 1
	for i := 0; i < maxVarLen-1 && v >= 0x80; i++ {
		n++
		v >>= 7
	}
	return n
}

func zigzag(v int64) uint64 { return uint64(v>>63) ^ uint64(v<<1) }

func appendVarint(b []byte, v int64) []byte { return appendUvarint(b, zigzag(v)) }

func varintSize(v int64) int { return uvarintSize(zigzag(v)) }

// varfloatBits is what a varfloat writes of v: the bits of v+1 less those
// of 1, rotated so that the exponent comes last and small integer counts
// take one or two bytes.
func varfloatBits(v float64) uint64 {
	return bits.RotateLeft64(math.Float64bits(v+1)-math.Float64bits(1), 6)
}

// appendVarfloat writes the bits 7 at a time from the top, the high bit of
// each byte saying another follows, until the rest is zero; the ninth byte
// holds 8 bits.
func appendVarfloat(b []byte, v float64) []byte {
	x := varfloatBits(v)
	for i := 0; i < maxVarLen-1; i++ {
		n := byte(x >> 57)
		x <<= 7
		if x == 0 {
			return append(b, n)
		}
		b = append(b, n|0x80)
	}
	return append(b, byte(x>>56))
}

func varfloatSize(v float64) int {
	x := varfloatBits(v)
	for i := 1; i < maxVarLen; i++ {
		if x <<= 7; x == 0 {
			return i
		}
	}
	return maxVarLen
}

// decoder reads an encoded sketch.
type sketchDecoder struct{ b []byte }

func (d *sketchDecoder) byte() (byte, error) {
	if len(d.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c, nil
}

func (d *sketchDecoder) uvarint() (uint64, error) {
	var x uint64
	for i := 0; ; i++ {
		c, err := d.byte()
		if err != nil {
			return 0, err
		}
		if c < 0x80 || i == maxVarLen-1 {
			return x | uint64(c)<<(7*i), nil
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
}

func (d *sketchDecoder) varint() (int64, error) {
	u, err := d.uvarint()
	return int64(u>>1) ^ -int64(u&1), err
}

func (d *sketchDecoder) varfloat() (float64, error) {
	var x uint64
	for i := 0; ; i++ {
		c, err := d.byte()
		if err != nil {
			return 0, err
		}
		if i == maxVarLen-1 {
			x |= uint64(c)
			break
		}
		x |= uint64(c&0x7f) << (57 - 7*i)
		if c < 0x80 {
			break
		}
	}
	return math.Float64frombits(bits.RotateLeft64(x, -6)+math.Float64bits(1)) - 1, nil
}

func (d *sketchDecoder) float64LE() (float64, error) {
	if len(d.b) < 8 {
		return 0, io.ErrUnexpectedEOF
	}
	u := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return math.Float64frombits(u), nil
}

// bins adds the bins of one store, encoded in mode, to s.
func (d *sketchDecoder) bins(s *tightStore, mode byte) error {
	n, err := d.uvarint()
	if err != nil {
		return err
	}
	switch mode {
	case binsDeltasAndCounts, binsDeltas:
		var index int64
		for range n {
			delta, err := d.varint()
			if err != nil {
				return err
			}
			count := 1.0
			if mode == binsDeltasAndCounts {
				if count, err = d.varfloat(); err != nil {
					return err
				}
			}
			index += delta
			s.AddWithCount(int(index), count)
		}
	case binsContiguous:
		index, err := d.varint()
		if err != nil {
			return err
		}
		step, err := d.varint()
		if err != nil {
			return err
		}
		for range n {
			count, err := d.varfloat()
			if err != nil {
				return err
			}
			s.AddWithCount(int(index), count)
			index += step
		}
	default:
		return fmt.Errorf("unknown bin encoding %d", mode>>2)
	}
	return nil
}

var errMappingMismatch = errors.New("index mapping differs from the sketch's")

// decodeSketch reads what encode, or the DDSketch of earlier versions,
// wrote: a zero count, the stores, and, if present, the mapping (which
// must be sketchMapping) and summary statistics (skipped).
func decodeSketch(b []byte) (*sketch, error) {
	s := newSketch()
	neg := newTightStore(sketchMaxBins)
	d := sketchDecoder{b}
	for len(d.b) > 0 {
		flag, _ := d.byte()
		var err error
		switch t := flag & 0b11; {
		case t == flagTypePositive:
			err = d.bins(&s.pos, flag&^0b11)
		case t == flagTypeNegative:
			err = d.bins(neg, flag&^0b11)
		case flag == flagMappingLog:
			var gamma, offset float64
			if gamma, err = d.float64LE(); err == nil {
				offset, err = d.float64LE()
			}
			if err == nil && (!within(gamma, sketchMapping.gamma, 1e-12) || !within(offset, 0, 1e-12)) {
				err = fmt.Errorf("%w: gamma %v, index offset %v", errMappingMismatch, gamma, offset)
			}
		case flag == flagZeroCount:
			var z float64
			z, err = d.varfloat()
			s.zero += z
		case flag == flagCount, flag == flagSum, flag == flagMin, flag == flagMax:
			_, err = d.float64LE()
		default:
			err = fmt.Errorf("unknown flag 0x%02x", flag)
		}
		if err != nil {
			return nil, err
		}
	}
	if !neg.IsEmpty() {
		s.neg = neg
	}
	return s, nil
}

// within reports whether a and b are equal within tol relative to the
// larger magnitude, or both within tol of zero when one is zero (the
// library's test for equal mappings).
func within(a, b, tol float64) bool {
	if a == 0 || b == 0 {
		return math.Abs(a) <= tol && math.Abs(b) <= tol
	}
	return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}
