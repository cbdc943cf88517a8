package wal

import (
	"fmt"
	"strings"
	"testing"
)

// benchEntry returns a batch entry of n points and n fingerprints.
func benchEntry(n int) *Entry {
	var s strings.Builder
	e := &Entry{Kind: KindBatch, IngestTime: 1_700_000_000_000_000_000}
	for i := range n {
		fmt.Fprintf(&s, "temperature,device=d%05d,zone=z%d value=%d.5 %d\n", i, i%7, 20+i%5, 1_700_000_000_000_000_000+int64(i)*1e9)
		e.Fingerprints = append(e.Fingerprints, uint64(i)*0x9e3779b97f4a7c15)
	}
	e.Points = []byte(s.String())
	return e
}

var benchSizes = []int{1, 100, 1000, 50000}

// BenchmarkEncodeEntry encodes batches plain and compressed (S2); MB/s
// counts the line protocol, ratio is its size over the record's.
func BenchmarkEncodeEntry(b *testing.B) {
	for _, enc := range encoders {
		for _, n := range benchSizes {
			e := benchEntry(n)
			b.Run(fmt.Sprintf("%s/points=%d", enc.name, n), func(b *testing.B) {
				var buf []byte
				b.ReportAllocs()
				b.SetBytes(int64(len(e.Points)))
				for b.Loop() {
					buf = enc.encode(buf[:0], e)
				}
				b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "points/s")
				b.ReportMetric(float64(len(e.Points))/float64(len(buf)), "ratio")
			})
		}
	}
}

func BenchmarkDecodeEntry(b *testing.B) {
	for _, enc := range encoders {
		for _, n := range benchSizes {
			e := benchEntry(n)
			rec := enc.encode(nil, e)
			b.Run(fmt.Sprintf("%s/points=%d", enc.name, n), func(b *testing.B) {
				var got Entry
				b.ReportAllocs()
				b.SetBytes(int64(len(e.Points)))
				for b.Loop() {
					if err := DecodeEntry(rec, &got); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "points/s")
			})
		}
	}
}

// BenchmarkLogAppend measures Log.Append of one batch entry, with and
// without the Sync that wal.durability: fsync adds per group commit.
func BenchmarkLogAppend(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, n := range []int{100, 1000} {
			e := benchEntry(n)
			b.Run(fmt.Sprintf("sync=%t/points=%d", sync, n), func(b *testing.B) {
				l, _, err := Open(b.TempDir(), Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				b.ReportAllocs()
				b.SetBytes(int64(len(e.Points)))
				for b.Loop() {
					if _, _, err := l.Append(e); err != nil {
						b.Fatal(err)
					}
					if sync {
						if err := l.Sync(); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "points/s")
			})
		}
	}
}
