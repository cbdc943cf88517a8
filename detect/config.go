package detect

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rivulet-edge/rivulet/ops"
)

// Config is the `detect` block of a pipeline step: which field to watch,
// exactly one detector block (a nil pointer is an absent block), how long a
// level must hold, the alert state machine, and the limits on per-series
// state. Zero values of optional detector settings mean their default, so a
// block decoded from zero (`anomaly: {}`) is complete.
type Config struct {
	// Field is the numeric field scored; a detector block's own field
	// overrides it. Default "value".
	Field string `mapstructure:"field"`

	Threshold *ThresholdConfig `mapstructure:"threshold"`
	ZScore    *ZScoreConfig    `mapstructure:"zscore"`
	EWMA      *EWMAConfig      `mapstructure:"ewma"`
	MAD       *MADConfig       `mapstructure:"mad"`
	Rate      *RateConfig      `mapstructure:"rate"`
	Stuck     *StuckConfig     `mapstructure:"stuck"`
	Bounds    *BoundsConfig    `mapstructure:"bounds"`
	Anomaly   *AnomalyConfig   `mapstructure:"anomaly"`
	NoData    *NoDataConfig    `mapstructure:"no_data"`

	// Sustain holds back a rise in level until it held long enough.
	Sustain SustainConfig `mapstructure:"sustain"`
	// Alert tunes the ok → warn → crit state machine (counts are points).
	Alert ops.AlertConfig `mapstructure:"alert"`
	// TTL drops the state of a series silent for this long in processing
	// time; 0 keeps it forever. A series whose alert is not ok is kept, so
	// that its recovery can still be sent.
	TTL time.Duration `mapstructure:"ttl"`
	// MaxSeries caps the number of series; points of refused series are
	// counted (Dropped). 0 means no cap.
	MaxSeries int `mapstructure:"max_series"`
}

// SustainConfig is how long a higher level must hold, in points and in
// event time, before it is reported; both must be met. Zero disables each.
type SustainConfig struct {
	Points   int           `mapstructure:"points"`
	Duration time.Duration `mapstructure:"duration"`
}

// ThresholdConfig compares the value with fixed levels. Crit is required,
// Warn optional (NaN, the default, means no warn level). A level is left
// only when the value is back past it by Hysteresis. With Below, low
// values are bad and Warn must be above Crit.
type ThresholdConfig struct {
	Field      string  `mapstructure:"field"`
	Warn       float64 `mapstructure:"warn"`
	Crit       float64 `mapstructure:"crit"`
	Hysteresis float64 `mapstructure:"hysteresis"`
	Below      bool    `mapstructure:"below"`
}

// ZScoreConfig scores the z-score against the last Window points
// (default 60); no alert before Warmup points (default Window). MinStd
// floors the standard deviation.
type ZScoreConfig struct {
	Field  string  `mapstructure:"field"`
	Window int     `mapstructure:"window"`
	Warmup int     `mapstructure:"warmup"`
	WarnZ  float64 `mapstructure:"warn_z"`
	CritZ  float64 `mapstructure:"crit_z"`
	MinStd float64 `mapstructure:"min_std"`
}

// EWMAConfig scores the z-score against an exponentially weighted mean and
// variance with weight Alpha (default 0.02) after Warmup points (default 50).
type EWMAConfig struct {
	Field  string  `mapstructure:"field"`
	Alpha  float64 `mapstructure:"alpha"`
	Warmup int     `mapstructure:"warmup"`
	WarnZ  float64 `mapstructure:"warn_z"`
	CritZ  float64 `mapstructure:"crit_z"`
}

// MADConfig scores the robust modified z-score against the median and MAD
// of the last Window points (default 63, at most 1024).
type MADConfig struct {
	Field    string  `mapstructure:"field"`
	Window   int     `mapstructure:"window"`
	Warmup   int     `mapstructure:"warmup"`
	WarnZ    float64 `mapstructure:"warn_z"`
	CritZ    float64 `mapstructure:"crit_z"`
	MinScale float64 `mapstructure:"min_scale"`
}

// RateConfig bounds |Δvalue| per second of event time between consecutive
// points. Crit is required; Warn 0 means no warn level.
type RateConfig struct {
	Field string  `mapstructure:"field"`
	Warn  float64 `mapstructure:"warn"`
	Crit  float64 `mapstructure:"crit"`
}

