package point

import (
	"fmt"
	"strings"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// benchLines returns n lines of line protocol over 10 series.
func benchLines(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "temperature,device=d%05d,zone=z%d value=%d.5,humidity=4%d.25 %d\n",
			i%10, i%7, 20+i%5, i%10, 1_700_000_000_000_000_000+int64(i)*1e9)
	}
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1, 1000} {
		data := benchLines(n)
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := Parse(data, func(*Point) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

func BenchmarkDecoderParse(b *testing.B) {
	for _, n := range []int{1, 1000} {
		data := benchLines(n)
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			var d Decoder
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := d.Parse(data, func(*Point) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

func BenchmarkEncoderAppend(b *testing.B) {
	s, _ := lineprotocol.StringValue("ok")
	tests := []struct {
		name string
		p    Point
	}{
		{"float", Point{Measurement: "temperature", Tags: []Tag{{"device", "d00001"}, {"zone", "z1"}},
			Fields: []Field{{"value", lineprotocol.MustNewValue(21.5)}}, Time: 1_700_000_000_000_000_000}},
		{"aggregates", Point{Measurement: "t1m", Tags: []Tag{{"device", "d00001"}, {"site", "s1"}, {"zone", "z1"}},
			Fields: []Field{{"value_count", lineprotocol.MustNewValue(int64(60))}, {"value_mean", lineprotocol.MustNewValue(21.5)},
				{"value_min", lineprotocol.MustNewValue(20.25)}, {"value_max", lineprotocol.MustNewValue(23.75)}, {"status", s}},
			Time: 1_700_000_000_000_000_000}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			var enc Encoder
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = enc.Append(buf[:0], &tt.p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// storedLines returns the lines ingest stores for one harness message of n
// influx points: topic tags spliced in, 19-digit timestamps.
func storedLines(n int) []byte {
	var b strings.Builder
	for k := range n {
		fmt.Fprintf(&b, "temperature,device=dev-42,sensor=s%d,zone=zone-2 value=2%d.%02d 1700000000123456789\n", k, k%10, k%97)
	}
	return []byte(b.String())
}

// BenchmarkDecoderParseStored measures Decoder.Parse on log entries as the
// engine reads them.
func BenchmarkDecoderParseStored(b *testing.B) {
	for _, n := range []int{10, 100} {
		data := storedLines(n)
		b.Run(fmt.Sprintf("points=%d", n), func(b *testing.B) {
			var d Decoder
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := d.Parse(data, func(*Point) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/point")
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
