package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/batcher"
	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/forward"
	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/wal"
)

// Config is a whole site config. Each section is the Config type of the
// package that uses it; this package only adds the checks that span sections.
//
// The scalar keys outside lists can be set from the environment (see the
// package doc); Sources.MQTT, Pipeline and Sinks are lists and come from the
// file only.
type Config struct {
	// Site names the site; it is added as tag "site" to every result, so it
	// must be a valid line-protocol tag value.
	Site string `mapstructure:"site"`
	// DataDir holds the logs, checkpoints, outboxes and quarantine. Load makes
	// it absolute.
	DataDir string     `mapstructure:"data_dir"`
	Log     LogConfig  `mapstructure:"log"`
	HTTP    HTTPConfig `mapstructure:"http"`
	// MemoryLimit is a soft cap on the Go heap and runtime (the runtime's
	// GOMEMLIMIT): near it the garbage collector works harder instead of
	// letting the heap grow to twice the live data. 0 leaves the runtime's
	// default (no limit, or GOMEMLIMIT from the environment).
	MemoryLimit wal.Size `mapstructure:"memory_limit"`
	// GCPercent is the garbage collector's target (the runtime's GOGC):
	// how far, in percent of the live heap, the heap may grow before the
	// next collection. 0 leaves the runtime's setting (100, or GOGC from
	// the environment).
	GCPercent      int                     `mapstructure:"gc_percent"`
	EmbeddedBroker ingest.BrokerConfig     `mapstructure:"embedded_broker"`
	Sources        ingest.Config           `mapstructure:"sources"`
	Batch          batcher.Config          `mapstructure:"batch"`
	WAL            wal.Config              `mapstructure:"wal"`
	Checkpoint     engine.CheckpointConfig `mapstructure:"checkpoint"`
	Pipeline       []engine.StepConfig     `mapstructure:"pipeline"`
	Sinks          []forward.Config        `mapstructure:"sinks"`
	Outbox         OutboxConfig            `mapstructure:"outbox"`
}

// OutboxConfig is the `outbox` section: a cap over the outboxes of every
// sink together (each sink also has its own max_backlog).
type OutboxConfig struct {
	// MaxSize caps the bytes on disk of all outboxes; 0 means no overall
	// cap.
	MaxSize wal.Size `mapstructure:"max_size"`
	// OnFull is block (the engine waits, and backpressure reaches the
	// sources) or drop_oldest (the oldest undelivered entries go, raw
	// points first, alerts last; counted).
	OnFull string `mapstructure:"on_full"`
}

// Validate checks the section; messages start with the relative key path.
func (c OutboxConfig) Validate() error {
	var errs []error
	if c.MaxSize < 0 || (c.MaxSize > 0 && c.MaxSize < 1<<20) {
		errs = append(errs, fmt.Errorf("max_size: must be 0 (no cap) or at least 1MiB, got %d bytes", c.MaxSize))
	}
	if c.OnFull != forward.OnFullBlock && c.OnFull != forward.OnFullDropOldest {
		errs = append(errs, fmt.Errorf("on_full: must be %s or %s, got %q", forward.OnFullBlock, forward.OnFullDropOldest, c.OnFull))
	}
	return errors.Join(errs...)
}

// LogConfig is the `log` section.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level"`
	// Format is text (logfmt) or json.
	Format string `mapstructure:"format"`
}

// HTTPConfig is the `http` section: where /metrics and /healthz are served.
type HTTPConfig struct {
	// Listen is host:port; empty disables the server. Bind to loopback unless
	// something else must scrape it.
	Listen string `mapstructure:"listen"`
}

// Validate checks the section; messages start with the relative key path.
func (c HTTPConfig) Validate() error {
	if c.Listen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: must be host:port or empty, got %q", c.Listen)
	}
	return nil
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

// Default returns a Config with every section at its package's defaults.
// Site, DataDir and the lists are empty: a site must set them.
func Default() Config {
	return Config{
		Log:            LogConfig{Level: "info", Format: "text"},
		HTTP:           HTTPConfig{Listen: "127.0.0.1:9464"},
		EmbeddedBroker: ingest.DefaultBroker(),
		Batch:          batcher.DefaultConfig(),
		WAL:            wal.DefaultConfig(),
		Checkpoint:     engine.DefaultCheckpoint(),
		Outbox:         OutboxConfig{OnFull: forward.OnFullBlock},
		GCPercent:      DefaultGCPercent,
	}
}

// DefaultGCPercent is gc_percent's default: with the heap allowed to grow
// by half its live size instead of all of it, peak RSS at 10k series is
// 6–10 MB lower, for no CPU per message measurable at 10k msgs/s
// (BENCHMARKS.md).
const DefaultGCPercent = 50

// Validate checks the section; messages start with the relative key path.
func (c LogConfig) Validate() error {
	var errs []error
	if _, ok := logLevels[c.Level]; !ok {
		errs = append(errs, fmt.Errorf("level: must be debug, info, warn or error, got %q", c.Level))
	}
	if c.Format != "text" && c.Format != "json" {
		errs = append(errs, fmt.Errorf("format: must be text or json, got %q", c.Format))
	}
	return errors.Join(errs...)
}

// NewLogger returns a logger that writes to w in the configured format and
// level. An invalid level counts as info and an invalid format as text;
// Validate reports both.
func (c LogConfig) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevels[c.Level]} // zero is info
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Validate checks the whole config without I/O and returns an *Error that
// lists every problem with its full key path, or nil.
func (c *Config) Validate() error {
	return c.problems().err("")
}

