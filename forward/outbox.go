package forward

import "github.com/rivulet-edge/rivulet/wal"

// Outbox is the durable queue of one sink, as the Runner uses it. Only the
// sink's Runner calls it.
type Outbox interface {
	// Next returns pending entries after the cursor, in order, without
	// moving it: at least one if any is pending, within maxPoints and
	// maxBytes otherwise. The Runner does not modify the entries.
	Next(maxPoints, maxBytes int) ([]wal.OutEntry, error)
	// Advance moves the cursor past seq in memory: everything through it
	// is delivered, and Next reads after it.
	Advance(seq uint64) error
	// Save persists the cursor Advance reached (after every lane's, for
	// several). Delivery resumes after the saved cursor after a restart.
	Save() error
	// Rewind moves the cursor back to the saved one, so that what was
	// delivered since is delivered again.
	Rewind()
	// Wait returns a channel that is signalled when an entry is appended
	// after the call (or the outbox closes).
	Wait() <-chan struct{}
}

var _ Outbox = (*wal.Outbox)(nil)
