package series

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/point"
)

const sec = int64(time.Second)

// ev is one call on an Op: Add of a point, Advance or Epoch. Times are in
// seconds.
type ev struct {
	kind    byte // 'a' Add, 'v' Advance, 'e' Epoch
	p       point.Point
	t, proc int64
}

// add parses one line of line protocol without timestamp.
func add(line string, t, proc int64) ev {
	var p point.Point
	if err := point.Parse([]byte(line), func(q *point.Point) error { p = q.Clone(); return nil }); err != nil {
		panic(err)
	}
	return ev{kind: 'a', p: p, t: t, proc: proc}
}

// addPoint adds a point built by hand (unsorted tags, non-finite values).
func addPoint(p point.Point, t, proc int64) ev { return ev{kind: 'a', p: p, t: t, proc: proc} }

func adv(proc int64) ev   { return ev{kind: 'v', proc: proc} }
func epoch(proc int64) ev { return ev{kind: 'e', proc: proc} }

// render writes an emitted point as "measurement,tags fields @seconds",
// floats in shortest form.
func render(p *point.Point) string {
	var b strings.Builder
	b.WriteString(p.Measurement)
	for _, t := range p.Tags {
		b.WriteString("," + t.Key + "=" + t.Value)
	}
	for i, f := range p.Fields {
		sep := ","
		if i == 0 {
			sep = " "
		}
		b.WriteString(sep + f.Key + "=" + f.Value.String())
	}
	b.WriteString(" @" + strconv.FormatFloat(float64(p.Time)/1e9, 'g', -1, 64))
	return b.String()
}

// run feeds evs to o and returns the rendered output.
func run(o *Op, evs []ev) []string {
	var out []string
	emit := func(p *point.Point) { out = append(out, render(p)) }
	for _, e := range evs {
		switch e.kind {
		case 'a':
			p := e.p
			o.Add(&p, e.t*sec, e.proc*sec, emit)
		case 'v':
			o.Advance(e.proc*sec, emit)
		case 'e':
			o.Epoch(e.proc * sec)
		}
	}
	return out
}

func cfg(op string, set func(*Config)) Config {
	c := DefaultConfig()
	c.Op = op
	if set != nil {
		set(&c)
	}
	return c
}

