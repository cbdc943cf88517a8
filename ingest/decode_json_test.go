package ingest

import (
	"math"
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
