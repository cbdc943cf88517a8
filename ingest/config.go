package ingest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Config is the `sources` section of a site config.
type Config struct {
	MQTT []MQTTConfig `mapstructure:"mqtt"`
}

// MQTTConfig is one MQTT source: a broker connection and its subscriptions.
type MQTTConfig struct {
	Name         string        `mapstructure:"name"`
	Broker       string        `mapstructure:"broker"` // tcp://, ssl://, ws://, wss://, mqtt://, mqtts://
	ClientID     string        `mapstructure:"client_id"`
	QoS          int           `mapstructure:"qos"` // default QoS for topics that set none
	Username     string        `mapstructure:"username"`
	PasswordFile string        `mapstructure:"password_file"`
	TLS          TLSConfig     `mapstructure:"tls"`
	KeepAlive    time.Duration `mapstructure:"keep_alive"`
	// MaxReconnect caps the reconnect backoff.
	MaxReconnect time.Duration `mapstructure:"max_reconnect"`
	Topics       []TopicConfig `mapstructure:"topics"`
}

// TLSConfig configures TLS or mutual TLS to a broker.
type TLSConfig struct {
	CAFile     string `mapstructure:"ca_file"`
	CertFile   string `mapstructure:"cert_file"`
	KeyFile    string `mapstructure:"key_file"`
	ServerName string `mapstructure:"server_name"`
	// InsecureSkipVerify turns off the check of the broker's certificate.
	// Validate refuses it unless AllowInsecure is set too, so that a key
	// copied from a test config cannot silently disable authentication;
	// every start logs a warning while it is on.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
	// AllowInsecure is the explicit consent InsecureSkipVerify needs.
	AllowInsecure bool `mapstructure:"allow_insecure"`
}

// Validate checks the tls block without I/O; messages start with "tls".
func (c TLSConfig) Validate() error {
	var errs []error
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file must be set together"))
	}
	if c.InsecureSkipVerify && !c.AllowInsecure {
		errs = append(errs, errors.New("tls.insecure_skip_verify: refused without allow_insecure: true "+
			"in the same tls block (the broker's certificate would not be checked: anyone on the path could read and inject data)"))
	}
	return errors.Join(errs...)
}

// TopicConfig maps one topic filter to points.
type TopicConfig struct {
	Filter string `mapstructure:"filter"`
	// Format is value, influx or json.
	Format string `mapstructure:"format"`
	// QoS overrides the source's QoS for this filter; -1 (the default) keeps it.
	QoS int `mapstructure:"qos"`
	// Measurement names the points of value and json payloads, and overrides
	// the measurement of influx payloads when set. It may hold {N}.
	Measurement string `mapstructure:"measurement"`
	// Field names the field of value payloads (default "value").
	Field string `mapstructure:"field"`
	// Tags are added to every point; values may hold {N}, the topic segment N
	// (0-based).
	Tags map[string]string `mapstructure:"tags"`
	// Precision of influx timestamps: ns (default), us, ms, s.
	Precision string     `mapstructure:"precision"`
	JSON      JSONConfig `mapstructure:"json"`
}

// JSONConfig says how json payloads become points.
type JSONConfig struct {
	// TimeField names the member holding the timestamp; empty means ingest time.
	TimeField string `mapstructure:"time_field"`
	// TimeFormat is unix, unix_ms, unix_us, unix_ns or rfc3339 (default
	// rfc3339 for strings, unix for numbers).
	TimeFormat string `mapstructure:"time_format"`
	// Fields lists the members to keep as fields; empty keeps every number,
	// bool and string that is not a tag or the time.
	Fields []string `mapstructure:"fields"`
	// TagFields lists members that become tags.
	TagFields []string `mapstructure:"tag_fields"`
}

// DefaultMQTT returns the defaults for one MQTT source.
func DefaultMQTT() MQTTConfig {
	return MQTTConfig{QoS: 1, KeepAlive: 15 * time.Second, MaxReconnect: 30 * time.Second}
}

// DefaultTopic returns the defaults for one topic entry.
func DefaultTopic() TopicConfig {
	return TopicConfig{Format: "value", QoS: -1, Field: "value", Precision: "ns"}
}

