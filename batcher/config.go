package batcher

import (
	"errors"
	"fmt"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// Config is the `batch` section of a site config.
type Config struct {
	// MaxPoints, MaxBytes and Linger bound one group commit.
	MaxPoints int           `mapstructure:"max_points"`
	MaxBytes  wal.Size      `mapstructure:"max_bytes"`
	Linger    time.Duration `mapstructure:"linger"`
	// MinInterval is the least time between the starts of two group
	// commits: at most 1/MinInterval fsyncs per second whatever the load
	// (SD cards wear with every one). Messages arriving meanwhile join the
	// next commit, so it adds up to MinInterval to the ack latency, and a
	// QoS 1 stream then moves at most the broker's inflight window per
	// MinInterval: raise the broker's max_inflight_messages for high rates.
	MinInterval time.Duration `mapstructure:"min_interval"`
	// Queue is the number of messages buffered between the sources and the
	// batcher; when it is full, QoS 1 sources block and QoS 0 messages drop.
	Queue int `mapstructure:"queue"`
	// Heartbeat is how often an idle stream writes a heartbeat entry so that
	// processing time moves in the log.
	Heartbeat time.Duration `mapstructure:"heartbeat"`
	// Dedupe is the number of recent message fingerprints kept to recognise
	// redeliveries; it must exceed the broker's inflight window.
	Dedupe int `mapstructure:"dedupe"`
}

// DefaultConfig returns the defaults documented in the README.
func DefaultConfig() Config {
	return Config{MaxPoints: 10000, MaxBytes: 4 << 20, Linger: 20 * time.Millisecond, MinInterval: 10 * time.Millisecond,
		Queue: 4096, Heartbeat: time.Second, Dedupe: 8192}
}

// Validate checks the section; messages start with the relative key path.
func (c Config) Validate() error {
	var errs []error
	if c.MaxPoints < 1 {
		errs = append(errs, fmt.Errorf("max_points: must be at least 1, got %d", c.MaxPoints))
	}
	if c.MaxBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_bytes: must be at least 1KiB, got %s", c.MaxBytes))
	}
	if c.Linger < 0 || c.Linger > 10*time.Second {
		errs = append(errs, fmt.Errorf("linger: must be between 0 and 10s, got %s", c.Linger))
	}
	if c.MinInterval < 0 || c.MinInterval > time.Second {
		errs = append(errs, fmt.Errorf("min_interval: must be between 0 and 1s, got %s", c.MinInterval))
	}
	if c.Queue < 1 {
		errs = append(errs, fmt.Errorf("queue: must be at least 1, got %d", c.Queue))
	}
	if c.Heartbeat < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("heartbeat: must be at least 10ms, got %s", c.Heartbeat))
	}
	if c.Dedupe < 0 {
		errs = append(errs, fmt.Errorf("dedupe: must not be negative, got %d", c.Dedupe))
	}
	return errors.Join(errs...)
}