// StuckConfig reports a value that stayed within Epsilon of itself for
// Warn (then Crit) of event time. Crit is required; Warn 0 means none.
type StuckConfig struct {
	Field   string        `mapstructure:"field"`
	Epsilon float64       `mapstructure:"epsilon"`
	Warn    time.Duration `mapstructure:"warn"`
	Crit    time.Duration `mapstructure:"crit"`
}

// BoundsConfig reports values outside the physically possible [Min, Max],
// and NaN and ±Inf, as crit. The defaults are -Inf and +Inf.
type BoundsConfig struct {
	Field string  `mapstructure:"field"`
	Min   float64 `mapstructure:"min"`
	Max   float64 `mapstructure:"max"`
}

// AnomalyConfig is the detector that needs no tuning (ops.Anomaly); each
// zero setting takes the value of ops.DefaultAnomaly.
type AnomalyConfig struct {
	Field  string  `mapstructure:"field"`
	Alpha  float64 `mapstructure:"alpha"`
	Beta   float64 `mapstructure:"beta"`
	Warmup int64   `mapstructure:"warmup"`
	Warn   float64 `mapstructure:"warn"`
	Crit   float64 `mapstructure:"crit"`
}

// NoDataConfig reports a series that sent nothing for Warn (then Crit) of
// processing time (dead-man). Crit is required; Warn 0 means none.
type NoDataConfig struct {
	Field string        `mapstructure:"field"`
	Warn  time.Duration `mapstructure:"warn"`
	Crit  time.Duration `mapstructure:"crit"`
}

// DefaultConfig returns the defaults of a detect block, without a detector.
func DefaultConfig() Config {
	return Config{Field: "value", Alert: ops.DefaultAlertConfig(), TTL: 24 * time.Hour, MaxSeries: 10000}
}

// DefaultThreshold returns the defaults of a threshold block: no levels.
func DefaultThreshold() ThresholdConfig {
	return ThresholdConfig{Warn: math.NaN(), Crit: math.NaN()}
}

// DefaultBounds returns the defaults of a bounds block: no bounds.
func DefaultBounds() BoundsConfig { return BoundsConfig{Min: math.Inf(-1), Max: math.Inf(1)} }

// Defaults returns the default value of every config type of this package
// whose zero value is not its default, for a decoder that starts optional
// blocks from their defaults.
func Defaults() []any { return []any{DefaultConfig(), DefaultThreshold(), DefaultBounds()} }

// Kinds lists the detector block names, in the order Validate reports them.
var Kinds = []string{"threshold", "zscore", "ewma", "mad", "rate", "stuck", "bounds", "anomaly", "no_data"}

// kind returns the name of the one detector block present, and the names
// of all present blocks.
func (c Config) kind() (string, []string) {
	present := []bool{c.Threshold != nil, c.ZScore != nil, c.EWMA != nil, c.MAD != nil,
		c.Rate != nil, c.Stuck != nil, c.Bounds != nil, c.Anomaly != nil, c.NoData != nil}
	var names []string
	for i, p := range present {
		if p {
			names = append(names, Kinds[i])
		}
	}
	if len(names) == 1 {
		return names[0], names
	}
	return "", names
}

// field returns the field the rule scores.
func (c Config) field() string {
	var f string
	switch {
	case c.Threshold != nil:
		f = c.Threshold.Field
	case c.ZScore != nil:
		f = c.ZScore.Field
	case c.EWMA != nil:
		f = c.EWMA.Field
	case c.MAD != nil:
		f = c.MAD.Field
	case c.Rate != nil:
		f = c.Rate.Field
	case c.Stuck != nil:
		f = c.Stuck.Field
	case c.Bounds != nil:
		f = c.Bounds.Field
	case c.Anomaly != nil:
		f = c.Anomaly.Field
	case c.NoData != nil:
		f = c.NoData.Field
	}
	return cmpOr(f, c.Field, "value")
}

