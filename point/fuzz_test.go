package point

import (
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// parsed is what one parse of a fuzz input gave: each point as a line (or
// the encoder's complaint about it) and the error, if any.
type parsed struct {
	lines []string
	err   error
}

func parseWith(parse func([]byte, func(*Point) error) error, data []byte) parsed {
	var out parsed
	out.err = parse(data, func(p *Point) error {
		out.lines = append(out.lines, p.String())
		return nil
	})
	return out
}

// FuzzParse feeds arbitrary bytes to Parse, ParsePrecision and Decoder.
// None may panic; Parse and the borrowing Decoder must agree point for point
// and on success; tags come out sorted; and every point that encodes must
// parse back to itself, so the ingest log never holds a line the engine
// cannot read.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"m v=1", "m,b=2,a=1 f=1,g=\"s\" 5\n", "m\\ x,t\\,k=v\\ 1,u=w\\=2 f\\ 1=2i,g=true\n",
		"\n# comment\nother,a=x,a=y v=3u 7\n", "m v=1 -9223372036854775808", "m v=1 9223372036854775807",
		"m v=\"a\\\"b\\\\\" 1", "m v=1e308,w=-0.0", "m,=x v=1", "m v=1 1 extra", "m v=nan",
	} {
		f.Add([]byte(s), uint8(0))
	}
	precs := []lineprotocol.Precision{lineprotocol.Nanosecond, lineprotocol.Microsecond, lineprotocol.Millisecond, lineprotocol.Second}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		want := parseWith(Parse, data)
		var d Decoder
		got := parseWith(d.Parse, append([]byte(nil), data...))
		if (want.err == nil) != (got.err == nil) || len(want.lines) != len(got.lines) {
			t.Fatalf("Parse: %d points, %v; Decoder: %d points, %v", len(want.lines), want.err, len(got.lines), got.err)
		}
		for i := range want.lines {
			if want.lines[i] != got.lines[i] {
				t.Fatalf("point %d: Parse %q, Decoder %q", i, want.lines[i], got.lines[i])
			}
		}
		_ = ParsePrecision(data, precs[int(which)%len(precs)], func(p *Point) error {
			checkRoundTrip(t, p)
			return nil
		})
	})
}

// checkRoundTrip checks that p's tags are sorted and that, when p encodes,
// its line parses back to the same line.
func checkRoundTrip(t *testing.T, p *Point) {
	t.Helper()
	for i := 1; i < len(p.Tags); i++ {
		if p.Tags[i-1].Key > p.Tags[i].Key {
			t.Fatalf("tags not sorted: %+v", p.Tags)
		}
	}
	line, err := AppendLine(nil, p)
	if err != nil {
		return
	}
	n := 0
	err = Parse(line, func(q *Point) error {
		n++
		if again, err := AppendLine(nil, q); err != nil || string(again) != string(line) {
			t.Fatalf("%q parses back as %q (%v)", line, again, err)
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("%q: %d points, %v; want 1", line, n, err)
	}
}
