package transform

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rivulet-edge/rivulet/point"
)

// BenchmarkApply measures one point of 2 tags and 2 fields through a step.
func BenchmarkApply(b *testing.B) {
	in := mustParse(b, "temperature,sensor=s1,zone=a value=21.5,battery=87i 1700000000000000000")
	// varied holds points whose values, sensors and zones change from one
	// point to the next, as in a real stream, so that no boxed value can
	// be reused.
	var lp strings.Builder
	for i := range 1024 {
		fmt.Fprintf(&lp, "temperature,sensor=s%d,zone=%c value=%d.25,battery=%di %d\n", i%7, 'a'+i%3, i, i%100, 1700000000000000000+i)
	}
	varied := mustParse(b, lp.String())
	whereMap := Config{
		Where: `measurement == "temperature" && fields.value > -40`,
		Map:   MapConfig{Fields: map[string]string{"value_f": "fields.value * 1.8 + 32"}},
	}
	cases := []struct {
		name string
		cfg  Config
		in   []point.Point
	}{
		{"where", Config{Where: `measurement == "temperature" && fields.value > -40`}, in},
		{"where/varied", Config{Where: `measurement == "temperature" && fields.value > -40`}, varied},
		{"where+map", whereMap, in},
		{"where+map/varied", whereMap, varied},
		{"where_in_tags+map_tag", Config{
			Where: `tags.zone in ["a", "b"]`,
			Map:   MapConfig{Tags: map[string]string{"site": `tags.zone + "-" + tags.sensor`}},
		}, varied},
		{"whole_map_in", Config{Where: `"value" in fields`}, in},
		{"rename+keep+drop+enrich", Config{
			Rename: RenameConfig{Fields: map[string]string{"value": "temp"}},
			Keep:   KeepConfig{Fields: []string{"temp", "battery"}},
			Drop:   KeepConfig{Tags: []string{"sensor"}},
			Enrich: []EnrichConfig{{Tag: "zone", Table: map[string]map[string]string{"a": {"building": "north"}}}},
		}, in},
		{"split", Config{Split: SplitConfig{Field: "value", Tag: "field"}}, in},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			pr, err := Compile(c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			emit := func(*point.Point) { n++ }
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p := &c.in[i%len(c.in)]
				i++
				if err := pr.Apply(p, emit); err != nil {
					b.Fatal(err)
				}
			}
			if n == 0 {
				b.Fatal("nothing emitted")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
