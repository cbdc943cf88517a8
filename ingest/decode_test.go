package ingest

import (
	"errors"
	"strings"
	"testing"

	"github.com/rivulet-edge/rivulet/point"
)

// decodeCase is one table entry: a topic entry, a message, and either the
// expected line protocol or a fragment of the expected error.
type decodeCase struct {
	name    string
	cfg     func(*TopicConfig)
	topic   string
	payload string
	want    string
	wantErr string
}

func runDecodeCases(t *testing.T, format string, cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultTopic()
			cfg.Filter, cfg.Format, cfg.Measurement = "site/+/+", format, "m"
			if format == "influx" {
				cfg.Measurement = ""
			}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			r, err := NewRule(cfg)
			if err != nil {
				t.Fatal(err)
			}
			topic := tc.topic
			if topic == "" {
				topic = "site/kitchen/temp"
			}
			prefix := []byte("keep\n")
			out, n, err := r.Decode(topic, []byte(tc.payload), prefix)
			if tc.wantErr != "" {
				var de *DecodeError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &de) {
					t.Fatalf("got %q, %v; want *DecodeError containing %q", out, err, tc.wantErr)
				}
				if string(out) != "keep\n" || n != 0 {
					t.Fatalf("on error got %q, %d; want dst unchanged", out, n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimPrefix(string(out), "keep\n"); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			if lines := strings.Count(tc.want, "\n"); n != lines {
				t.Fatalf("n = %d, want %d", n, lines)
			}
			checkParses(t, out[len(prefix):], n)
		})
	}
}

// checkParses fails unless out is line protocol of exactly n points with
// sorted tags.
func checkParses(t testing.TB, out []byte, n int) {
	t.Helper()
	got := 0
	err := point.Parse(out, func(p *point.Point) error {
		got++
		for i := 1; i < len(p.Tags); i++ {
			if p.Tags[i-1].Key >= p.Tags[i].Key {
				t.Fatalf("tags not sorted in %q", out)
			}
		}
		return nil
	})
	if err != nil || got != n {
		t.Fatalf("output %q: parsed %d points (%v), want %d", out, got, err, n)
	}
}

func TestDecodeValue(t *testing.T) {
	runDecodeCases(t, "value", []decodeCase{
		{name: "float", payload: "21.5", want: "m value=21.5\n"},
		{name: "integer is float", payload: "21", want: "m value=21\n"},
		{name: "negative exponent", payload: "-1.5e-3", want: "m value=-0.0015\n"},
		{name: "trimmed", payload: " 21.5\r\n", want: "m value=21.5\n"},
		{name: "true", payload: "true", want: "m value=true\n"},
		{name: "false", payload: "false", want: "m value=false\n"},
		{name: "string", payload: " on ", want: "m value=\"on\"\n"},
		{name: "nan is text", payload: "NaN", want: "m value=\"NaN\"\n"},
		{name: "hex is text", payload: "0x10", want: "m value=\"0x10\"\n"},
		{name: "quotes escaped", payload: `say "hi"`, want: `m value="say \"hi\""` + "\n"},
		{name: "field name", cfg: func(c *TopicConfig) { c.Field = "celsius" }, payload: "1", want: "m celsius=1\n"},
		{name: "empty field falls back", cfg: func(c *TopicConfig) { c.Field = "" }, payload: "1", want: "m value=1\n"},
		{name: "templates", cfg: func(c *TopicConfig) {
			c.Measurement = "{2}"
			c.Tags = map[string]string{"room": "{1}", "site": "home", "id": "{0}-{1}"}
		}, payload: "21.5", want: "temp,id=site-kitchen,room=kitchen,site=home value=21.5\n"},
		{name: "tag value escaped", cfg: func(c *TopicConfig) { c.Tags = map[string]string{"room": "{1}"} },
			topic: "site/living room/temp", payload: "1", want: "m,room=living\\ room value=1\n"},
		{name: "empty", payload: " \n", wantErr: "value: empty payload"},
		{name: "overflow", payload: "1e999", wantErr: `value: number "1e999" out of range`},
		{name: "invalid utf8", payload: "\xff\xfe", wantErr: "value: payload is neither a number nor valid UTF-8"},
		{name: "template beyond topic", cfg: func(c *TopicConfig) {
			c.Filter = "site/#"
			c.Tags = map[string]string{"room": "{3}"}
		}, topic: "site/kitchen", wantErr: `tags.room: template "{3}" wants segment {3}, topic "site/kitchen" has 2 segments`},
		{name: "template gives empty tag", cfg: func(c *TopicConfig) { c.Tags = map[string]string{"room": "{1}"} },
			topic: "site//temp", payload: "1", wantErr: "tags.room: template \"{1}\" gives an empty value"},
		{name: "measurement beyond topic", cfg: func(c *TopicConfig) { c.Filter, c.Measurement = "site/#", "{5}" },
			payload: "1", wantErr: "measurement: template \"{5}\""},
	})
}

