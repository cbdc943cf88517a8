package series

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Config is the `stateful` block of a pipeline step.
type Config struct {
	// Op is the operator: rate, derivative, delta, ewma, moving_average,
	// cumulative_sum, state_duration, on_change or no_data.
	Op string `mapstructure:"op"`
	// Fields are the numeric fields to process; empty means every numeric
	// field. state_duration takes exactly one.
	Fields []string `mapstructure:"fields"`
	// Unit is the time unit of a derivative (the change per Unit). rate is
	// always per second: its Unit must be 0 or 1s.
	Unit time.Duration `mapstructure:"unit"`
	// Counter treats the fields of rate, derivative and delta as monotonic
	// counters: a decrease is a reset, after which the new value counts as
	// the increase from 0, so the result is never negative.
	Counter bool `mapstructure:"counter"`
	// Alpha is the smoothing factor of ewma, in (0, 1]; 1 follows the input.
	Alpha float64 `mapstructure:"alpha"`
	// Points is the length of a moving_average, 1 to 1000 points.
	Points int `mapstructure:"points"`
	// Threshold splits the values of state_duration's field into the states
	// "above" (value > Threshold) and "below".
	Threshold float64 `mapstructure:"threshold"`
	// After is the processing-time silence after which no_data reports a
	// series.
	After time.Duration `mapstructure:"after"`
	// TTL drops the state of a series that has had no data for TTL of
	// processing time; 0 keeps state until MaxSeries refuses new series.
	// For no_data it must exceed After, or be 0.
	TTL time.Duration `mapstructure:"ttl"`
	// MaxSeries caps the series held; points of further series are not
	// tracked and are counted.
	MaxSeries int `mapstructure:"max_series"`
}

// opKind is a parsed Config.Op.
type opKind uint8

const (
	opRate opKind = iota
	opDerivative
	opDelta
	opEWMA
	opMovingAverage
	opCumulativeSum
	opStateDuration
	opOnChange
	opNoData
)

var opNames = [...]string{
	opRate:          "rate",
	opDerivative:    "derivative",
	opDelta:         "delta",
	opEWMA:          "ewma",
	opMovingAverage: "moving_average",
	opCumulativeSum: "cumulative_sum",
	opStateDuration: "state_duration",
	opOnChange:      "on_change",
	opNoData:        "no_data",
}

func (k opKind) String() string { return opNames[k] }

// ordered reports whether the op needs points of a series in event-time
// order and skips the others.
func (k opKind) ordered() bool {
	return k == opRate || k == opDerivative || k == opDelta || k == opStateDuration
}

func parseOp(s string) (opKind, bool) {
	for i, n := range opNames {
		if n == s {
			return opKind(i), true
		}
	}
	return 0, false
}

// maxPoints bounds a moving average's ring buffer.
const maxPoints = 1000

// DefaultConfig returns the defaults of a stateful block; Op has none.
func DefaultConfig() Config {
	return Config{
		Unit:      time.Second,
		Alpha:     0.2,
		Points:    10,
		After:     5 * time.Minute,
		TTL:       time.Hour,
		MaxSeries: 100000,
	}
}

// Validate checks the block without I/O; each message starts with the
// relative key path.
func (c Config) Validate() error {
	k, ok := parseOp(c.Op)
	if !ok {
		return fmt.Errorf("op: unknown op %q (known: %s)", c.Op, strings.Join(opNames[:], ", "))
	}
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	seen := map[string]bool{}
	for i, f := range c.Fields {
		if f == "" || seen[f] {
			add("fields[%d]: field names must be non-empty and distinct, got %q", i, f)
		}
		seen[f] = true
	}
	switch k {
	case opRate:
		if c.Unit != 0 && c.Unit != time.Second {
			add("unit: rate is always per second, got %s (use op derivative for another unit)", c.Unit)
		}
	case opDerivative:
		if c.Unit <= 0 {
			add("unit: must be positive, got %s", c.Unit)
		}
	case opEWMA:
		if !(c.Alpha > 0 && c.Alpha <= 1) {
			add("alpha: must be in (0, 1], got %v", c.Alpha)
		}
	case opMovingAverage:
		if c.Points < 1 || c.Points > maxPoints {
			add("points: must be in [1, %d], got %d", maxPoints, c.Points)
		}
	case opStateDuration:
		if len(c.Fields) != 1 {
			add("fields: state_duration takes exactly one field, got %d", len(c.Fields))
		}
		if math.IsNaN(c.Threshold) || math.IsInf(c.Threshold, 0) {
			add("threshold: must be finite, got %v", c.Threshold)
		}
	case opNoData:
		if c.After <= 0 {
			add("after: must be positive, got %s", c.After)
		} else if c.TTL > 0 && c.TTL <= c.After {
			add("ttl: must exceed after (%s) for no_data, or be 0, got %s", c.After, c.TTL)
		}
	}
	if c.Counter && k != opRate && k != opDerivative && k != opDelta {
		add("counter: applies to rate, derivative and delta only, not %s", k)
	}
	if c.TTL < 0 {
		add("ttl: must not be negative, got %s", c.TTL)
	}
	if c.MaxSeries < 1 {
		add("max_series: must be at least 1, got %d", c.MaxSeries)
	}
	return errors.Join(errs...)
}

// signature identifies what the checkpointed state means: state is restored
// only into an Op with the same signature. Alpha, Unit, Threshold, After,
// TTL and MaxSeries may change across a restart.
func (c Config) signature() string {
	points := 0
	if c.Op == "moving_average" {
		points = c.Points
	}
	return fmt.Sprintf("%s|%d|%q", c.Op, points, c.Fields)
}
