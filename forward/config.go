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
	// Type is influx, file, stdout, mqtt, http or kafka.
	Type string `mapstructure:"type"`

	// influx: URL is the full write endpoint, 1.x (/write?db=…) or 2.x
	// (/api/v2/write?org=…&bucket=…). http: the webhook's http(s) URL.
	URL string `mapstructure:"url"`
	// TokenFile holds the influx token, or the http bearer token.
	TokenFile string `mapstructure:"token_file"`
	// Username and PasswordFile: influx basic auth, the mqtt login, or the
	// kafka SASL credentials.
	Username     string `mapstructure:"username"`
	PasswordFile string `mapstructure:"password_file"`
	Gzip         bool   `mapstructure:"gzip"`
	// Timeout bounds one delivery attempt of a batch: the request (influx,
	// http, per request), connect + publish + every PUBACK (mqtt), or the
	// produce of the whole batch (kafka).
	Timeout time.Duration `mapstructure:"timeout"`

	// file: Path of the current file; rotated to Path.1 … Path.N at MaxSize.
	Path     string   `mapstructure:"path"`
	MaxSize  wal.Size `mapstructure:"max_size"`
	MaxFiles int      `mapstructure:"max_files"`

	// mqtt, http, kafka: Format of the payload: json (the default), one
	// object per point, {"measurement":…,"tags":{…},"fields":{…},
	// "time":"<RFC 3339, ns, UTC>","ts":<Unix ns>}; or line (line protocol).
	Format string `mapstructure:"format"`

	// mqtt, kafka: Topic is a template, rendered per point: literal text
	// and the placeholders {measurement}, {tag:NAME} and {NAME} (short for
	// {tag:NAME}; {site} is the site tag every result carries), e.g.
	// sites/{site}/alerts/{rule}. MissingTag stands in for a tag a point
	// does not have (default "_"). Characters a topic level cannot hold
	// become '_' (mqtt: / + # NUL; kafka: all but A-Z a-z 0-9 . _ -).
	Topic      string `mapstructure:"topic"`
	MissingTag string `mapstructure:"missing_tag"`
	// mqtt, kafka, http (https only): TLS to the upstream.
	TLS TLSConfig `mapstructure:"tls"`

	// mqtt: Broker is tcp://, ssl://, mqtts://, tls://, ws:// or wss://;
	// ClientID names the persistent session (required); KeepAlive is the
	// MQTT keep-alive.
	Broker    string        `mapstructure:"broker"`
	ClientID  string        `mapstructure:"client_id"`
	KeepAlive time.Duration `mapstructure:"keep_alive"`

	// mqtt, http: Batch groups the points of a batch into one message per
	// topic (mqtt) or one request (http, a JSON array); false sends one
	// point per message or request. Default true.
	Batch bool `mapstructure:"batch"`
	// http: Headers are added to every request.
	Headers map[string]string `mapstructure:"headers"`

	// kafka: Brokers are the seed brokers, host:port. SASL is the
	// mechanism for username/password_file: plain, scram-sha-256 or
	// scram-sha-512 (empty: none). Compression is none, gzip, snappy
	// (default), lz4 or zstd.
	Brokers     []string `mapstructure:"brokers"`
	SASL        string   `mapstructure:"sasl"`
	Compression string   `mapstructure:"compression"`

	// BatchPoints caps the points sent in one request.
	BatchPoints int         `mapstructure:"batch_points"`
	Retry       RetryConfig `mapstructure:"retry"`

	// TTL drops undelivered entries whose newest point is older than this,
	// per lane; 0 keeps them until delivered.
	TTL TTLConfig `mapstructure:"ttl"`
	// MaxBacklog caps the bytes on disk of the sink's three outboxes
	// together; OnFull says what happens at the cap: block (the engine
	// stalls, backpressure reaches the sources) or drop_oldest (the oldest
	// undelivered entries go, raw lane first, then results, alerts last).
	MaxBacklog wal.Size `mapstructure:"max_backlog"`
	OnFull     string   `mapstructure:"on_full"`
	// RateLimit caps the bytes per second sent upstream (the request body
	// before compression); 0 is no limit.
	RateLimit wal.Size `mapstructure:"rate_limit"`
	// ProbeAfter is the number of consecutive failures after which the
	// next attempt sends one small batch (one entry) before full batches
	// resume; 0 never probes.
	ProbeAfter int `mapstructure:"probe_after"`
	// CommitInterval is the least time between two saves of the delivery
	// cursor (and syncs of a file sink) while deliveries go on; the cursor
	// is also saved as soon as delivery pauses once that time has passed,
	// and at shutdown. After a crash, up to that much is delivered again.
	// 0 saves after every delivery.
	CommitInterval time.Duration `mapstructure:"commit_interval"`
}

// TTLConfig is the time to live of undelivered results, per lane.
type TTLConfig struct {
	Alerts  Age `mapstructure:"alerts"`
	Results Age `mapstructure:"results"`
	Raw     Age `mapstructure:"raw"`
}

// Policies for on_full.
const (
	OnFullBlock      = "block"
	OnFullDropOldest = "drop_oldest"
)