func cmpOr(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Validate checks the block without I/O. Each problem starts with its
// relative key path, as in `threshold.crit: must be set`.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	kind, names := c.kind()
	switch {
	case len(names) == 0:
		add("needs exactly one detector block (one of %s)", strings.Join(Kinds, ", "))
	case kind == "":
		add("has %d detector blocks (%s); exactly one is allowed per step", len(names), strings.Join(names, ", "))
	}
	if c.Threshold != nil {
		errs = append(errs, c.Threshold.validate()...)
	}
	if c.ZScore != nil {
		z := c.ZScore.resolved()
		errs = append(errs, checkWindow("zscore", z.Window, z.Warmup, 100000)...)
		errs = append(errs, checkLevels("zscore", "warn_z", "crit_z", z.WarnZ, z.CritZ)...)
		errs = append(errs, checkNonNeg("zscore.min_std", z.MinStd)...)
	}
	if c.EWMA != nil {
		e := c.EWMA.resolved()
		if !(e.Alpha > 0 && e.Alpha <= 1) {
			add("ewma.alpha: must be in (0, 1], got %v", e.Alpha)
		}
		if e.Warmup < 0 {
			add("ewma.warmup: must not be negative, got %d", e.Warmup)
		}
		errs = append(errs, checkLevels("ewma", "warn_z", "crit_z", e.WarnZ, e.CritZ)...)
	}
	if c.MAD != nil {
		m := c.MAD.resolved()
		errs = append(errs, checkWindow("mad", m.Window, m.Warmup, 1024)...)
		errs = append(errs, checkLevels("mad", "warn_z", "crit_z", m.WarnZ, m.CritZ)...)
		errs = append(errs, checkNonNeg("mad.min_scale", m.MinScale)...)
	}
	if c.Rate != nil {
		r := c.Rate.resolved()
		errs = append(errs, checkLevels("rate", "warn", "crit", r.Warn, r.Crit)...)
	}
	if c.Stuck != nil {
		s := c.Stuck.resolved()
		errs = append(errs, checkNonNeg("stuck.epsilon", s.Epsilon)...)
		errs = append(errs, checkDurations("stuck", s.Warn, s.Crit)...)
	}
	if c.Bounds != nil {
		b := c.Bounds
		if math.IsNaN(b.Min) || math.IsNaN(b.Max) || b.Min >= b.Max {
			add("bounds.max: must be above min (%v), got %v", b.Min, b.Max)
		}
		if math.IsInf(b.Min, -1) && math.IsInf(b.Max, 1) {
			add("bounds: set min, max or both")
		}
	}
	if c.Anomaly != nil {
		a := c.Anomaly.resolved()
		if !(a.Alpha > 0 && a.Alpha <= 1) {
			add("anomaly.alpha: must be in (0, 1], got %v", a.Alpha)
		}
		if !(a.Beta > 0 && a.Beta <= 1) {
			add("anomaly.beta: must be in (0, 1], got %v", a.Beta)
		}
		if a.Warmup < 0 {
			add("anomaly.warmup: must not be negative, got %d", a.Warmup)
		}
		if !(a.Crit > 0 && a.Crit <= 1) {
			add("anomaly.crit: must be a score in (0, 1], got %v", a.Crit)
		} else if !(a.Warn > 0 && a.Warn <= a.Crit) {
			add("anomaly.warn: must be a score in (0, crit (%v)], got %v", a.Crit, a.Warn)
		}
	}
	if c.NoData != nil {
		errs = append(errs, checkDurations("no_data", c.NoData.Warn, c.NoData.Crit)...)
	}
	errs = append(errs, c.checkRest()...)
	return errors.Join(errs...)
}

// checkRest checks the settings outside the detector block.
func (c Config) checkRest() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Sustain.Points < 0 {
		add("sustain.points: must not be negative, got %d", c.Sustain.Points)
	}
	if c.Sustain.Duration < 0 {
		add("sustain.duration: must not be negative, got %s", c.Sustain.Duration)
	}
	a := c.Alert
	if a.MinPoints < 0 {
		add("alert.min_points: must not be negative, got %d", a.MinPoints)
	}
	if a.Cooldown < 0 {
		add("alert.cooldown: must not be negative, got %d", a.Cooldown)
	}
	if a.FlapLimit < 0 || math.IsNaN(a.FlapLimit) {
		add("alert.flap_limit: must not be negative, got %v", a.FlapLimit)
	}
	if a.FlapWindow < 0 {
		add("alert.flap_window: must not be negative, got %d", a.FlapWindow)
	}
	if a.FlapLimit > 0 && a.FlapWindow < 1 {
		add("alert.flap_window: must be at least 1 when flap_limit is set, got %d", a.FlapWindow)
	}
	if c.TTL < 0 {
		add("ttl: must not be negative, got %s", c.TTL)
	}
	if c.MaxSeries < 0 {
		add("max_series: must not be negative, got %d", c.MaxSeries)
	}
	return errs
}

