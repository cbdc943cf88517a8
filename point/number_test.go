package point

import (
	"encoding/binary"
	"math"
	"strconv"
	"testing"
)

func TestDecimal(t *testing.T) {
	for _, s := range []string{"0", "7", "12345678", "00000000", "99999999", "123456789",
		"1700000000123456789", "9999999999999999999", "0000000000000000001", "1234567812345678"} {
		want, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := decimal([]byte(s)); got != want {
			t.Errorf("decimal(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestScanFloat(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"21.34", true}, {"-0", true}, {"0.1", true}, {".5", true}, {"5.", true}, {"-.5", true},
		{"123456789012345", true}, {"1234567890123456", true}, {"0.000000000000000000000001", true},
		{"0.30000000000000004", true}, {"9007199254740993", true}, {"1e22", true}, {"1E-05", true},
		{"1e+99", true}, {"1e100", false}, {"1e", false}, {"-", false}, {".", false}, {"1.2.3", false},
		{"0x1p3", false}, {"1_0", false}, {"inf", false}, {"123456789012345678901234567890.5", true},
		{"1234567890123456789012345678901", false},
	}
	for _, tc := range tests {
		got, ok := scanFloat([]byte(tc.in))
		if ok != tc.ok {
			t.Errorf("scanFloat(%q) ok = %v, want %v", tc.in, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		want, err := strconv.ParseFloat(tc.in, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("scanFloat(%q) = %v, ParseFloat %v (%v)", tc.in, got, want, err)
		}
	}
}

// TestDigits8 puts every byte value at every position of a word of
// digits: digits8 must accept exactly the words of eight digits.
func TestDigits8(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			w := []byte("01234567")
			w[pos] = byte(c)
			want := c >= '0' && c <= '9'
			if got := digits8(binary.LittleEndian.Uint64(w)); got != want {
				t.Errorf("digits8(%q) = %v, want %v", w, got, want)
			}
		}
	}
}
