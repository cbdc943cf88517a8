package forward

import (
	"strings"
	"testing"
)

// TestInsecureSkipVerifyNeedsConsent checks, for every sink with a tls
// block, that insecure_skip_verify alone is refused and that
// allow_insecure: true next to it makes it valid.
func TestInsecureSkipVerifyNeedsConsent(t *testing.T) {
	sinks := map[string]func(*Config){
		"http": func(c *Config) { c.Type, c.URL = "http", "https://hooks.example.com/x" },
		"mqtt": func(c *Config) {
			c.Type, c.Broker, c.ClientID, c.Topic = "mqtt", "mqtts://mqtt.example.com:8883", "edge-1", "sites/{site}/alerts"
		},
		"kafka": func(c *Config) { c.Type, c.Brokers, c.Topic = "kafka", []string{"k1:9093"}, "rivulet.{site}" },
	}
	const refused = "tls.insecure_skip_verify: refused without allow_insecure: true"
	for _, name := range []string{"http", "kafka", "mqtt"} {
		for _, tc := range []struct {
			insecure, allow bool
			want            string
		}{{false, false, ""}, {true, false, refused}, {true, true, ""}, {false, true, ""}} {
			c := DefaultConfig()
			c.Name = "up"
			sinks[name](&c)
			c.TLS.InsecureSkipVerify, c.TLS.AllowInsecure = tc.insecure, tc.allow
			c.TLS.Enabled = name == "kafka"
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%s insecure=%v allow=%v: %v", name, tc.insecure, tc.allow, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("%s insecure=%v allow=%v: error %v, want %q", name, tc.insecure, tc.allow, err, tc.want)
			}
		}
	}
}
