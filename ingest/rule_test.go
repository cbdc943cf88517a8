package ingest

import (
	"strings"
	"testing"
)

func topic(filter, format string) TopicConfig {
	tc := DefaultTopic()
	tc.Filter, tc.Format = filter, format
	if format != "influx" {
		tc.Measurement = "m"
	}
	return tc
}

func TestRuleMatch(t *testing.T) {
	tests := []struct {
		name, filter, topic string
		want                bool
	}{
		{"exact", "a/b", "a/b", true},
		{"exact other", "a/b", "a/c", false},
		{"longer topic", "a/b", "a/b/c", false},
		{"shorter topic", "a/b", "a", false},
		{"plus one level", "a/+/c", "a/x/c", true},
		{"plus empty level", "a/+/c", "a//c", true},
		{"plus not two levels", "a/+/c", "a/x/y/c", false},
		{"plus last", "a/+", "a/x", true},
		{"plus last missing", "a/+", "a", false},
		{"hash rest", "a/#", "a/b/c", true},
		{"hash parent", "a/#", "a", true},
		{"hash not sibling", "a/#", "ab", false},
		{"hash all", "#", "x/y", true},
		{"hash no dollar", "#", "$SYS/broker", false},
		{"plus no dollar", "+/broker", "$SYS/broker", false},
		{"dollar literal", "$SYS/#", "$SYS/broker/uptime", true},
		{"empty topic", "#", "", false},
		{"leading slash", "/a", "/a", true},
		{"leading slash plus", "+/a", "/a", true},
		{"shared", "$share/g/s/+", "s/x", true},
		{"shared other", "$share/g/s/+", "t/x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRule(topic(tc.filter, "value"))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Match(tc.topic); got != tc.want {
				t.Fatalf("Match(%q) on %q = %v, want %v", tc.topic, tc.filter, got, tc.want)
			}
		})
	}
}

func TestRouterFirstMatchWins(t *testing.T) {
	a, b, c := topic("s/+/temp", "value"), topic("s/#", "json"), topic("x", "influx")
	a.Measurement = "temp"
	rt, err := NewRouter([]TopicConfig{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ topic, filter string }{
		{"s/1/temp", "s/+/temp"},
		{"s/1/hum", "s/#"},
		{"x", "x"},
		{"y", ""},
	}
	for _, tc := range tests {
		r := rt.Route(tc.topic)
		got := ""
		if r != nil {
			got = r.Filter()
		}
		if got != tc.filter {
			t.Errorf("Route(%q) = %q, want %q", tc.topic, got, tc.filter)
		}
	}
}

func TestRouterErrorsNameTheEntry(t *testing.T) {
	bad := topic("a/+", "value")
	bad.Tags = map[string]string{"room": "{2}"}
	_, err := NewRouter([]TopicConfig{topic("ok", "value"), bad})
	if err == nil || !strings.Contains(err.Error(), "topics[1].tags.room:") {
		t.Fatalf("got %v", err)
	}
}

func TestRuleQoS(t *testing.T) {
	tc := topic("a", "value")
	r, _ := NewRule(tc)
	if got := r.QoS(1); got != 1 {
		t.Errorf("default: got %d", got)
	}
	tc.QoS = 0
	r, _ = NewRule(tc)
	if got := r.QoS(1); got != 0 {
		t.Errorf("override: got %d", got)
	}
}

func TestTemplateParse(t *testing.T) {
	tests := []struct {
		name, in string
		wantMax  int
		wantErr  string
	}{
		{"literal", "room", -1, ""},
		{"segment", "{1}", 1, ""},
		{"mixed", "dev-{0}-{12}", 12, ""},
		{"lone close", "a}b", -1, ""},
		{"unclosed", "a{1", 0, "unclosed"},
		{"empty", "{}", 0, "not a topic segment number"},
		{"negative", "{-1}", 0, "not a topic segment number"},
		{"sign", "{+1}", 0, "not a topic segment number"},
		{"word", "{x}", 0, "not a topic segment number"},
		{"huge", "{99999}", 0, "not a topic segment number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := parseTemplate(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || tm.maxSeg != tc.wantMax {
				t.Fatalf("got max %d, %v", tm.maxSeg, err)
			}
		})
	}
}

func TestValidateTemplateSegments(t *testing.T) {
	tests := []struct {
		name, filter, tmpl string
		ok                 bool
	}{
		{"within", "site/+/temp", "{1}", true},
		{"last", "site/+/temp", "{2}", true},
		{"beyond", "site/+/temp", "{3}", false},
		{"hash allows any", "site/#", "{7}", true},
		{"shared counts real levels", "$share/g/a/b", "{1}", true},
		{"shared beyond", "$share/g/a/b", "{2}", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := topic(tc.filter, "value")
			cfg.Tags = map[string]string{"k": tc.tmpl}
			err := cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate: %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !strings.Contains(err.Error(), "tags.k:") {
				t.Fatalf("error does not name the key: %v", err)
			}
		})
	}
}

func TestValidateAdditions(t *testing.T) {
	base := func() MQTTConfig {
		c := DefaultMQTT()
		c.Name, c.Broker, c.ClientID, c.Topics = "s", "tcp://127.0.0.1:1883", "id", []TopicConfig{topic("a", "value")}
		return c
	}
	tests := []struct {
		name    string
		mod     func(*MQTTConfig)
		wantErr string
	}{
		{"ok", func(*MQTTConfig) {}, ""},
		{"qos 0 needs no id", func(c *MQTTConfig) { c.QoS, c.ClientID = 0, "" }, ""},
		{"topic qos 1 needs id", func(c *MQTTConfig) { c.QoS, c.ClientID, c.Topics[0].QoS = 0, "", 1 }, "client_id: must be set for qos 1"},
		{"topic qos 0 overrides", func(c *MQTTConfig) { c.ClientID, c.Topics[0].QoS = "", 0 }, ""},
		{"tls on tcp", func(c *MQTTConfig) { c.TLS.CAFile = "ca.pem" }, "tls: set, but broker scheme \"tcp\""},
		{"tls on mqtts", func(c *MQTTConfig) { c.Broker, c.TLS.CAFile = "mqtts://h:8883", "ca.pem" }, ""},
		{"bad tag key", func(c *MQTTConfig) { c.Topics[0].Tags = map[string]string{"": "x"} }, "invalid tag key"},
		{"bad measurement", func(c *MQTTConfig) { c.Topics[0].Measurement = "#m" }, "invalid measurement"},
		{"bad field", func(c *MQTTConfig) { c.Topics[0].Field = "f\n" }, "invalid field key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mod(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}
