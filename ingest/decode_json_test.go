package ingest

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	jsonCfg := func(j JSONConfig) func(*TopicConfig) {
		return func(c *TopicConfig) { c.JSON = j }
	}
	runDecodeCases(t, "json", []decodeCase{
		{name: "object", payload: `{"temp":21.5,"ok":true,"state":"on"}`,
			want: "m ok=true,state=\"on\",temp=21.5\n"},
		{name: "array", payload: `[{"v":1},{"v":2}]`, want: "m v=1\nm v=2\n"},
		{name: "nested flattened", payload: `{"a":{"b":1,"c":{"d":2}},"e":3}`, want: "m a_b=1,a_c_d=2,e=3\n"},
		{name: "array member flattened", payload: `{"v":[1,2]}`, want: "m v_0=1,v_1=2\n"},
		{name: "null skipped", payload: `{"v":1,"x":null}`, want: "m v=1\n"},
		{name: "tag fields", cfg: jsonCfg(JSONConfig{TagFields: []string{"id", "n", "b"}}),
			payload: `{"id":"s1","n":7,"b":false,"v":1}`, want: "m,b=false,id=s1,n=7 v=1\n"},
		{name: "empty tag skipped", cfg: jsonCfg(JSONConfig{TagFields: []string{"id"}}),
			payload: `{"id":"","v":1}`, want: "m v=1\n"},
		{name: "fields restrict", cfg: jsonCfg(JSONConfig{Fields: []string{"v", "a_b"}}),
			payload: `{"v":1,"w":2,"a":{"b":3}}`, want: "m a_b=3,v=1\n"},
		{name: "config tag overrides json tag", cfg: func(c *TopicConfig) {
			c.JSON.TagFields = []string{"room"}
			c.Tags = map[string]string{"room": "{1}"}
		}, payload: `{"room":"attic","v":1}`, want: "m,room=kitchen v=1\n"},
		{name: "time rfc3339 default", cfg: jsonCfg(JSONConfig{TimeField: "ts"}),
			payload: `{"ts":"2023-11-14T22:13:20.5Z","v":1}`, want: "m v=1 1700000000500000000\n"},
		{name: "time unix default", cfg: jsonCfg(JSONConfig{TimeField: "ts"}),
			payload: `{"ts":1700000000.25,"v":1}`, want: "m v=1 1700000000250000000\n"},
		{name: "time unix exact", cfg: jsonCfg(JSONConfig{TimeField: "ts", TimeFormat: "unix"}),
			payload: `{"ts":1700000000.123456789,"v":1}`, want: "m v=1 1700000000123456789\n"},
		{name: "time unix_ms", cfg: jsonCfg(JSONConfig{TimeField: "ts", TimeFormat: "unix_ms"}),
			payload: `{"ts":1700000000123,"v":1}`, want: "m v=1 1700000000123000000\n"},
		{name: "time unix_us", cfg: jsonCfg(JSONConfig{TimeField: "ts", TimeFormat: "unix_us"}),
			payload: `{"ts":1700000000123456,"v":1}`, want: "m v=1 1700000000123456000\n"},
		{name: "time unix_ns", cfg: jsonCfg(JSONConfig{TimeField: "ts", TimeFormat: "unix_ns"}),
			payload: `{"ts":1700000000123456789,"v":1}`, want: "m v=1 1700000000123456789\n"},
		{name: "time exponent", cfg: jsonCfg(JSONConfig{TimeField: "ts"}),
			payload: `{"ts":1.7e9,"v":1}`, want: "m v=1 1700000000000000000\n"},
		{name: "time nested", cfg: jsonCfg(JSONConfig{TimeField: "meta_ts", TimeFormat: "unix"}),
			payload: `{"meta":{"ts":1},"v":1}`, want: "m v=1 1000000000\n"},
		{name: "time missing is ingest time", cfg: jsonCfg(JSONConfig{TimeField: "ts"}),
			payload: `{"v":1}`, want: "m v=1\n"},
		{name: "time field never a field", cfg: jsonCfg(JSONConfig{TimeField: "ts", Fields: []string{"ts", "v"}}),
			payload: `{"ts":1,"v":1}`, want: "m v=1 1000000000\n"},
		{name: "fields sorted", payload: `{"z":1,"a":2,"m":3}`, want: "m a=2,m=3,z=1\n"},
		{name: "ms wants number", cfg: jsonCfg(JSONConfig{TimeField: "ts", TimeFormat: "unix_ms"}),
			payload: `{"ts":"1700000000123","v":1}`,
			wantErr: `json: member "ts": time_format unix_ms wants a number, got string`},
		{name: "rfc3339 wants string", cfg: jsonCfg(JSONConfig{TimeField: "ts", TimeFormat: "rfc3339"}),
			payload: `{"ts":1,"v":1}`, wantErr: `json: member "ts": time_format rfc3339 wants a string, got number`},
		{name: "bad rfc3339", cfg: jsonCfg(JSONConfig{TimeField: "ts"}),
			payload: `{"ts":"yesterday","v":1}`, wantErr: `json: member "ts": time "yesterday" is not RFC 3339`},
		{name: "time bool", cfg: jsonCfg(JSONConfig{TimeField: "ts"}),
			payload: `{"ts":true,"v":1}`, wantErr: `time wants a number or a string, got bool`},
		{name: "time out of range", cfg: jsonCfg(JSONConfig{TimeField: "ts", TimeFormat: "unix"}),
			payload: `{"ts":1e20,"v":1}`, wantErr: `json: member "ts": time 1e20 out of range`},
		{name: "element named", payload: `[{"v":1},{"w":"x","v":1e999}]`,
			wantErr: `json: element 2: member "v": number 1e999 out of range`},
		{name: "element not object", payload: `[{"v":1},3]`, wantErr: "json: element 2: want an object, got number"},
		{name: "scalar", payload: `3`, wantErr: "json: want an object or an array of objects, got number"},
		{name: "no fields", payload: `{"x":null}`, wantErr: "json: object has no fields"},
		{name: "empty array", payload: `[]`, wantErr: "json: no points"},
		{name: "empty", payload: ``, wantErr: "json: empty payload"},
		{name: "syntax", payload: `{"v":}`, wantErr: "json: invalid character"},
		{name: "trailing", payload: `{"v":1} x`, wantErr: "json: trailing data"},
		{name: "collision", payload: `{"a_b":1,"a":{"b":2}}`, wantErr: `json: member "a_b": appears twice`},
		{name: "empty key", payload: `{"":1}`, wantErr: "invalid field key"},
	})
}

