package point

import (
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// TestAppendPlain holds appendPlain to the line-protocol encoder
// (encodeLine): where it writes a point, the bytes must be the encoder's;
// where the encoder fails or would escape a name, appendPlain must
// decline.
func TestAppendPlain(t *testing.T) {
	f := func(v float64) lineprotocol.Value { x, _ := lineprotocol.FloatValue(v); return x }
	s := func(v string) lineprotocol.Value { x, _ := lineprotocol.StringValue(v); return x }
	tags := func(kv ...string) []Tag {
		var ts []Tag
		for i := 0; i < len(kv); i += 2 {
			ts = append(ts, Tag{Key: kv[i], Value: kv[i+1]})
		}
		return ts
	}
	v := []Field{{Key: "v", Value: f(21.5)}}
	tests := []struct {
		name string
		p    Point
		want bool // appendPlain writes it
	}{
		{"plain", Point{Measurement: "m", Tags: tags("a", "1", "b", "2"), Fields: v, Time: 5}, true},
		{"no time", Point{Measurement: "m", Fields: v}, true},
		{"negative time", Point{Measurement: "m", Fields: v, Time: -1}, true},
		{"every kind but string", Point{Measurement: "m", Fields: []Field{{Key: "a", Value: f(1e21)},
			{Key: "b", Value: lineprotocol.IntValue(-7)}, {Key: "c", Value: lineprotocol.UintValue(7)},
			{Key: "d", Value: lineprotocol.BoolValue(true)}, {Key: "e", Value: f(-0.000001)}}}, true},
		{"utf-8", Point{Measurement: "m\u00e9", Tags: tags("k\u00e9", "v\u00e9"), Fields: v}, true},
		{"string field", Point{Measurement: "m", Fields: []Field{{Key: "s", Value: s("x")}}}, true},
		{"string field with escapes", Point{Measurement: "m", Fields: []Field{{Key: "s", Value: s("a\"b\\c\nd\te, =")}}}, true},
		{"tags out of order", Point{Measurement: "m", Tags: tags("b", "1", "a", "2"), Fields: v}, false},
		{"tag given twice", Point{Measurement: "m", Tags: tags("a", "1", "a", "2"), Fields: v}, false},
		{"no fields", Point{Measurement: "m"}, false},
		{"empty measurement", Point{Fields: v}, false},
		{"empty tag value", Point{Measurement: "m", Tags: tags("a", ""), Fields: v}, false},
		{"space", Point{Measurement: "m x", Fields: v}, false},
		{"comma in tag", Point{Measurement: "m", Tags: tags("a", "1,2"), Fields: v}, false},
		{"equals in field key", Point{Measurement: "m", Fields: []Field{{Key: "a=b", Value: f(1)}}}, false},
		{"trailing backslash", Point{Measurement: "m", Tags: tags("a", "x\\"), Fields: v}, false},
		{"newline", Point{Measurement: "m", Fields: []Field{{Key: "a\nb", Value: f(1)}}}, false},
		{"invalid utf-8", Point{Measurement: "m\xff", Fields: v}, false},
	}
	for _, tc := range tests {
		prefix := []byte("prefix v=1\n")
		got, ok := appendPlain(prefix[:len(prefix):len(prefix)], &tc.p)
		var enc lineprotocol.Encoder
		want, err := encodeLine(&enc, prefix[:len(prefix):len(prefix)], &tc.p)
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

// FuzzAppendPlain holds appendPlain to encodeLine for points made of
// random names and values.
func FuzzAppendPlain(f *testing.F) {
	f.Add("m", "a", "1", "b", "2", "v", "x", 21.5, int64(5))
	f.Add("m x", "a,", "=", "", "2\\", "v=", "a\"b\n", -0.0, int64(0))
	f.Fuzz(func(t *testing.T, meas, k1, v1, k2, v2, fk, sv string, fv float64, ts int64) {
		p := Point{Measurement: meas, Tags: []Tag{{k1, v1}, {k2, v2}}, Time: ts}
		if x, ok := lineprotocol.FloatValue(fv); ok {
			p.Fields = append(p.Fields, Field{Key: fk, Value: x})
		}
		if x, ok := lineprotocol.StringValue(sv); ok {
			p.Fields = append(p.Fields, Field{Key: fk + "s", Value: x})
		}
		var enc lineprotocol.Encoder
		want, err := encodeLine(&enc, nil, &p)
		got, ok := appendPlain(nil, &p)
		if ok && (err != nil || string(got) != string(want)) {
			t.Fatalf("%+v: appendPlain %q, encoder %q (%v)", p, got, want, err)
		}
	})
}