func f64(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

type opCase struct {
	name string
	cfg  Config
	evs  []ev
	want []string
	// Counters and series held after the run.
	len, dropped, ooo, expired int
}

func opCases() []opCase {
	unsorted := point.Point{Measurement: "m", Tags: []point.Tag{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}}}
	unsorted.AddField("value", lineprotocol.MustNewValue(7.0))
	return []opCase{
		{
			name: "rate: first point silent, per second, out of order skipped, series apart",
			cfg:  cfg("rate", nil),
			evs: []ev{
				add("m,host=a value=10", 1, 1),
				add("m,host=a value=20", 3, 3),
				add("m,host=b value=1i", 1, 3),
				add("m,host=a value=14", 4, 4),
				add("m,host=a value=100", 4, 4), // same t: skipped
				add("m,host=a value=100", 2, 4), // older: skipped
				add("m,host=b value=3i,s=\"x\"", 5, 5),
				add(`m,host=c value="x",ok=true`, 9, 9), // no number: not data, no series
			},
			want: []string{
				"r,host=a value_rate=5 @3",
				"r,host=a value_rate=-6 @4",
				"r,host=b value_rate=0.5 @5",
			},
			len: 2, ooo: 2,
		},
		{
			name: "rate on a counter: a decrease is a reset from 0",
			cfg:  cfg("rate", func(c *Config) { c.Counter = true }),
			evs: []ev{
				add("m value=10", 1, 1),
				add("m value=30", 3, 3),
				add("m value=5", 4, 4),
				add("m value=7", 6, 6),
				add("m value=-3", 7, 7),
			},
			want: []string{"r value_rate=10 @3", "r value_rate=5 @4", "r value_rate=1 @6", "r value_rate=0 @7"},
			len:  1,
		},
		{
			name: "derivative per minute of the listed field only",
			cfg:  cfg("derivative", func(c *Config) { c.Unit = time.Minute; c.Fields = []string{"v"} }),
			evs: []ev{
				add("m v=0,w=5", 0, 0),
				add("m v=30,w=9", 30, 30),
				add("m w=9", 40, 40), // no processed field: ignored
				add("m v=15", 60, 60),
			},
			want: []string{"r v_derivative=60 @30", "r v_derivative=-30 @60"},
			len:  1,
		},
		{
			name: "delta, plain and with two fields",
			cfg:  cfg("delta", nil),
			evs: []ev{
				add("m a=10,b=1", 1, 1),
				add("m a=25,b=0.5", 2, 2),
				add("m a=3", 3, 3),
			},
			want: []string{"r a_delta=15,b_delta=-0.5 @2", "r a_delta=-22 @3"},
			len:  1,
		},
		{
			name: "delta on a counter",
			cfg:  cfg("delta", func(c *Config) { c.Counter = true }),
			evs:  []ev{add("m a=10", 1, 1), add("m a=25", 2, 2), add("m a=5", 3, 3)},
			want: []string{"r a_delta=15 @2", "r a_delta=5 @3"},
			len:  1,
		},
		{
			name: "ewma",
			cfg:  cfg("ewma", func(c *Config) { c.Alpha = 0.5 }),
			evs:  []ev{add("m v=10", 1, 1), add("m v=20", 2, 2), add("m v=0", 1, 3)},
			want: []string{"r v_ewma=10 @1", "r v_ewma=15 @2", "r v_ewma=7.5 @1"},
			len:  1,
		},
		{
			name: "moving average of 3 points",
			cfg:  cfg("moving_average", func(c *Config) { c.Points = 3 }),
			evs: []ev{
				add("m v=1", 1, 1), add("m v=2", 2, 2), add("m v=3", 3, 3),
				add("m v=4", 4, 4), add("m v=10", 5, 5),
				add("m,host=b v=8", 5, 5),
			},
			want: []string{
				"r v_moving_average=1 @1", "r v_moving_average=1.5 @2", "r v_moving_average=2 @3",
				"r v_moving_average=3 @4", "r v_moving_average=" + f64(17.0/3) + " @5",
				"r,host=b v_moving_average=8 @5",
			},
			len: 2,
		},
		{
			name: "cumulative sum; overflow leaves the field out",
			cfg:  cfg("cumulative_sum", nil),
			evs: []ev{
				add("m v=1", 1, 1), add("m v=2.5", 2, 2), add("m v=-1", 3, 3),
				add("m,host=b v=1.5e308", 1, 3), add("m,host=b v=1.5e308", 2, 3),
			},
			want: []string{"r v_cumulative_sum=1 @1", "r v_cumulative_sum=3.5 @2", "r v_cumulative_sum=2.5 @3", "r,host=b v_cumulative_sum=1.5e+308 @1"},
			len:  2,
		},
		{
			name: "state duration around a threshold",
			cfg:  cfg("state_duration", func(c *Config) { c.Fields = []string{"temp"}; c.Threshold = 50 }),
			evs: []ev{
				add("m temp=40", 0, 0),
				add("m temp=45", 10, 10),
				add("m temp=60", 15, 15),
				add("m temp=70", 20, 20),
				add("m temp=50", 30, 30), // not above: below
				add("m temp=90", 25, 31), // older: skipped
				add("m temp=10", 30, 32), // same time: fine
				add("m temp=10", 42, 42),
			},
			want: []string{
				`r state="below",state_duration=0 @0`,
				`r state="below",state_duration=10 @10`,
				`r state="above",state_duration=0 @15`,
				`r state="above",state_duration=5 @20`,
				`r state="below",state_duration=0 @30`,
				`r state="below",state_duration=0 @30`,
				`r state="below",state_duration=12 @42`,
			},
			len: 1, ooo: 1,
		},
		{
			name: "on change of a listed field passes every field on",
			cfg:  cfg("on_change", func(c *Config) { c.Fields = []string{"v"} }),
			evs: []ev{
				add(`m v=1,s="x"`, 1, 1),
				add(`m v=1,s="y"`, 2, 2),
				add(`m v=1,w=5`, 3, 3),
				add(`m v=2i`, 4, 4),
				add(`m,host=b v=2i`, 4, 4),
			},
			want: []string{`r v=1,s="x" @1`, `r v=2i @4`, `r,host=b v=2i @4`},
			len:  2,
		},
		{
			name: "on change of any numeric field: a new field is a change",
			cfg:  cfg("on_change", nil),
			evs:  []ev{add("m a=1", 1, 1), add("m a=1,b=2", 2, 2), add("m a=1,b=2", 3, 3), add("m b=3", 4, 4)},
			want: []string{"r a=1 @1", "r a=1,b=2 @2", "r b=3 @4"},
			len:  1,
		},
		{
			name: "unsorted tags are the same series",
			cfg:  cfg("delta", nil),
			evs:  []ev{add("m,a=2,z=1 value=5", 1, 1), addPoint(unsorted, 2, 2)},
			want: []string{"r,a=2,z=1 value_delta=2 @2"},
			len:  1,
		},
		{
			name: "TTL frees a series, which then starts afresh",
			cfg:  cfg("rate", func(c *Config) { c.TTL = time.Hour }),
			evs: []ev{
				add("m,host=a v=1", 0, 0),
				add("m,host=b v=1", 5, 5),
				add("m,host=a v=2", 10, 10),
				adv(3604), // b: 3599 s without data
				adv(3605), // b: expired
				adv(3609),
				adv(3610), // a: expired
				add("m,host=a v=5", 3620, 3620),
				add("m,host=a v=6", 3621, 3621),
			},
			want: []string{"r,host=a v_rate=0.1 @10", "r,host=a v_rate=1 @3621"},
			len:  1, expired: 2,
		},
		{
			name: "an epoch restarts the TTL clock",
			cfg:  cfg("rate", func(c *Config) { c.TTL = time.Hour }),
			evs: []ev{
				add("m v=1", 0, 0),
				epoch(3000),
				adv(3600),
				adv(6599),
				add("m v=2", 1, 6599), // still held: a rate
				adv(10199),
				adv(10200),
			},
			want: []string{"r v_rate=1 @1"},
			len:  0, expired: 1,
		},
		{
			name: "no data fires once per silence, recovers, and fires again",
			cfg:  cfg("no_data", func(c *Config) { c.After = 10 * time.Second; c.TTL = 0; c.Fields = []string{"v"} }),
			evs: []ev{
				add("m,host=a v=1", 0, 0),
				add("m,host=b v=1", 2, 2),
				adv(5),
				adv(10),
				adv(11),
				add("m,host=b w=1", 11, 11), // not a listed field: not data
				adv(12),
				adv(30),
				add("m,host=a v=2", 40, 40),
				adv(49),
				adv(50),
			},
			want: []string{
				"r,host=a,measurement=m silent_s=10 @10",
				"r,host=b,measurement=m silent_s=10 @12",
				"r,host=a,measurement=m silent_s=0 @40",
				"r,host=a,measurement=m silent_s=10 @50",
			},
			len: 2,
		},
		{
			name: "no data reports in time order, then series key order",
			cfg:  cfg("no_data", func(c *Config) { c.After = 10 * time.Second }),
			evs: []ev{
				add("m,host=d v=1", 0, 0),
				add("m,host=c v=1", 0, 0),
				add("k,host=z v=1", 0, 0),
				add("m,host=e v=1", 0, 5),
				adv(100),
			},
			want: []string{
				"r,host=z,measurement=k silent_s=10 @10",
				"r,host=c,measurement=m silent_s=10 @10",
				"r,host=d,measurement=m silent_s=10 @10",
				"r,host=e,measurement=m silent_s=10 @15",
			},
			len: 4,
		},
		{
			name: "a restart gap is not silence",
			cfg:  cfg("no_data", func(c *Config) { c.After = 10 * time.Second }),
			evs: []ev{
				add("m v=1", 0, 0),
				adv(5),
				epoch(100), // the agent was down from 5 to 100
				adv(100),
				adv(109),
				adv(110),
				epoch(200), // a reconnect while silent: no second report
				adv(300),
				add("m v=2", 301, 301),
				adv(310),
				adv(311),
			},
			want: []string{
				"r,measurement=m silent_s=110 @110",
				"r,measurement=m silent_s=0 @301",
				"r,measurement=m silent_s=10 @311",
			},
			len: 1,
		},
		{
			name: "no data due before data returns in the same entry",
			cfg:  cfg("no_data", func(c *Config) { c.After = 10 * time.Second }),
			evs:  []ev{add("m v=1", 0, 0), add("m v=2", 15, 15)},
			want: []string{"r,measurement=m silent_s=10 @10", "r,measurement=m silent_s=0 @15"},
			len:  1,
		},
		{
			name: "TTL forgets a silent series: its return is new",
			cfg:  cfg("no_data", func(c *Config) { c.After = 10 * time.Second; c.TTL = time.Minute }),
			evs:  []ev{add("m v=1", 0, 0), adv(10), adv(59), adv(60), add("m v=2", 70, 70)},
			want: []string{"r,measurement=m silent_s=10 @10"},
			len:  1, expired: 1,
		},
		{
			name: "max series refuses new series and counts their points",
			cfg:  cfg("delta", func(c *Config) { c.MaxSeries = 2; c.TTL = 100 * time.Second }),
			evs: []ev{
				add("m,host=a v=1", 1, 1),
				add("m,host=b v=1", 1, 50),
				add("m,host=c v=1", 1, 60),
				add("m,host=c v=2", 2, 70),
				add("m,host=a v=3", 2, 80),
				adv(149), // b expires (a was seen at 80)
				add("m,host=c v=4", 3, 150),
				add("m,host=c v=5", 4, 151),
			},
			want: []string{"r,host=a v_delta=2 @2", "r,host=c v_delta=1 @4"},
			len:  2, dropped: 2, expired: 1,
		},
	}
}

