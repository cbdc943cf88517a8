package main

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// TestCrashRecovery kills the agent with SIGKILL again and again while a
// publisher sends QoS 1 readings through mosquitto, restarts it each time,
// and checks that the final aggregates equal the oracle's: nothing lost (the
// broker held what was not acked) and nothing counted twice (redeliveries
// already in the log are recognised by fingerprint, results already in an
// outbox are not appended again).
func TestCrashRecovery(t *testing.T) {
	const minCycles = 10
	if testing.Short() {
		t.Skip("crash test runs the agent through several SIGKILL cycles")
	}
	dir := t.TempDir()
	broker := ingesttest.Mosquitto(t, "max_queued_messages 0", "max_inflight_messages 100")
	cfg := siteConfig(t, dir, broker, "", "")
	rs := readings(2, 5, 600, 2)
	want := expected(rs, time.Second, "temp_1s")

	agent := startAgent(t, cfg)
	waitSubscribed(t, agent)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	published := make(chan struct{})
	go func() {
		defer close(published)
		if err := publish(ctx, broker, "pub-crash", rs, 2*time.Millisecond); err != nil {
			t.Error(err)
		}
	}()

	// Each cycle: the agent runs for a random while, is killed, stays down
	// long enough for the broker to queue a backlog, and restarts — so most
	// kills land while it drains a backlog with its queue full, where an ack
	// given before the batch is durable would lose messages.
	rng := rand.New(rand.NewPCG(3, 4))
	cycles, done := 0, false
	for !done || cycles < minCycles {
		select {
		case <-published:
			done = true
		case <-time.After(time.Duration(50+rng.IntN(400)) * time.Millisecond):
		}
		agent.kill()
		cycles++
		time.Sleep(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		agent = startAgent(t, cfg)
	}
	out := filepath.Join(dir, "results.lp")
	waitFor(t, 60*time.Second, "all windows in the file sink", func() bool {
		return len(results(t, out)) >= len(want)
	})
	agent.stop(t)
	compare(t, results(t, out), want)
	t.Logf("%d SIGKILL cycles, %d readings, %d windows", cycles, len(rs), len(want))
}

// waitSubscribed waits until the agent's source has subscribed, so that
// the broker holds messages for its persistent session from then on.
func waitSubscribed(t *testing.T, p *proc) {
	t.Helper()
	waitFor(t, 20*time.Second, "the agent to subscribe", func() bool {
		return strings.Contains(p.output(), "connected to broker")
	})
}
