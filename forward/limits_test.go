package forward

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

func TestAgeUnmarshalText(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"0", 0, false},
		{"30d", 30 * 24 * time.Hour, false},
		{"1d", 24 * time.Hour, false},
		{"24h", 24 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{" 2d ", 48 * time.Hour, false},
		{"d", 0, true},
		{"-1d", 0, true},
		{"1.5d", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var a Age
			err := a.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.err {
				t.Fatalf("err %v, want error %v", err, tt.err)
			}
			if !tt.err && time.Duration(a) != tt.want {
				t.Errorf("got %s, want %s", time.Duration(a), tt.want)
			}
		})
	}
	if s := Age(30 * 24 * time.Hour).String(); s != "30d" {
		t.Errorf("String = %q", s)
	}
	if s := Age(90 * time.Minute).String(); s != "1h30m0s" {
		t.Errorf("String = %q", s)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want string // substring of the error; empty: valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"drop_oldest", func(c *Config) { c.OnFull = OnFullDropOldest }, ""},
		{"bad on_full", func(c *Config) { c.OnFull = "drop" }, "on_full: must be block or drop_oldest"},
		{"negative ttl", func(c *Config) { c.TTL.Raw = -1 }, "ttl.raw: must not be negative"},
		{"negative max_backlog", func(c *Config) { c.MaxBacklog = -1 }, "max_backlog"},
		{"negative rate_limit", func(c *Config) { c.RateLimit = -1 }, "rate_limit"},
		{"negative probe_after", func(c *Config) { c.ProbeAfter = -1 }, "probe_after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig("http://127.0.0.1:1/write?db=x")
			tt.set(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	d := DefaultConfig()
	if time.Duration(d.TTL.Alerts) != 0 || time.Duration(d.TTL.Results) != 720*time.Hour ||
		time.Duration(d.TTL.Raw) != 24*time.Hour || d.MaxBacklog != 256<<20 || d.OnFull != "block" || d.RateLimit != 0 {
		t.Errorf("defaults %+v %s %s %d", d.TTL, d.MaxBacklog, d.OnFull, d.RateLimit)
	}
}

func TestNewestTime(t *testing.T) {
	tests := []struct {
		lines string
		want  int64
		ok    bool
	}{
		{"m v=1 5\nm v=2 9\nm v=3 7\n", 9, true},
		{"m,t=a\\ b v=\"x y\" -3\n", -3, true},
		{"m v=1\n", 0, false},
		{"m v=1\nm v=2 4\n", 4, true},
		{"m v=1 12", 12, true},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := newestTime([]byte(tt.lines))
		if got != tt.want || ok != tt.ok {
			t.Errorf("newestTime(%q) = %d %v, want %d %v", tt.lines, got, ok, tt.want, tt.ok)
		}
	}
}

// appendAt adds an entry appended at the given time to a fake outbox.
func (b *fakeOutbox) appendAt(points string, at time.Time) {
	seq := b.Append(points)
	b.mu.Lock()
	b.entries[seq-1].Appended = at
	b.mu.Unlock()
}

func TestRunnerTTL(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ns := func(d time.Duration) string { return nsString(now.Add(-d).UnixNano()) }
	srv := newInfluxServer(t, nil)
	cfg := testConfig(srv.URL + "/write?db=edge")
	cfg.TTL = TTLConfig{Alerts: 0, Results: Age(time.Hour), Raw: Age(10 * time.Minute)}
	alerts, results, raw := newFakeOutbox(), newFakeOutbox(), newFakeOutbox()
	old := now.Add(-2 * time.Hour)
	alerts.appendAt("alert v=1 "+ns(48*time.Hour)+"\n", old)                        // never expires
	results.appendAt("r v=1 "+ns(2*time.Hour)+"\n", old)                            // expired
	results.appendAt("r v=2 "+ns(30*time.Minute)+"\n", old)                         // fresh points
	results.appendAt("r v=3 "+ns(3*time.Hour)+"\n", now)                            // old points, just queued
	results.appendAt("r v=4 "+ns(5*time.Hour)+"\nr v=5 "+ns(2*time.Hour)+"\n", old) // expired, 2 points
	results.appendAt("r v=6 "+ns(5*time.Hour)+"\nr v=7 "+ns(time.Minute)+"\n", old) // newest is fresh
	raw.appendAt("raw v=1 "+ns(20*time.Minute)+"\n", old)                           // expired
	raw.appendAt("raw v=2 "+ns(5*time.Minute)+"\n", old)
	r, _, _ := newTestRunner(t, cfg, NewLanes(alerts, results, raw), 0.5)
	r.now = func() time.Time { return now }
	startRunner(t, r)
	raw.waitCommitted(t, 2)
	results.waitCommitted(t, 5)
	alerts.waitCommitted(t, 1)

	want := []string{
		"alert v=1 " + ns(48*time.Hour) + "\n",
		"r v=2 " + ns(30*time.Minute) + "\nr v=3 " + ns(3*time.Hour) + "\nr v=6 " + ns(5*time.Hour) + "\nr v=7 " + ns(time.Minute) + "\n",
		"raw v=2 " + ns(5*time.Minute) + "\n",
	}
	if got := srv.Bodies(); !reflect.DeepEqual(got, want) {
		t.Errorf("bodies\n%q\nwant\n%q", got, want)
	}
	// The expired entries are committed with the batch they were in, in order.
	if got := results.Commits(); !reflect.DeepEqual(got, []uint64{5}) {
		t.Errorf("results commits %v", got)
	}
	st := r.Stats()
	if st.ExpiredPoints != 4 || st.DeliveredPoints != 6 {
		t.Errorf("stats %+v, want 4 expired, 6 delivered", st)
	}
}

// TestRunnerTTLAllExpired checks that a batch of nothing but expired
// entries is committed without a request.
func TestRunnerTTLAllExpired(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	srv := newInfluxServer(t, nil)
	cfg := testConfig(srv.URL + "/write?db=edge")
	cfg.TTL.Results = Age(time.Hour)
	box := newFakeOutbox()
	for i := range 3 {
		box.appendAt("m v=1 "+nsString(now.Add(-time.Duration(i+2)*time.Hour).UnixNano())+"\n", now.Add(-3*time.Hour))
	}
	r, _, _ := newTestRunner(t, cfg, box, 0.5)
	r.now = func() time.Time { return now }
	startRunner(t, r)
	box.waitCommitted(t, 3)
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
	if st := r.Stats(); st.ExpiredPoints != 3 {
		t.Errorf("expired %d, want 3", st.ExpiredPoints)
	}
}

func nsString(v int64) string { return strconv.FormatInt(v, 10) }

// TestRunnerProbe checks that after probe_after failures a single entry
// goes first, and full batches resume once it is delivered.
func TestRunnerProbe(t *testing.T) {
	srv := newInfluxServer(t, func(n int, _ string, w http.ResponseWriter) {
		if n < 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	cfg := testConfig(srv.URL + "/write?db=edge")
	cfg.ProbeAfter = 3
	box := newFakeOutbox("m v=1 1\n", "m v=2 2\nm v=3 3\n", "m v=4 4\n", "m v=5 5\n")
	r, _, _ := newTestRunner(t, cfg, box, 0.5)
	startRunner(t, r)
	box.waitCommitted(t, 4)
	all := "m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\nm v=5 5\n"
	// Three full batches fail; the fourth attempt is a probe of entry 1,
	// which fails too; the next probe succeeds; then the rest in one batch.
	want := []string{all, all, all, "m v=1 1\n", "m v=1 1\n", "m v=2 2\nm v=3 3\nm v=4 4\nm v=5 5\n"}
	if got := srv.Bodies(); !reflect.DeepEqual(got, want) {
		t.Errorf("bodies\n%q\nwant\n%q", got, want)
	}
	if got := box.Commits(); !reflect.DeepEqual(got, []uint64{1, 4}) {
		t.Errorf("commits %v, want [1 4]", got)
	}
}

func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	var waits []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		now = now.Add(d)
		return nil
	}
	clock := func() time.Time { return now }
	b := newBucket(1000) // 1000 B/s, burst 1000
	ctx := context.Background()
	steps := []struct {
		advance time.Duration
		n       int
		wait    time.Duration
	}{
		{0, 600, 0},                       // 1000 -> 400
		{0, 600, 0},                       // 400 -> -200
		{0, 100, 200 * time.Millisecond},  // wait off 200, then -100
		{0, 2500, 100 * time.Millisecond}, // wait off 100, then -2500
		{time.Second, 10, 1500 * time.Millisecond},
		{10 * time.Second, 1000, 0}, // refilled to the burst, not beyond: 1000 -> 0
		{0, 1, 0},                   // level 0 is no debt
		{0, 1, time.Millisecond},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		waits = nil
		if err := b.take(ctx, s.n, clock, sleep); err != nil {
			t.Fatal(err)
		}
		var got time.Duration
		if len(waits) > 0 {
			got = waits[0]
		}
		if got != s.wait {
			t.Errorf("step %d: waited %s, want %s", i, got, s.wait)
		}
	}
	unlimited := newBucket(0)
	for range 3 {
		if err := unlimited.take(ctx, 1<<30, clock, func(context.Context, time.Duration) error {
			t.Fatal("unlimited bucket slept")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunnerRateLimit checks that a rate-limited runner waits between
// batches by their size.
func TestRunnerRateLimit(t *testing.T) {
	srv := newInfluxServer(t, nil)
	cfg := testConfig(srv.URL + "/write?db=edge")
	cfg.RateLimit = wal.Size(8) // bytes per second
	cfg.BatchPoints = 1
	box := newFakeOutbox("m v=1 1\n", "m v=2 2\n", "m v=3 3\n") // 8 bytes each
	r, sl, _ := newTestRunner(t, cfg, box, 0.5)
	now := time.Unix(5000, 0)
	r.now = func() time.Time { return now }
	startRunner(t, r)
	box.waitCommitted(t, 3)
	// Burst 8: the first goes at once (8 -> 0), the second too (0 is no
	// debt; -> -8), the third waits the 8 bytes off: 1 s.
	if got, want := sl.Waits(), []time.Duration{time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}
