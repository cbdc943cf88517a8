// Package bufs decides when a reused buffer is worth keeping.
//
// Reusing a buffer saves an allocation per use, but a buffer keeps the
// capacity of its largest use: one burst (a backlog drained in 4 MiB
// batches, a window closing over 10k series) would pin megabytes for the
// rest of the process's life. A Keeper keeps a large buffer only while it
// is used often and well: a buffer used once a minute (a window's results)
// is let go after each use, and one whose uses stay small is let go after
// a while, so that only steady large uses (a drain) reuse it.
package bufs

import "time"

// Small is the capacity a buffer may always keep.
const Small = 64 << 10

const (
	// quietUses is how many uses in a row must fill less than a quarter
	// of a large buffer before it is let go.
	quietUses = 32
	// often is the longest gap between two uses for which a large buffer
	// is kept.
	often = time.Second
)

// Keeper tracks the uses of one reused buffer. The zero value is ready.
type Keeper struct {
	quiet int
	last  time.Time
	now   func() time.Time // time.Now; set by tests
}

// WithClock returns a Keeper that reads the time from now: for tests of
// buffers kept elsewhere.
func WithClock(now func() time.Time) Keeper { return Keeper{now: now} }

// Keep records a use of n bytes of a buffer of capacity c and reports
// whether to keep it: always up to Small; above it, when the previous use
// was less than a second before and at least one of the last quietUses
// uses filled a quarter of it.
func (k *Keeper) Keep(n, c int) bool {
	now := time.Now
	if k.now != nil {
		now = k.now
	}
	t := now()
	recent := !k.last.IsZero() && t.Sub(k.last) < often
	k.last = t
	switch {
	case c <= Small:
		k.quiet = 0
		return true
	case !recent:
		k.quiet = 0
		return false
	case n >= c/4:
		k.quiet = 0
		return true
	}
	k.quiet++
	if k.quiet < quietUses {
		return true
	}
	k.quiet = 0
	return false
}

// Bytes returns b emptied for its next use, or nil when k lets it go after
// a use of n bytes.
func (k *Keeper) Bytes(b []byte, n int) []byte {
	if !k.Keep(n, cap(b)) {
		return nil
	}
	return b[:0]
}
