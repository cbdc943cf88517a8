package point

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// refParse is a copy of ParsePrecision as it was before the Scanner: every
// line goes through lineprotocol.Decoder. The differential tests hold the
// fast parser to it.
func refParse(data []byte, prec lineprotocol.Precision, fn func(p *Point) error) error {
	dec := lineprotocol.NewDecoderWithBytes(data)
	var p Point
	for line := 1; dec.Next(); line++ {
		if err := refDecodeLine(dec, prec, &p); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if err := fn(&p); err != nil {
			return err
		}
	}
	return nil
}

func refDecodeLine(dec *lineprotocol.Decoder, prec lineprotocol.Precision, p *Point) error {
	m, err := dec.Measurement()
	if err != nil {
		return err
	}
	p.Measurement = string(m)
	p.Tags, p.Fields, p.Time = p.Tags[:0], p.Fields[:0], 0
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return err
		}
		if k == nil {
			break
		}
		p.Tags = append(p.Tags, Tag{Key: string(k), Value: string(v)})
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return err
		}
		if k == nil {
			break
		}
		p.Fields = append(p.Fields, Field{Key: string(k), Value: v})
	}
	if len(p.Fields) == 0 {
		return ErrNoFields
	}
	ts, err := dec.TimeBytes()
	if err != nil {
		return err
	}
	if ts != nil {
		n, err := strconv.ParseInt(string(ts), 10, 64)
		if err != nil {
			return fmt.Errorf("invalid timestamp %q: %w", ts, err)
		}
		mul := int64(prec.Duration())
		if n > math.MaxInt64/mul || n < math.MinInt64/mul {
			return fmt.Errorf("timestamp %q out of range", ts)
		}
		p.Time = n * mul
	}
	p.SortTags()
	return nil
}

// dump renders every detail of p, float bits and value kinds included.
func dump(p *Point) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q", p.Measurement)
	for _, t := range p.Tags {
		fmt.Fprintf(&b, " t%q=%q", t.Key, t.Value)
	}
	for _, f := range p.Fields {
		v := f.Value
		if v.Kind() == lineprotocol.Float {
			fmt.Fprintf(&b, " f%q=%x", f.Key, math.Float64bits(v.FloatV()))
		} else {
			fmt.Fprintf(&b, " f%q=%v:%#v", f.Key, v.Kind(), v.Interface())
		}
	}
	fmt.Fprintf(&b, " @%d", p.Time)
	return b.String()
}

// outcome is everything a parse shows its caller.
type outcome struct {
	points []string
	err    string
	line   int64 // of a *lineprotocol.DecodeError
	column int
}

func outcomeOf(parse func(func(*Point) error) error) outcome {
	var o outcome
	err := parse(func(p *Point) error {
		o.points = append(o.points, dump(p))
		return nil
	})
	if err != nil {
		o.err = err.Error()
		var se *lineprotocol.DecodeError
		if errors.As(err, &se) {
			o.line, o.column = se.Line, se.Column
		}
	}
	return o
}

func diffOutcomes(t *testing.T, name string, want, got outcome) {
	t.Helper()
	if want.err != got.err || want.line != got.line || want.column != got.column {
		t.Fatalf("%s: error %q (%d:%d), reference %q (%d:%d)", name, got.err, got.line, got.column, want.err, want.line, want.column)
	}
	if len(want.points) != len(got.points) {
		t.Fatalf("%s: %d points, reference %d:\n%s\nreference:\n%s", name, len(got.points), len(want.points),
			strings.Join(got.points, "\n"), strings.Join(want.points, "\n"))
	}
	for i := range want.points {
		if want.points[i] != got.points[i] {
			t.Fatalf("%s: point %d:\n%s\nreference:\n%s", name, i, got.points[i], want.points[i])
		}
	}
}

var precisions = []lineprotocol.Precision{lineprotocol.Nanosecond, lineprotocol.Microsecond, lineprotocol.Millisecond, lineprotocol.Second}

// checkAgainstReference parses data with ParsePrecision and, for
// nanoseconds, Decoder.Parse, and compares both with refParse.
func checkAgainstReference(t *testing.T, data []byte, prec lineprotocol.Precision) {
	t.Helper()
	want := outcomeOf(func(fn func(*Point) error) error { return refParse(data, prec, fn) })
	got := outcomeOf(func(fn func(*Point) error) error { return ParsePrecision(data, prec, fn) })
	diffOutcomes(t, "ParsePrecision", want, got)
	if prec != lineprotocol.Nanosecond {
		return
	}
	var d Decoder
	for range 2 { // the Decoder is reused
		got = outcomeOf(func(fn func(*Point) error) error { return d.Parse(append([]byte(nil), data...), fn) })
		diffOutcomes(t, "Decoder", want, got)
	}
}

