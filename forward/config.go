package forward

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// Config is one entry of the `sinks` list of a site config.
type Config struct {
	Name string `mapstructure:"name"`
	// Type is influx, file or stdout.
	Type string `mapstructure:"type"`

	// influx: URL is the full write endpoint, 1.x (/write?db=…) or 2.x
	// (/api/v2/write?org=…&bucket=…).
	URL          string        `mapstructure:"url"`
	TokenFile    string        `mapstructure:"token_file"`
	Username     string        `mapstructure:"username"`
	PasswordFile string        `mapstructure:"password_file"`
	Gzip         bool          `mapstructure:"gzip"`
	Timeout      time.Duration `mapstructure:"timeout"`

	// file: Path of the current file; rotated to Path.1 … Path.N at MaxSize.
	Path     string   `mapstructure:"path"`
	MaxSize  wal.Size `mapstructure:"max_size"`
	MaxFiles int      `mapstructure:"max_files"`

	// BatchPoints caps the points sent in one request.
	BatchPoints int         `mapstructure:"batch_points"`
	Retry       RetryConfig `mapstructure:"retry"`
}

// RetryConfig bounds the exponential backoff between delivery attempts.
type RetryConfig struct {
	Initial time.Duration `mapstructure:"initial"`
	Max     time.Duration `mapstructure:"max"`
}

// DefaultConfig returns the defaults for one sink.
func DefaultConfig() Config {
	return Config{Timeout: 10 * time.Second, MaxSize: 64 << 20, MaxFiles: 5, BatchPoints: 5000,
		Retry: RetryConfig{Initial: 500 * time.Millisecond, Max: time.Minute}}
}

// Validate checks one sink without I/O; messages start with the relative key path.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Name == "" {
		add("name: must be set")
	}
	switch c.Type {
	case "influx":
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("url: must be an http(s) URL of a /write or /api/v2/write endpoint, got %q", c.URL)
		} else if u.Path != "/write" && u.Path != "/api/v2/write" {
			add("url: path must be /write (InfluxDB 1.x) or /api/v2/write (2.x), got %q", u.Path)
		} else if u.Path == "/write" && u.Query().Get("db") == "" {
			add("url: a 1.x /write URL needs ?db=")
		} else if u.Path == "/api/v2/write" && u.Query().Get("bucket") == "" {
			add("url: a 2.x /api/v2/write URL needs ?bucket=")
		}
		if c.TokenFile != "" && c.Username != "" {
			add("token_file: set either token_file or username/password_file, not both")
		}
		if c.PasswordFile != "" && c.Username == "" {
			add("password_file: needs username")
		}
		if c.Username != "" && err == nil && u.Path == "/api/v2/write" {
			add("username: InfluxDB 2.x /api/v2/write takes a token; use token_file")
		}
	case "file":
		if c.Path == "" {
			add("path: must be set for a file sink")
		}
		if c.MaxSize <= 0 {
			add("max_size: must be positive, got %s", c.MaxSize)
		}
		if c.MaxFiles < 1 {
			add("max_files: must be at least 1, got %d", c.MaxFiles)
		}
	case "stdout":
	default:
		add("type: must be influx, file or stdout, got %q", c.Type)
	}
	if c.BatchPoints < 1 {
		add("batch_points: must be at least 1, got %d", c.BatchPoints)
	}
	if c.Retry.Initial <= 0 || c.Retry.Max < c.Retry.Initial {
		add("retry: need 0 < initial <= max, got initial %s max %s", c.Retry.Initial, c.Retry.Max)
	}
	if c.Timeout <= 0 {
		add("timeout: must be positive, got %s", c.Timeout)
	}
	return errors.Join(errs...)
}
