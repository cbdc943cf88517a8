package window

import (
	"strings"
	"testing"
	"time"
)

func TestGridTumblingAndOffset(t *testing.T) {
	min := int64(time.Minute)
	g := NewGrid(Config{Type: KindTumbling, Size: time.Minute, Offset: 15 * time.Second})
	for _, c := range []struct{ t, start int64 }{
		{0, -45 * int64(time.Second)},
		{15 * int64(time.Second), 15 * int64(time.Second)},
		{74 * int64(time.Second), 15 * int64(time.Second)},
		{75 * int64(time.Second), 75 * int64(time.Second)},
		{-1, -45 * int64(time.Second)},
	} {
		if got := g.PaneStart(c.t); got != c.start {
			t.Errorf("PaneStart(%d) = %d, want %d", c.t, got, c.start)
		}
		if f, l := g.Windows(c.start); f != c.start || l != c.start {
			t.Errorf("Windows(%d) = %d, %d", c.start, f, l)
		}
		if g.End(c.start) != c.start+min {
			t.Errorf("End(%d) = %d", c.start, g.End(c.start))
		}
	}
}

// TestGridHopping checks panes and the windows holding them against a
// brute-force enumeration of the windows of a 50s/20s hopping grid.
func TestGridHopping(t *testing.T) {
	s := int64(time.Second)
	g := NewGrid(Config{Type: KindHopping, Size: 50 * time.Second, Slide: 20 * time.Second, Offset: 5 * time.Second})
	if g.Pane != 10*s {
		t.Fatalf("pane = %d, want 10s", g.Pane)
	}
	for ts := -200 * s; ts < 200*s; ts += 3 * s {
		ps := g.PaneStart(ts)
		if ps > ts || ts >= g.PaneEnd(ps) || (ps-5*s)%(10*s) != 0 {
			t.Fatalf("PaneStart(%d) = %d", ts, ps)
		}
		// Brute force: windows start at 5s + k·20s and last 50s.
		var want []int64
		for k := int64(-20); k <= 20; k++ {
			w := 5*s + k*20*s
			if w <= ts && ts < w+50*s {
				want = append(want, w)
			}
		}
		first, last := g.Windows(ps)
		var got []int64
		for w := first; w <= last; w = g.Next(w) {
			got = append(got, w)
		}
		if len(got) != len(want) || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
			t.Fatalf("t=%ds: windows %v, want %v", ts/s, got, want)
		}
	}
}

func TestGridTimeZoneDays(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	g := NewGrid(Config{Type: KindTumbling, Size: 24 * time.Hour, TimeZone: "Europe/Berlin"})
	// 2026-03-29 is 23 hours long in Berlin (clocks go forward at 02:00).
	at := time.Date(2026, 3, 29, 12, 0, 0, 0, loc).UnixNano()
	start := g.PaneStart(at)
	if want := time.Date(2026, 3, 29, 0, 0, 0, 0, loc).UnixNano(); start != want {
		t.Fatalf("start = %s", time.Unix(0, start).In(loc))
	}
	if got := time.Duration(g.End(start) - start); got != 23*time.Hour {
		t.Errorf("day length %s, want 23h", got)
	}
	// Six-hour windows follow the wall clock: 00-06 is 5 hours long that day.
	h := NewGrid(Config{Type: KindTumbling, Size: 6 * time.Hour, TimeZone: "Europe/Berlin"})
	for _, c := range []struct{ hour, start, end int }{{1, 0, 6}, {5, 0, 6}, {6, 6, 12}, {12, 12, 18}, {23, 18, 24}} {
		ts := time.Date(2026, 3, 29, c.hour, 30, 0, 0, loc).UnixNano()
		s := h.PaneStart(ts)
		if want := time.Date(2026, 3, 29, c.start, 0, 0, 0, loc).UnixNano(); s != want {
			t.Errorf("%02d:30: start %s, want %02d:00", c.hour, time.Unix(0, s).In(loc), c.start)
		}
		if want := time.Date(2026, 3, 29, c.end, 0, 0, 0, loc).UnixNano(); h.End(s) != want {
			t.Errorf("%02d:30: end %s, want %02d:00", c.hour, time.Unix(0, h.End(s)).In(loc), c.end)
		}
	}
	if got := time.Duration(h.End(h.PaneStart(at)) - h.PaneStart(at)); got != 6*time.Hour {
		t.Errorf("12-18 lasts %s", got)
	}
	first := h.PaneStart(time.Date(2026, 3, 29, 1, 0, 0, 0, loc).UnixNano())
	if got := time.Duration(h.End(first) - first); got != 5*time.Hour {
		t.Errorf("00-06 on the spring-forward day lasts %s, want 5h", got)
	}
	if g.Next(start) != g.End(start) {
		t.Error("tumbling days must be contiguous")
	}
}

