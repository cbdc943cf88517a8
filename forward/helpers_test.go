package forward

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// testDeadline bounds every wait in these tests; nothing sleeps.
const testDeadline = 10 * time.Second

// fakeOutbox is an in-memory Outbox. Each Append is one entry.
type fakeOutbox struct {
	mu      sync.Mutex
	entries []wal.OutEntry
	cursor  uint64
	commits []uint64 // every Advance
	saved   uint64
	saves   []uint64      // the cursor at every Save
	wake    chan struct{} // closed and replaced by Append
	changed chan struct{} // closed and replaced by Commit
}

func newFakeOutbox(points ...string) *fakeOutbox {
	b := &fakeOutbox{wake: make(chan struct{}), changed: make(chan struct{})}
	for _, p := range points {
		b.Append(p)
	}
	return b
}

func (b *fakeOutbox) Append(points string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	seq := uint64(len(b.entries) + 1)
	b.entries = append(b.entries, wal.OutEntry{Seq: seq, IngestIndex: seq * 10, Points: []byte(points)})
	close(b.wake)
	b.wake = make(chan struct{})
	return seq
}

func (b *fakeOutbox) Next(maxPoints, maxBytes int) ([]wal.OutEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []wal.OutEntry
	points, size := 0, 0
	for _, e := range b.entries[b.cursor:] {
		n := bytes.Count(e.Points, []byte{'\n'})
		if len(out) > 0 && (points+n > maxPoints || size+len(e.Points) > maxBytes) {
			break
		}
		out = append(out, e)
		points, size = points+n, size+len(e.Points)
	}
	return out, nil
}

// Save records a save of the cursor.
func (b *fakeOutbox) Save() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.saves = append(b.saves, b.cursor)
	b.saved = b.cursor
	return nil
}

// Rewind moves the cursor back to the last save.
func (b *fakeOutbox) Rewind() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cursor = b.saved
}

func (b *fakeOutbox) Advance(seq uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cursor = seq
	b.commits = append(b.commits, seq)
	close(b.changed)
	b.changed = make(chan struct{})
	return nil
}

func (b *fakeOutbox) Wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wake
}

func (b *fakeOutbox) Cursor() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cursor
}

func (b *fakeOutbox) Commits() []uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]uint64(nil), b.commits...)
}

// waitCommitted blocks until the cursor reaches seq.
func (b *fakeOutbox) waitCommitted(t testing.TB, seq uint64) {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		b.mu.Lock()
		cur, ch := b.cursor, b.changed
		b.mu.Unlock()
		if cur >= seq {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("cursor at %d, want %d", cur, seq)
		}
	}
}

// startRunner runs r until the returned stop is called or the test ends.
// stop cancels and returns Run's result.
func startRunner(t testing.TB, r *Runner) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(testDeadline):
				t.Errorf("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// sleepRecorder replaces Runner.sleep: it records each wait and returns at
// once. With cancelAfter set, the cancelAfter-th wait calls cancel, as a
// shutdown during the backoff would.
type sleepRecorder struct {
	mu          sync.Mutex
	waits       []time.Duration
	cancelAfter int
	cancel      context.CancelFunc
	onSleep     func()
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	n, on := len(s.waits), s.onSleep
	s.mu.Unlock()
	if on != nil {
		on()
	}
	if s.cancelAfter > 0 && n >= s.cancelAfter {
		s.cancel()
	}
	return ctx.Err()
}

// runUntilWaits runs r with sl as its sleep until sl has seen n waits.
func runUntilWaits(t *testing.T, r *Runner, sl *sleepRecorder, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sl.cancelAfter, sl.cancel = n, cancel
	r.sleep = sl.sleep
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := len(sl.Waits()); got != n {
		t.Fatalf("%d waits, want %d", got, n)
	}
}

func (s *sleepRecorder) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// testConfig is a valid influx config for url.
func testConfig(url string) Config {
	cfg := DefaultConfig()
	cfg.Name, cfg.Type, cfg.URL = "up", "influx", url
	cfg.Retry = RetryConfig{Initial: 100 * time.Millisecond, Max: time.Second}
	return cfg
}

// request is what the test server saw of one request, body decoded.
type request struct {
	URL    string
	Header http.Header
	Body   string
}

// influxServer is an httptest server that records requests and answers
// with respond (204 when nil).
type influxServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	respond  func(n int, body string, w http.ResponseWriter) // n counts from 0
}

func newInfluxServer(t testing.TB, respond func(n int, body string, w http.ResponseWriter)) *influxServer {
	s := &influxServer{respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func (s *influxServer) handle(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "bad gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, request{URL: r.URL.String(), Header: r.Header.Clone(), Body: string(b)})
	s.mu.Unlock()
	if s.respond == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.respond(n, string(b), w)
}

func (s *influxServer) Requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

func (s *influxServer) Bodies() []string {
	var out []string
	for _, r := range s.Requests() {
		out = append(out, r.Body)
	}
	return out
}

// logRecorder is a slog.Handler that keeps records, for assertions on
// what is logged.
type logRecorder struct {
	mu      sync.Mutex
	records []string // "LEVEL msg k=v …"
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	h.mu.Lock()
	h.records = append(h.records, b.String())
	h.mu.Unlock()
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

func (h *logRecorder) Records() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.records...)
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
