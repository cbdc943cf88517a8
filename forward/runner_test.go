package forward

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// newTestRunner builds a Runner over an influx sink for srv, with recorded
// sleeps and a fixed jitter factor.
func newTestRunner(t *testing.T, cfg Config, box Outbox, jitter float64) (*Runner, *sleepRecorder, string) {
	t.Helper()
	sink, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	dl := filepath.Join(t.TempDir(), "dead", "up.lp")
	r := NewRunner(cfg, box, sink, dl, nil)
	sl := &sleepRecorder{}
	r.sleep = sl.sleep
	r.rand = func() float64 { return jitter }
	return r, sl, dl
}

func TestRunnerDelivers(t *testing.T) {
	tests := []struct {
		name        string
		batchPoints int
		entries     []string
		want        []string // request bodies
	}{
		{"one request", 100, []string{"m v=1 1\n", "m v=2 2\nm v=3 3\n"}, []string{"m v=1 1\nm v=2 2\nm v=3 3\n"}},
		{"split by batch_points", 2, []string{"m v=1 1\n", "m v=2 2\n", "m v=3 3\n"},
			[]string{"m v=1 1\nm v=2 2\n", "m v=3 3\n"}},
		{"entry larger than batch_points still goes", 1, []string{"m v=1 1\nm v=2 2\n", "m v=3 3\n"},
			[]string{"m v=1 1\nm v=2 2\n", "m v=3 3\n"}},
		{"empty entry is committed without a request", 100, []string{""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newInfluxServer(t, nil)
			cfg := testConfig(srv.URL + "/write?db=edge")
			cfg.BatchPoints = tt.batchPoints
			box := newFakeOutbox(tt.entries...)
			r, sl, _ := newTestRunner(t, cfg, box, 0.5)
			stop := startRunner(t, r)
			box.waitCommitted(t, uint64(len(tt.entries)))
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := srv.Bodies(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("bodies %q, want %q", got, tt.want)
			}
			st := r.Stats()
			points := strings.Count(strings.Join(tt.entries, ""), "\n")
			if st.DeliveredPoints != uint64(points) || st.DeliveredRequests != uint64(len(tt.want)) {
				t.Errorf("stats %+v, want %d points in %d requests", st, points, len(tt.want))
			}
			if len(sl.Waits()) != 0 {
				t.Errorf("slept %v", sl.Waits())
			}
		})
	}
}

func TestRunnerWakesOnAppend(t *testing.T) {
	srv := newInfluxServer(t, nil)
	box := newFakeOutbox()
	r, _, _ := newTestRunner(t, testConfig(srv.URL+"/write?db=edge"), box, 0)
	startRunner(t, r)
	for i, lines := range []string{"m v=1 1\n", "m v=2 2\n"} {
		seq := box.Append(lines)
		box.waitCommitted(t, seq)
		if got := srv.Bodies(); len(got) != i+1 || got[i] != lines {
			t.Fatalf("bodies %q after append %d", got, i+1)
		}
	}
}

