package forward

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/wal"
)

// sinkFactory builds a Sink and a function that returns everything the
// upstream holds, in delivery order.
type sinkFactory func(t *testing.T) (Sink, func() string)

// sinkFactories lists every Sink implementation; each runs the suite.
var sinkFactories = map[string]sinkFactory{
	"influx":      influxFactory(false),
	"influx-gzip": influxFactory(true),
	"file":        fileFactory,
	"stdout":      stdoutFactory,
	"mqtt-line":   mqttLineFactory,
	"http-line":   httpLineFactory,
}

func influxFactory(gzip bool) sinkFactory {
	return func(t *testing.T) (Sink, func() string) {
		srv := newInfluxServer(t, nil)
		cfg := testConfig(srv.URL + "/api/v2/write?org=o&bucket=b")
		cfg.Gzip = gzip
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s, func() string { return strings.Join(srv.Bodies(), "") }
	}
}

// fileFactory rotates often, to show that rotation loses nothing.
func fileFactory(t *testing.T) (Sink, func() string) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.lp")
	cfg := DefaultConfig()
	cfg.Name, cfg.Type, cfg.Path, cfg.MaxSize, cfg.MaxFiles = "f", "file", path, wal.Size(64<<10), 20
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, func() string {
		var b strings.Builder
		for i := cfg.MaxFiles; i >= 1; i-- {
			if data, err := os.ReadFile(fmt.Sprintf("%s.%d", path, i)); err == nil {
				b.Write(data)
			}
		}
		b.WriteString(readFile(t, path))
		return b.String()
	}
}

func stdoutFactory(*testing.T) (Sink, func() string) {
	var mu sync.Mutex
	var buf bytes.Buffer
	return NewStdout(lockedWriter{&mu, &buf}), func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// suiteBatches are line protocol of the kinds results take: escapes,
// strings with quotes and unicode, every field type, and one batch well
// over a file rotation and an HTTP buffer.
func suiteBatches() []string {
	var big strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&big, "agg,sensor=s%d,window=1m mean=%d.5,count=%di %d\n", i%50, i, i, 1700000000000000000+int64(i))
	}
	return []string{
		"temp,site=north,sensor=t1 value=21.5 1700000000123456789\n",
		"alert,rule=hi\\ temp,sensor=t\\,1 state=\"crit\",note=\"said \\\"hot\\\" – 42 °C\",ack=false 1700000000123456790\n" +
			"count,sensor=t1 n=7i,u=3u 1700000000123456791\n",
		big.String(),
		"m v=1 1\n",
	}
}

// canonicalSinks parse the lines and send them re-encoded, tags sorted:
// the same points, not always the same bytes. The suite compares their
// output after putting both sides in that form.
var canonicalSinks = map[string]bool{"mqtt-line": true, "kafka-line": true}

func TestSinkSuite(t *testing.T) {
	for name, factory := range sinkFactories {
		t.Run(name, func(t *testing.T) {
			norm := func(_ *testing.T, s string) string { return s }
			if canonicalSinks[name] {
				norm = canonLP
			}
			t.Run("writes arrive intact and in order", func(t *testing.T) { suiteIntact(t, factory, norm) })
			t.Run("lines are not retained", func(t *testing.T) { suiteNotRetained(t, factory, norm) })
			t.Run("close twice", func(t *testing.T) { suiteCloseTwice(t, factory) })
		})
	}
}

// canonLP re-encodes line protocol with sorted tags.
func canonLP(t *testing.T, lines string) string {
	t.Helper()
	var out []byte
	err := point.Parse([]byte(lines), func(p *point.Point) error {
		var err error
		out, err = point.AppendLine(out, p)
		return err
	})
	if err != nil {
		t.Fatalf("canonical form: %v", err)
	}
	return string(out)
}

func suiteIntact(t *testing.T, factory sinkFactory, norm func(*testing.T, string) string) {
	s, got := factory(t)
	defer s.Close()
	var want strings.Builder
	for _, b := range suiteBatches() {
		if err := s.Write(context.Background(), []byte(b)); err != nil {
			t.Fatal(err)
		}
		want.WriteString(b)
	}
	if g, w := norm(t, got()), norm(t, want.String()); g != w {
		t.Errorf("upstream holds %d bytes, want %d; first difference at %d", len(g), len(w), firstDiff(g, w))
	}
}

// suiteNotRetained scribbles over each batch after Write returns, as the
// Runner does when it reuses its buffer, and expects the upstream intact.
func suiteNotRetained(t *testing.T, factory sinkFactory, norm func(*testing.T, string) string) {
	s, got := factory(t)
	defer s.Close()
	var want strings.Builder
	buf := make([]byte, 0, 1<<20)
	for _, b := range suiteBatches() {
		buf = append(buf[:0], b...)
		if err := s.Write(context.Background(), buf); err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] = '#'
		}
		want.WriteString(b)
	}
	if g, w := norm(t, got()), norm(t, want.String()); g != w {
		t.Errorf("upstream changed after Write returned; first difference at %d", firstDiff(g, w))
	}
}

func suiteCloseTwice(t *testing.T, factory sinkFactory) {
	s, _ := factory(t)
	if err := s.Write(context.Background(), []byte("m v=1 1\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
