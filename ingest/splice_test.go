package ingest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
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

// TestAppendPlain holds appendPlain to point.Encoder: where it writes a
// point, the bytes must be the encoder's; where the encoder fails or would
// escape something, appendPlain must decline.
func TestAppendPlain(t *testing.T) {
	f := func(v float64) lineprotocol.Value { x, _ := lineprotocol.FloatValue(v); return x }
	s := func(v string) lineprotocol.Value { x, _ := lineprotocol.StringValue(v); return x }
	tags := func(kv ...string) []point.Tag {
		var ts []point.Tag
		for i := 0; i < len(kv); i += 2 {
			ts = append(ts, point.Tag{Key: kv[i], Value: kv[i+1]})
		}
		return ts
	}
	v := []point.Field{{Key: "v", Value: f(21.5)}}
	tests := []struct {
		name string
		p    point.Point
		want bool // appendPlain writes it
	}{
		{"plain", point.Point{Measurement: "m", Tags: tags("a", "1", "b", "2"), Fields: v, Time: 5}, true},
		{"no time", point.Point{Measurement: "m", Fields: v}, true},
		{"negative time", point.Point{Measurement: "m", Fields: v, Time: -1}, true},
		{"every kind but string", point.Point{Measurement: "m", Fields: []point.Field{{Key: "a", Value: f(1e21)},
			{Key: "b", Value: lineprotocol.IntValue(-7)}, {Key: "c", Value: lineprotocol.UintValue(7)},
			{Key: "d", Value: lineprotocol.BoolValue(true)}, {Key: "e", Value: f(-0.000001)}}}, true},
		{"utf-8", point.Point{Measurement: "m\u00e9", Tags: tags("k\u00e9", "v\u00e9"), Fields: v}, true},
		{"string field", point.Point{Measurement: "m", Fields: []point.Field{{Key: "s", Value: s("x")}}}, false},
		{"tags out of order", point.Point{Measurement: "m", Tags: tags("b", "1", "a", "2"), Fields: v}, false},
		{"tag given twice", point.Point{Measurement: "m", Tags: tags("a", "1", "a", "2"), Fields: v}, false},
		{"no fields", point.Point{Measurement: "m"}, false},
		{"empty measurement", point.Point{Fields: v}, false},
		{"empty tag value", point.Point{Measurement: "m", Tags: tags("a", ""), Fields: v}, false},
		{"space", point.Point{Measurement: "m x", Fields: v}, false},
		{"comma in tag", point.Point{Measurement: "m", Tags: tags("a", "1,2"), Fields: v}, false},
		{"equals in field key", point.Point{Measurement: "m", Fields: []point.Field{{Key: "a=b", Value: f(1)}}}, false},
		{"trailing backslash", point.Point{Measurement: "m", Tags: tags("a", "x\\"), Fields: v}, false},
		{"newline", point.Point{Measurement: "m", Fields: []point.Field{{Key: "a\nb", Value: f(1)}}}, false},
		{"invalid utf-8", point.Point{Measurement: "m\xff", Fields: v}, false},
	}
	for _, tc := range tests {
		prefix := []byte("prefix v=1\n")
		got, ok := appendPlain(prefix[:len(prefix):len(prefix)], &tc.p)
		var enc point.Encoder
		want, err := enc.Append(prefix[:len(prefix):len(prefix)], &tc.p)
		switch {
		case ok != tc.want:
			t.Errorf("%s: appendPlain wrote it: %v, want %v", tc.name, ok, tc.want)
		case ok && (err != nil || string(got) != string(want)):
			t.Errorf("%s: appendPlain %q, encoder %q (%v)", tc.name, got, want, err)
		case !ok && string(got) != string(prefix):
			t.Errorf("%s: declined but appended %q", tc.name, got)
		}
	}
}