// TestRunnerRetries5xx checks that a failing batch is repeated, in order,
// after growing, jittered backoffs, and nothing overtakes it.
func TestRunnerRetries5xx(t *testing.T) {
	srv := newInfluxServer(t, func(n int, _ string, w http.ResponseWriter) {
		if n < 4 {
			w.WriteHeader([]int{500, 502, 503, 504}[n])
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	cfg := testConfig(srv.URL + "/write?db=edge")
	cfg.BatchPoints = 1
	box := newFakeOutbox("m v=1 1\n", "m v=2 2\n")
	r, sl, _ := newTestRunner(t, cfg, box, 0.5)
	var midStats RunnerStats
	sl.onSleep = func() {
		if len(sl.Waits()) == 4 {
			midStats = r.Stats()
		}
	}
	startRunner(t, r)
	box.waitCommitted(t, 2)

	// Initial 100ms doubling to Max 1s, times jitter 0.5.
	want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	if got := sl.Waits(); !reflect.DeepEqual(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	wantBodies := []string{"m v=1 1\n", "m v=1 1\n", "m v=1 1\n", "m v=1 1\n", "m v=1 1\n", "m v=2 2\n"}
	if got := srv.Bodies(); !reflect.DeepEqual(got, wantBodies) {
		t.Errorf("bodies %q, want %q", got, wantBodies)
	}
	if got := box.Commits(); !reflect.DeepEqual(got, []uint64{1, 2}) {
		t.Errorf("commits %v", got)
	}
	if midStats.ConsecutiveFailures != 4 || midStats.Retries != 4 || midStats.NextRetry.IsZero() ||
		!strings.Contains(midStats.LastError, "504") {
		t.Errorf("stats while failing %+v", midStats)
	}
	st := r.Stats()
	if st.ConsecutiveFailures != 0 || st.Retries != 4 || !st.NextRetry.IsZero() || st.DeliveredRequests != 2 {
		t.Errorf("stats after recovery %+v", st)
	}
}

func TestBackoff(t *testing.T) {
	retry := RetryConfig{Initial: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		name    string
		attempt int
		jitter  float64
		err     error
		want    time.Duration
	}{
		{"first, no jitter", 0, 0, errors.New("x"), 0},
		{"first, top of range", 0, 0.999, errors.New("x"), 99900 * time.Microsecond},
		{"doubles", 3, 0.5, errors.New("x"), 400 * time.Millisecond},
		{"capped at max", 4, 0.5, errors.New("x"), 500 * time.Millisecond},
		{"capped far out", 1000, 0.5, errors.New("x"), 500 * time.Millisecond},
		{"after overrides jitter", 0, 0.5, &RetryableError{Err: errors.New("x"), After: 7 * time.Second}, 7 * time.Second},
		{"after below jitter", 4, 0.9, &RetryableError{Err: errors.New("x"), After: time.Millisecond}, 900 * time.Millisecond},
		{"wrapped after", 0, 0, wrapErr(&RetryableError{Err: errors.New("x"), After: 2 * time.Second}), 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Runner{cfg: Config{Retry: retry}, rand: func() float64 { return tt.jitter }}
			if got := r.backoff(tt.attempt, tt.err); got != tt.want {
				t.Errorf("backoff = %s, want %s", got, tt.want)
			}
		})
	}
}

func wrapErr(err error) error { return errors.Join(errors.New("outer"), err) }

// TestBackoffJitterBounded checks every jittered wait lies in
// [0, min(Initial·2^n, Max)] over the whole range of the random source.
func TestBackoffJitterBounded(t *testing.T) {
	retry := RetryConfig{Initial: 250 * time.Millisecond, Max: 5 * time.Second}
	for attempt := range 10 {
		bound := min(retry.Initial<<attempt, retry.Max)
		for _, j := range []float64{0, 0.1, 0.5, 0.9, 0.999999} {
			r := &Runner{cfg: Config{Retry: retry}, rand: func() float64 { return j }}
			d := r.backoff(attempt, errors.New("x"))
			if d < 0 || d > bound {
				t.Errorf("attempt %d jitter %v: %s outside [0, %s]", attempt, j, d, bound)
			}
			if want := time.Duration(j * float64(bound)); d != want {
				t.Errorf("attempt %d jitter %v: %s, want %s", attempt, j, d, want)
			}
		}
	}
}

func TestRunnerHonoursRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, retryAfter string
		status           int
		want             time.Duration
	}{
		{"429 seconds", "7", 429, 7 * time.Second},
		{"429 date", now.Add(30 * time.Second).Format(http.TimeFormat), 429, 30 * time.Second},
		{"503 seconds", "120", 503, 2 * time.Minute},
		{"429 without header uses backoff", "", 429, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newInfluxServer(t, func(n int, _ string, w http.ResponseWriter) {
				if n == 0 {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					w.WriteHeader(tt.status)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			})
			box := newFakeOutbox("m v=1 1\n")
			r, sl, _ := newTestRunner(t, testConfig(srv.URL+"/write?db=edge"), box, 0.5)
			r.sink.(*influxSink).now = func() time.Time { return now }
			startRunner(t, r)
			box.waitCommitted(t, 1)
			if got := sl.Waits(); len(got) != 1 || got[0] != tt.want {
				t.Errorf("waits %v, want [%s]", got, tt.want)
			}
		})
	}
}

func TestRunnerDeadLetters(t *testing.T) {
	const msg = "unable to parse 'bad': invalid field format"
	srv := newInfluxServer(t, func(_ int, body string, w http.ResponseWriter) {
		if strings.Contains(body, "bad") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"` + msg + `"}`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	cfg := testConfig(srv.URL + "/write?db=edge")
	cfg.BatchPoints = 1
	box := newFakeOutbox("m v=1 1\n", "bad\n", "m v=3 3\n", "bad again\n")
	logs := &logRecorder{}
	r, sl, dl := newTestRunner(t, cfg, box, 0.5)
	r.logger = slog.New(logs)
	r.now = func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }
	startRunner(t, r)
	box.waitCommitted(t, 4)

	if got, want := srv.Bodies(), []string{"m v=1 1\n", "bad\n", "m v=3 3\n", "bad again\n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("bodies %q, want %q", got, want)
	}
	if got := readFile(t, dl); got != "bad\nbad again\n" {
		t.Errorf("dead letter %q", got)
	}
	var reasons []deadReason
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, dl+".reasons")), "\n") {
		var r deadReason
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("reason %q: %v", line, err)
		}
		reasons = append(reasons, r)
	}
	want := []deadReason{
		{Time: "2026-03-01T12:00:00Z", Sink: "up", Status: 400, Error: msg, FirstSeq: 2, LastSeq: 2, Points: 1, Offset: 0, Bytes: 4},
		{Time: "2026-03-01T12:00:00Z", Sink: "up", Status: 400, Error: msg, FirstSeq: 4, LastSeq: 4, Points: 1, Offset: 4, Bytes: 10},
	}
	if !reflect.DeepEqual(reasons, want) {
		t.Errorf("reasons\n%+v\nwant\n%+v", reasons, want)
	}
	for _, p := range []string{dl, dl + ".reasons"} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, fi.Mode(), err)
		}
	}
	st := r.Stats()
	if st.DeadLetteredPoints != 2 || st.DeadLetteredBatches != 2 || st.DeliveredPoints != 2 || st.Retries != 0 {
		t.Errorf("stats %+v", st)
	}
	if len(sl.Waits()) != 0 {
		t.Errorf("slept %v", sl.Waits())
	}
	// The second rejection is within 30 s of the first: one log line.
	if got := logs.Records(); len(got) != 1 || !strings.Contains(got[0], "dead-lettered") || !strings.Contains(got[0], msg) {
		t.Errorf("logs %q", got)
	}
}

// TestRunnerDeadLetterFailureHolds checks that a batch that could not be
// dead-lettered is not committed (losing it would break at-least-once), and
// that the dead-letter file keeps whole batches only.
func TestRunnerDeadLetterFailureHolds(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dl string) string // returns the dead-letter path
		want  string                               // dead-letter content after
	}{
		{"file cannot be created", func(t *testing.T, _ string) string {
			return filepath.Join(writeFile(t, "file", ""), "dead.lp") // parent is a file
		}, ""},
		{"reasons cannot be written", func(t *testing.T, dl string) string {
			if err := os.MkdirAll(dl+".reasons", 0o700); err != nil { // a directory
				t.Fatal(err)
			}
			return dl
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newInfluxServer(t, func(_ int, _ string, w http.ResponseWriter) {
				w.WriteHeader(http.StatusBadRequest)
			})
			box := newFakeOutbox("bad\n", "m v=2 2\n")
			r, sl, dl := newTestRunner(t, testConfig(srv.URL+"/write?db=edge"), box, 0.5)
			r.deadLetter = tt.setup(t, dl)
			runUntilWaits(t, r, sl, 3)
			if c := box.Cursor(); c != 0 {
				t.Errorf("cursor %d, want 0", c)
			}
			if st := r.Stats(); st.DeadLetteredBatches != 0 || st.Retries != 3 || !strings.Contains(st.LastError, "dead-letter") {
				t.Errorf("stats %+v", st)
			}
			if got, _ := os.ReadFile(r.deadLetter); string(got) != tt.want {
				t.Errorf("dead letter %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRunnerRetriesUnknownErrors(t *testing.T) {
	sink := &scriptSink{errs: []error{errors.New("disk on fire"), nil}}
	box := newFakeOutbox("m v=1 1\n")
	r := NewRunner(testConfig("http://x/write?db=y"), box, sink, "", nil)
	sl := &sleepRecorder{}
	r.sleep, r.rand = sl.sleep, func() float64 { return 1 }
	startRunner(t, r)
	box.waitCommitted(t, 1)
	if got := sl.Waits(); len(got) != 1 || got[0] != 100*time.Millisecond {
		t.Errorf("waits %v", got)
	}
	if got := sink.Writes(); len(got) != 2 || got[1] != "m v=1 1\n" {
		t.Errorf("writes %q", got)
	}
}

func TestRunnerDropsWithoutDeadLetterFile(t *testing.T) {
	sink := &scriptSink{errs: []error{&PermanentError{Err: errors.New("no"), Status: 422}}}
	box := newFakeOutbox("m v=1 1\n", "m v=2 2\n")
	cfg := testConfig("http://x/write?db=y")
	cfg.BatchPoints = 1
	r := NewRunner(cfg, box, sink, "", nil)
	startRunner(t, r)
	box.waitCommitted(t, 2)
	if st := r.Stats(); st.DeadLetteredPoints != 1 || st.DeliveredPoints != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestRunnerLogsRateLimited fails ten times, 10 s apart on the injected
// clock, and expects a log line at 0, 30, 60 and 90 s, each counting the
// ones it held back.
func TestRunnerLogsRateLimited(t *testing.T) {
	sink := &scriptSink{errs: []error{&RetryableError{Err: errors.New("down")}}, repeat: true}
	box := newFakeOutbox("m v=1 1\n")
	logs := &logRecorder{}
	r := NewRunner(testConfig("http://x/write?db=y"), box, sink, "", slog.New(logs))
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return clock }
	sl := &sleepRecorder{onSleep: func() { clock = clock.Add(10 * time.Second) }}
	r.rand = func() float64 { return 0 }
	runUntilWaits(t, r, sl, 10)
	got := logs.Records()
	wantSuppressed := []string{"suppressed=0", "suppressed=2", "suppressed=2", "suppressed=2"}
	if len(got) != len(wantSuppressed) {
		t.Fatalf("logs %q", got)
	}
	for i, rec := range got {
		if !strings.HasPrefix(rec, "WARN delivery failed") || !strings.Contains(rec, wantSuppressed[i]) {
			t.Errorf("log %d: %q, want %s", i, rec, wantSuppressed[i])
		}
	}
	if st := r.Stats(); st.ConsecutiveFailures != 10 || st.LastError != "down" {
		t.Errorf("stats %+v", st)
	}
}

func TestRunnerCancel(t *testing.T) {
	t.Run("in flight", func(t *testing.T) {
		entered := make(chan struct{}, 1)
		srv := newInfluxServer(t, nil)
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body) // so that the server notices the hang-up
			entered <- struct{}{}
			<-r.Context().Done()
		})
		cfg := testConfig(srv.URL + "/write?db=edge")
		cfg.Timeout = time.Hour
		box := newFakeOutbox("m v=1 1\n")
		r, _, _ := newTestRunner(t, cfg, box, 0.5)
		stop := startRunner(t, r)
		waitChan(t, entered)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if box.Cursor() != 0 {
			t.Errorf("cursor moved to %d", box.Cursor())
		}
	})
	t.Run("in backoff", func(t *testing.T) {
		sink := &scriptSink{errs: []error{errors.New("down")}, repeat: true}
		box := newFakeOutbox("m v=1 1\n")
		cfg := testConfig("http://x/write?db=y")
		cfg.Retry = RetryConfig{Initial: time.Hour, Max: time.Hour}
		r := NewRunner(cfg, box, sink, "", nil)
		r.rand = func() float64 { return 1 }
		sleeping := make(chan struct{}, 1)
		r.sleep = func(ctx context.Context, d time.Duration) error {
			sleeping <- struct{}{}
			return sleepCtx(ctx, d) // the real one, an hour long
		}
		stop := startRunner(t, r)
		waitChan(t, sleeping)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if box.Cursor() != 0 {
			t.Errorf("cursor moved to %d", box.Cursor())
		}
	})
	t.Run("idle", func(t *testing.T) {
		box := newFakeOutbox()
		r := NewRunner(testConfig("http://x/write?db=y"), box, &scriptSink{}, "", nil)
		stop := startRunner(t, r)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func waitChan(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testDeadline):
		t.Fatal("timed out")
	}
}

// scriptSink returns errs in turn (the last one forever when repeat is set,
// else nil once they run out) and records what it was given.
type scriptSink struct {
	mu     sync.Mutex
	errs   []error
	repeat bool
	writes []string
}

func (s *scriptSink) Write(_ context.Context, lines []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, string(lines))
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	if len(s.errs) > 1 || !s.repeat {
		s.errs = s.errs[1:]
	}
	return err
}

func (s *scriptSink) Close() error { return nil }

func (s *scriptSink) Writes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

// TestGather checks the batches gather builds: one entry is delivered
// from its own memory, not copied (a window's results are 1.5 MB at 10k
// series), and a batch of several is a copy that never writes into an
// entry's memory.
func TestGather(t *testing.T) {
	r := NewRunner(Config{Name: "g"}, nil, nil, "", nil)
	a := []byte("m v=1 1\nm v=2 2\n")
	b := []byte("m v=3 3\n")
	c := []byte("m v=4 4\n")
	keepA := string(a)

	one := r.gather([]wal.OutEntry{{Seq: 7, Points: a[:len(a):len(a)]}})
	if string(one.lines) != keepA || &one.lines[0] != &a[0] {
		t.Fatalf("one entry: lines %q at %p, want the entry's own %p", one.lines, &one.lines[0], &a[0])
	}
	if !reflect.DeepEqual(one.seqs, []uint64{7}) || !reflect.DeepEqual(one.ends, []int{len(a)}) || one.first != 7 || one.last != 7 {
		t.Fatalf("one entry: seqs %v ends %v first %d last %d", one.seqs, one.ends, one.first, one.last)
	}

	for round := 0; round < 2; round++ {
		three := r.gather([]wal.OutEntry{{Seq: 8, Points: a[:len(a):len(a)]}, {Seq: 9, Points: b[:len(b):len(b)]}, {Seq: 10, Points: c[:len(c):len(c)]}})
		want := keepA + string(b) + string(c)
		if string(three.lines) != want || &three.lines[0] == &a[0] {
			t.Fatalf("three entries: lines %q, want a copy of %q", three.lines, want)
		}
		if !reflect.DeepEqual(three.seqs, []uint64{8, 9, 10}) || !reflect.DeepEqual(three.ends, []int{len(a), len(a) + len(b), len(want)}) {
			t.Fatalf("three entries: seqs %v ends %v", three.seqs, three.ends)
		}
		if s := three.span(len(a), len(a)+len(b)); string(s.lines) != string(b) || s.first != 9 || s.last != 9 {
			t.Fatalf("span of the second entry: %q, %d…%d", s.lines, s.first, s.last)
		}
		// A single entry between two copies must not become the buffer
		// the next copy is built in.
		r.gather([]wal.OutEntry{{Seq: 11, Points: b[:len(b):len(b)]}})
	}
	if string(a) != keepA || string(b) != "m v=3 3\n" {
		t.Fatalf("an entry's memory was written: %q, %q", a, b)
	}
}
