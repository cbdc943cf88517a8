package ops

// AlertConfig tunes an Alert. Durations are in points, so replay of the log
// gives the same alerts.
type AlertConfig struct {
	// MinPoints is how long a new level must hold before it is reported;
	// 0 or 1 reports at once.
	MinPoints int `mapstructure:"min_points" json:"min_points"`
	// Cooldown is how many points after a recovery a new alert is held back.
	Cooldown int `mapstructure:"cooldown" json:"cooldown"`
	// FlapLimit is the decayed number of recent transitions above which the
	// series is flapping; while it flaps, a recovery waits until the lower
	// level held FlapWindow points, and that recovery ends the flapping.
	// 0 disables flapping suppression.
	FlapLimit  float64 `mapstructure:"flap_limit" json:"flap_limit"`
	FlapWindow int     `mapstructure:"flap_window" json:"flap_window"`
}

// AlertState is the checkpointable state of an Alert. Restoring it gives the
// same transitions as if the Alert had never stopped.
type AlertState struct {
	Level    Level   `json:"level"`
	Pending  Level   `json:"pending"`
	Held     int     `json:"held"`
	Cooldown int     `json:"cooldown"`
	Flap     float64 `json:"flap"`
	Flapping bool    `json:"flapping"`
}

// Transition is one change of reported level.
type Transition struct {
	From, To Level
	T        int64
}

// Alert turns per-point levels into state changes: ok → warn → crit → ok,
// with a minimum duration, a cooldown after recovery and flapping
// suppression. It is not safe for concurrent use.
type Alert struct {
	Config AlertConfig
	State  AlertState
}

// Step feeds the level of the point at event time t and returns the
// transition it causes, or nil. It allocates only when it returns non-nil.
func (a *Alert) Step(l Level, t int64) *Transition {
	s, c := &a.State, &a.Config
	if c.FlapWindow > 0 {
		s.Flap -= s.Flap / float64(c.FlapWindow)
	}
	if s.Cooldown > 0 {
		s.Cooldown--
	}
	if l == s.Pending {
		s.Held++
	} else {
		s.Pending, s.Held = l, 1
	}
	if l == s.Level || s.Held < a.need(l) {
		return nil
	}
	if s.Level == OK && s.Cooldown > 0 {
		return nil
	}
	tr := &Transition{From: s.Level, To: l, T: t}
	s.Level = l
	s.Flap++
	if l < tr.From {
		s.Flapping = false // a recovery that waited out the flapping
	}
	if c.FlapLimit > 0 && s.Flap >= c.FlapLimit {
		s.Flapping = true
	}
	if l == OK {
		s.Cooldown = c.Cooldown + 1
	}
	return tr
}

// need is how many points level l must hold before it is reported.
func (a *Alert) need(l Level) int {
	n := max(a.Config.MinPoints, 1)
	if l < a.State.Level && a.State.Flapping {
		n = max(n, a.Config.FlapWindow)
	}
	return n
}

// DefaultAlertConfig returns the alert settings used when a rule sets none:
// report at once, hold new alerts back for 100 points after a recovery, and
// treat more than 3 recent transitions as flapping.
func DefaultAlertConfig() AlertConfig {
	return AlertConfig{MinPoints: 1, Cooldown: 100, FlapLimit: 3, FlapWindow: 50}
}
