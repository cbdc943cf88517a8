package transform

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rivulet-edge/rivulet/point"
)

type applyCase struct {
	name string
	cfg  Config
	in   string // line protocol, one point per line
	want string // emitted lines, in order
	errs []string
}

func (c applyCase) run(t *testing.T) {
	t.Helper()
	pr, err := Compile(c.cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	lines, errs := run(t, pr, c.in)
	if got := joinLines(lines); got != c.want {
		t.Errorf("emitted:\n%s\nwant:\n%s", got, c.want)
	}
	if !slices.Equal(errs, c.errs) {
		t.Errorf("errors = %q, want %q", errs, c.errs)
	}
}

func TestWhere(t *testing.T) {
	const in = "temperature,sensor=s1,zone=a value=21.5 1\n" +
		"temperature,sensor=s2,zone=c value=-50 2\n" +
		"humidity,zone=b value=40i 3\n" +
		"temperature,zone=b other=1 4\n" +
		"door,zone=a open=true 5"
	cases := []applyCase{
		{"measurement and field", Config{Where: `measurement == "temperature" && fields.value > -40`}, in,
			"temperature,sensor=s1,zone=a value=21.5 1", nil},
		{"tag in list", Config{Where: `tags.zone in ["a","b"]`}, in,
			"temperature,sensor=s1,zone=a value=21.5 1\nhumidity,zone=b value=40i 3\ntemperature,zone=b other=1 4\ndoor,zone=a open=true 5", nil},
		{"field presence", Config{Where: `"value" in fields`}, in,
			"temperature,sensor=s1,zone=a value=21.5 1\ntemperature,sensor=s2,zone=c value=-50 2\nhumidity,zone=b value=40i 3", nil},
		{"missing field is false, negated too", Config{Where: `!(fields.value > 0)`}, in,
			"temperature,sensor=s2,zone=c value=-50 2", nil},
		{"missing tag is false", Config{Where: `tags.sensor != "s1"`}, in,
			"temperature,sensor=s2,zone=c value=-50 2", nil},
		{"boolean field reads as 1", Config{Where: `fields.open == 1`}, in, "door,zone=a open=true 5", nil},
		{"integer field reads as float", Config{Where: `fields.value == 40.0`}, in, "humidity,zone=b value=40i 3", nil},
		{"time", Config{Where: `time >= 4`}, in, "temperature,zone=b other=1 4\ndoor,zone=a open=true 5", nil},
		{"dynamic key", Config{Where: `"zone" in tags && fields[tags.zone == "b" ? "other" : "value"] == 1`}, in,
			"temperature,zone=b other=1 4", nil},
		{"guarded default", Config{Where: `("value" in fields ? fields.value : 0) == 0`}, in,
			"temperature,zone=b other=1 4\ndoor,zone=a open=true 5", nil},
		{"string field", Config{Where: `sfields.state == "on"`}, "m state=\"on\" 1\nm state=\"off\" 2\nm state=1 3",
			`m state="on" 1`, nil},
		{"string field is not in fields", Config{Where: `"state" in fields`}, "m state=\"on\" 1\nm state=1 2", "m state=1 2", nil},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestMap(t *testing.T) {
	cases := []applyCase{
		{"new float field from int", Config{Map: MapConfig{Fields: map[string]string{"f": "fields.c * 1.8 + 32"}}},
			"t c=100i 1", "t c=100i,f=212 1", nil},
		{"replace in place keeps position", Config{Map: MapConfig{Fields: map[string]string{"a": "round(fields.a*10)/10"}}},
			"t a=1.26,b=2 1", "t a=1.3,b=2 1", nil},
		{"new fields appended in key order", Config{Map: MapConfig{Fields: map[string]string{"z": "1", "y": "2", "x": "3"}}},
			"t a=0 1", "t a=0,x=3,y=2,z=1 1", nil},
		{"expressions see the input, not each other", Config{Map: MapConfig{Fields: map[string]string{"a": "fields.a + 1", "b": "fields.a"}}},
			"t a=1 1", "t a=2,b=1 1", nil},
		{"missing field skips the entry", Config{Map: MapConfig{Fields: map[string]string{"f": "fields.nope + 1", "g": "2"}}},
			"t a=1 1", "t a=1,g=2 1", nil},
		{"tag from tags, kept sorted", Config{Map: MapConfig{Tags: map[string]string{"site": `tags.zone + "-" + tags.sensor`}}},
			"t,sensor=s1,zone=a v=1 1", "t,sensor=s1,site=a-s1,zone=a v=1 1", nil},
		{"empty tag result removes the tag", Config{Map: MapConfig{Tags: map[string]string{"zone": `tags.zone == "x" ? "" : tags.zone`}}},
			"t,a=1,zone=x v=1 1\nt,zone=y v=1 2", "t,a=1 v=1 1\nt,zone=y v=1 2", nil},
		{"tag from string field", Config{Map: MapConfig{Tags: map[string]string{"state": `upper(sfields.s)`}}},
			`t s="on" 1`, `t,state=ON s="on" 1`, nil},
		{"measurement", Config{Map: MapConfig{Measurement: `measurement + "_" + tags.unit`}},
			"t,unit=c v=1 1\nt v=1 2", "t_c,unit=c v=1 1\nt v=1 2", nil},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestRenameKeepDrop(t *testing.T) {
	cases := []applyCase{
		{"rename fields, tags, measurement", Config{Rename: RenameConfig{
			Fields: map[string]string{"t": "temp"}, Tags: map[string]string{"z": "a_zone"}, Measurement: "env"}},
			"m,b=1,z=x t=1,u=2 1", "env,a_zone=x,b=1 temp=1,u=2 1", nil},
		{"swap", Config{Rename: RenameConfig{Fields: map[string]string{"a": "b", "b": "a"}, Tags: map[string]string{"x": "y", "y": "x"}}},
			"m,x=1,y=2 a=1,b=2 1", "m,x=2,y=1 b=1,a=2 1", nil},
		{"renamed key replaces existing", Config{Rename: RenameConfig{Fields: map[string]string{"a": "b"}, Tags: map[string]string{"x": "y"}}},
			"m,x=1,y=2 a=1,b=2 1", "m,y=1 b=1 1", nil},
		{"keep", Config{Keep: KeepConfig{Fields: []string{"a", "c"}, Tags: []string{"y"}}},
			"m,x=1,y=2 a=1,b=2,c=3 1", "m,y=2 a=1,c=3 1", nil},
		{"keep with only tags keeps every field", Config{Keep: KeepConfig{Tags: []string{"nope"}}},
			"m,x=1 a=1,b=2 1", "m a=1,b=2 1", nil},
		{"keep nothing that exists drops the point", Config{Keep: KeepConfig{Fields: []string{"z"}}},
			"m a=1 1\nm z=1 2", "m z=1 2", nil},
		{"drop", Config{Drop: KeepConfig{Fields: []string{"b"}, Tags: []string{"x"}}},
			"m,x=1,y=2 a=1,b=2 1\nm b=1 2", "m,y=2 a=1 1", nil},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestEnrich(t *testing.T) {
	table := map[string]map[string]string{"a": {"building": "north", "floor": "1"}, "b": {"building": "south"}}
	cases := []applyCase{
		{"match", Config{Enrich: []EnrichConfig{{Tag: "zone", Table: table}}},
			"m,zone=a v=1 1\nm,zone=b v=1 2", "m,building=north,floor=1,zone=a v=1 1\nm,building=south,zone=b v=1 2", nil},
		{"no match without default adds nothing", Config{Enrich: []EnrichConfig{{Tag: "zone", Table: table}}},
			"m,zone=c v=1 1\nm v=1 2", "m,zone=c v=1 1\nm v=1 2", nil},
		{"default on no match and on missing tag", Config{Enrich: []EnrichConfig{{Tag: "zone", Table: table, Default: map[string]string{"building": "unknown"}}}},
			"m,zone=c v=1 1\nm v=1 2\nm,zone=b v=1 3", "m,building=unknown,zone=c v=1 1\nm,building=unknown v=1 2\nm,building=south,zone=b v=1 3", nil},
		{"existing tags are not overwritten", Config{Enrich: []EnrichConfig{{Tag: "zone", Table: table}}},
			"m,building=lab,zone=a v=1 1", "m,building=lab,floor=1,zone=a v=1 1", nil},
		{"earlier entry wins, later sees its tags", Config{Enrich: []EnrichConfig{
			{Tag: "zone", Table: table},
			{Tag: "building", Table: map[string]map[string]string{"north": {"site": "hq", "floor": "9"}}},
		}}, "m,zone=a v=1 1", "m,building=north,floor=1,site=hq,zone=a v=1 1", nil},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestSplit(t *testing.T) {
	cases := []applyCase{
		{"listed fields become measurements", Config{Split: SplitConfig{Fields: []string{"hum", "temp"}}},
			"env,room=k temp=21.5,hum=40i,batt=3 7", "temp,room=k value=21.5 7\nhum,room=k value=40i 7", nil},
		{"field name", Config{Split: SplitConfig{Fields: []string{"temp"}, Field: "v"}},
			"env,room=k temp=21.5 7", "temp,room=k v=21.5 7", nil},
		{"every field, kept measurement, tag", Config{Split: SplitConfig{Field: "value", Tag: "field"}},
			`env,room=k temp=21.5,on=true,s="x"`, "env,field=temp,room=k value=21.5\nenv,field=on,room=k value=true\nenv,field=s,room=k value=\"x\"", nil},
		{"split tag replaces an existing tag", Config{Split: SplitConfig{Fields: []string{"a"}, Tag: "room"}},
			"env,room=k a=1 1", "env,room=a value=1 1", nil},
		{"no selected field emits nothing", Config{Split: SplitConfig{Fields: []string{"a"}}},
			"env b=1 1", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

// TestOrder checks the fixed order where → map → rename → keep → drop →
// enrich → split: each stage sees what the previous one left.
func TestOrder(t *testing.T) {
	cfg := Config{
		// where sees the input measurement, before map and rename change it.
		Where: `measurement == "raw"`,
		// map sees input keys; its output is then renamed.
		Map:    MapConfig{Fields: map[string]string{"f": "fields.c * 1.8 + 32"}, Tags: map[string]string{"unit": `"F"`}},
		Rename: RenameConfig{Fields: map[string]string{"f": "temp_f", "c": "temp_c"}, Measurement: "env"},
		// keep uses the new names; the old name "f" would keep nothing.
		Keep: KeepConfig{Fields: []string{"temp_f", "temp_c", "hum"}},
		// drop runs after keep and before enrich: the enriched tag survives.
		Drop:   KeepConfig{Fields: []string{"temp_c"}, Tags: []string{"unit", "building"}},
		Enrich: []EnrichConfig{{Tag: "zone", Table: map[string]map[string]string{"a": {"building": "north"}}}},
		// split sees the final fields.
		Split: SplitConfig{Field: "value", Tag: "metric"},
	}
	c := applyCase{"order", cfg,
		"raw,zone=a c=100,hum=40,junk=1 9\nenv,zone=a c=0 10",
		"env,building=north,metric=hum,zone=a value=40 9\nenv,building=north,metric=temp_f,zone=a value=212 9", nil}
	c.run(t)
}

func TestRuntimeErrors(t *testing.T) {
	cases := []struct {
		applyCase
		is error
	}{
		{applyCase{"division by zero gives Inf: entry skipped", Config{Map: MapConfig{Fields: map[string]string{"r": "fields.a / fields.b", "k": "1"}}},
			"m a=1,b=0 1", "m a=1,b=0,k=1 1", []string{"map.fields.r: result is not a finite number: +Inf"}}, ErrNotFinite},
		{applyCase{"NaN", Config{Map: MapConfig{Fields: map[string]string{"r": "fields.a / fields.a"}}},
			"m a=0 1\nm a=2 2", "m a=0 1\nm a=2,r=1 2", []string{"map.fields.r: result is not a finite number: NaN"}}, ErrNotFinite},
		{applyCase{"integer division by zero in where drops the point", Config{Where: "time % int(fields.a) == 0"},
			"m a=0 1\nm a=1 2", "m a=1 2", []string{"where: runtime error: integer divide by zero (1:6)"}}, nil},
		{applyCase{"bad tag value", Config{Map: MapConfig{Tags: map[string]string{"t": `tags.a + "\\"`}}},
			"m,a=x v=1 1", "m,a=x v=1 1", []string{`map.tags.t: result is not a valid line-protocol name: "x\\"`}}, ErrBadName},
		{applyCase{"empty measurement", Config{Map: MapConfig{Measurement: `tags.a == "x" ? "" : "n"`}},
			"m,a=x v=1 1\nm,a=y v=1 2", "m,a=x v=1 1\nn,a=y v=1 2", []string{`map.measurement: result is not a valid line-protocol name: ""`}}, ErrBadName},
		{applyCase{"tag expression of unknown type returning a number", Config{Map: MapConfig{Tags: map[string]string{"t": `fromJSON("1")`}, Measurement: `fromJSON("1")`}},
			"m,t=x v=1 1", "m,t=x v=1 1", []string{"map.tags.t: result is float64, not string\nmap.measurement: result is float64, not string"}}, nil},
		{applyCase{"several errors on one point", Config{Map: MapConfig{Fields: map[string]string{"p": "1/fields.a", "q": "-1/fields.a"}}},
			"m a=0 1", "m a=0 1", []string{"map.fields.p: result is not a finite number: +Inf\nmap.fields.q: result is not a finite number: -Inf"}}, ErrNotFinite},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t)
			pr, _ := Compile(c.cfg)
			for _, p := range mustParse(t, c.in) {
				err := pr.Apply(&p, func(*point.Point) {})
				if err == nil {
					continue
				}
				var ee *EvalError
				if !errors.As(err, &ee) || !strings.HasPrefix(err.Error(), ee.Path+": ") {
					t.Errorf("error %v is not an *EvalError with its path", err)
				}
				if c.is != nil && !errors.Is(err, c.is) {
					t.Errorf("error %v is not %v", err, c.is)
				}
			}
		})
	}
}

// TestEmitReuse checks that the emitted point is a scratch point that
// Apply reuses, and that a Program gives the same result on a replay.
func TestEmitReuse(t *testing.T) {
	pr, err := Compile(Config{Map: MapConfig{Fields: map[string]string{"g": "fields.f * 2"}}})
	if err != nil {
		t.Fatal(err)
	}
	in := mustParse(t, "a f=1 1\nb,t=x f=2 2")
	var first []*point.Point
	var lines []string
	for round := 0; round < 2; round++ {
		for i := range in {
			err := pr.Apply(&in[i], func(p *point.Point) {
				first = append(first, p)
				lines = append(lines, p.String())
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if first[0] != first[1] {
		t.Error("emitted points are not reused")
	}
	want := "a f=1,g=2 1\nb,t=x f=2,g=4 2"
	if got := joinLines(lines); got != want+"\n"+want {
		t.Errorf("got\n%s\nwant the same twice:\n%s", got, want)
	}
}

// TestEnvMaps checks expressions that use the maps whole, including
// through $env, which the member-read rewrite does not see.
func TestEnvMaps(t *testing.T) {
	cases := []applyCase{
		{"keys and len", Config{Map: MapConfig{Fields: map[string]string{"n": "len(keys(fields)) + len(tags) + len(sfields)"}}},
			`m,a=1 x=1,y=2i,s="z" 1`, `m,a=1 x=1,y=2i,s="z",n=4 1`, nil},
		{"$env", Config{Where: `$env.fields.x == 1 && $env["tags"]["a"] == "1"`},
			"m,a=1 x=1 1\nm,a=2 x=1 2", "m,a=1 x=1 1", nil},
		{"time is int64", Config{Map: MapConfig{Fields: map[string]string{"s": "time / 1000000000"}}},
			"m x=1 1700000000000000000", "m x=1,s=1.7e+09 1700000000000000000", nil},
		{"results of every numeric type", Config{Map: MapConfig{Fields: map[string]string{"a": "abs(time)", "b": "len(tags)", "c": "fromJSON(\"2.5\")", "d": "1"}}},
			"m,t=1 x=1 20", "m,t=1 x=1,a=20,b=1,c=2.5,d=1 20", nil},
		{"int64 arithmetic", Config{Map: MapConfig{Fields: map[string]string{"s": "time + 1", "t": "time % 7"}}},
			"m x=1 20", "m x=1,s=21,t=6 20", nil},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}