// RetryConfig bounds the exponential backoff between delivery attempts.
type RetryConfig struct {
	Initial time.Duration `mapstructure:"initial"`
	Max     time.Duration `mapstructure:"max"`
}

// TLSConfig configures TLS or mutual TLS to an upstream. It has the shape
// of ingest.TLSConfig (whose builder is not exported) plus Enabled, for
// kafka, where no URL scheme says whether to use TLS.
type TLSConfig struct {
	// Enabled turns TLS on for kafka with no other key set (system CAs);
	// mqtt and http follow the URL scheme.
	Enabled    bool   `mapstructure:"enabled"`
	CAFile     string `mapstructure:"ca_file"`
	CertFile   string `mapstructure:"cert_file"`
	KeyFile    string `mapstructure:"key_file"`
	ServerName string `mapstructure:"server_name"`
	// InsecureSkipVerify turns off the check of the upstream's certificate;
	// Validate refuses it without AllowInsecure, and every start logs a
	// warning while it is on.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
	// AllowInsecure is the explicit consent InsecureSkipVerify needs.
	AllowInsecure bool `mapstructure:"allow_insecure"`
}

// DefaultConfig returns the defaults for one sink.
func DefaultConfig() Config {
	return Config{Timeout: 10 * time.Second, MaxSize: 64 << 20, MaxFiles: 5, BatchPoints: 5000,
		Format: "", MissingTag: "_", KeepAlive: 30 * time.Second, Batch: true, Compression: "snappy",
		Retry:      RetryConfig{Initial: 500 * time.Millisecond, Max: time.Minute},
		TTL:        TTLConfig{Results: Age(30 * 24 * time.Hour), Raw: Age(24 * time.Hour)},
		MaxBacklog: 256 << 20, OnFull: OnFullBlock, ProbeAfter: 3, CommitInterval: time.Second}
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
		errs = append(errs, c.validateFormat()...)
		if c.MaxSize <= 0 {
			add("max_size: must be positive, got %s", c.MaxSize)
		}
		if c.MaxFiles < 1 {
			add("max_files: must be at least 1, got %d", c.MaxFiles)
		}
	case "stdout":
	case "mqtt":
		errs = append(errs, c.validateMQTT()...)
	case "http":
		errs = append(errs, c.validateHTTP()...)
	case "kafka":
		errs = append(errs, c.validateKafka()...)
	default:
		add("type: must be influx, file, stdout, mqtt, http or kafka, got %q", c.Type)
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
	errs = append(errs, c.validateLimits()...)
	return errors.Join(errs...)
}

// validateFormat checks format, shared by mqtt, http and kafka.
func (c Config) validateFormat() []error {
	if c.Format != "" && c.Format != "json" && c.Format != "line" {
		return []error{fmt.Errorf("format: must be json or line, got %q", c.Format)}
	}
	return nil
}

// validateTLS checks the tls block; scheme says whether the URL asks for
// TLS (always true for kafka, where Enabled decides).
func (c Config) validateTLS(usesTLS bool, scheme string) []error {
	var errs []error
	if c.TLS != (TLSConfig{}) && !usesTLS {
		errs = append(errs, fmt.Errorf("tls: set, but scheme %q does not use TLS", scheme))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file must be set together"))
	}
	if c.TLS.InsecureSkipVerify && !c.TLS.AllowInsecure {
		errs = append(errs, errors.New("tls.insecure_skip_verify: refused without allow_insecure: true "+
			"in the same tls block (the upstream's certificate would not be checked: anyone on the path could read the results)"))
	}
	return errs
}

// validateCredentials checks username/password_file, which mqtt and kafka
// share; token_file belongs to influx and http.
func (c Config) validateCredentials() []error {
	var errs []error
	if c.PasswordFile != "" && c.Username == "" {
		errs = append(errs, errors.New("password_file: needs username"))
	}
	if c.TokenFile != "" {
		errs = append(errs, fmt.Errorf("token_file: not used by a %s sink (use username/password_file)", c.Type))
	}
	return errs
}

// validateLimits checks ttl, max_backlog, on_full, rate_limit,
// probe_after and commit_interval.
func (c Config) validateLimits() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, t := range []struct {
		key string
		v   Age
	}{{"alerts", c.TTL.Alerts}, {"results", c.TTL.Results}, {"raw", c.TTL.Raw}} {
		if t.v < 0 {
			add("ttl.%s: must not be negative (0 keeps entries until delivered), got %s", t.key, t.v)
		}
	}
	if c.MaxBacklog < 0 {
		add("max_backlog: must not be negative (0 is no cap), got %s", c.MaxBacklog)
	}
	if c.OnFull != OnFullBlock && c.OnFull != OnFullDropOldest {
		add("on_full: must be block or drop_oldest, got %q", c.OnFull)
	}
	if c.RateLimit < 0 {
		add("rate_limit: must not be negative (0 is no limit), got %s", c.RateLimit)
	}
	if c.ProbeAfter < 0 {
		add("probe_after: must not be negative (0 never probes), got %d", c.ProbeAfter)
	}
	if c.CommitInterval < 0 || c.CommitInterval > time.Minute {
		add("commit_interval: must be between 0 (save after every delivery) and 1m, got %s", c.CommitInterval)
	}
	return errs
}
