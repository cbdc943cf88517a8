package series

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/point"
)

// tb is what the helpers need of testing.T and rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// splitRun runs evs with a checkpoint and restore into a fresh Op after the
// first i events, returning the output and the final Op.
func splitRun(t tb, c Config, evs []ev, i int) ([]string, *Op) {
	t.Helper()
	a, err := New("r", c)
	if err != nil {
		t.Fatal(err)
	}
	out := run(a, evs[:i])
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("checkpoint after %d events: %v", i, err)
	}
	b, err := New("r", c)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, b); err != nil {
		t.Fatalf("restore after %d events: %v\n%s", i, err, data)
	}
	again, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("restore after %d events is not faithful:\n got %s\nwant %s", i, again, data)
	}
	return append(out, run(b, evs[i:])...), b
}

// checkSplits checks that a checkpoint at every position changes nothing:
// not the output, not the final state.
func checkSplits(t tb, c Config, evs []ev) {
	t.Helper()
	whole, err := New("r", c)
	if err != nil {
		t.Fatal(err)
	}
	want := run(whole, evs)
	wantState, err := json.Marshal(whole)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= len(evs); i++ {
		got, o := splitRun(t, c, evs, i)
		if !slices.Equal(got, want) {
			t.Fatalf("split at %d:\n got %q\nwant %q", i, got, want)
		}
		state, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(state, wantState) {
			t.Fatalf("split at %d: final state\n got %s\nwant %s", i, state, wantState)
		}
	}
}

func TestCheckpointEverySplit(t *testing.T) {
	for _, tc := range opCases() {
		t.Run(tc.name, func(t *testing.T) { checkSplits(t, tc.cfg, tc.evs) })
	}
}

func TestRestoreRefuses(t *testing.T) {
	base := cfg("moving_average", func(c *Config) { c.Points = 2 })
	src, _ := New("r", base)
	run(src, []ev{add("m,host=a v=1", 1, 1), add("m,host=b v=2", 1, 2)})
	good, err := json.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(c *checkpoint)) string {
		var c checkpoint
		if err := json.Unmarshal(good, &c); err != nil {
			t.Fatal(err)
		}
		f(&c)
		b, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name, data, want string
		cfg              *Config
	}{
		{"not json", "{", "decode moving_average state", nil},
		{"version", edit(func(c *checkpoint) { c.Version = 9 }), "state version 9, this build reads 1", nil},
		{"other points", string(good), `state is for "moving_average|2|[]", this step is "moving_average|3|[]"`, ptr(cfg("moving_average", func(c *Config) { c.Points = 3 }))},
		{"other op", string(good), `state is for "moving_average|2|[]", this step is "ewma|0|[]"`, ptr(cfg("ewma", nil))},
		{"bad key", edit(func(c *checkpoint) { c.Series[0].Key = []byte("m\x01\x07\x00") }), "series 0: malformed key", nil},
		{"key twice", edit(func(c *checkpoint) { c.Series[1].Key = c.Series[0].Key }), "series 1: key twice", nil},
		{"order", edit(func(c *checkpoint) { c.Series[1].Seen = 0 }), "series 1: out of order", nil},
		{"silent", edit(func(c *checkpoint) { c.Series[1].Silent = true }), "series 1: out of order", nil},
		{"field id", edit(func(c *checkpoint) { c.Series[0].Fields[0].ID = 5 }), "series 0: field id 5 out of place", nil},
		{"ring position", edit(func(c *checkpoint) { c.Series[0].Fields[0].T = 2 }), "series 0: field 0: ring position 2 with 1 values does not fit 2 points", nil},
		{"ring size", edit(func(c *checkpoint) { c.Series[0].Ring = c.Series[0].Ring[:1] }), "series 0: ring of 1 values, want 2", nil},
		{"float", strings.Replace(string(good), `"v":1`, `"v":"x"`, 1), "invalid number", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			if tc.cfg != nil {
				c = *tc.cfg
			}
			o, _ := New("r", c)
			run(o, []ev{add("m,host=z v=5", 1, 1)})
			before, _ := json.Marshal(o)
			err := o.UnmarshalJSON([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("restore: %v, want %q", err, tc.want)
			}
			if after, _ := json.Marshal(o); !bytes.Equal(after, before) {
				t.Errorf("a failed restore changed the Op:\n%s\n%s", before, after)
			}
		})
	}
	var zero Op
	if err := zero.UnmarshalJSON(good); err == nil {
		t.Error("restore into a zero Op succeeded")
	}
}

