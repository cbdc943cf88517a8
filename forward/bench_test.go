package forward

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// benchResults returns n result lines as the engine writes them.
func benchResults(n int) []byte {
	var s strings.Builder
	for i := range n {
		fmt.Fprintf(&s, "t1m,device=d%05d,site=s1,zone=z%d value_count=60i,value_max=23.75,value_mean=21.5,value_min=20.25 %d\n",
			i, i%7, 1_700_000_000_000_000_000+int64(i/1000)*60e9)
	}
	return []byte(s.String())
}

// BenchmarkInfluxWrite measures one influx sink Write of a batch against a
// server that reads and discards the body: request building, gzip and the
// loopback HTTP round trip.
func BenchmarkInfluxWrite(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, gzip := range []bool{false, true} {
		for _, n := range []int{100, 5000} {
			lines := benchResults(n)
			b.Run(fmt.Sprintf("gzip=%t/points=%d", gzip, n), func(b *testing.B) {
				cfg := testConfig(srv.URL + "/write?db=edge")
				cfg.Gzip = gzip
				s, err := New(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				b.ReportAllocs()
				b.SetBytes(int64(len(lines)))
				for b.Loop() {
					if err := s.Write(context.Background(), lines); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "points/s")
			})
		}
	}
}

// BenchmarkInfluxCompress measures the gzip step alone.
func BenchmarkInfluxCompress(b *testing.B) {
	for _, n := range []int{100, 5000} {
		lines := benchResults(n)
		b.Run(fmt.Sprintf("points=%d", n), func(b *testing.B) {
			s := &influxSink{}
			b.ReportAllocs()
			b.SetBytes(int64(len(lines)))
			for b.Loop() {
				if _, err := s.compress(lines); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkFileWrite measures one file sink Write (write + fsync) of a batch.
func BenchmarkFileWrite(b *testing.B) {
	for _, n := range []int{100, 5000} {
		lines := benchResults(n)
		b.Run(fmt.Sprintf("points=%d", n), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Name, cfg.Type, cfg.Path = "file", "file", filepath.Join(b.TempDir(), "results.lp")
			s, err := New(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ReportAllocs()
			b.SetBytes(int64(len(lines)))
			for b.Loop() {
				if err := s.Write(context.Background(), lines); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
