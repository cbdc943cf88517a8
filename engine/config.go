package engine

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rivulet-edge/rivulet/detect"
	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/series"
	"github.com/rivulet-edge/rivulet/transform"
	"github.com/rivulet-edge/rivulet/window"
)

// Input is the name of the ingest stream in a step's From.
const Input = "input"

// The step kinds. A step's kind follows from the keys it sets: detect,
// stateful, or window/aggregates; a step with none of them transforms its
// input and passes it on.
const (
	KindTransform = "transform"
	KindWindow    = "window"
	KindStateful  = "stateful"
	KindDetect    = "detect"
)

// StepConfig is one entry of the `pipeline` list of a site config.
type StepConfig struct {
	// Name names the step's output stream and is the measurement of its
	// results.
	Name string `mapstructure:"name"`
	// From is the stream the step reads: "input" (or empty) for the points
	// ingested from the sources, or the name of an earlier step.
	From string `mapstructure:"from"`
	// Measurement selects the input points; empty selects all.
	Measurement string `mapstructure:"measurement"`

	// The stateless operators, applied in this order before the step's own
	// operator (see package transform).
	Where  string                   `mapstructure:"where"`
	Map    transform.MapConfig      `mapstructure:"map"`
	Rename transform.RenameConfig   `mapstructure:"rename"`
	Keep   transform.KeepConfig     `mapstructure:"keep"`
	Drop   transform.KeepConfig     `mapstructure:"drop"`
	Enrich []transform.EnrichConfig `mapstructure:"enrich"`
	Split  transform.SplitConfig    `mapstructure:"split"`

	// A window step: windows keyed by the GroupBy tags, with Aggregates of
	// every numeric field.
	Window     window.Config `mapstructure:"window"`
	GroupBy    []string      `mapstructure:"group_by"`
	Aggregates []string      `mapstructure:"aggregates"`
	// Fill makes a window emit for a group that had data in an earlier
	// window and has none in this one: "none" (the default), "zero",
	// "previous" or a number.
	Fill string `mapstructure:"fill"`
	// StateTTL is how long (in event time) a group is remembered for Fill
	// and a count window's partial state is kept (in processing time).
	StateTTL time.Duration `mapstructure:"state_ttl"`
	// MaxSeries caps the groups of one window; points of further groups are
	// dropped and counted.
	MaxSeries int `mapstructure:"max_series"`

	// A stateful step: per-series state (rate, delta, EWMA, …).
	Stateful *series.Config `mapstructure:"stateful"`
	// A detect step: a detector and an alert state machine per series.
	Detect *detect.Config `mapstructure:"detect"`

	// To names the sinks that receive the step's results.
	To []string `mapstructure:"to"`
	// PassTo names sinks that receive the step's input points, after its
	// stateless operators, as they are.
	PassTo []string `mapstructure:"pass_to"`
}

// CheckpointConfig is the `checkpoint` section of a site config.
type CheckpointConfig struct {
	Interval time.Duration `mapstructure:"interval"`
	// FlushInterval is the least time between two appends of results to
	// the outboxes (each may cost an fsync per sink lane); results wait in
	// memory meanwhile (at most 4 MiB), and are always appended before a
	// checkpoint. 0 appends after every catch-up.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// LogRatio, when positive, lets a checkpoint tick pass until the ingest
	// log has grown by at least LogRatio times the size of the newest
	// checkpoint since it was written, or MaxInterval has passed since: the
	// bytes written for checkpoints stay below 1/LogRatio of those of the
	// log (a large state that changes slowly is not rewritten every
	// interval), and replay after a crash covers at most MaxInterval of
	// log. Default 2; 0 checkpoints every interval.
	LogRatio float64 `mapstructure:"log_ratio"`
	// MaxInterval is the longest time between checkpoints with LogRatio
	// (default 5m; at least interval).
	MaxInterval time.Duration `mapstructure:"max_interval"`
}

// DefaultCheckpoint returns the checkpoint defaults.
func DefaultCheckpoint() CheckpointConfig {
	return CheckpointConfig{Interval: 10 * time.Second, FlushInterval: 200 * time.Millisecond, LogRatio: 2, MaxInterval: 5 * time.Minute}
}

