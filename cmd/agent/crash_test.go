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
	if testing.Short() {
		t.Skip("crash test runs the agent through several SIGKILL cycles")
	}
	dir := t.TempDir()
	broker := ingesttest.Mosquitto(t, "max_queued_messages 0", "max_inflight_messages 100")
	cfg := siteConfig(t, dir, broker, "", "")
	rs := readings(2, 5, 400, 2)
	want := expected(rs, time.Second, "temp_1s")

	agent := startAgent(t, cfg)
	waitSubscribed(t, agent)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	published := make(chan struct{})
	go func() {
		defer close(published)
		if err := publish(ctx, broker, "pub-crash", rs, 5*time.Millisecond); err != nil {
			t.Error(err)
		}
	}()

	rng := rand.New(rand.NewPCG(3, 4))
	cycles := 0
	for running := true; running; {
		select {
		case <-published:
			running = false
		case <-time.After(time.Duration(150+rng.IntN(500)) * time.Millisecond):
			agent.kill()
			cycles++
			agent = startAgent(t, cfg)
		}
	}
	if cycles < 3 {
		t.Fatalf("only %d kill cycles happened before the publisher finished; slow the publisher", cycles)
	}
	out := filepath.Join(dir, "results.lp")
	waitFor(t, 60*time.Second, "all windows in the file sink", func() bool {
		return len(results(t, out)) >= len(want)
	})
	agent.stop(t)
	compare(t, results(t, out), want)
	t.Logf("%d SIGKILL cycles, %d readings, %d windows", cycles, len(rs), len(want))
	if n := strings.Count(agent.output(), "late"); n > 0 && strings.Contains(agent.output(), "late_points=") {
		t.Logf("final run output mentions late points:\n%s", agent.output())
	}
}

// waitSubscribed waits until the agent's source has subscribed, so that
// the broker holds messages for its persistent session from then on.
func waitSubscribed(t *testing.T, p *proc) {
	t.Helper()
	waitFor(t, 20*time.Second, "the agent to subscribe", func() bool {
		return strings.Contains(p.output(), "connected to broker")
	})
}
