package ingest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestCanonicalFloat checks canonicalFloat against its definition: a
// number it accepts must come back unchanged from ParseFloat and
// FormatFloat(x, 'g', -1, 64), which is how the encoder writes floats.
func TestCanonicalFloat(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"21.34", true}, {"0", true}, {"-0", false}, {"0.5", true}, {"-0.5", true}, {"21.30", false},
		{"21.", false}, {".5", false}, {"007", false}, {"100000", true}, {"999999.5", true}, {"1000000", false},
		{"0.0001", true}, {"0.00001", false}, {"1e3", false}, {"123456789.5", false},
		{"0.123456789012345", true}, {"0.1234567890123456", false},
	}
	for _, tc := range tests {
		if got := canonicalFloat([]byte(tc.in)); got != tc.want {
			t.Errorf("canonicalFloat(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for range 200000 {
		var s string
		switch rng.IntN(3) {
		case 0: // fixed decimals like sensors send
			s = strconv.FormatFloat(rng.NormFloat64()*math10(rng.IntN(8)), 'f', rng.IntN(8), 64)
		case 1: // shortest forms, some with exponents
			s = strconv.FormatFloat(rng.NormFloat64()*math10(rng.IntN(14)-6), 'g', -1, 64)
		default: // random digit strings
			s = fmt.Sprintf("%d.%0*d", rng.IntN(2000000)-1000000, rng.IntN(6)+1, rng.IntN(100000))
		}
		if !canonicalFloat([]byte(s)) {
			continue
		}
		accepted++
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || strconv.FormatFloat(x, 'g', -1, 64) != s {
			t.Fatalf("canonicalFloat accepts %q, which writes as %q (%v)", s, strconv.FormatFloat(x, 'g', -1, 64), err)
		}
	}
	if accepted < 10000 {
		t.Fatalf("only %d numbers accepted: the test no longer exercises canonicalFloat", accepted)
	}
}

func math10(e int) float64 {
	x := 1.0
	for ; e > 0; e-- {
		x *= 10
	}
	for ; e < 0; e++ {
		x /= 10
	}
	return x
}
