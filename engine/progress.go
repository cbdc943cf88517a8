package engine

import "time"

// Committed returns the last log index the engine was told is durable.
func (e *Engine) Committed() uint64 { return e.committed.Load() }

// Progress tracks whether an engine keeps up with its log, for health checks
// and the systemd watchdog: the engine is healthy while it has applied
// everything committed, or while its applied index keeps advancing. It is
// not safe for concurrent use; one observer owns it.
type Progress struct {
	lastIndex uint64
	lastMove  time.Time
}

// Stalled reports whether e has been behind its log without advancing for
// longer than limit, as of now, and how far behind it is.
func (p *Progress) Stalled(e *Engine, now time.Time, limit time.Duration) (stalled bool, behind uint64) {
	idx, committed := e.stats.Index.Load(), e.committed.Load()
	if idx != p.lastIndex || p.lastMove.IsZero() {
		p.lastIndex, p.lastMove = idx, now
	}
	if idx >= committed {
		p.lastMove = now
		return false, 0
	}
	return now.Sub(p.lastMove) > limit, committed - idx
}
