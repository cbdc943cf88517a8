package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/window"
)

// TestKeyTags: the tags a group key gives are those groupTags copies from
// the point, and keys groupBy cannot have made are refused.
func TestKeyTags(t *testing.T) {
	tag := func(kv ...string) []point.Tag {
		var ts []point.Tag
		for i := 0; i < len(kv); i += 2 {
			ts = append(ts, point.Tag{Key: kv[i], Value: kv[i+1]})
		}
		return ts
	}
	cases := []struct {
		name    string
		groupBy []string
		tags    []point.Tag // the point's, sorted by key
		want    []point.Tag
	}{
		{"all present", []string{"zone", "device"}, tag("device", "d1", "zone", "z1"), tag("device", "d1", "zone", "z1")},
		{"one absent", []string{"zone", "device", "sensor"}, tag("device", "d1", "zone", "z1"), tag("device", "d1", "zone", "z1")},
		{"none present", []string{"sensor"}, tag("device", "d1"), nil},
		{"no group_by", nil, tag("device", "d1"), nil},
		{"empty value", []string{"zone", "device"}, tag("device", "", "zone", "z1"), tag("device", "", "zone", "z1")},
		{"value with 0x01", []string{"b", "a"}, tag("a", "\x01x\x01", "b", "y"), tag("a", "\x01x\x01", "b", "y")},
		{"repeated name", []string{"a", "a"}, tag("a", "v"), tag("a", "v", "a", "v")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &point.Point{Measurement: "m", Tags: c.tags}
			key := string(appendGroupKey(nil, c.groupBy, p))
			got, ok := keyTags(nil, c.groupBy, key)
			if !ok || !slices.Equal(got, c.want) {
				t.Fatalf("keyTags(%q) = %v, %v; want %v", key, got, ok, c.want)
			}
			if own := ownTags(c.groupBy, p); own != nil {
				t.Fatalf("ownTags = %v, want none: the key gives them", own)
			}
			if g := groupTags(c.groupBy, p); !slices.Equal(g, c.want) {
				t.Fatalf("groupTags = %v, want %v", g, c.want)
			}
		})
	}
	for _, key := range []string{"", "\x01z1", "\x02z1\x00\x00", "\x00\x00\x00", "\x01z1\x00\x01d1\x00x", "\x01z1\x00\x01d1"} {
		dst := tag("k", "v")
		if got, ok := keyTags(dst, []string{"zone", "device"}, key); ok || !slices.Equal(got, dst) {
			t.Errorf("keyTags(%q) = %v, %v; want refused, dst unchanged", key, got, ok)
		}
	}
}

// TestGridTagsWithZeroByte: a group whose tag value holds a 0 byte (the
// key's separator) keeps its own tags; the others take theirs from the
// key. Results and a checkpoint round trip are the same for both.
func TestGridTagsWithZeroByte(t *testing.T) {
	c := StepConfig{Name: "w", Measurement: "m",
		Window:  window.Config{Type: "tumbling", Size: time.Minute, MaxDelay: 0, IdleTimeout: time.Second},
		GroupBy: []string{"zone", "device"}, Aggregates: []string{"count", "p95"}, MaxSeries: 10}
	op, err := newGridOp(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := window.NewTumbling(time.Minute).Start(base)
	devices := []string{"d\x00x", "d1"} // "d\x00x" would read back as "d" from the key
	for i, d := range devices {
		p := &point.Point{Measurement: "m", Time: start + int64(i)*sec,
			Tags:   []point.Tag{{Key: "device", Value: d}, {Key: "zone", Value: "z"}},
			Fields: []point.Field{{Key: "value", Value: lineprotocol.MustNewValue(float64(i + 1))}}}
		op.Add(p, p.Time, p.Time, nil)
	}
	for k, g := range op.panes[start] {
		if own, want := g.Tags != nil, k == "\x01z\x00\x01d\x00x\x00"; own != want {
			t.Fatalf("group %q holds tags %q: own %v, want %v", k, g.Tags, own, want)
		}
	}
	js, err := op.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{`"Value":"d\u0000x"`, `"Value":"d1"`} {
		if !bytes.Contains(js, []byte(d)) {
			t.Fatalf("checkpoint lacks the tag %s:\n%s", d, js)
		}
	}
	var buf bytes.Buffer
	if err := op.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), js) {
		t.Fatalf("WriteJSON:\n%s\nMarshalJSON:\n%s", buf.Bytes(), js)
	}
	back, err := newGridOp(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}
	for _, g := range back.panes[start] {
		if g.Tags != nil && g.Tags[0].Value != "d\x00x" {
			t.Fatalf("restored group keeps tags %q its key gives", g.Tags)
		}
	}
	// In key order: the key of "d\x00x" sorts before that of "d1".
	want := []string{"device=d\x00x zone=z value_count=1 value_p95=1", "device=d1 zone=z value_count=1 value_p95=2"}
	for name, o := range map[string]*gridOp{"original": op, "restored": back} {
		var got []string
		o.Advance(start+2*time.Minute.Nanoseconds(), func(p *point.Point) {
			got = append(got, resultString(p))
		})
		if !slices.Equal(got, want) {
			t.Errorf("%s: results %q, want %q", name, got, want)
		}
	}
}

// resultString renders p's tags and fields as "k=v …".
func resultString(p *point.Point) string {
	var b []byte
	for _, tg := range p.Tags {
		b = append(b, tg.Key+"="+tg.Value+" "...)
	}
	for i, f := range p.Fields {
		if i > 0 {
			b = append(b, ' ')
		}
		b = fmt.Appendf(b, "%s=%v", f.Key, f.Value.Interface())
	}
	return string(b)
}

// TestGridStateRewritesV2Fixture: the window step of the version 2
// fixture restores with no tag copies held, and writes its state back
// byte for byte.
func TestGridStateRewritesV2Fixture(t *testing.T) {
	data, err := os.ReadFile(compatFixture)
	if err != nil {
		t.Fatal(err)
	}
	ck := &memCkpt{}
	if err := ck.Save(compatSplit, data); err != nil {
		t.Fatal(err)
	}
	e, _, _ := compatEngine(t, compatSplit, ck)
	if _, err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	groups := 0
	for _, s := range e.steps {
		if g, ok := stepOp[*gridOp](s); ok {
			for _, pane := range g.panes {
				for k, grp := range pane {
					groups++
					if grp.Tags != nil {
						t.Errorf("group %q holds tags %v", k, grp.Tags)
					}
				}
			}
		}
	}
	if groups == 0 {
		t.Fatal("the fixture restored no window group")
	}
	var out bytes.Buffer
	if err := e.writeState(&out, compatSplit); err != nil {
		t.Fatal(err)
	}
	if a, b := windowState(t, data), windowState(t, out.Bytes()); !bytes.Equal(a, b) {
		t.Fatalf("window state written back:\n%s\nfixture:\n%s", b, a)
	}
}

// windowState returns the raw state of step temp_1m in checkpoint data.
func windowState(t *testing.T, data []byte) []byte {
	t.Helper()
	var ck struct {
		Steps []struct {
			Name  string          `json:"name"`
			State json.RawMessage `json:"state"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(data, &ck); err != nil {
		t.Fatal(err)
	}
	for _, s := range ck.Steps {
		if s.Name == "temp_1m" {
			return s.State
		}
	}
	t.Fatal("no step temp_1m")
	return nil
}