func TestOps(t *testing.T) {
	for _, tc := range opCases() {
		t.Run(tc.name, func(t *testing.T) {
			o, err := New("r", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := run(o, tc.evs)
			if !slices.Equal(got, tc.want) {
				t.Errorf("output:\n got %q\nwant %q", got, tc.want)
			}
			counts := [4]int{o.Len(), int(o.Dropped()), int(o.OutOfOrder()), int(o.Expired())}
			if want := [4]int{tc.len, tc.dropped, tc.ooo, tc.expired}; counts != want {
				t.Errorf("len, dropped, out of order, expired = %v, want %v", counts, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, one per error; none = valid
	}{
		{"defaults with an op", cfg("rate", nil), nil},
		{"unknown op", cfg("x", nil), []string{`op: unknown op "x" (known: rate, derivative, delta, ewma, moving_average, cumulative_sum, state_duration, on_change, no_data)`}},
		{"rate per minute", cfg("rate", func(c *Config) { c.Unit = time.Minute }), []string{"unit: rate is always per second, got 1m0s (use op derivative for another unit)"}},
		{"rate unit 0", cfg("rate", func(c *Config) { c.Unit = 0 }), nil},
		{"derivative unit 0", cfg("derivative", func(c *Config) { c.Unit = 0 }), []string{"unit: must be positive, got 0s"}},
		{"alpha 2", cfg("ewma", func(c *Config) { c.Alpha = 2 }), []string{"alpha: must be in (0, 1], got 2"}},
		{"alpha 0", cfg("ewma", func(c *Config) { c.Alpha = 0 }), []string{"alpha: must be in (0, 1], got 0"}},
		{"alpha 1", cfg("ewma", func(c *Config) { c.Alpha = 1 }), nil},
		{"points", cfg("moving_average", func(c *Config) { c.Points = 1001 }), []string{"points: must be in [1, 1000], got 1001"}},
		{"state duration fields", cfg("state_duration", nil), []string{"fields: state_duration takes exactly one field, got 0"}},
		{"threshold", cfg("state_duration", func(c *Config) { c.Fields = []string{"v"}; c.Threshold = math.Inf(1) }), []string{"threshold: must be finite, got +Inf"}},
		{"fields", cfg("delta", func(c *Config) { c.Fields = []string{"a", "", "a"} }), []string{`fields[1]: field names must be non-empty and distinct, got ""`, `fields[2]: field names must be non-empty and distinct, got "a"`}},
		{"after", cfg("no_data", func(c *Config) { c.After = 0 }), []string{"after: must be positive, got 0s"}},
		{"ttl under after", cfg("no_data", func(c *Config) { c.TTL = time.Minute }), []string{"ttl: must exceed after (5m0s) for no_data, or be 0, got 1m0s"}},
		{"ttl 0 for no data", cfg("no_data", func(c *Config) { c.TTL = 0 }), nil},
		{"counter", cfg("ewma", func(c *Config) { c.Counter = true }), []string{"counter: applies to rate, derivative and delta only, not ewma"}},
		{"negative ttl and no series", cfg("delta", func(c *Config) { c.TTL = -1; c.MaxSeries = 0 }), []string{"ttl: must not be negative, got -1ns", "max_series: must be at least 1, got 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("Validate: %q, want %d errors %q", lines, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if lines[i] != w {
					t.Errorf("error %d: %q, want %q", i, lines[i], w)
				}
			}
			if _, err := New("r", tc.cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}
