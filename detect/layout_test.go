package detect

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
)

// alertOf is what an alert point must carry, written out by hand: the
// series' tags plus level, measurement and rule, sorted by key.
func alertOf(meas string, tags []point.Tag, level string) []point.Tag {
	want := append(slices.Clone(tags),
		point.Tag{Key: "level", Value: level},
		point.Tag{Key: "measurement", Value: meas},
		point.Tag{Key: "rule", Value: "hot"})
	slices.SortFunc(want, func(a, b point.Tag) int { return strings.Compare(a.Key, b.Key) })
	return want
}

// TestAlertIdentity: the measurement and tags of an alert are exactly
// those of its series, however the names are spelled, on the way up
// (Add), on the way back (Add), for a silence (Advance) and after a
// checkpoint restore. A zero byte in a name cannot come from line
// protocol but is kept all the same.
func TestAlertIdentity(t *testing.T) {
	cases := []struct {
		name string
		meas string
		tags []point.Tag
	}{
		{"no tags", "temperature", nil},
		{"one tag", "temperature", []point.Tag{{Key: "device", Value: "d1"}}},
		{"escaped characters", "temp room,1", []point.Tag{
			{Key: "device", Value: `d,"1"\x`}, {Key: "site id", Value: "a=b c"}, {Key: "zone", Value: "north east"}}},
		{"empty value", "m", []point.Tag{{Key: "a", Value: ""}, {Key: "b", Value: "x"}}},
		{"zero byte in a value", "m", []point.Tag{{Key: "a", Value: "x\x00b"}, {Key: "c", Value: "y"}}},
		{"zero byte in the measurement", "m\x00a", []point.Tag{{Key: "b", Value: "c"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, kind := range []string{"threshold", "no_data"} {
				c := detector(kind)
				c.Alert = ops.AlertConfig{}
				o := newOp(t, c)
				var got [][]point.Tag
				emit := func(p *point.Point) {
					if p.Measurement != "alerts" {
						t.Errorf("%s: alert of measurement %q", kind, p.Measurement)
					}
					got = append(got, slices.Clone(p.Tags))
				}
				// Borrowed strings, overwritten after each Add.
				buf := []byte(tc.meas)
				add := func(o *Op, v float64, ts int64) {
					p := &point.Point{Measurement: unsafeString(buf)}
					for _, tg := range tc.tags {
						p.Tags = append(p.Tags, point.Tag{Key: strings.Clone(tg.Key), Value: strings.Clone(tg.Value)})
					}
					p.AddField("value", lineprotocol.MustNewValue(v))
					o.Add(p, ts, ts, emit)
					copy(buf, strings.Repeat("#", len(buf)))
					buf = []byte(tc.meas)
				}
				var want [][]point.Tag
				min := int64(time.Minute)
				if kind == "threshold" {
					add(o, 50, 1)
					o = reload(t, c, o)
					add(o, 10, 2)
					want = [][]point.Tag{alertOf(tc.meas, tc.tags, "crit"), alertOf(tc.meas, tc.tags, "ok")}
				} else {
					add(o, 1, 0)
					o.Advance(15*min, emit)
					o = reload(t, c, o)
					o.Advance(25*min, emit)
					add(o, 1, 26*min)
					want = [][]point.Tag{alertOf(tc.meas, tc.tags, "warn"), alertOf(tc.meas, tc.tags, "crit"), alertOf(tc.meas, tc.tags, "ok")}
				}
				if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
					t.Errorf("%s: alert tags\n got %q\nwant %q", kind, got, want)
				}
			}
		})
	}
}

// TestCheckpointTagsExact: a checkpoint holds each series' measurement and
// tags as they came, a zero byte included, and restores them.
func TestCheckpointTagsExact(t *testing.T) {
	c := detector("threshold")
	o := newOp(t, c)
	in := []*point.Point{
		pt("m", "value", 1, "a=x\x00b", "c=y"),
		pt("m", "value", 1, "a=x", "b=y"),
		pt("temp room,1", "value", 1, `device=d,"1"\x`, "zone=north east"),
	}
	for _, p := range in {
		o.Add(p, 1, 1, func(*point.Point) {})
	}
	js, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var st opState
	if err := json.Unmarshal(js, &st); err != nil {
		t.Fatal(err)
	}
	// Rows come in key order: "m\0a\0x\0b\0c\0y" < "m\0a\0x\0b\0y" < "temp...".
	want := in
	if len(st.Series) != len(want) {
		t.Fatalf("%d rows, want %d", len(st.Series), len(want))
	}
	for i, row := range st.Series {
		if row.Measurement != want[i].Measurement || fmt.Sprintf("%q", row.Tags) != fmt.Sprintf("%q", want[i].Tags) {
			t.Errorf("row %d: %q %q, want %q %q", i, row.Measurement, row.Tags, want[i].Measurement, want[i].Tags)
		}
	}
	again, err := json.Marshal(reload(t, c, o))
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(js) {
		t.Errorf("restored checkpoint differs:\n got %s\nwant %s", again, js)
	}
}

// TestAddAllocs: Add allocates nothing for a known series that raises no
// alert, and one allocation (its key) per new series, amortized, for every
// detector kind: the per-series state lives in pages, not in objects of
// its own.
func TestAddAllocs(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			o := newOp(t, detector(kind))
			const n = 4096
			ps := make([]*point.Point, n)
			for i := range ps {
				ps[i] = pt("temperature", "value", 20, fmt.Sprintf("device=d%d", i), fmt.Sprintf("zone=z%d", i%10))
			}
			emit := func(*point.Point) { t.Fatal("an alert") }
			i := 0
			newSeries := testing.AllocsPerRun(n-1, func() {
				o.Add(ps[i], int64(i), int64(i), emit)
				i++
			})
			// Windowed detectors keep a detector per series, as before.
			limit := 1.0
			switch kind {
			case "zscore", "mad", "anomaly":
				limit = 12
			}
			if newSeries > limit {
				t.Errorf("%.0f allocations per new series, want at most %.0f", newSeries, limit)
			}
			known := testing.AllocsPerRun(100, func() {
				o.Add(ps[i%n], int64(n+i), int64(n+i), emit)
				i++
			})
			if known != 0 {
				t.Errorf("%.0f allocations per point of a known series, want none", known)
			}
		})
	}
}

// TestLayout pins where the state of each detector kind lives: the small
// ones share the rule's detector and keep only their state per series.
func TestLayout(t *testing.T) {
	want := map[string]string{
		"threshold": "shared", "ewma": "shared", "rate": "shared", "stuck": "shared", "no_data": "shared",
		"bounds": "stateless", "zscore": "owned", "mad": "owned", "anomaly": "anomalies",
	}
	for _, kind := range Kinds {
		var got string
		switch newOp(t, detector(kind)).det.(type) {
		case stateless:
			got = "stateless"
		case *owned:
			got = "owned"
		case *anomalies:
			got = "anomalies"
		case *shared[ops.ThresholdState], *shared[ops.EWMAState], *shared[ops.RateState], *shared[StuckState], *shared[GapState]:
			got = "shared"
		}
		if got != want[kind] {
			t.Errorf("%s: state %q, want %q", kind, got, want[kind])
		}
	}
	// seen, sustain (since, count, raw, level) and alert (held, cooldown,
	// flap, level, pending, flapping): six words and five bytes.
	if s := unsafe.Sizeof(entry{}); s > 7*8 {
		t.Errorf("entry is %d bytes, want at most 56", s)
	}
}
