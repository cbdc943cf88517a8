package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// TestReload sends SIGHUP twice: first with an invalid config, which is
// refused while the agent keeps running; then with a config that adds a
// step, which is applied without losing a reading: windows open across the
// reload are completed by the kept step, and the new step sees what
// arrives after it.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	broker := ingesttest.Mosquitto(t, "max_queued_messages 0")
	cfg := siteConfig(t, dir, broker, "", "")
	agent := startAgent(t, cfg)
	waitSubscribed(t, agent)
	rs := readings(1, 2, 300, 21)
	half := len(rs) / 2
	if err := publish(context.Background(), broker, "pub-reload", rs[:half], 0); err != nil {
		t.Fatal(err)
	}
	original, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}

	writeConfig(t, cfg, strings.Replace(string(original), "aggregates: [count, mean, min, max]", "aggregates: [count, mean, min, max]\n    sizee: 2s", 1))
	agent.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the refusal", func() bool { return strings.Contains(agent.output(), "reload refused") })
	if !strings.Contains(agent.output(), "pipeline[0].sizee: unknown key") {
		t.Fatalf("refusal does not name the bad key:\n%s", agent.output())
	}

	added := strings.Replace(string(original), "sinks:\n", `  - name: temp_2s
    measurement: temperature
    window: {type: tumbling, size: 2s, max_delay: 500ms, idle_timeout: 1s}
    group_by: [zone]
    aggregates: [count]
    to: [local]
sinks:
`, 1)
	writeConfig(t, cfg, added)
	agent.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 20*time.Second, "the reload", func() bool { return strings.Count(agent.output(), "connected to broker") >= 2 })
	if err := publish(context.Background(), broker, "pub-reload", rs[half:], 0); err != nil {
		t.Fatal(err)
	}
	want := expected(rs, time.Second, "temp_1s")
	out := filepath.Join(dir, "results.lp")
	has2s := func() bool {
		for id := range results(t, out) {
			if strings.HasPrefix(id, "temp_2s,") {
				return true
			}
		}
		return false
	}
	waitFor(t, 30*time.Second, "all windows of both steps", func() bool {
		return len(results(t, out)) >= len(want) && has2s()
	})
	agent.stop(t)
	got := results(t, out)
	for id := range got {
		if strings.HasPrefix(id, "temp_2s,") {
			delete(got, id)
		}
	}
	compare(t, got, want)
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
