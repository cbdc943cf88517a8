package forward

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
)

// parseOne parses a single line of line protocol into a point it owns.
func parseOne(t testing.TB, line string) point.Point {
	t.Helper()
	var out point.Point
	n := 0
	if err := point.Parse([]byte(line), func(p *point.Point) error {
		out, n = p.Clone(), n+1
		return nil
	}); err != nil || n != 1 {
		t.Fatalf("parse %q: %d points, %v", line, n, err)
	}
	return out
}

func TestTopicTemplateRender(t *testing.T) {
	alert := `alert,rule=hi\ temp,sensor=t/1,site=north state="crit" 1`
	tests := []struct {
		name, tmpl, line string
		rules            topicRules
		want             string
	}{
		{"issue example", "sites/{site}/alerts/{rule}", alert, mqttTopicRules, "sites/north/alerts/hi temp"},
		{"tag: form", "{tag:site}/{measurement}", alert, mqttTopicRules, "north/alert"},
		{"tag named measurement", "{tag:measurement}", alert, mqttTopicRules, "_"},
		{"missing tag", "sites/{site}/alerts/{rule}", "agg,site=south mean=1 1", mqttTopicRules, "sites/south/alerts/_"},
		{"mqtt level separator in a value", "s/{sensor}", alert, mqttTopicRules, "s/t_1"},
		{"mqtt wildcards in a value", "s/{sensor}", "m,sensor=a+b#c v=1 1", mqttTopicRules, "s/a_b_c"},
		{"literal only", "rivulet/out", alert, mqttTopicRules, "rivulet/out"},
		{"kafka", "rivulet.{site}.{measurement}", alert, kafkaTopicRules, "rivulet.north.alert"},
		{"kafka cleans a value", "r.{rule}.{sensor}", alert, kafkaTopicRules, "r.hi_temp.t_1"},
		{"kafka cleans unicode per character", "r.{sensor}", "m,sensor=°C v=1 1", kafkaTopicRules, "r._C"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm, err := compileTopic(tt.tmpl, "_", tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			p := parseOne(t, tt.line)
			got, err := tm.render([]byte("prefix"), &p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+tt.want {
				t.Errorf("got %q, want %q", got, "prefix"+tt.want)
			}
		})
	}
}

func TestTopicTemplateErrors(t *testing.T) {
	tests := []struct {
		name, tmpl, missing string
		rules               topicRules
		want                string
	}{
		{"empty", "", "_", mqttTopicRules, "must be set"},
		{"unclosed", "sites/{site", "_", mqttTopicRules, "unclosed '{'"},
		{"nested", "sites/{si{te}", "_", mqttTopicRules, "unclosed '{'"},
		{"stray close", "sites/site}", "_", mqttTopicRules, "'}' without '{'"},
		{"empty placeholder", "a/{}", "_", mqttTopicRules, "empty placeholder {}"},
		{"unknown kind", "a/{foo:bar}", "_", mqttTopicRules, "unknown placeholder {foo:bar}"},
		{"tag without name", "a/{tag:}", "_", mqttTopicRules, "names no tag"},
		{"mqtt wildcard", "a/+/{site}", "_", mqttTopicRules, "'+' is not allowed"},
		{"mqtt hash", "a/#", "_", mqttTopicRules, "'#' is not allowed"},
		{"mqtt $", "$SYS/{site}", "_", mqttTopicRules, "reserved for the broker"},
		{"mqtt missing_tag with slash", "a/{site}", "x/y", mqttTopicRules, `missing_tag "x/y"`},
		{"mqtt empty missing_tag", "a/{site}", "", mqttTopicRules, `missing_tag ""`},
		{"kafka slash", "a/{site}", "_", kafkaTopicRules, "'/' is not allowed in a Kafka topic"},
		{"kafka missing_tag", "a.{site}", "n/a", kafkaTopicRules, `missing_tag "n/a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileTopic(tt.tmpl, tt.missing, tt.rules)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestTopicRenderTooLong(t *testing.T) {
	tm, err := compileTopic("t.{sensor}", "_", kafkaTopicRules)
	if err != nil {
		t.Fatal(err)
	}
	p := parseOne(t, "m,sensor="+strings.Repeat("x", 248)+" v=1 1")
	if _, err := tm.render(nil, &p); err == nil || !strings.Contains(err.Error(), "Kafka allows 249") {
		t.Errorf("error %v, want too long", err)
	}
}

func TestAppendJSON(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"every type", `temp,sensor=t1,site=north u=3u,n=-7i,mean=21.5,whole=21,ok=true,s="say \"hi\"" 1700000000123456789`,
			`{"measurement":"temp","tags":{"sensor":"t1","site":"north"},` +
				`"fields":{"mean":21.5,"n":-7,"ok":true,"s":"say \"hi\"","u":3,"whole":21.0},` +
				`"time":"2023-11-14T22:13:20.123456789Z","ts":1700000000123456789}`},
		{"no tags, no time", "m v=1e-7", `{"measurement":"m","tags":{},"fields":{"v":1e-7},"time":"1970-01-01T00:00:00Z","ts":0}`},
		{"escapes", "m\\,x,k=a\\ b s=\"tab\\\\\tnl \u2028 é\" 1",
			`{"measurement":"m,x","tags":{"k":"a b"},"fields":{"s":"tab\\\tnl \u2028 é"},"time":"1970-01-01T00:00:00.000000001Z","ts":1}`},
		{"duplicate field keeps the last", "m b=1i,a=2i,b=3i 5",
			`{"measurement":"m","tags":{},"fields":{"a":2,"b":3},"time":"1970-01-01T00:00:00.000000005Z","ts":5}`},
		{"large float", "m v=1.5e300 5", `{"measurement":"m","tags":{},"fields":{"v":1.5e+300},"time":"1970-01-01T00:00:00.000000005Z","ts":5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseOne(t, tt.line)
			got := string(appendJSON(nil, &p))
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			var v any
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Errorf("not JSON: %v", err)
			}
		})
	}
}