// Validate checks the section; messages start with the relative key path.
func (c Config) Validate() error {
	var errs []error
	names := map[string]bool{}
	for i, m := range c.MQTT {
		if names[m.Name] {
			errs = append(errs, fmt.Errorf("mqtt[%d].name: duplicate source name %q", i, m.Name))
		}
		names[m.Name] = true
		if err := m.Validate(); err != nil {
			errs = append(errs, prefix(fmt.Sprintf("mqtt[%d].", i), err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks one source; messages start with the relative key path.
func (c MQTTConfig) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Name == "" {
		add("name: must be set")
	}
	if u, err := url.Parse(c.Broker); err != nil || u.Host == "" {
		add("broker: must be a URL like tcp://host:1883, got %q", c.Broker)
	} else if !validScheme(u.Scheme) {
		add("broker: scheme must be tcp, ssl, ws, wss, mqtt or mqtts, got %q", u.Scheme)
	} else if c.TLS != (TLSConfig{}) && !tlsSchemes[u.Scheme] {
		add("tls: set, but broker scheme %q does not use TLS (use ssl, mqtts or wss)", u.Scheme)
	}
	if c.QoS < 0 || c.QoS > 2 {
		add("qos: must be 0, 1 or 2, got %d", c.QoS)
	}
	if c.ClientID == "" {
		for i, t := range c.Topics {
			if q := effectiveQoS(t.QoS, c.QoS); q > 0 {
				add("client_id: must be set for qos %d (topics[%d]; a persistent session needs a fixed client id)", q, i)
				break
			}
		}
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Topics) == 0 {
		add("topics: at least one topic is required")
	}
	for i, t := range c.Topics {
		if err := t.Validate(); err != nil {
			errs = append(errs, prefix(fmt.Sprintf("topics[%d].", i), err))
		}
	}
	return errors.Join(errs...)
}

func validScheme(s string) bool {
	switch s {
	case "tcp", "ssl", "ws", "wss", "mqtt", "mqtts", "tls":
		return true
	}
	return false
}

// Validate checks one topic entry; messages start with the relative key path.
func (t TopicConfig) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := validFilter(t.Filter); err != nil {
		add("filter: %v", err)
	}
	switch t.Format {
	case "value", "json":
		if t.Measurement == "" {
			add("measurement: must be set for format %s", t.Format)
		}
	case "influx":
	default:
		add("format: must be value, influx or json, got %q", t.Format)
	}
	if t.QoS < -1 || t.QoS > 2 {
		add("qos: must be 0, 1 or 2, got %d", t.QoS)
	}
	switch t.Precision {
	case "", "ns", "us", "ms", "s":
	default:
		add("precision: must be ns, us, ms or s, got %q", t.Precision)
	}
	for k, v := range t.Tags {
		if !validKey(k) {
			add("tags: invalid tag key %q", k)
		}
		if err := checkTemplate(v, t.Filter); err != nil {
			add("tags.%s: %v", k, err)
		}
	}
	if err := checkTemplate(t.Measurement, t.Filter); err != nil {
		add("measurement: %v", err)
	} else if err := checkLiteralMeasurement(t.Measurement); err != nil {
		add("measurement: %v", err)
	}
	if t.Format == "value" && t.Field != "" && !validKey(t.Field) {
		add("field: invalid field key %q", t.Field)
	}
	switch t.JSON.TimeFormat {
	case "", "unix", "unix_ms", "unix_us", "unix_ns", "rfc3339":
	default:
		add("json.time_format: must be unix, unix_ms, unix_us, unix_ns or rfc3339, got %q", t.JSON.TimeFormat)
	}
	return errors.Join(errs...)
}

// validFilter checks an MQTT topic filter: '#' only last, '+' a whole level.
func validFilter(f string) error {
	if f == "" {
		return errors.New("must be set")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("%q: '#' must be the whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("%q: '+' must be a whole level", f)
		}
	}
	return nil
}

// checkTemplate checks that every {N} in s is a valid segment index for a
// topic matched by filter: below the number of its levels, unless the filter
// ends in '#', which matches any number of further levels.
func checkTemplate(s, filter string) error {
	tm, err := parseTemplate(s)
	if err != nil {
		return err
	}
	levels := filterLevels(filter)
	if len(levels) > 0 && levels[len(levels)-1] == "#" {
		return nil
	}
	if tm.maxSeg >= len(levels) {
		return fmt.Errorf("%q: segment {%d} is beyond the %d levels of filter %q (segments count from 0)",
			s, tm.maxSeg, len(levels), filter)
	}
	return nil
}

// checkLiteralMeasurement rejects a measurement without {N} that the line
// protocol could not carry; templated ones are checked per message.
func checkLiteralMeasurement(m string) error {
	if m == "" || strings.Contains(m, "{") {
		return nil
	}
	if !validKey(m) || strings.HasPrefix(m, "#") {
		return fmt.Errorf("invalid measurement %q", m)
	}
	return nil
}

// validKey reports whether s can be a line-protocol measurement, tag key,
// tag value or field key: not empty, valid UTF-8, no control characters, no
// trailing backslash.
func validKey(s string) bool {
	if s == "" || !utf8.ValidString(s) || s[len(s)-1] == '\\' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// prefix prepends p to the message of every error joined in err.
func prefix(p string, err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = append(errs, prefix(p, e))
		}
		return errors.Join(errs...)
	}
	return errors.New(p + err.Error())
}
