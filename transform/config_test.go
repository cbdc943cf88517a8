package transform

import (
	"strings"
	"testing"
)

func TestEmpty(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want bool
	}{
		{"zero", Config{}, true},
		{"empty maps and lists", Config{Map: MapConfig{Fields: map[string]string{}}, Keep: KeepConfig{Fields: []string{}}}, true},
		{"split tag alone is off", Config{Split: SplitConfig{Tag: "field"}}, true},
		{"where", Config{Where: "true"}, false},
		{"map measurement", Config{Map: MapConfig{Measurement: `"m"`}}, false},
		{"rename measurement", Config{Rename: RenameConfig{Measurement: "m"}}, false},
		{"keep tags", Config{Keep: KeepConfig{Tags: []string{"a"}}}, false},
		{"drop fields", Config{Drop: KeepConfig{Fields: []string{"a"}}}, false},
		{"enrich", Config{Enrich: []EnrichConfig{{Tag: "a"}}}, false},
		{"split field", Config{Split: SplitConfig{Field: "v"}}, false},
		{"split fields", Config{Split: SplitConfig{Fields: []string{"v"}}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.cfg.Empty(); got != c.want {
				t.Errorf("Empty() = %v, want %v", got, c.want)
			}
		})
	}
}

// TestValidate checks that each problem is reported once, on a line of its
// own, starting with its key path. want lists one prefix per expected
// line; a line must start with it exactly.
func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"valid", Config{
			Where: `measurement == "temperature" && fields.value > -40 && tags.zone in ["a","b"]`,
			Map: MapConfig{
				Fields:      map[string]string{"f": "fields.value * 1.8 + 32", "r": "round(fields.value*10)/10", "n": "time"},
				Tags:        map[string]string{"site": `tags.zone + "-" + tags.sensor`, "s": "sfields.state"},
				Measurement: `measurement + "_c"`,
			},
			Split: SplitConfig{Fields: []string{"a"}},
		}, nil},
		{"bad syntax", Config{Where: "fields.value >"}, []string{"where: unexpected token EOF (1:14)"}},
		{"type error: string compared to int", Config{Where: "tags.zone > 3"},
			[]string{"where: invalid operation: > (mismatched types string and int) (1:11)"}},
		{"type error: map field returns string", Config{Map: MapConfig{Fields: map[string]string{"f": `tags.zone`}}},
			[]string{"map.fields.f: expected float64, but got string"}},
		{"type error: map tag returns number", Config{Map: MapConfig{Tags: map[string]string{"t": `fields.x`}}},
			[]string{"map.tags.t: expected string, but got float64"}},
		{"type error: where returns number", Config{Where: "fields.x"}, []string{"where: expected bool, but got float64"}},
		{"type error: measurement is a string", Config{Where: "measurement > 1"},
			[]string{"where: invalid operation: > (mismatched types string and int) (1:13)"}},
		{"unknown function", Config{Map: MapConfig{Fields: map[string]string{"f": "nosuch(fields.x)"}}},
			[]string{"map.fields.f: unknown name nosuch (1:1)"}},
		{"key of the wrong type", Config{Where: "fields[0] > 1"},
			[]string{"where: cannot use int to get an element from map[string]float64 (1:8)"}},
		{"unknown variable", Config{Where: "value > 1"}, []string{"where: unknown name value (1:1)"}},
		{"empty map expression", Config{Map: MapConfig{Fields: map[string]string{"f": ""}}},
			[]string{"map.fields.f: expression must not be empty"}},
		{"bad keys", Config{Map: MapConfig{Fields: map[string]string{"": "1"}, Tags: map[string]string{"a\\": `"x"`}}}, []string{
			"map.fields.: must not be empty",
			"map.tags.a\\: must be valid UTF-8",
		}},
		{"rename", Config{Rename: RenameConfig{Fields: map[string]string{"a": "c", "b": "c"}, Tags: map[string]string{"x": ""}, Measurement: "m\n"}}, []string{
			`rename.fields.b: "c" is also the new name of "a"`,
			"rename.tags.x: must not be empty",
			"rename.measurement: must be valid UTF-8",
		}},
		{"keep and drop", Config{Keep: KeepConfig{Fields: []string{"a", "a"}}, Drop: KeepConfig{Tags: []string{""}}}, []string{
			`keep.fields[1]: "a" is listed twice`,
			"drop.tags[0]: must not be empty",
		}},
		{"enrich", Config{Enrich: []EnrichConfig{
			{Table: map[string]map[string]string{"a": {"b": "c"}}},
			{Tag: "t"},
			{Tag: "t", Table: map[string]map[string]string{"v": {"k": ""}}, Default: map[string]string{"": "x"}},
		}}, []string{
			"enrich[0].tag: must be set",
			"enrich[1].table: table or default must be set",
			"enrich[2].table.v.k: must not be empty",
			"enrich[2].default.: must not be empty",
		}},
		{"split", Config{Split: SplitConfig{Fields: []string{"a", ""}, Field: "v\x00", Tag: "t\\"}}, []string{
			"split.fields[1]: must not be empty",
			"split.field: must be valid UTF-8",
			"split.tag: must be valid UTF-8",
		}},
		{"all problems at once", Config{Where: "1 +", Map: MapConfig{Measurement: "1"}, Enrich: []EnrichConfig{{}}}, []string{
			"where: unexpected token EOF (1:3)",
			"map.measurement: expected string, but got int",
			"enrich[0].tag: must be set",
			"enrich[0].table: table or default must be set",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", c.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(c.want) {
				t.Fatalf("Validate() gave %d problems, want %d:\n%v", len(lines), len(c.want), err)
			}
			for i, w := range c.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d = %q, want prefix %q", i, lines[i], w)
				}
			}
			if _, cerr := Compile(c.cfg); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Compile error %v differs from Validate error %v", cerr, err)
			}
		})
	}
}