func (t *ThresholdConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !finiteF(t.Crit) {
		add("threshold.crit: must be set to a number, got %v", t.Crit)
	}
	switch {
	case math.IsInf(t.Warn, 0):
		add("threshold.warn: must be a number, got %v", t.Warn)
	case math.IsNaN(t.Warn) || !finiteF(t.Crit):
	case !t.Below && t.Warn >= t.Crit:
		add("threshold.crit: must be above warn (%v), got %v", t.Warn, t.Crit)
	case t.Below && t.Warn <= t.Crit:
		add("threshold.crit: must be below warn (%v) with below: true, got %v", t.Warn, t.Crit)
	}
	if !(t.Hysteresis >= 0) || math.IsInf(t.Hysteresis, 0) {
		add("threshold.hysteresis: must be a number ≥ 0, got %v", t.Hysteresis)
	}
	return errs
}

func checkWindow(block string, window, warmup, limit int) []error {
	var errs []error
	if window < 2 || window > limit {
		errs = append(errs, fmt.Errorf("%s.window: must be in [2, %d], got %d", block, limit, window))
	}
	if warmup < 0 {
		errs = append(errs, fmt.Errorf("%s.warmup: must not be negative, got %d", block, warmup))
	}
	return errs
}

// checkLevels checks a warn level (0: none) below a required crit level.
func checkLevels(block, warnKey, critKey string, warn, crit float64) []error {
	switch {
	case !(crit > 0) || math.IsInf(crit, 0):
		return []error{fmt.Errorf("%s.%s: must be above 0, got %v", block, critKey, crit)}
	case !(warn >= 0) || warn > crit:
		return []error{fmt.Errorf("%s.%s: must be in [0, %s (%v)] (0: no warn level), got %v", block, warnKey, critKey, crit, warn)}
	}
	return nil
}

func checkDurations(block string, warn, crit time.Duration) []error {
	switch {
	case crit <= 0:
		return []error{fmt.Errorf("%s.crit: must be a positive duration, got %s", block, crit)}
	case warn < 0 || warn > crit:
		return []error{fmt.Errorf("%s.warn: must be in [0, crit (%s)] (0: no warn level), got %s", block, crit, warn)}
	}
	return nil
}

func checkNonNeg(key string, v float64) []error {
	if !(v >= 0) || math.IsInf(v, 0) {
		return []error{fmt.Errorf("%s: must be a number ≥ 0, got %v", key, v)}
	}
	return nil
}

func finiteF(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// resolved returns z with defaults for zero settings.
func (z ZScoreConfig) resolved() ZScoreConfig {
	if z.Window == 0 {
		z.Window = 60
	}
	if z.Warmup == 0 {
		z.Warmup = z.Window
	}
	if z.CritZ == 0 {
		z.CritZ = 6
	}
	if z.WarnZ == 0 {
		z.WarnZ = math.Min(4, z.CritZ)
	}
	return z
}

func (e EWMAConfig) resolved() EWMAConfig {
	if e.Alpha == 0 {
		e.Alpha = 0.02
	}
	if e.Warmup == 0 {
		e.Warmup = 50
	}
	if e.CritZ == 0 {
		e.CritZ = 6
	}
	if e.WarnZ == 0 {
		e.WarnZ = math.Min(4, e.CritZ)
	}
	return e
}

func (m MADConfig) resolved() MADConfig {
	if m.Window == 0 {
		m.Window = 63
	}
	if m.Warmup == 0 {
		m.Warmup = m.Window
	}
	if m.CritZ == 0 {
		m.CritZ = 6
	}
	if m.WarnZ == 0 {
		m.WarnZ = math.Min(4, m.CritZ)
	}
	return m
}

// resolved makes a missing warn level equal to crit, which never warns.
func (r RateConfig) resolved() RateConfig {
	if r.Warn == 0 {
		r.Warn = r.Crit
	}
	return r
}

func (s StuckConfig) resolved() StuckConfig {
	if s.Warn == 0 {
		s.Warn = s.Crit
	}
	return s
}

func (a AnomalyConfig) resolved() AnomalyConfig {
	d := ops.DefaultAnomaly()
	if a.Alpha == 0 {
		a.Alpha = d.Alpha
	}
	if a.Beta == 0 {
		a.Beta = d.Beta
	}
	if a.Warmup == 0 {
		a.Warmup = d.Warmup
	}
	if a.Crit == 0 {
		a.Crit = d.Crit
	}
	if a.Warn == 0 {
		a.Warn = math.Min(d.Warn, a.Crit)
	}
	return a
}
