package window

import (
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // time zones on a gateway without tzdata
)

// The window kinds.
const (
	KindTumbling = "tumbling"
	KindHopping  = "hopping"
	KindSession  = "session"
	KindCount    = "count"
)

// The late policies: what happens to a point whose window has fired.
const (
	// LateDrop counts the point and drops it.
	LateDrop = "drop"
	// LateUpdate adds the point to its window while the window is held
	// (AllowedLateness after its end) and emits the window again with the
	// same identity, so the upstream overwrites it. Later points are dropped.
	LateUpdate = "update"
	// LateSide sends the point as it is to the sinks in LateTo.
	LateSide = "side"
)

// The watermark scopes.
const (
	WatermarkStep  = "step"
	WatermarkGroup = "group"
)

// Config is the `window` block of a pipeline step.
type Config struct {
	// Type is tumbling, hopping, session or count.
	Type string `mapstructure:"type"`
	// Size is the length of a tumbling or hopping window.
	Size time.Duration `mapstructure:"size"`
	// Slide is how far apart hopping windows start. Overlapping windows
	// share panes of gcd(Size, Slide): each point is added once.
	Slide time.Duration `mapstructure:"slide"`
	// Gap closes a session after this much event time without a point of
	// its group.
	Gap time.Duration `mapstructure:"gap"`
	// MaxDuration caps a session's length; zero leaves it open-ended.
	MaxDuration time.Duration `mapstructure:"max_duration"`
	// Points is the length of a count window, in points of one group.
	Points int `mapstructure:"points"`
	// Every emits a count window every this many points (a sliding count
	// window); zero means Points (tumbling). Points must be a multiple.
	Every int `mapstructure:"every"`
	// Offset shifts the alignment of tumbling and hopping windows from the
	// Unix epoch (e.g. size 1h, offset 15m: windows start at :15).
	Offset time.Duration `mapstructure:"offset"`
	// TimeZone aligns tumbling windows to local midnight in an IANA zone
	// (e.g. daily windows in Europe/Berlin); Size must divide 24h.
	TimeZone string `mapstructure:"timezone"`
	// MaxDelay is how far behind the highest event time seen the watermark
	// trails: points up to MaxDelay out of order are still on time.
	MaxDelay time.Duration `mapstructure:"max_delay"`
	// IdleTimeout is how long the stream may carry no data, in log time,
	// before the watermark advances with processing time. Zero disables it.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// AllowedLateness keeps a fired window's state this much longer (in
	// watermark time) so that late points can update it (Late: update).
	AllowedLateness time.Duration `mapstructure:"allowed_lateness"`
	// Late is drop, update or side.
	Late string `mapstructure:"late"`
	// LateTo names the sinks that receive late points with Late: side, and
	// points too late to update with Late: update.
	LateTo []string `mapstructure:"late_to"`
	// Watermark is "step" (one watermark for the step's whole input) or
	// "group" (one per group: a slow or lagging device does not make the
	// others' points late; tumbling and hopping windows only).
	Watermark string `mapstructure:"watermark"`
}

// DefaultConfig returns the defaults for a window block. Type is empty: a
// step is a window step when it names a type or lists aggregates, and then
// an empty type means tumbling.
func DefaultConfig() Config {
	return Config{Size: time.Minute, MaxDelay: 5 * time.Second, IdleTimeout: 30 * time.Second, Late: LateDrop, Watermark: WatermarkStep}
}

// Kind returns the window kind, tumbling when Type is empty.
func (c Config) Kind() string {
	if c.Type == "" {
		return KindTumbling
	}
	return c.Type
}

// Validate checks the block; messages start with the relative key path.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	kind := c.Kind()
	switch kind {
	case KindTumbling, KindHopping:
		if c.Size < time.Millisecond {
			add("size: must be at least 1ms, got %s", c.Size)
		}
	case KindSession:
		if c.Gap < time.Millisecond {
			add("gap: must be at least 1ms for a session window, got %s", c.Gap)
		}
		if c.MaxDuration < 0 {
			add("max_duration: must not be negative, got %s", c.MaxDuration)
		}
	case KindCount:
		if c.Points < 1 {
			add("points: must be at least 1 for a count window, got %d", c.Points)
		}
		if c.Every < 0 || (c.Every > 0 && c.Points%c.Every != 0) {
			add("every: must divide points (%d), got %d", c.Points, c.Every)
		}
	default:
		add("type: must be tumbling, hopping, session or count, got %q", c.Type)
	}
	if kind == KindHopping {
		switch {
		case c.Slide <= 0:
			add("slide: must be set for a hopping window")
		case c.Slide > c.Size:
			add("slide: must not exceed size (%s), got %s", c.Size, c.Slide)
		case c.Size >= time.Millisecond && c.Size/gcd(c.Size, c.Slide) > 10000:
			add("slide: size %s and slide %s need %d panes per window; at most 10000", c.Size, c.Slide, c.Size/gcd(c.Size, c.Slide))
		}
	} else if c.Slide != 0 {
		add("slide: only for hopping windows")
	}
	if c.Offset < 0 || (c.Offset > 0 && c.Offset >= c.Size) {
		add("offset: must be in [0, size), got %s", c.Offset)
	}
	if c.Offset != 0 && kind != KindTumbling && kind != KindHopping {
		add("offset: only for tumbling and hopping windows")
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			add("timezone: unknown time zone %q", c.TimeZone)
		}
		if kind != KindTumbling {
			add("timezone: only for tumbling windows")
		}
		if c.Size <= 0 || (24*time.Hour)%c.Size != 0 {
			add("timezone: size must divide 24h, got %s", c.Size)
		}
		if c.Offset != 0 {
			add("offset: cannot be combined with timezone")
		}
	}
	if c.MaxDelay < 0 {
		add("max_delay: must not be negative, got %s", c.MaxDelay)
	}
	if c.IdleTimeout < 0 {
		add("idle_timeout: must not be negative, got %s", c.IdleTimeout)
	}
	if c.AllowedLateness < 0 {
		add("allowed_lateness: must not be negative, got %s", c.AllowedLateness)
	}
	switch c.Late {
	case LateDrop:
		if c.AllowedLateness > 0 {
			add("allowed_lateness: has no effect with late: drop (use late: update)")
		}
	case LateUpdate:
		if c.AllowedLateness == 0 {
			add("allowed_lateness: must be set with late: update")
		}
	case LateSide:
		if len(c.LateTo) == 0 {
			add("late_to: at least one sink is required with late: side")
		}
	default:
		add("late: must be drop, update or side, got %q", c.Late)
	}
	switch c.Watermark {
	case "", WatermarkStep:
	case WatermarkGroup:
		if kind != KindTumbling && kind != KindHopping {
			add("watermark: group is for tumbling and hopping windows")
		}
	default:
		add("watermark: must be step or group, got %q", c.Watermark)
	}
	if kind == KindCount && (c.Late != LateDrop || c.AllowedLateness != 0) {
		add("late: count windows follow arrival order and have no late points")
	}
	return errors.Join(errs...)
}

func gcd(a, b time.Duration) time.Duration {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
