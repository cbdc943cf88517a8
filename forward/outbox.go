package forward

import "github.com/rivulet-edge/rivulet/wal"

// Outbox is the durable queue of one sink, as the Runner uses it. Only the
// sink's Runner calls it.
type Outbox interface {
	// Next returns pending entries after the cursor, in order, without
	// moving it: at least one if any is pending, within maxPoints and
	// maxBytes otherwise. The Runner does not modify the entries.
	Next(maxPoints, maxBytes int) ([]wal.OutEntry, error)
	// Commit persists the cursor: everything through seq is delivered.
	Commit(seq uint64) error
	// Wait returns a channel that is signalled when an entry is appended
	// after the call (or the outbox closes).
	Wait() <-chan struct{}
}

var _ Outbox = (*wal.Outbox)(nil)