func TestConfigValidate(t *testing.T) {
	base := DefaultConfig()
	cases := []struct {
		edit func(*Config)
		want string // substring; "" = valid
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.Type = "hopping"; c.Slide = 10 * time.Second }, ""},
		{func(c *Config) { c.Type = "hopping" }, "slide: must be set"},
		{func(c *Config) { c.Type = "hopping"; c.Slide = 2 * time.Minute }, "slide: must not exceed size"},
		{func(c *Config) { c.Type = "hopping"; c.Slide = time.Millisecond; c.Size = time.Hour }, "panes per window"},
		{func(c *Config) { c.Slide = time.Second }, "slide: only for hopping"},
		{func(c *Config) { c.Type = "session" }, "gap: must be at least 1ms"},
		{func(c *Config) { c.Type = "session"; c.Gap = time.Minute }, ""},
		{func(c *Config) { c.Type = "count"; c.Points = 10; c.Every = 3 }, "every: must divide points"},
		{func(c *Config) { c.Type = "count"; c.Points = 10; c.Every = 5 }, ""},
		{func(c *Config) { c.Type = "count"; c.Points = 10; c.Late = LateUpdate; c.AllowedLateness = time.Second }, "count windows follow arrival order"},
		{func(c *Config) { c.Type = "sliding" }, `type: must be tumbling, hopping, session or count, got "sliding"`},
		{func(c *Config) { c.Offset = time.Minute }, "offset: must be in [0, size)"},
		{func(c *Config) { c.TimeZone = "Mars/Olympus" }, `timezone: unknown time zone "Mars/Olympus"`},
		{func(c *Config) { c.TimeZone = "UTC"; c.Size = 7 * time.Hour }, "timezone: size must divide 24h"},
		{func(c *Config) { c.TimeZone = "UTC"; c.Size = time.Hour }, ""},
		{func(c *Config) { c.Late = LateUpdate }, "allowed_lateness: must be set with late: update"},
		{func(c *Config) { c.Late = LateUpdate; c.AllowedLateness = time.Minute }, ""},
		{func(c *Config) { c.AllowedLateness = time.Minute }, "allowed_lateness: has no effect with late: drop"},
		{func(c *Config) { c.Late = LateSide }, "late_to: at least one sink"},
		{func(c *Config) { c.Late = "ignore" }, `late: must be drop, update or side, got "ignore"`},
	}
	for i, c := range cases {
		cfg := base
		c.edit(&cfg)
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("case %d: unexpected error %v", i, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("case %d: error %v, want %q", i, err, c.want)
		}
	}
}

// TestGridTimeZonePartition: around both clock changes of 2026 in Berlin,
// local windows of every size that divides a day cover time without gaps
// or overlaps, and the repeated hour belongs to one (two-hour) window.
func TestGridTimeZonePartition(t *testing.T) {
	if _, err := time.LoadLocation("Europe/Berlin"); err != nil {
		t.Skip("no tzdata:", err)
	}
	for _, size := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 24 * time.Hour} {
		g := NewGrid(Config{Type: KindTumbling, Size: size, TimeZone: "Europe/Berlin"})
		for _, from := range []time.Time{time.Date(2026, 3, 27, 20, 0, 0, 0, time.UTC), time.Date(2026, 10, 23, 20, 0, 0, 0, time.UTC)} {
			prevStart, prevEnd := int64(0), int64(0)
			for ts := from.UnixNano(); ts < from.Add(72*time.Hour).UnixNano(); ts += int64(time.Minute) {
				s := g.PaneStart(ts)
				e := g.End(s)
				if !(s <= ts && ts < e) {
					t.Fatalf("%v: t %s in [%s, %s)", size, time.Unix(0, ts).UTC(), time.Unix(0, s).UTC(), time.Unix(0, e).UTC())
				}
				if s != prevStart {
					if prevStart != 0 && s != prevEnd {
						t.Fatalf("%v: window %s follows one ending %s", size, time.Unix(0, s).UTC(), time.Unix(0, prevEnd).UTC())
					}
					prevStart, prevEnd = s, e
				}
			}
		}
	}
	g := NewGrid(Config{Type: KindTumbling, Size: time.Hour, TimeZone: "Europe/Berlin"})
	at := func(s string) int64 { v, _ := time.Parse(time.RFC3339, s); return v.UnixNano() }
	for _, c := range []struct{ t, start, end string }{
		{"2026-10-24T23:30:00Z", "2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z"},
		{"2026-10-25T00:30:00Z", "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z"}, // 02:00-03:00, twice
		{"2026-10-25T01:30:00Z", "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z"},
		{"2026-10-25T02:10:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"},
		{"2026-03-29T00:30:00Z", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z"}, // 01:00-02:00 CET, then the gap
		{"2026-03-29T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"},
	} {
		s := g.PaneStart(at(c.t))
		if s != at(c.start) || g.End(s) != at(c.end) {
			t.Errorf("%s: [%s, %s), want [%s, %s)", c.t, time.Unix(0, s).UTC(), time.Unix(0, g.End(s)).UTC(), c.start, c.end)
		}
	}
}
