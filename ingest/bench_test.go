package ingest

import (
	"fmt"
	"strings"
	"testing"
)

func benchRule(b *testing.B, tc TopicConfig) *Rule {
	b.Helper()
	r, err := NewRule(tc)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func influxPayload(n int) []byte {
	var s strings.Builder
	for i := range n {
		fmt.Fprintf(&s, "climate,room=r%d temperature=%d.5,humidity=4%d.25 %d\n",
			i%5, 20+i%5, i%10, 1_700_000_000_000_000_000+int64(i)*1e9)
	}
	return []byte(s.String())
}

// BenchmarkDecode measures Rule.Decode per payload format, with the topic
// templates of a typical site.
func BenchmarkDecode(b *testing.B) {
	tags := map[string]string{"site": "gh1", "device": "{2}"}
	tests := []struct {
		name    string
		tc      TopicConfig
		payload []byte
		points  int
	}{
		{"value", TopicConfig{Filter: "sensors/+/+/temperature", Format: "value", QoS: -1,
			Measurement: "temperature", Tags: tags}, []byte("21.5"), 1},
		{"influx/lines=1", TopicConfig{Filter: "sensors/+/+/temperature", Format: "influx", QoS: -1, Tags: tags},
			influxPayload(1), 1},
		{"influx/lines=50", TopicConfig{Filter: "sensors/+/+/temperature", Format: "influx", QoS: -1, Tags: tags},
			influxPayload(50), 50},
		{"json", TopicConfig{Filter: "sensors/+/+/temperature", Format: "json", QoS: -1, Measurement: "climate", Tags: tags,
			JSON: JSONConfig{TimeField: "ts", TimeFormat: "unix_ms", TagFields: []string{"room"}}},
			[]byte(`{"ts":1700000000000,"room":"r1","temperature":21.5,"humidity":40.25,"battery":{"v":3.1,"pct":87}}`), 1},
		{"json/points=10", TopicConfig{Filter: "sensors/+/+/temperature", Format: "json", QoS: -1, Measurement: "temperature", Tags: tags,
			JSON: JSONConfig{TimeField: "ts", TimeFormat: "unix_ns", TagFields: []string{"sensor"}}}, harnessJSON(10), 10},
	}
	const topic = "sensors/zone1/dev0042/temperature"
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			r := benchRule(b, tt.tc)
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(tt.payload)))
			for b.Loop() {
				var n int
				var err error
				if out, n, err = r.Decode(topic, tt.payload, out[:0]); err != nil || n != tt.points {
					b.Fatalf("%d points, %v", n, err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(tt.points)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// harnessPayload is an influx message as scripts/bench sends it: n sensors
// of one device, one float each, a 19-digit timestamp.
func harnessPayload(n int) []byte {
	var s strings.Builder
	for k := range n {
		fmt.Fprintf(&s, "temperature,sensor=s%d value=2%d.%02d 1700000000123456789\n", k, k%10, k%97)
	}
	return []byte(s.String())
}

// harnessJSON is a json message as scripts/bench sends it: an array of n
// objects, a sensor tag, a value and a 19-digit timestamp each.
func harnessJSON(n int) []byte {
	var s strings.Builder
	s.WriteByte('[')
	for k := range n {
		if k > 0 {
			s.WriteByte(',')
		}
		fmt.Fprintf(&s, `{"sensor":"s%d","value":2%d.%02d,"ts":1700000000123456789}`, k, k%10, k%97)
	}
	s.WriteByte(']')
	return []byte(s.String())
}

// BenchmarkDecodeInflux measures Rule.Decode of harness-like influx
// messages with the harness's topic tags, into a reused buffer and, as
// the MQTT source does, into a new one per message.
func BenchmarkDecodeInflux(b *testing.B) {
	tc := TopicConfig{Filter: "site/+/+/lp", Format: "influx", QoS: -1,
		Tags: map[string]string{"zone": "{1}", "device": "{2}"}}
	const topic = "site/zone-2/dev-42/lp"
	for _, c := range []struct {
		n     int
		fresh bool
	}{{10, false}, {100, false}, {10, true}, {100, true}} {
		n, payload := c.n, harnessPayload(c.n)
		name := fmt.Sprintf("points=%d", n)
		if c.fresh {
			name += "/new_buffer"
		}
		b.Run(name, func(b *testing.B) {
			r := benchRule(b, tc)
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				var got int
				var err error
				if c.fresh {
					out = nil
				}
				if out, got, err = r.Decode(topic, payload, out[:0]); err != nil || got != n {
					b.Fatalf("%d points, %v", got, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/point")
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkRoute measures topic mapping: Router.Route over several rules,
// then rendering the measurement and tag templates of the rule it picks.
func BenchmarkRoute(b *testing.B) {
	var topics []TopicConfig
	for i := range 8 {
		topics = append(topics, TopicConfig{Filter: fmt.Sprintf("plant%d/+/+/#", i), Format: "value", QoS: -1,
			Measurement: "{3}", Tags: map[string]string{"zone": "{1}", "device": "{2}", "line": "L{1}-{2}"}})
	}
	rt, err := NewRouter(topics)
	if err != nil {
		b.Fatal(err)
	}
	tests := []struct{ name, topic string }{
		{"first_rule", "plant0/z1/dev0042/temperature"},
		{"last_rule", "plant7/z1/dev0042/temperature"},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			var d decoder // reused, as Rule.Decode reuses pooled decoders
			for b.Loop() {
				r := rt.Route(tt.topic)
				if r == nil {
					b.Fatal("no rule")
				}
				d.rule, d.topic, d.tags, d.segs = r, tt.topic, d.tags[:0], d.segs[:0]
				if err := d.prepare(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
