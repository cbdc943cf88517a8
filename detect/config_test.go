package detect

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	with := func(f func(c *Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	thr := func(warn, crit float64) *ThresholdConfig {
		t := DefaultThreshold()
		t.Warn, t.Crit = warn, crit
		return &t
	}
	cases := []struct {
		name string
		c    Config
		want []string // each problem, in order; nil: valid
	}{
		{"anomaly defaults", with(func(c *Config) { c.Anomaly = &AnomalyConfig{} }), nil},
		{"anomaly with field", with(func(c *Config) { c.Anomaly = &AnomalyConfig{Field: "temp"} }), nil},
		{"no detector", DefaultConfig(), []string{"needs exactly one detector block (one of threshold, zscore, ewma, mad, rate, stuck, bounds, anomaly, no_data)"}},
		{"two detectors", with(func(c *Config) { c.Threshold = thr(1, 2); c.ZScore = &ZScoreConfig{} }),
			[]string{"has 2 detector blocks (threshold, zscore); exactly one is allowed per step"}},
		{"crit not above warn", with(func(c *Config) { c.Threshold = thr(30, 20) }),
			[]string{"threshold.crit: must be above warn (30), got 20"}},
		{"crit missing", with(func(c *Config) { c.Threshold = thr(30, math.NaN()) }),
			[]string{"threshold.crit: must be set to a number, got NaN"}},
		{"crit only", with(func(c *Config) { c.Threshold = thr(math.NaN(), 35) }), nil},
		{"below", with(func(c *Config) { c.Threshold = thr(5, 10); c.Threshold.Below = true }),
			[]string{"threshold.crit: must be below warn (5) with below: true, got 10"}},
		{"hysteresis", with(func(c *Config) { c.Threshold = thr(1, 2); c.Threshold.Hysteresis = -1 }),
			[]string{"threshold.hysteresis: must be a number ≥ 0, got -1"}},
		{"zscore window", with(func(c *Config) { c.ZScore = &ZScoreConfig{Window: 1} }),
			[]string{"zscore.window: must be in [2, 100000], got 1"}},
		{"mad levels", with(func(c *Config) { c.MAD = &MADConfig{WarnZ: 9, CritZ: 3} }),
			[]string{"mad.warn_z: must be in [0, crit_z (3)] (0: no warn level), got 9"}},
		{"mad window", with(func(c *Config) { c.MAD = &MADConfig{Window: 5000} }),
			[]string{"mad.window: must be in [2, 1024], got 5000"}},
		{"ewma alpha", with(func(c *Config) { c.EWMA = &EWMAConfig{Alpha: 2} }),
			[]string{"ewma.alpha: must be in (0, 1], got 2"}},
		{"rate crit", with(func(c *Config) { c.Rate = &RateConfig{} }),
			[]string{"rate.crit: must be above 0, got 0"}},
		{"stuck crit", with(func(c *Config) { c.Stuck = &StuckConfig{Warn: time.Hour, Crit: time.Minute} }),
			[]string{"stuck.warn: must be in [0, crit (1m0s)] (0: no warn level), got 1h0m0s"}},
		{"bounds empty", with(func(c *Config) { b := DefaultBounds(); c.Bounds = &b }),
			[]string{"bounds: set min, max or both"}},
		{"bounds order", with(func(c *Config) { c.Bounds = &BoundsConfig{Min: 5, Max: 1} }),
			[]string{"bounds.max: must be above min (5), got 1"}},
		{"no_data", with(func(c *Config) { c.NoData = &NoDataConfig{} }),
			[]string{"no_data.crit: must be a positive duration, got 0s"}},
		{"anomaly levels", with(func(c *Config) { c.Anomaly = &AnomalyConfig{Warn: 0.9, Crit: 0.5} }),
			[]string{"anomaly.warn: must be a score in (0, crit (0.5)], got 0.9"}},
		{"rest", with(func(c *Config) {
			c.Anomaly = &AnomalyConfig{}
			c.Sustain.Points, c.Alert.Cooldown, c.TTL, c.MaxSeries = -1, -2, -time.Second, -3
		}), []string{
			"sustain.points: must not be negative, got -1",
			"alert.cooldown: must not be negative, got -2",
			"ttl: must not be negative, got -1s",
			"max_series: must not be negative, got -3",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			if err := c.c.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
			_, err := New("r", c.c)
			if (err == nil) != (c.want == nil) {
				t.Errorf("New error %v", err)
			}
		})
	}
}

func TestField(t *testing.T) {
	cases := []struct {
		c    Config
		want string
	}{
		{Config{Anomaly: &AnomalyConfig{}}, "value"},
		{Config{Field: "temp", Anomaly: &AnomalyConfig{}}, "temp"},
		{Config{Field: "temp", Anomaly: &AnomalyConfig{Field: "hum"}}, "hum"},
	}
	for _, c := range cases {
		if got := c.c.field(); got != c.want {
			t.Errorf("%+v: field %q, want %q", c.c, got, c.want)
		}
	}
}
