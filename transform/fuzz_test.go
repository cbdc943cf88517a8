package transform

import (
	"strings"
	"testing"

	"github.com/rivulet-edge/rivulet/point"
)

// FuzzCompile feeds arbitrary expressions to every expression key. Compile
// must not panic; a program that compiles must not panic on Apply either,
// and must emit only points that encode.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`measurement == "temperature" && fields.value > -40`,
		`tags.zone in ["a","b"]`,
		`fields.value * 1.8 + 32`,
		`"value" in fields`,
		`tags.zone + "-" + tags.sensor`,
		`round(fields.value*10)/10`,
		`fields[tags.zone]`,
		`sfields.s + "x"`,
		`len(keys(fields)) > 1 ? "many" : ""`,
		`time / 0`,
		`fields.value / 0`,
		`tags.zone > 3`,
		`fields.`,
		`nosuch()`,
		`measurement`,
		`"\\"`,
		`let x = fields.value; x * x`,
		`all(keys(tags), {# != ""})`,
	} {
		f.Add(s)
	}
	in := mustParse(f, "temperature,sensor=s1,zone=a value=21.5,n=3i,on=true,s=\"x\" 1\nother value=0")
	f.Fuzz(func(t *testing.T, src string) {
		configs := []Config{
			{Where: src},
			{Map: MapConfig{Fields: map[string]string{"f": src}}},
			{Map: MapConfig{Tags: map[string]string{"t": src}, Measurement: src}},
		}
		for _, c := range configs {
			pr, err := Compile(c)
			if err != nil {
				// The rewritten reads of constant keys must always find
				// their functions.
				if strings.Contains(err.Error(), "$") && !strings.Contains(src, "$") {
					t.Fatalf("%q: internal name in error: %v", src, err)
				}
				continue
			}
			for i := range in {
				_ = pr.Apply(&in[i], func(p *point.Point) {
					if _, err := point.AppendLine(nil, p); err != nil {
						t.Fatalf("%q emitted an invalid point: %v", src, err)
					}
				})
			}
		}
	})
}