func ptr[T any](v T) *T { return &v }

func TestCheckpointKeepsCountersAndEpoch(t *testing.T) {
	c := cfg("no_data", func(c *Config) { c.After = 10 * time.Second; c.MaxSeries = 1 })
	o, _ := New("r", c)
	run(o, []ev{add("m,host=a v=1", 0, 0), add("m,host=b v=1", 0, 0), epoch(50), adv(55)})
	data, _ := json.Marshal(o)
	r, _ := New("r", c)
	if err := json.Unmarshal(data, r); err != nil {
		t.Fatal(err)
	}
	if r.Dropped() != 1 || r.Len() != 1 {
		t.Errorf("dropped %d, len %d; want 1, 1", r.Dropped(), r.Len())
	}
	// The epoch at 50 holds the report back until 60.
	if got := run(r, []ev{adv(59), adv(60)}); !slices.Equal(got, []string{"r,host=a,measurement=m silent_s=60 @60"}) {
		t.Errorf("after restore: %q", got)
	}
}

// FuzzRestore feeds damaged checkpoints to UnmarshalJSON: it must refuse
// them or restore an Op that runs and checkpoints again, never panic.
func FuzzRestore(f *testing.F) {
	var cfgs []Config
	for _, tc := range opCases() {
		o, _ := New("r", tc.cfg)
		run(o, tc.evs)
		data, _ := json.Marshal(o)
		f.Add(len(cfgs), data)
		cfgs = append(cfgs, tc.cfg)
	}
	after := []ev{
		add("m,host=a v=1,value=2,a=3,temp=4", 5000, 5000),
		add("m,host=a v=1,value=2,a=3,temp=4", 5001, 5001),
		add("m,host=b v=-1", 5001, 5001), adv(6000), adv(9000),
	}
	f.Fuzz(func(t *testing.T, i int, data []byte) {
		if i < 0 {
			i = -i
		}
		c := cfgs[i%len(cfgs)]
		o, _ := New("r", c)
		if o.UnmarshalJSON(data) != nil {
			return
		}
		run(o, after)
		again, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("checkpoint of a restored Op: %v", err)
		}
		r, _ := New("r", c)
		if err := r.UnmarshalJSON(again); err != nil {
			t.Fatalf("restore of a restored Op's checkpoint: %v\n%s", err, again)
		}
	})
}

func TestIndexShrinks(t *testing.T) {
	o, _ := New("r", cfg("delta", func(c *Config) { c.TTL = time.Minute }))
	ps := benchPoints(5000)
	emit := func(*point.Point) {}
	for i := range ps {
		o.Add(&ps[i], 1, int64(i/1000)*sec, emit) // 1000 series at each of 0 … 4 s
	}
	o.Advance(63*sec, emit) // those of 0 … 3 s expire
	if o.Len() != 1000 || o.peak != 1000 || len(o.index) != 1000 {
		t.Fatalf("len %d, peak %d, index %d; want 1000 each", o.Len(), o.peak, len(o.index))
	}
	p := ps[4999]
	p.Fields = []point.Field{{Key: "value", Value: lineprotocol.MustNewValue(10.0)}}
	got := run(o, []ev{addPoint(p, 2, 63)})
	want := []string{"r,host=h004999,region=eu-west value_delta=" + f64(10-4999) + " @2"}
	if !slices.Equal(got, want) {
		t.Errorf("after the rebuild: %q, want %q", got, want)
	}
}
