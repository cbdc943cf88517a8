package batcher

import (
	"errors"
	"fmt"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// Config is the `batch` section of a site config.
type Config struct {
	// MaxPoints and MaxBytes bound one group commit: a batch that reaches
	// either takes no more messages until it is committed.
	MaxPoints int      `mapstructure:"max_points"`
	MaxBytes  wal.Size `mapstructure:"max_bytes"`
	// Linger is how long a small batch may wait for more messages: at low
	// rates a commit starts up to Linger after the batch's first message,
	// so that one sync (and one partly filled disk page) covers more
	// messages. A batch does not wait once it holds FillBytes of points or
	// as many unacknowledged QoS 1 messages as the broker's inflight window
	// appears to allow (the largest number seen unacked at once): a broker
	// that stops sending until it gets acks is never kept waiting, so a
	// QoS 1 stream through a small window (mosquitto's default
	// max_inflight_messages 20) is not slowed. It adds up to Linger to the
	// ack latency at low rates; 0 commits as soon as MinInterval allows.
	Linger time.Duration `mapstructure:"linger"`
	// FillBytes is the size of points at which a batch stops waiting for
	// more (see Linger); 0 means Linger alone decides.
	FillBytes wal.Size `mapstructure:"fill_bytes"`
	// MinInterval is the least time between the starts of two group
	// commits: at most 1/MinInterval fsyncs per second whatever the load
	// (SD cards wear with every one). Messages arriving meanwhile join the
	// next commit, so it adds up to MinInterval to the ack latency, and a
	// QoS 1 stream then moves at most the broker's inflight window per
	// MinInterval: raise the broker's max_inflight_messages for high rates.
	MinInterval time.Duration `mapstructure:"min_interval"`
	// Queue is the number of messages buffered between the sources and the
	// batcher; when it is full, QoS 1 sources block and QoS 0 messages drop.
	// The default, 16384, is ~85 ms of a QoS 0 stream at the broker's
	// ceiling on the test machine: 4096 dropped a few hundred messages in
	// some rounds there while an fsync was slow (BENCHMARKS.md).
	Queue int `mapstructure:"queue"`
	// QueueBytes caps the decoded points held in that queue: gateways that
	// send 100 points per message would otherwise queue 16384 × ~9 KB. At
	// the cap QoS 1 sources block and QoS 0 messages drop, as when the
	// queue is full. 0 is no cap beyond Queue.
	QueueBytes wal.Size `mapstructure:"queue_bytes"`
	// Heartbeat is how often an idle stream writes a heartbeat entry so that
	// processing time moves in the log.
	Heartbeat time.Duration `mapstructure:"heartbeat"`
	// Dedupe is the number of recent message fingerprints kept to recognise
	// redeliveries, and the most QoS > 0 messages the batcher holds unacked
	// (sources block beyond it): every message a reconnect may bring again
	// is then among those fingerprints, whatever the broker's inflight
	// window. 0 turns both off.
	Dedupe int `mapstructure:"dedupe"`
}

// DefaultConfig returns the defaults documented in the README.
func DefaultConfig() Config {
	return Config{MaxPoints: 50000, MaxBytes: 4 << 20, Linger: 150 * time.Millisecond, FillBytes: 16 << 10, MinInterval: 10 * time.Millisecond,
		Queue: 16384, QueueBytes: 4 << 20, Heartbeat: time.Second, Dedupe: 8192}
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
	if c.FillBytes < 0 {
		errs = append(errs, fmt.Errorf("fill_bytes: must not be negative, got %s", c.FillBytes))
	}
	if c.MinInterval < 0 || c.MinInterval > time.Second {
		errs = append(errs, fmt.Errorf("min_interval: must be between 0 and 1s, got %s", c.MinInterval))
	}
	if c.QueueBytes < 0 {
		errs = append(errs, fmt.Errorf("queue_bytes: must not be negative, got %s", c.QueueBytes))
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
