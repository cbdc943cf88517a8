package wal

import (
	"errors"
	"fmt"
)

// Durability says when a written entry counts as durable.
const (
	// DurabilityFsync syncs the log before acknowledging: survives power loss.
	DurabilityFsync = "fsync"
	// DurabilityWrite acknowledges after the write: survives a process crash only.
	DurabilityWrite = "write"
)

// Compression says how the ingest log stores the points of a batch, and
// the outboxes the points of a result.
const (
	// CompressionS2 compresses them (S2 block format, see FORMAT.md).
	CompressionS2 = "s2"
	// CompressionNone stores the line protocol as it is.
	CompressionNone = "none"
)

// Config is the `wal` section of a site config.
type Config struct {
	Durability  string `mapstructure:"durability"`
	SegmentSize Size   `mapstructure:"segment_size"`
	MaxSize     Size   `mapstructure:"max_size"`
	Compression string `mapstructure:"compression"`
}

// DefaultConfig returns the defaults documented in the README. The segment
// size is small because tidwall/wal keeps the segment being written (and one
// cached segment) in memory: RAM use grows with about three times its size.
func DefaultConfig() Config {
	return Config{Durability: DurabilityFsync, SegmentSize: 1 << 20, MaxSize: 1 << 30, Compression: CompressionS2}
}

// Validate checks the section without touching the disk. Each error message
// starts with the key path relative to the section.
func (c Config) Validate() error {
	var errs []error
	if c.Durability != DurabilityFsync && c.Durability != DurabilityWrite {
		errs = append(errs, fmt.Errorf("durability: must be fsync or write, got %q", c.Durability))
	}
	if c.Compression != CompressionS2 && c.Compression != CompressionNone {
		errs = append(errs, fmt.Errorf("compression: must be s2 or none, got %q", c.Compression))
	}
	if c.SegmentSize < 64<<10 {
		errs = append(errs, fmt.Errorf("segment_size: must be at least 64KiB, got %s", c.SegmentSize))
	}
	if c.MaxSize < 2*c.SegmentSize {
		errs = append(errs, fmt.Errorf("max_size: must be at least twice segment_size (%s), got %s", c.SegmentSize, c.MaxSize))
	}
	return errors.Join(errs...)
}
