package ingest

import (
	"bytes"
	"testing"
)

// fuzzDecode decodes payload with r and checks the contract: no panic; on
// error dst comes back unchanged; on success at least one point, exactly n
// lines of parseable line protocol appended after dst.
func fuzzDecode(t *testing.T, r *Rule, topic string, payload []byte) {
	dst := []byte("prefix v=1\n")
	out, n, err := r.Decode(topic, payload, dst)
	if err != nil {
		if !bytes.Equal(out, dst) || n != 0 {
			t.Fatalf("error %v but out=%q n=%d", err, out, n)
		}
		return
	}
	if n < 1 || !bytes.HasPrefix(out, dst) {
		t.Fatalf("success with n=%d out=%q", n, out)
	}
	checkParses(t, out[len(dst):], n)
}

func fuzzRule(t testing.TB, format string, mod func(*TopicConfig)) *Rule {
	tc := DefaultTopic()
	tc.Filter, tc.Format = "site/#", format
	if format != "influx" {
		tc.Measurement = "m"
	}
	tc.Tags = map[string]string{"room": "{1}"}
	if mod != nil {
		mod(&tc)
	}
	r, err := NewRule(tc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{"21.5", "-1e3", "true", "on", " x ", "", "NaN", "1e999", "\xff"} {
		f.Add([]byte(s))
	}
	r := fuzzRule(f, "value", nil)
	f.Fuzz(func(t *testing.T, payload []byte) {
		fuzzDecode(t, r, "site/kitchen/temp", payload)
	})
}

func FuzzDecodeInflux(f *testing.F) {
	for _, s := range []string{
		"m v=1", "m,a=1,b=2 v=1i,s=\"x\" 1700000000", "m v=1\n\n# c\nm v=2 2",
		"m,a=1 ", "m v=1 99999999999999999999", "#m v=1", "m\\ x,k\\=1=v\\,2 f=1 1",
	} {
		f.Add([]byte(s), uint8(0))
	}
	precs := []string{"ns", "us", "ms", "s"}
	var rules []*Rule
	for _, p := range precs {
		rules = append(rules, fuzzRule(f, "influx", func(tc *TopicConfig) { tc.Precision = p }))
	}
	rules = append(rules, fuzzRule(f, "influx", func(tc *TopicConfig) { tc.Measurement = "x{1}" }))
	f.Fuzz(func(t *testing.T, payload []byte, which uint8) {
		fuzzDecode(t, rules[int(which)%len(rules)], "site/kitchen/temp", payload)
	})
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"v":1}`, `[{"v":1},{"v":2,"s":"x"}]`, `{"a":{"b":[1,{"c":true}]}}`, `{"ts":"2023-11-14T22:13:20Z","v":1}`,
		`{"ts":1.5e9,"id":"x","v":1}`, `{"ts":"1","v":1}`, `[]`, `3`, `{"":1}`, `{"v":1e999}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	var rules []*Rule
	for _, format := range []string{"", "unix", "unix_ms", "unix_us", "unix_ns", "rfc3339"} {
		rules = append(rules, fuzzRule(f, "json", func(tc *TopicConfig) {
			tc.JSON = JSONConfig{TimeField: "ts", TimeFormat: format, TagFields: []string{"id", "room"}}
		}))
	}
	rules = append(rules, fuzzRule(f, "json", func(tc *TopicConfig) { tc.JSON.Fields = []string{"v", "a_b"} }))
	f.Fuzz(func(t *testing.T, payload []byte, which uint8) {
		fuzzDecode(t, rules[int(which)%len(rules)], "site/kitchen/temp", payload)
	})
}

// FuzzTemplate feeds arbitrary templates and topics through the measurement
// and a tag of a value rule.
func FuzzTemplate(f *testing.F) {
	f.Add("{0}", "{1}-x", "site/kitchen/temp")
	f.Add("m", "{9}", "a/b")
	f.Add("#{0}", "{0}", "x")
	f.Add("{0}", "{1}", "a//b")
	f.Add("{", "}", "a")
	f.Add("m{0}", "v\\", "a\\/b")
	f.Fuzz(func(t *testing.T, meas, tag, topic string) {
		tc := DefaultTopic()
		tc.Filter, tc.Format, tc.Measurement = "#", "value", meas
		tc.Tags = map[string]string{"t": tag}
		r, err := NewRule(tc)
		if err != nil {
			return
		}
		fuzzDecode(t, r, topic, []byte("1"))
		r.Match(topic)
	})
}