// TestAppendJSONDecodes checks appendJSON against encoding/json: decoding
// the output gives the point's values back.
func TestAppendJSONDecodes(t *testing.T) {
	p := point.Point{Measurement: "ctl\x01\"q\"", Time: -1}
	p.SetTag("z", "ünï\\code")
	p.SetTag("a", "<&>")
	p.AddField("f", lineprotocol.MustNewValue(math.MaxFloat64))
	p.AddField("i", lineprotocol.MustNewValue(int64(math.MinInt64)))
	p.AddField("u", lineprotocol.MustNewValue(uint64(math.MaxUint64)))
	p.AddField("tiny", lineprotocol.MustNewValue(5e-324))
	var got struct {
		Measurement string
		Tags        map[string]string
		Fields      map[string]json.Number
		Time        string
		TS          int64
	}
	dec := json.NewDecoder(strings.NewReader(string(appendJSON(nil, &p))))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	wantFields := map[string]json.Number{"i": "-9223372036854775808", "u": "18446744073709551615", "tiny": "5e-324"}
	if got.Measurement != p.Measurement || !reflect.DeepEqual(got.Tags, map[string]string{"z": "ünï\\code", "a": "<&>"}) ||
		got.TS != -1 || got.Time != "1969-12-31T23:59:59.999999999Z" {
		t.Errorf("decoded %+v", got)
	}
	if f, err := got.Fields["f"].Float64(); err != nil || f != math.MaxFloat64 || string(got.Fields["f"]) != "1.7976931348623157e+308" {
		t.Errorf("field f = %s, want MaxFloat64 in exponent form", got.Fields["f"])
	}
	for k, want := range wantFields {
		if got.Fields[k] != want {
			t.Errorf("field %s = %s, want %s", k, got.Fields[k], want)
		}
	}
}

func TestSeriesKey(t *testing.T) {
	tests := []struct{ line, want string }{
		{"temp,site=north,sensor=t1 v=1 5", "temp,sensor=t1,site=north"},
		{"m v=1", "m"},
		{`a\ b,k\=1=v\,2 v=1`, `a\ b,k\=1=v\,2`},
	}
	var enc lineprotocol.Encoder
	for _, tt := range tests {
		p := parseOne(t, tt.line)
		got, err := appendSeriesKey(nil, &enc, &p)
		if err != nil || string(got) != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
}

func TestEachPointBadBatchIsPermanent(t *testing.T) {
	var dec point.Decoder
	err := eachPoint(&dec, []byte("m v=1 1\nbroken line\n"), func(*point.Point) error { return nil })
	var perm *PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("got %v, want *PermanentError", err)
	}
}

// TestAppendJSONFloatMatchesEncodingJSON compares appendJSONFloat with
// encoding/json over many magnitudes: the same text, but for the ".0" an
// integral value gets.
func TestAppendJSONFloatMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := []float64{0, 1, -1, 0.1, 1e-6, 9.99e-7, 1e20, 1e21, 123456789012345678, 5e-324, math.MaxFloat64, -2.5e-9}
	for range 5000 {
		vals = append(vals, math.Ldexp(r.Float64()-0.5, r.IntN(200)-100))
	}
	for _, f := range vals {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		got := string(appendJSONFloat(nil, f))
		if w := string(want); got != w && got != w+".0" {
			t.Errorf("%v: got %s, encoding/json %s", f, got, w)
		}
		if !strings.ContainsAny(got, ".e") {
			t.Errorf("%v: %s looks like an integer", f, got)
		}
	}
}
