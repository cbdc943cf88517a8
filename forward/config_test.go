package forward

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	influx := func(set func(*Config)) Config {
		c := DefaultConfig()
		c.Name, c.Type, c.URL = "up", "influx", "http://db:8086/write?db=edge"
		set(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; empty for valid
	}{
		{"1.x", influx(func(*Config) {}), ""},
		{"1.x basic auth", influx(func(c *Config) { c.Username, c.PasswordFile = "u", "/run/pw" }), ""},
		{"2.x token", influx(func(c *Config) {
			c.URL, c.TokenFile = "https://cloud/api/v2/write?org=o&bucket=b", "/run/token"
		}), ""},
		{"no name", influx(func(c *Config) { c.Name = "" }), "name: must be set"},
		{"bad scheme", influx(func(c *Config) { c.URL = "ftp://db/write?db=x" }), "url: must be an http(s) URL"},
		{"bad path", influx(func(c *Config) { c.URL = "http://db/query?db=x" }), "url: path must be /write"},
		{"1.x without db", influx(func(c *Config) { c.URL = "http://db/write" }), "needs ?db="},
		{"2.x without bucket", influx(func(c *Config) { c.URL = "http://db/api/v2/write?org=o" }), "needs ?bucket="},
		{"token and username", influx(func(c *Config) { c.TokenFile, c.Username = "/t", "u" }), "not both"},
		{"password without username", influx(func(c *Config) { c.PasswordFile = "/pw" }), "password_file: needs username"},
		{"basic auth on 2.x", influx(func(c *Config) {
			c.URL, c.Username = "http://db/api/v2/write?org=o&bucket=b", "u"
		}), "use token_file"},
		{"file", fileCfg(func(*Config) {}), ""},
		{"file without path", fileCfg(func(c *Config) { c.Path = "" }), "path: must be set"},
		{"file zero max_size", fileCfg(func(c *Config) { c.MaxSize = 0 }), "max_size: must be positive"},
		{"file zero max_files", fileCfg(func(c *Config) { c.MaxFiles = 0 }), "max_files: must be at least 1"},
		{"unknown type", influx(func(c *Config) { c.Type = "amqp" }), "type: must be influx, file, stdout, mqtt, http or kafka"},
		{"zero batch", influx(func(c *Config) { c.BatchPoints = 0 }), "batch_points"},
		{"retry max below initial", influx(func(c *Config) { c.Retry.Max = c.Retry.Initial / 2 }), "retry: need"},
		{"zero timeout", influx(func(c *Config) { c.Timeout = 0 }), "timeout: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func fileCfg(set func(*Config)) Config {
	c := DefaultConfig()
	c.Name, c.Type, c.Path = "f", "file", "/var/lib/rivulet/out.lp"
	set(&c)
	return c
}