// Validate checks the section.
func (c CheckpointConfig) Validate() error {
	if c.Interval < 100*time.Millisecond {
		return fmt.Errorf("interval: must be at least 100ms, got %s", c.Interval)
	}
	if c.FlushInterval < 0 || c.FlushInterval > c.Interval {
		return fmt.Errorf("flush_interval: must be between 0 and interval (%s), got %s", c.Interval, c.FlushInterval)
	}
	if c.LogRatio < 0 || math.IsNaN(c.LogRatio) || math.IsInf(c.LogRatio, 0) {
		return fmt.Errorf("log_ratio: must be 0 (off) or positive, got %v", c.LogRatio)
	}
	if c.LogRatio > 0 && c.MaxInterval < c.Interval {
		return fmt.Errorf("max_interval: must be at least interval (%s) with log_ratio, got %s", c.Interval, c.MaxInterval)
	}
	return nil
}

// DefaultAggregates are a window step's aggregates when it lists none.
var DefaultAggregates = []string{"count", "mean", "min", "max"}

// DefaultStep returns the defaults for a pipeline step.
func DefaultStep() StepConfig {
	return StepConfig{Window: window.DefaultConfig(), Fill: "none", StateTTL: time.Hour, MaxSeries: 100000}
}

// Kind returns the step's kind.
func (c StepConfig) Kind() string {
	switch {
	case c.Detect != nil:
		return KindDetect
	case c.Stateful != nil:
		return KindStateful
	case c.Window.Type != "" || len(c.Aggregates) > 0:
		return KindWindow
	}
	return KindTransform
}

// Source returns the stream the step reads, Input for the ingest stream.
func (c StepConfig) Source() string {
	if c.From == "" {
		return Input
	}
	return c.From
}

// aggregates returns the aggregates of a window step, defaults applied.
func (c StepConfig) aggregates() []string {
	if len(c.Aggregates) == 0 {
		return DefaultAggregates
	}
	return c.Aggregates
}

// Transform returns the step's stateless operators.
func (c StepConfig) Transform() transform.Config {
	return transform.Config{Where: c.Where, Map: c.Map, Rename: c.Rename, Keep: c.Keep, Drop: c.Drop, Enrich: c.Enrich, Split: c.Split}
}

// Validate checks one step; messages start with the relative key path. Sink
// names in To and LateTo and the stream in From are checked by the config
// package, which sees all steps and sinks.
func (c StepConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Name == "" {
		add("name: must be set")
	} else if c.Name == Input {
		add("name: %q is reserved for the ingest stream", Input)
	}
	if err := c.Transform().Validate(); err != nil {
		errs = append(errs, err)
	}
	var kinds []string
	if c.Detect != nil {
		kinds = append(kinds, "detect")
	}
	if c.Stateful != nil {
		kinds = append(kinds, "stateful")
	}
	if c.Window.Type != "" || len(c.Aggregates) > 0 {
		kinds = append(kinds, "window/aggregates")
	}
	if len(kinds) > 1 {
		add("%s: a step is one of window, stateful or detect; split it into steps joined by from", kinds[1])
	}
	switch c.Kind() {
	case KindWindow:
		errs = append(errs, c.validateWindow()...)
	case KindStateful:
		if err := c.Stateful.Validate(); err != nil {
			errs = append(errs, prefixed("stateful.", err))
		}
	case KindDetect:
		if err := c.Detect.Validate(); err != nil {
			errs = append(errs, prefixed("detect.", err))
		}
	}
	if c.Kind() != KindWindow {
		if len(c.GroupBy) > 0 {
			add("group_by: only for window steps (set window or aggregates)")
		}
		if c.Fill != "none" {
			add("fill: only for window steps")
		}
	}
	if c.MaxSeries < 1 {
		add("max_series: must be at least 1, got %d", c.MaxSeries)
	}
	if c.StateTTL <= 0 {
		add("state_ttl: must be positive, got %s", c.StateTTL)
	}
	return errors.Join(errs...)
}

func (c StepConfig) validateWindow() []error {
	var errs []error
	if err := c.Window.Validate(); err != nil {
		errs = append(errs, prefixed("window.", err))
	}
	if _, err := ops.NewPlan(c.aggregates()); err != nil {
		errs = append(errs, err) // its messages start with aggregates[i]
	}
	if _, err := parseFill(c.Fill); err != nil {
		errs = append(errs, fmt.Errorf("fill: %w", err))
	} else if c.Fill != "none" && c.Window.Kind() != window.KindTumbling && c.Window.Kind() != window.KindHopping {
		errs = append(errs, errors.New("fill: only for tumbling and hopping windows"))
	}
	for i, g := range c.GroupBy {
		if g == "" || slices.Contains(c.GroupBy[:i], g) {
			errs = append(errs, fmt.Errorf("group_by[%d]: tag names must be non-empty and distinct, got %q", i, g))
		}
	}
	return errs
}

func prefixed(p string, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, prefixed(p, e))
		}
		return errors.Join(errs...)
	}
	return errors.New(p + err.Error())
}
