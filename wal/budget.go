package wal

import (
	"errors"
	"fmt"
	"sync"
)

// ErrOutboxFull is returned by Outbox.Append when a Budget with the Block
// policy has no room: the caller keeps the result and tries again later,
// which holds back everything before it (backpressure).
var ErrOutboxFull = errors.New("wal: outbox full")

// FullPolicy says what a Budget does when an append would exceed it.
type FullPolicy int

const (
	// Block refuses the append with ErrOutboxFull.
	Block FullPolicy = iota
	// DropOldest moves the cursor of a member past its oldest undelivered
	// entries, lowest rank first, until the append fits.
	DropOldest
)

// Budget caps the bytes on disk of a set of outboxes (one sink's lanes, or
// every sink). It is safe for concurrent use; an outbox may belong to
// several budgets.
type Budget struct {
	max    int64
	policy FullPolicy

	mu      sync.Mutex
	members []budgetMember
}

type budgetMember struct {
	box  *Outbox
	rank int
}

// NewBudget returns a budget of max bytes (<= 0: no cap) with policy.
func NewBudget(max int64, policy FullPolicy) *Budget {
	return &Budget{max: max, policy: policy}
}

// Add makes box count against b. Under DropOldest, members of lower rank
// lose entries first (raw before results before alerts); among equal ranks
// the largest goes first.
func (b *Budget) Add(box *Outbox, rank int) {
	b.mu.Lock()
	b.members = append(b.members, budgetMember{box, rank})
	b.mu.Unlock()
	box.mu.Lock()
	box.budgets = append(box.budgets, b)
	box.mu.Unlock()
}

// Used returns the bytes on disk of the members.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used()
}

// Max returns the cap in bytes; <= 0 is no cap.
func (b *Budget) Max() int64 { return b.max }

func (b *Budget) used() int64 {
	var n int64
	for _, m := range b.members {
		n += m.box.log.Size()
	}
	return n
}

// reserve makes room for need more bytes, or returns ErrOutboxFull. It
// first reclaims delivered entries; when nothing at all is pending the
// append goes ahead even over the cap, since waiting could not help.
func (b *Budget) reserve(need int64) error {
	if b.max <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used()+need <= b.max {
		return nil
	}
	for _, m := range b.members {
		if err := m.box.compact(); err != nil {
			return err
		}
	}
	if b.used()+need <= b.max || b.victim() == nil {
		return nil
	}
	if b.policy == Block {
		return fmt.Errorf("%w: %d bytes on disk + %d, cap %d", ErrOutboxFull, b.used(), need, b.max)
	}
	for over := b.used() + need - b.max; over > 0; over = b.used() + need - b.max {
		v := b.victim()
		if v == nil {
			return nil
		}
		// Drop in steps of at least 1/32 of the cap, so that a full
		// outbox does not rewrite its front segment on every append.
		if err := v.dropOldest(max(over, b.max/32)); err != nil {
			return err
		}
	}
	return nil
}

// victim is the member DropOldest takes from next: the lowest rank with
// pending entries, the largest among equals; nil when nothing is pending.
func (b *Budget) victim() *Outbox {
	var v *Outbox
	rank, size := 0, int64(0)
	for _, m := range b.members {
		if !m.box.pending() {
			continue
		}
		s := m.box.log.Size()
		if v == nil || m.rank < rank || (m.rank == rank && s > size) {
			v, rank, size = m.box, m.rank, s
		}
	}
	return v
}
