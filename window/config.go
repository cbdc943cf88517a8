package window

import (
	"errors"
	"fmt"
	"time"
)

// Config is the `window` block of a pipeline step.
type Config struct {
	// Type is the window kind; this version has tumbling.
	Type string        `mapstructure:"type"`
	Size time.Duration `mapstructure:"size"`
	// MaxDelay is how far behind the highest event time seen the watermark
	// trails: points up to MaxDelay out of order are still on time.
	MaxDelay time.Duration `mapstructure:"max_delay"`
	// IdleTimeout is how long the stream may carry no data, in log time,
	// before the watermark advances with processing time. Zero disables it.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
}

// DefaultConfig returns the defaults for a window block.
func DefaultConfig() Config {
	return Config{Type: "tumbling", Size: time.Minute, MaxDelay: 5 * time.Second, IdleTimeout: 30 * time.Second}
}

// Validate checks the block; messages start with the relative key path.
func (c Config) Validate() error {
	var errs []error
	if c.Type != "tumbling" {
		errs = append(errs, fmt.Errorf("type: must be tumbling, got %q", c.Type))
	}
	if c.Size < time.Millisecond {
		errs = append(errs, fmt.Errorf("size: must be at least 1ms, got %s", c.Size))
	}
	if c.MaxDelay < 0 {
		errs = append(errs, fmt.Errorf("max_delay: must not be negative, got %s", c.MaxDelay))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle_timeout: must not be negative, got %s", c.IdleTimeout))
	}
	return errors.Join(errs...)
}
