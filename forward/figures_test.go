package forward

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/forward/influxtest"
	"github.com/rivulet-edge/rivulet/wal"
)

// The tests in this file produce the figures of BENCHMARKS.md
// ("Store and forward"); they run only with RIVULET_FIGURES=1:
//
//	RIVULET_FIGURES=1 go test -run 'Figure' -v ./forward/
//	scripts/outbox-fsyncs.sh   # fsyncs per second at steady load

func figuresOnly(t *testing.T) {
	if os.Getenv("RIVULET_FIGURES") != "1" {
		t.Skip("set RIVULET_FIGURES=1 to measure")
	}
}

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// procIO returns the wchar (bytes passed to write syscalls) of this process.
func procIO(t *testing.T) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// resultLine is one window result as the engine renders it.
func resultLine(i, k int, base int64) string {
	return fmt.Sprintf("temp_1m,site=north,zone=z%d,sensor=s%03d value_count=60i,value_mean=%d.25,value_min=19.5,value_max=24.75 %d\n",
		k%8, k, i%40, base+int64(i)*60e9)
}

// TestDrainFigure measures how fast a backlog of results drains to a real
// InfluxDB on loopback, and the bytes written to disk per result by the
// outbox (appending, then the cursor and reclaiming while draining).
func TestDrainFigure(t *testing.T) {
	figuresOnly(t)
	results, perEntry := envInt("FIG_RESULTS", 200000), envInt("FIG_PER_ENTRY", 100)
	base := influxtest.Start(t)
	influxtest.Query(t, base, "", "CREATE DATABASE edge")
	dir := t.TempDir()
	box, _, err := wal.OpenOutbox(filepath.Join(dir, "results"), wal.Options{SegmentSize: 1 << 20, Quarantine: filepath.Join(dir, "q")})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	ts := time.Now().Add(-24 * time.Hour).Truncate(time.Minute).UnixNano()

	w0 := procIO(t)
	var b strings.Builder
	payload := 0
	for e := 0; e < results/perEntry; e++ {
		b.Reset()
		for k := range perEntry {
			b.WriteString(resultLine(e, k, ts))
		}
		payload += b.Len()
		if err := box.Append(uint64(e+1), []byte(b.String()), true); err != nil {
			t.Fatal(err)
		}
	}
	w1 := procIO(t)
	_, onDisk := box.Backlog()

	cfg := testConfig(base + "/write?db=edge")
	sink, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	counted := &countingSink{Sink: sink}
	r := NewRunner(cfg, box, counted, "", nil)
	start := time.Now()
	stop := startRunner(t, r)
	last := uint64(results / perEntry)
	for box.Cursor() < last {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	_ = stop()
	w2 := procIO(t)
	n := float64(results)
	t.Logf("drain: %d results (%d per entry, batch_points %d) in %s: %.0f results/s, %d requests",
		results, perEntry, cfg.BatchPoints, elapsed.Round(time.Millisecond), n/elapsed.Seconds(), r.Stats().DeliveredRequests)
	// wchar also counts the request bodies written to the socket.
	drainDisk := w2 - w1 - counted.bytes
	t.Logf("disk: line protocol %.1f B/result; outbox log %.1f B/result; written to disk while appending %.1f B/result, while draining %.2f B/result (cursor, reclaim); write amplification %.3f",
		float64(payload)/n, float64(onDisk)/n, float64(w1-w0)/n, float64(drainDisk)/n, float64(w1-w0+drainDisk)/float64(payload))
	if rows := influxtest.Query(t, base, "edge", "SELECT count(value_count) FROM temp_1m"); len(rows) == 0 {
		t.Error("nothing stored")
	}
}

// countingSink counts the bytes its sink took.
type countingSink struct {
	Sink
	bytes int64
}

func (s *countingSink) Write(ctx context.Context, lines []byte) error {
	s.bytes += int64(len(lines))
	return s.Sink.Write(ctx, lines)
}

// TestSteadyLoadFigure appends results to three lanes at a steady rate,
// with fsync as the engine does under wal.durability: fsync, while a
// Runner delivers them to an HTTP endpoint that accepts everything. Run it
// under strace (scripts/outbox-fsyncs.sh) to count fsyncs.
func TestSteadyLoadFigure(t *testing.T) {
	figuresOnly(t)
	rate, seconds := envInt("FIG_FLUSHES_PER_SEC", 1), envInt("FIG_SECONDS", 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	dir := t.TempDir()
	var lanes []Outbox
	var boxes []*wal.Outbox
	for _, name := range []string{"alerts", "results", "raw"} {
		box, _, err := wal.OpenOutbox(filepath.Join(dir, name), wal.Options{SegmentSize: 1 << 20, Quarantine: filepath.Join(dir, "q")})
		if err != nil {
			t.Fatal(err)
		}
		defer box.Close()
		lanes, boxes = append(lanes, box), append(boxes, box)
	}
	cfg := testConfig(srv.URL + "/write?db=edge")
	sink, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	r := NewRunner(cfg, NewLanes(lanes...), sink, "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	ts := time.Now().Truncate(time.Minute).UnixNano()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	start := time.Now()
	var b strings.Builder
	i := 0
	for time.Since(start) < time.Duration(seconds)*time.Second {
		<-tick.C
		i++
		b.Reset()
		for k := range 50 {
			b.WriteString(resultLine(i, k, ts))
		}
		// The engine flushes each lane that got results; here the results
		// lane every time, the raw lane too (pass_to), alerts rarely.
		if err := boxes[1].Append(uint64(i), []byte(b.String()), true); err != nil {
			t.Fatal(err)
		}
		if err := boxes[2].Append(uint64(i), []byte(b.String()), true); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	st := r.Stats()
	t.Logf("steady load: %d flushes/s for %s, %d requests (%.1f/s)", rate, elapsed.Round(time.Millisecond),
		st.DeliveredRequests, float64(st.DeliveredRequests)/elapsed.Seconds())
}
