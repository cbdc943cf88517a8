package point

import (
	"encoding/binary"
	"math"
	"strconv"
	"unsafe"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// Parse returns the value of a field scanned by a Scanner, whose values
// always parse; ok is false only for a RawField made some other way.
func (f *RawField) Parse() (v lineprotocol.Value, ok bool) {
	switch f.Kind {
	case lineprotocol.Float:
		return lineprotocol.FloatValue(math.Float64frombits(f.num))
	case lineprotocol.Int:
		return lineprotocol.IntValue(int64(f.num)), true
	case lineprotocol.Uint:
		return lineprotocol.UintValue(f.num), true
	case lineprotocol.Bool:
		return lineprotocol.BoolValue(f.num != 0), true
	case lineprotocol.String:
		v, err := lineprotocol.NewValueFromBytes(lineprotocol.String, f.Value)
		return v, err == nil
	}
	return lineprotocol.Value{}, false
}

// scanFloat parses v if it is [-]digits[.digits][(e|E)[+-]d[d]] with at
// least one mantissa digit and at most 30 integer digits, which
// strconv.ParseFloat reads without error and never as an infinity. The
// result is ParseFloat's: mantissas of at most 15 significant digits
// with at most 22 fraction digits and no exponent take one correctly
// rounded division of exact operands, the rest ParseFloat itself.
func scanFloat(v []byte) (float64, bool) {
	i, neg := 0, false
	if v[0] == '-' {
		i, neg = 1, true
	}
	var mant uint64
	sig, intDigits, fracDigits := 0, 0, 0
	for ; i < len(v) && v[i]-'0' < 10; i++ {
		if sig > 0 || v[i] != '0' {
			if sig < 19 {
				mant = mant*10 + uint64(v[i]-'0')
			}
			sig++
		}
		intDigits++
	}
	if intDigits > 30 {
		return 0, false
	}
	if i < len(v) && v[i] == '.' {
		for i++; i < len(v) && v[i]-'0' < 10; i++ {
			if sig > 0 || v[i] != '0' {
				if sig < 19 {
					mant = mant*10 + uint64(v[i]-'0')
				}
				sig++
			}
			fracDigits++
		}
	}
	if intDigits+fracDigits == 0 {
		return 0, false
	}
	exp := false
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		exp = true
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		e := i
		for ; i < len(v) && v[i]-'0' < 10; i++ {
		}
		if i == e || i-e > 2 {
			return 0, false
		}
	}
	if i != len(v) {
		return 0, false
	}
	if exp || sig > 15 || fracDigits >= len(pow10) {
		x, err := strconv.ParseFloat(unsafeString(v), 64)
		return x, err == nil
	}
	x := float64(mant) / pow10[fracDigits]
	if neg {
		x = -x
	}
	return x, true
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// digits parses a non-empty run of at most 19 decimal digits.
func digits(b []byte) (uint64, bool) {
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	return u, len(b) > 0
}

// decimal returns the value of at most 19 decimal digits, eight at a time.
func decimal(b []byte) uint64 {
	var u uint64
	for len(b) >= 8 {
		// Each step adds neighbouring lanes: digit pairs, then groups of
		// four, then eight; no lane ever exceeds its width.
		x := binary.LittleEndian.Uint64(b) - 0x3030303030303030
		x = (x*10 + x>>8) & 0x00ff00ff00ff00ff
		x = (x*100 + x>>16) & 0x0000ffff0000ffff
		x = (x*10000 + x>>32) & 0xffffffff
		u = u*1e8 + x
		b = b[8:]
	}
	for _, c := range b {
		u = u*10 + uint64(c-'0')
	}
	return u
}
