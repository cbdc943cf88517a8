package forward

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/forward/influxtest"
	"github.com/rivulet-edge/rivulet/forward/vmtest"
	"github.com/rivulet-edge/rivulet/wal"
)

// recordingSink remembers the bodies its sink took, in order.
type recordingSink struct {
	Sink
	mu   sync.Mutex
	took []string
}

func (s *recordingSink) Write(ctx context.Context, lines []byte) error {
	err := s.Sink.Write(ctx, lines)
	if err == nil {
		s.mu.Lock()
		s.took = append(s.took, string(lines))
		s.mu.Unlock()
	}
	return err
}

func (s *recordingSink) bodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.took...)
}

// backend is a real server the outage test delivers to, counting what it
// stored of measurement m (each stored sample once).
type backend struct {
	name  string
	start func(t *testing.T) (writeURL string, count func(t *testing.T, m string) int)
}

var backends = []backend{
	{"influxdb", func(t *testing.T) (string, func(*testing.T, string) int) {
		base := influxtest.Start(t)
		influxtest.Query(t, base, "", "CREATE DATABASE edge")
		return base + "/write?db=edge", func(t *testing.T, m string) int {
			n := 0
			for _, s := range influxtest.Query(t, base, "edge", "SELECT v FROM "+m) {
				n += len(s.Values)
			}
			return n
		}
	}},
	{"victoria-metrics", func(t *testing.T) (string, func(*testing.T, string) int) {
		base := vmtest.Start(t)
		return base + "/write?db=edge", func(t *testing.T, m string) int {
			n := 0
			for _, s := range vmtest.Export(t, base, `{__name__="`+m+`_v"}`) {
				n += len(s.Timestamps)
			}
			return n
		}
	}},
}

// TestOutageThroughProxy delivers a stream of results to a real server
// through a proxy that refuses, black-holes, resets, and drops the answer
// after the server applied a write, while results keep coming and the
// outbox cap holds the producer back. When the link returns, every result
// is stored exactly once, the alerts raised during the outage arrive before
// the backlog, and the outboxes never exceeded their cap.
func TestOutageThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("real servers; skipped with -short")
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			// Every run checks delivery; if the outage did not take
			// effect (no failed attempt and the cap never reached, seen
			// once in ~40 runs: the runner kept up through the proxy's
			// mode switches), the scenario is repeated, at most 3 times.
			for attempt := 1; ; attempt++ {
				if testOutage(t, be) {
					return
				}
				if attempt == 3 {
					t.Fatal("in 3 runs the outage never held the producer back or failed an attempt")
				}
				t.Logf("run %d: the outage did not take effect; again", attempt)
			}
		})
	}
}

// testOutage runs the scenario once and reports whether the outage took
// effect (an attempt failed and the cap held the producer back).
func testOutage(t *testing.T, be backend) bool {
	writeURL, count := be.start(t)
	u, err := url.Parse(writeURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newFaultProxy(t, u.Host)
	u.Host = proxy.addr

	dir := t.TempDir()
	const capBytes = 48 << 10
	budget := wal.NewBudget(capBytes, wal.Block)
	var lanes []*wal.Outbox
	for i, name := range []string{"alerts", "results", "raw"} {
		box, _, err := wal.OpenOutbox(filepath.Join(dir, name), wal.Options{SegmentSize: 8 << 10, Quarantine: filepath.Join(dir, "q")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { box.Close() })
		budget.Add(box, 2-i)
		lanes = append(lanes, box)
	}
	alerts, results := lanes[0], lanes[1]

	cfg := testConfig(u.String())
	cfg.Timeout = 300 * time.Millisecond
	cfg.Retry = RetryConfig{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	cfg.BatchPoints = 200
	inner, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	sink := &recordingSink{Sink: inner}
	r := NewRunner(cfg, NewLanes(alerts, results, lanes[2]), sink, filepath.Join(dir, "dead.lp"), nil)
	stop := startRunner(t, r)

	// The producer appends results as the engine does: retrying every few
	// milliseconds while the outbox is full.
	const entries, perEntry = 600, 5
	base := time.Now().Add(-time.Hour).Truncate(time.Second).UnixNano()
	var maxUsed int64
	var blocked atomic.Int32
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 1; i <= entries; i++ {
			var b strings.Builder
			for k := range perEntry {
				fmt.Fprintf(&b, "r,k=k%d v=%di %d\n", k, i, base+int64(i)*int64(time.Second))
			}
			for {
				err := results.Append(uint64(i), []byte(b.String()), false)
				if errors.Is(err, wal.ErrOutboxFull) {
					blocked.Add(1)
					time.Sleep(2 * time.Millisecond)
					continue
				}
				if err != nil {
					t.Errorf("append %d: %v", i, err)
					return
				}
				break
			}
			maxUsed = max(maxUsed, budget.Used())
			time.Sleep(200 * time.Microsecond)
		}
	}()

	time.Sleep(100 * time.Millisecond)
	proxy.set(proxyRefuse)
	time.Sleep(200 * time.Millisecond)
	// Alerts raised during the outage.
	alertsFrom := len(sink.bodies())
	for i := 1; i <= 3; i++ {
		line := fmt.Sprintf("alert,rule=hot v=%di %d\n", i, base+int64(i)*int64(time.Second))
		if err := alerts.Append(uint64(i), []byte(line), false); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []proxyMode{proxyBlackHole, proxyReset, proxyDropReply} {
		time.Sleep(200 * time.Millisecond)
		proxy.set(m)
	}
	time.Sleep(300 * time.Millisecond)
	// The link stays down until the cap has held the producer back (on a
	// loaded machine the producer may not have filled it yet) or the
	// producer is done, which fails below.
	for blocked.Load() == 0 {
		select {
		case <-produced:
		case <-time.After(10 * time.Millisecond):
			continue
		}
		break
	}
	proxy.set(proxyPass)
	<-produced
	deadline := time.Now().Add(30 * time.Second)
	for results.Cursor() < uint64(entries) || alerts.Cursor() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("not drained: results cursor %d of %d, alerts %d of 3", results.Cursor(), entries, alerts.Cursor())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	if got := count(t, "r"); got != entries*perEntry {
		t.Errorf("stored %d results, want %d", got, entries*perEntry)
	}
	if got := count(t, "alert"); got != 3 {
		t.Errorf("stored %d alerts, want 3", got)
	}
	// After the alerts were queued, the first bodies taken are alerts only.
	seenResults := false
	alertLines := 0
	for _, body := range sink.bodies()[alertsFrom:] {
		hasAlert, hasResult := strings.Contains(body, "alert,"), strings.Contains(body, "r,k=")
		if hasAlert && seenResults {
			t.Errorf("an alert was delivered after the backlog had resumed")
		}
		seenResults = seenResults || hasResult
		alertLines += strings.Count(body, "alert,")
	}
	if alertLines < 3 {
		t.Errorf("%d alert lines taken after the outage, want 3", alertLines)
	}
	if maxUsed > capBytes {
		t.Errorf("outboxes reached %d bytes, cap %d", maxUsed, capBytes)
	}
	st := r.Stats()
	t.Logf("%s: producer blocked %d times, max %d bytes on disk, %d retries, %d requests",
		be.name, blocked.Load(), maxUsed, st.Retries, st.DeliveredRequests)
	return st.Retries > 0 && blocked.Load() > 0
}