// TestScannerMatchesReference runs hand-picked lines, accepted and
// refused, near every edge of the Scanner's subset.
func TestScannerMatchesReference(t *testing.T) {
	tests := []struct{ name, in string }{
		{"simple", "m,a=1,b=2 v=1.5,w=2i,x=3u,y=true,z=\"s\" 1700000000000000000\n"},
		{"stored", "temperature,device=dev-42,sensor=s3,zone=zone-2 value=21.34 1700000000123456789\n"},
		{"no time", "m v=1\nm v=2\n"},
		{"no final newline", "m v=1 5"},
		{"unsorted dup tags", "m,b=2,a=1,b=3 v=1 5\n"},
		{"blank and comments", "\n  \n# c\n  m v=1\n#x\n\nm v=2 -5\n   "},
		{"crlf", "m v=1 5\r\nm v=2\r\n"},
		{"comment crlf", "# c\r\nm v=1\n"},
		{"lone cr", "m v=1\r m v=2\n"},
		{"escapes", "m\\ x,t\\,k=v\\ 1,u=w\\=2 f\\ 1=2i,g=true 7\nm v=3\n"},
		{"escape after fast line", "a v=1\nb v=\"x\\\"y\" 2\n"},
		{"string with newline", "m s=\"a\nb\" 1\nm v=bad\n"},
		{"error later", "m v=1\n\nm v=1 x\n"},
		{"error line 3", "m v=1\nm v=2\nm,a v=1\n"},
		{"bad value", "m v=1\nm v=1.2.3\n"},
		{"int overflow", "m v=9223372036854775808i\n"},
		{"int max", "m v=9223372036854775807i,w=-9223372036854775808i\n"},
		{"18 digits", "m v=999999999999999999i,w=-999999999999999999i\n"},
		{"uint", "m v=18446744073709551615u,w=18446744073709551616u\n"},
		{"leading zeros", "m v=007i,w=0010u,x=000.5 0005\n"},
		{"floats", "m a=0,b=-0,c=.5,d=5.,e=-.5,f=1e3,g=1E-3,h=1.5e+10,i=0.000001,j=123456789012345678\n"},
		{"float edges", "m a=1e308,b=1e309\n"},
		{"float inf", "m a=-inf\n"},
		{"float hex", "m a=0x1p3\n"},
		{"float underscore", "m a=1_0\n"},
		{"many digits", "m a=0.1234567890123456789,b=1234567890.12345678901234567890\n"},
		{"bools", "m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE\n"},
		{"bad bool", "m a=tru\n"},
		{"time extremes", "m v=1 9223372036854775807\nm v=1 -9223372036854775808\n"},
		{"time overflow", "m v=1 9223372036854775808\n"},
		{"time precision range", "m v=1 9223372036854\n"},
		{"time zero", "m v=1 0\nm v=1 -0\n"},
		{"time junk", "m v=1 1-2\n"},
		{"trailing spaces", "m v=1   \nm v=2 3   \nm v=4  5\n"},
		{"text after time", "m v=1 2 3\n"},
		{"no fields", "m\n"},
		{"tags only", "m,a=1\n"},
		{"empty tag value", "m,a= v=1\n"},
		{"empty field", "m v=\n"},
		{"trailing comma", "m v=1,\n"},
		{"tab", "m\tv=1\n"},
		{"measurement chars", "m=\"#x v=1\n"},
		{"utf8", "m\u00e9,t\u00e9=v\u00e9 f\u00e9=\"\u00e9\" 1\n"},
		{"bad utf8 meas", "m\xff v=1\n"},
		{"bad utf8 string", "m v=\"\xff\"\n"},
		{"bad utf8 comment", "#\xff\nm v=1\n"},
		{"string junk after", "m v=\"a\"x\n"},
		{"string unterminated", "m v=\"a\n"},
		{"empty string", "m v=\"\"\n"},
		{"nul", "m v=1\x00\n"},
		{"only comment", "# just this"},
		{"empty", ""},
		{"space after comma", "m, a=1 v=1\n"},
		{"same first byte unsorted", "m,ab=1,aa=2 v=1\nm,a=1,a=2 v=1\nm,aa=1,a=2 v=1\n"},
		{"timestamps eight at a time", "m v=1 12345678\nm v=1 123456789012345678\nm v=1 -1234567890123456789\nm v=1 09999999999999999999\n"},
		{"many tags", "m,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10 v=1,w=2,x=3,y=4,z=5,aa=6,ab=7,ac=8,ad=9 1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, prec := range precisions {
				checkAgainstReference(t, []byte(tc.in), prec)
			}
		})
	}
}

// FuzzParseReference holds ParsePrecision and Decoder.Parse to the
// lineprotocol-based reference for arbitrary input and precisions.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"m v=1", "m,b=2,a=1 f=1,g=\"s\" 5\n", "m\\ x,t\\,k=v\\ 1 f=2i,g=true\nm v=1 2\n",
		"\n# comment\nother,a=x,a=y v=3u 7\n", "m v=1 -9223372036854775808", "m v=1 9223372036854775807",
		"m v=\"a\\\"b\\\\\" 1", "m v=1e308,w=-0.0", "m,=x v=1", "m v=1 1 extra", "m v=nan",
		"temperature,device=dev-42,sensor=s3,zone=zone-2 value=21.34 1700000000123456789\n",
		"m v=0.000001,w=123456.5,x=1e3 1\r\nm v=2\n", "m v=1\nm v=1.2.3\n",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		checkAgainstReference(t, data, precisions[int(which)%len(precisions)])
		checkAgainstReference(t, data, lineprotocol.Nanosecond)
	})
}