func TestScaleDecimal(t *testing.T) {
	tests := []struct {
		in   string
		mul  int64
		want int64
		ok   bool
	}{
		{"0", 1e9, 0, true},
		{"1", 1e9, 1e9, true},
		{"-1.5", 1e9, -1.5e9, true},
		{"1.123456789123", 1e9, 1123456789, true},
		{"1e-10", 1e9, 0, true},
		{"12.5e3", 1, 12500, true},
		{"0.000e5000", 1e9, 0, true},
		{"1e5000", 1, 0, false},
		{"1e-5000", 1, 0, true},
		{"9223372036854775807", 1, math.MaxInt64, true},
		{"9223372036854775808", 1, 0, false},
		{"-9223372036854775808", 1, math.MinInt64, true},
		{"-9223372036854775809", 1, 0, false},
		{"9223372036.854775807", 1e9, math.MaxInt64, true},
		{"18446744073709551616", 1, 0, false},
	}
	for _, tc := range tests {
		got, ok := scaleDecimal(tc.in, tc.mul)
		if got != tc.want || ok != tc.ok {
			t.Errorf("scaleDecimal(%s, %d) = %d, %v; want %d, %v", tc.in, tc.mul, got, ok, tc.want, tc.ok)
		}
	}
}

// TestDecodeJSONNamesBounded: an array of 9000 numbers under a 4 KiB
// name, a 22 KB payload, would flatten into 36 MiB of names; it is
// refused with an error that says so.
func TestDecodeJSONNamesBounded(t *testing.T) {
	r := fuzzRule(t, "json", nil)
	payload := `{"` + strings.Repeat("n", 4096) + `":[` + strings.Repeat("0,", 8999) + `0]}`
	_, n, err := r.Decode("site/kitchen/temp", []byte(payload), nil)
	if err == nil || n != 0 || !strings.Contains(err.Error(), "json: flattened member names pass 32 MiB") {
		t.Fatalf("got %d points, %v", n, err)
	}
	// The same shape with room to spare decodes.
	payload = `{"` + strings.Repeat("n", 4096) + `":[` + strings.Repeat("0,", 99) + `0]}`
	if _, n, err = r.Decode("site/kitchen/temp", []byte(payload), nil); err != nil || n != 1 {
		t.Fatalf("got %d points, %v", n, err)
	}
}

