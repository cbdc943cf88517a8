package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/window"
)

// StepConfig is one entry of the `pipeline` list of a site config.
type StepConfig struct {
	// Name is the measurement of the step's results.
	Name string `mapstructure:"name"`
	// Measurement selects the input points; empty selects all.
	Measurement string        `mapstructure:"measurement"`
	Window      window.Config `mapstructure:"window"`
	GroupBy     []string      `mapstructure:"group_by"`
	Aggregates  []string      `mapstructure:"aggregates"`
	// To names the sinks that receive the results.
	To []string `mapstructure:"to"`
}

// CheckpointConfig is the `checkpoint` section of a site config.
type CheckpointConfig struct {
	Interval time.Duration `mapstructure:"interval"`
}

// DefaultCheckpoint returns the checkpoint defaults.
func DefaultCheckpoint() CheckpointConfig { return CheckpointConfig{Interval: 10 * time.Second} }

// Validate checks the section.
func (c CheckpointConfig) Validate() error {
	if c.Interval < 100*time.Millisecond {
		return fmt.Errorf("interval: must be at least 100ms, got %s", c.Interval)
	}
	return nil
}

// DefaultStep returns the defaults for a pipeline step.
func DefaultStep() StepConfig {
	return StepConfig{Window: window.DefaultConfig(), Aggregates: []string{"count", "mean", "min", "max"}}
}

// Validate checks one step; messages start with the relative key path. Sink
// names in To are checked by the config package, which sees all sinks.
func (c StepConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: must be set"))
	}
	if err := c.Window.Validate(); err != nil {
		errs = append(errs, prefixed("window.", err))
	}
	if len(c.Aggregates) == 0 {
		errs = append(errs, errors.New("aggregates: at least one aggregate is required"))
	}
	seen := map[string]bool{}
	for i, a := range c.Aggregates {
		if !ops.KnownAggregate(a) {
			errs = append(errs, fmt.Errorf("aggregates[%d]: unknown aggregate %q (known: %s)", i, a, ops.AggregateNames()))
		} else if seen[a] {
			errs = append(errs, fmt.Errorf("aggregates[%d]: %q is listed twice", i, a))
		}
		seen[a] = true
	}
	tags := map[string]bool{}
	for i, g := range c.GroupBy {
		if g == "" || tags[g] {
			errs = append(errs, fmt.Errorf("group_by[%d]: tag names must be non-empty and distinct, got %q", i, g))
		}
		tags[g] = true
	}
	if len(c.To) == 0 {
		errs = append(errs, errors.New("to: at least one sink is required"))
	}
	return errors.Join(errs...)
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
