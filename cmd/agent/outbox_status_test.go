package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// TestOutboxStatus runs the agent with a sink whose upstream is down, and
// asks `rivulet outbox status` while it runs (live: backlog, last error,
// next retry) and after it stopped (from data_dir: the same backlog, with
// the age of the oldest pending result).
func TestOutboxStatus(t *testing.T) {
	dir := t.TempDir()
	broker := ingesttest.Mosquitto(t, "max_queued_messages 0")
	dead := ingesttest.FreeAddr(t)
	cloud := `  - name: cloud
    type: influx
    url: http://` + dead + `/write?db=edge
    retry: {initial: 50ms, max: 200ms}
`
	cfg := siteConfig(t, dir, broker, "", cloud)
	web := ingesttest.FreeAddr(t)
	writeConfig(t, cfg, strings.Replace(readFile(t, cfg), `http: {listen: ""}`, `http: {listen: "`+web+`"}`, 1))
	agent := startAgent(t, cfg)
	waitSubscribed(t, agent)
	rs := readings(1, 2, 200, 8)
	if err := publish(context.Background(), broker, "pub-outbox", rs, 0); err != nil {
		t.Fatal(err)
	}
	status := func() map[string]sinkBacklog {
		out, err := exec.Command(binary, "outbox", "status", "--config", cfg, "--json").Output()
		if err != nil {
			t.Fatalf("outbox status: %v\n%s", err, out)
		}
		var got struct {
			From  string        `json:"from"`
			Sinks []sinkBacklog `json:"sinks"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		m := map[string]sinkBacklog{"from": {Sink: got.From}}
		for _, s := range got.Sinks {
			m[s.Sink] = s
		}
		return m
	}
	var live map[string]sinkBacklog
	waitFor(t, 30*time.Second, "a cloud backlog with an error, the local file delivered", func() bool {
		live = status()
		return live["cloud"].Entries > 0 && live["cloud"].LastError != "" && live["cloud"].NextRetry != nil &&
			live["local"].Entries == 0
	})
	if !strings.HasPrefix(live["from"].Sink, "running agent") {
		t.Errorf("live status: %+v", live)
	}
	if !strings.Contains(live["cloud"].LastError, "connection refused") {
		t.Errorf("last error %q does not say why", live["cloud"].LastError)
	}
	agent.stop(t)

	off := status()
	if !strings.HasPrefix(off["from"].Sink, "data_dir") {
		t.Errorf("not read from data_dir: %q", off["from"].Sink)
	}
	if off["cloud"].Entries == 0 || off["cloud"].OldestAge == nil || *off["cloud"].OldestAge <= 0 || off["local"].Entries != 0 {
		t.Errorf("offline status: cloud %+v local %+v", off["cloud"], off["local"])
	}
	var table bytes.Buffer
	if err := run(context.Background(), []string{"outbox", "status", "--config", cfg}, &table, &table); err != nil {
		t.Fatal(err)
	}
	t.Logf("rivulet outbox status:\n%s", table.String())
	if !strings.Contains(table.String(), "cloud") || !strings.Contains(table.String(), "backlog") {
		t.Errorf("table:\n%s", table.String())
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
