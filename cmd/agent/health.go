package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/rivulet-edge/rivulet/engine"
)

// verdict is the answer of /healthz or /readyz.
type verdict struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// progress tells whether the pipeline moves, as seen by the checks
// themselves (a probe every few seconds is plenty; a check after a long
// quiet spell counts any change since the previous one). The engine part
// is the systemd watchdog's rule (engine.Progress, stallLimit), so that
// /healthz and the watchdog agree.
type progress struct {
	mu       sync.Mutex
	engine   engine.Progress
	batches  uint64
	commitAt time.Time // when the batcher's commit count last changed
	replayTo uint64    // the log's last index when serving began
}

func newProgress(now time.Time, batches, replayTo uint64) *progress {
	return &progress{batches: batches, commitAt: now, replayTo: replayTo}
}

// health is 200 while the engine has applied everything committed or has
// moved within stallLimit, and while queued messages get committed.
// Upstream sinks being down is not unhealthy: that is what the outboxes
// are for (see rivulet_outbox_oldest_age_seconds).
func (a *agent) health(p *progress, now time.Time) verdict {
	bs := a.batcher.Stats()
	batches, queued := bs.Batches.Load(), bs.Queued()
	p.mu.Lock()
	defer p.mu.Unlock()
	if stalled, behind := p.engine.Stalled(a.engine, now, stallLimit); stalled {
		return verdict{Reason: fmt.Sprintf("engine stalled: applied log index %d, %d committed entries behind, no progress for over %s",
			a.engine.Stats().Index.Load(), behind, stallLimit)}
	}
	if batches != p.batches || queued == 0 {
		p.batches, p.commitAt = batches, now
	}
	if d := now.Sub(p.commitAt); d > stallLimit {
		return verdict{Reason: fmt.Sprintf("batcher stalled: %d messages queued, no commit for %s (ingest log full or not writable?)",
			queued, d.Round(time.Second))}
	}
	return verdict{OK: true}
}

// ready is 200 once the engine has replayed the log as it was when serving
// began (recovery) and every source is connected to its broker.
func (a *agent) ready(p *progress) verdict {
	if applied := a.engine.Stats().Index.Load(); applied < p.replayTo {
		return verdict{Reason: fmt.Sprintf("recovering: replayed log index %d of %d", applied, p.replayTo)}
	}
	for i, src := range a.sources {
		if !src.Stats().Connected {
			return verdict{Reason: fmt.Sprintf("source %s not connected to %s", src.Name(),
				redactURL(a.cfg.Sources.MQTT[i].Broker))}
		}
	}
	return verdict{OK: true}
}