// jsonRules are json rules over the settings that change how members are
// read: every time format, tag fields, a field list.
func jsonRules(t testing.TB) []*Rule {
	var rules []*Rule
	for _, format := range []string{"", "unix", "unix_ms", "unix_us", "unix_ns", "rfc3339"} {
		rules = append(rules, fuzzRule(t, "json", func(tc *TopicConfig) {
			tc.JSON = JSONConfig{TimeField: "ts", TimeFormat: format, TagFields: []string{"id", "room", "a_b"}}
		}))
	}
	rules = append(rules, fuzzRule(t, "json", func(tc *TopicConfig) { tc.JSON.Fields = []string{"v", "a_b", "x_0"} }))
	rules = append(rules, fuzzRule(t, "json", func(tc *TopicConfig) { tc.Measurement = "{2}" }))
	return rules
}

// TestDecodeJSONMatchesReference holds the json decoder to the former one,
// built on encoding/json, for payloads chosen to reach every path of
// jsonScan: escapes, invalid UTF-8, surrogates, names given twice, nulls,
// numbers at the edges of the grammar and of float64, and syntax errors.
func TestDecodeJSONMatchesReference(t *testing.T) {
	deep := func(n int, open, close string) string {
		return strings.Repeat(open, n) + strings.Repeat(close, n)
	}
	// wide gives an object of n members named k0…k(n-2), k0 twice, then
	// the members in again: past 16 names, jsonScan finds names given
	// twice by sorting them.
	wide := func(n int, again string) string {
		var b strings.Builder
		b.WriteString(`{`)
		for i := range n {
			fmt.Fprintf(&b, `"k%d":%d,`, i%(n-1), i)
		}
		b.WriteString(again + `}`)
		return b.String()
	}
	payloads := []string{
		`{"v":1}`, ` {"v":1} `, "\t\r\n{\"v\":1}\n", `[{"v":1},{"v":2,"s":"x"}]`, `{"a":{"b":[1,{"c":true}]}}`,
		`{"ts":"2023-11-14T22:13:20Z","v":1}`, `{"ts":"2023-11-14T22:13:20+01:00","v":1}`, `{"ts":1.5e9,"id":"x","v":1}`,
		`{"ts":"1","v":1}`, `{"ts":true,"v":1}`, `{"ts":null,"v":1}`, `{"ts":[1],"v":1}`, `{"ts":{"x":1},"v":1}`,
		`[]`, `[ ]`, `{}`, `{ }`, `3`, `"s"`, `true`, `null`, `[3]`, `[{"v":1},3]`, `[{"v":1e999},3]`, `[{"v":1},[1]]`,
		`[{"v":1},"x"]`, `[{"v":1},null]`, `[{"v":1},true]`, `{"":1}`, `{"":{"b":1}}`, `{"":[1,2]}`, `{"a":{"":1}}`,
		`{"v":1e999}`, `{"v":-1e999}`, `{"v":1e-999}`, `{"v":-0}`, `{"v":0.0}`, `{"v":1E+2}`, `{"v":1e-2}`, `{"v":-0.5e1}`,
		`{"v":01}`, `{"v":1.}`, `{"v":.5}`, `{"v":-}`, `{"v":+1}`, `{"v":1e}`, `{"v":1e+}`, `{"v":0x1}`, `{"v":NaN}`,
		`{"v":Infinity}`, `{"v":tru}`, `{"v":truex}`, `{"v":nul}`, `{"v":falsey}`, `{"v":1,}`, `{,"v":1}`, `{"v" 1}`,
		`{"v":1 "w":2}`, `{v:1}`, `{'v':1}`, `{"v":1}}`, `{"v":1}]`, `[{"v":1}`, `[{"v":1},]`, `[,{"v":1}]`, `{"v":[1,]}`,
		`{"v":1} x`, `{"v":1}x`, `{"v":1} {"v":2}`, `{"v":1}` + "\x00", "\xef\xbb\xbf{\"v\":1}", ``, ` `, "\n",
		`{"v":1,"v":2}`, `{"v":1,"v":null}`, `{"v":null,"v":1}`, `{"a":{"x":1},"a":{"y":2}}`, `{"a":{"x":1},"a":5}`,
		`{"a":1,"a":{"x":1},"a":2}`, `{"a":{"b":1,"b":2},"c":3}`, `{"a":1,"\u0061":2}`, `{"a_b":1,"a":{"b":2}}`,
		`{"a":{"b":1},"a_b":2}`, `{"x":[1,2],"x_0":3}`, `{"x":[1,null,3]}`, `{"x":[[1,2],[3]]}`, `{"x":[]}`, `{"x":{}}`,
		`{"s":"a\"b\\c\/d\be\ff\ng\rh\ti"}`, `{"s":"\u0041\u00e9\u4e2d"}`, `{"s":"\ud83d\ude00"}`, `{"s":"\ud83d"}`,
		`{"s":"\ud83dx"}`, `{"s":"\ude00\ud83d"}`, `{"s":"\ud83d\u0041"}`, `{"s":"\ud83d\ud83d\ude00"}`, `{"s":"\u0000"}`,
		`{"s":"\uZZZZ"}`, `{"s":"\u12"}`, `{"s":"\x"}`, `{"s":"\'"}`, `{"s":"a` + "\x01" + `"}`, `{"s":"a` + "\x7f" + `"}`,
		`{"s":"` + "\xff\xfe" + `"}`, `{"s":"caf` + "\xc3" + `"}`, `{"s":"caf` + "\xc3\xa9" + `"}`, `{"` + "\xff" + `":1}`,
		`{"` + "\xff" + `":1,"` + "\xfe" + `":2}`, `{"s":"\t"}`, `{"s":"` + "\t" + `"}`, `{"s":"x`, `{"s":"x\`,
		`{"id":"","v":1}`, `{"id":"s1","room":"r","v":1}`, `{"id":7,"v":1}`, `{"id":true,"v":1}`, `{"id":"a,b=c","v":1}`,
		`{"a":{"b":"t"},"v":1}`, `{"v":"x\ny"}`, `{"v":true,"w":false}`, `{"x":null}`, `{"ts":1700000000123,"v":1}`,
		`{"ts":1700000000.123456789,"v":1}`, `{"ts":-1,"v":1}`, `{"ts":1e20,"v":1}`, `{"ts":"yesterday","v":1}`,
		`{"v":1,"ts":1700000000123456789}`, `[{"ts":1,"v":1},{"ts":"2023-11-14T22:13:20.5Z","v":2}]`,
		`{"temp":21.5,"ok":true,"state":"on"}`, `{"#":1}`, `{"a b":1,"c=d":2,"e,f":3}`, `{"v":1,"w":"\u00e9"}`,
		wide(15, `"v":1`), wide(16, `"v":1`), wide(17, `"v":1`), wide(40, `"k3":{"a":1},"k5":null,"k7":{"b":2},"k7":3`), wide(40, `"k1_a":1,"k1":{"a":2}`),
		deep(10000, "[", "]"), deep(10001, "[", "]"), `{"v":` + deep(9999, "[", "]") + `}`, `{"v":` + deep(10000, "[", "]") + `}`,
		strings.Repeat(`{"a":`, 9999) + `1` + strings.Repeat(`}`, 9999), strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001),
	}
	topics := []string{"site/kitchen/temp", "site/a b/c,d"}
	for _, r := range jsonRules(t) {
		for _, topic := range topics {
			for _, p := range payloads {
				checkDecodeAgainstReference(t, r, topic, []byte(p))
			}
		}
	}
}

// FuzzDecodeJSONReference holds the json decoder to the former one for
// random payloads.
func FuzzDecodeJSONReference(f *testing.F) {
	for _, s := range []string{
		`{"v":1}`, `[{"v":1},{"v":2,"s":"x"}]`, `{"a":{"b":[1,{"c":true}]}}`, `{"ts":"2023-11-14T22:13:20Z","v":1}`,
		`{"ts":1.5e9,"id":"x","v":1}`, `{"a":{"x":1},"a":{"y":2}}`, `{"s":"\ud83d\ude00\u0041"}`, `{"v":1e999}`, `[{"v":1},3]`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	rules := jsonRules(f)
	f.Fuzz(func(t *testing.T, payload []byte, which uint8) {
		checkDecodeAgainstReference(t, rules[int(which)%len(rules)], "site/kitchen/temp", payload)
	})
}