func (c *Config) problems() problems {
	var ps problems
	c.checkTop(&ps)
	ps.addErr("log", c.Log.Validate())
	ps.addErr("http", c.HTTP.Validate())
	ps.addErr("embedded_broker", c.EmbeddedBroker.Validate())
	ps.addErr("sources", c.Sources.Validate())
	ps.addErr("batch", c.Batch.Validate())
	ps.addErr("wal", c.WAL.Validate())
	ps.addErr("checkpoint", c.Checkpoint.Validate())
	ps.addErr("outbox", c.Outbox.Validate())
	for i, s := range c.Pipeline {
		ps.addErr(fmt.Sprintf("pipeline[%d]", i), s.Validate())
	}
	for i, s := range c.Sinks {
		ps.addErr(fmt.Sprintf("sinks[%d]", i), s.Validate())
	}
	c.checkNames(&ps)
	c.checkRoutes(&ps)
	return ps
}

// checkTop checks the top-level keys and that there is something to run.
func (c *Config) checkTop(ps *problems) {
	switch {
	case c.Site == "":
		ps.add("site", "must be set")
	case !validTagValue(c.Site):
		ps.add("site", fmt.Sprintf("must be usable as a tag value (printable, no surrounding spaces, no trailing backslash), got %q", c.Site))
	}
	switch {
	case c.DataDir == "":
		ps.add("data_dir", "must be set")
	case !filepath.IsAbs(c.DataDir):
		ps.add("data_dir", fmt.Sprintf("must be an absolute path, got %q", c.DataDir))
	}
	if c.GCPercent != 0 && (c.GCPercent < 10 || c.GCPercent > 1000) {
		ps.add("gc_percent", fmt.Sprintf("must be 0 (the runtime's setting) or between 10 and 1000, got %d", c.GCPercent))
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < 8<<20 {
		ps.add("memory_limit", fmt.Sprintf("must be 0 (no limit) or at least 8MiB, got %d bytes", c.MemoryLimit))
	}
	if len(c.Sources.MQTT) == 0 {
		ps.add("sources.mqtt", "at least one source is required")
	}
	if len(c.Pipeline) == 0 {
		ps.add("pipeline", "at least one step is required")
	}
	if len(c.Sinks) == 0 {
		ps.add("sinks", "at least one sink is required")
	}
}

// validTagValue reports whether the line-protocol encoder accepts s as a tag
// value; surrounding spaces are refused too, being always a mistake.
func validTagValue(s string) bool {
	if strings.TrimSpace(s) != s {
		return false
	}
	p := point.Point{Measurement: "m", Tags: []point.Tag{{Key: "site", Value: s}},
		Fields: []point.Field{{Key: "f", Value: lineprotocol.BoolValue(true)}}}
	_, err := point.AppendLine(nil, &p)
	return err == nil
}

// checkNames reports duplicate step and sink names. Empty names are left to
// the packages' own "must be set".
func (c *Config) checkNames(ps *problems) {
	steps := map[string]bool{}
	for i, s := range c.Pipeline {
		if s.Name != "" && steps[s.Name] {
			ps.add(fmt.Sprintf("pipeline[%d].name", i), fmt.Sprintf("duplicate step name %q", s.Name))
		}
		steps[s.Name] = true
	}
	for i, s := range c.Sinks {
		if s.Name != "" && slices.ContainsFunc(c.Sinks[:i], func(o forward.Config) bool { return o.Name == s.Name }) {
			ps.add(fmt.Sprintf("sinks[%d].name", i), fmt.Sprintf("duplicate sink name %q", s.Name))
		}
	}
}

// checkRoutes checks that every sink list of a step names sinks, once each,
// that every from names the ingest stream or an earlier step, and that
// every step's output goes somewhere.
func (c *Config) checkRoutes(ps *problems) {
	var names []string
	for _, s := range c.Sinks {
		if s.Name != "" && !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	known := "no sinks are defined"
	if len(names) > 0 {
		known = "sinks: " + strings.Join(names, ", ")
	}
	read := map[string]bool{}
	for i, s := range c.Pipeline {
		for key, list := range map[string][]string{"to": s.To, "pass_to": s.PassTo, "window.late_to": s.Window.LateTo} {
			for j, to := range list {
				path := fmt.Sprintf("pipeline[%d].%s[%d]", i, key, j)
				switch {
				case !slices.Contains(names, to):
					ps.add(path, fmt.Sprintf("unknown sink %q (%s)", to, known))
				case slices.Contains(list[:j], to):
					ps.add(path, fmt.Sprintf("duplicate sink %q", to))
				}
			}
		}
		if src := s.Source(); src != engine.Input {
			earlier := slices.ContainsFunc(c.Pipeline[:i], func(o engine.StepConfig) bool { return o.Name == src })
			if !earlier {
				ps.add(fmt.Sprintf("pipeline[%d].from", i), fmt.Sprintf("must be %q or the name of an earlier step, got %q", engine.Input, src))
			}
			read[src] = true
		}
	}
	for i, s := range c.Pipeline {
		if len(s.To) == 0 && len(s.PassTo) == 0 && !read[s.Name] {
			ps.add(fmt.Sprintf("pipeline[%d].to", i), "at least one sink is required (or a later step reading it with from)")
		}
	}
}