func TestDecodeInflux(t *testing.T) {
	runDecodeCases(t, "influx", []decodeCase{
		{name: "one line", payload: "cpu,host=a usage=0.5 1700000000000000000",
			want: "cpu,host=a usage=0.5 1700000000000000000\n"},
		{name: "tags sorted", payload: "cpu,z=1,a=2 v=1i", want: "cpu,a=2,z=1 v=1i\n"},
		{name: "no timestamp", payload: "cpu v=1", want: "cpu v=1\n"},
		{name: "many lines, blank and comment", payload: "cpu v=1 1\n\n# note\ncpu v=2 2\r\ncpu v=3 3\n",
			want: "cpu v=1 1\ncpu v=2 2\ncpu v=3 3\n"},
		{name: "types", payload: `m s="x",b=t,u=3u,i=-2i,f=1.5 5`, want: `m s="x",b=true,u=3u,i=-2i,f=1.5 5` + "\n"},
		{name: "seconds", cfg: func(c *TopicConfig) { c.Precision = "s" }, payload: "m v=1 1700000000",
			want: "m v=1 1700000000000000000\n"},
		{name: "milliseconds", cfg: func(c *TopicConfig) { c.Precision = "ms" }, payload: "m v=1 1700000000123",
			want: "m v=1 1700000000123000000\n"},
		{name: "microseconds", cfg: func(c *TopicConfig) { c.Precision = "us" }, payload: "m v=1 1700000000123456",
			want: "m v=1 1700000000123456000\n"},
		{name: "measurement override", cfg: func(c *TopicConfig) { c.Measurement = "env_{2}" }, payload: "x v=1",
			want: "env_temp v=1\n"},
		{name: "config tag overrides payload tag", cfg: func(c *TopicConfig) { c.Tags = map[string]string{"room": "{1}"} },
			payload: "m,room=attic,a=1 v=1", want: "m,a=1,room=kitchen v=1\n"},
		{name: "syntax error names line", payload: "m v=1\nm v=2\nm v=\n", wantErr: "influx line 3: column"},
		{name: "no fields", payload: "m,a=1", wantErr: "influx line 1:"},
		{name: "timestamp overflow", cfg: func(c *TopicConfig) { c.Precision = "s" }, payload: "m v=1 99999999999999",
			wantErr: "influx line 1: timestamp"},
		{name: "only comments", payload: "# nothing\n", wantErr: "influx: no points"},
		{name: "empty", payload: "", wantErr: "influx: no points"},
	})
}

func TestDecodeErrNoPoints(t *testing.T) {
	r, err := NewRule(topic("a", "influx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Decode("a", nil, nil); !errors.Is(err, ErrNoPoints) {
		t.Fatalf("got %v, want ErrNoPoints", err)
	}
}

func TestIsDecimal(t *testing.T) {
	for s, want := range map[string]bool{
		"1": true, "-1": true, "+1.5": true, ".5": true, "5.": true, "1e3": true, "1E-3": true,
		"": false, "-": false, ".": false, "e3": false, "1e": false, "1e+": false, "inf": false,
		"NaN": false, "0x1p3": false, "1_000": false, "1.2.3": false, "1 2": false,
	} {
		if got := isDecimal(s); got != want {
			t.Errorf("isDecimal(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestDecodeAllocs checks that a message costs no allocation once the
// decoder's buffers have grown: json payloads, one object or an array of
// them, and a value payload whose measurement and tags come from templates
// joined from several parts.
func TestDecodeAllocs(t *testing.T) {
	if raceOn {
		t.Skip("under -race sync.Pool drops decoders at random")
	}
	jsonRule := fuzzRule(t, "json", func(tc *TopicConfig) {
		tc.JSON = JSONConfig{TimeField: "ts", TimeFormat: "unix_ns", TagFields: []string{"sensor"}}
	})
	valueRule := fuzzRule(t, "value", func(tc *TopicConfig) {
		tc.Measurement = "{3}_{2}"
		tc.Tags = map[string]string{"zone": "{1}", "line": "L{1}-{2}", "site": "gh1"}
	})
	for _, tc := range []struct {
		r       *Rule
		payload string
	}{
		{jsonRule, `{"ts":1700000000123456789,"sensor":"s1","value":21.5,"ok":true,"state":"on","battery":{"v":3.1,"pct":[87,86]}}`},
		{jsonRule, `[{"sensor":"s0","value":21.50,"ts":1700000000123456789},{"sensor":"s1","value":-3e2,"ts":1700000000123456789}]`},
		{jsonRule, `{"sensor":"caf\u00e9 \ud83d\ude00","value":1,"note":"a\"b"}`},
		{valueRule, `21.5`},
	} {
		var out []byte
		payload := []byte(tc.payload)
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			if out, _, err = tc.r.Decode("site/kitchen/dev7/temp", payload, out[:0]); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per payload, want 0", tc.payload, allocs)
		}
	}
}
