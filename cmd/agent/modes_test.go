package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// TestDataDirModes runs the agent with umask 0, so that a file created
// with a loose mode keeps it, through everything that writes under
// data_dir: the ingest log, checkpoints, the outbox and its cursor, the file
// sink, a quarantined payload, and (after a damaged restart) the log's and
// the outbox's quarantine copies. Every directory must then be 0700 and
// every file 0600.
func TestDataDirModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	embedded := ingesttest.FreeAddr(t)
	broker := "tcp://" + embedded
	cfg := siteConfig(t, dir, broker, embedded, "")
	agent := startAgent(t, cfg)
	waitSubscribed(t, agent)
	rs := readings(1, 2, 20, 21)
	if err := publish(context.Background(), broker, "pub-modes", rs, 0); err != nil {
		t.Fatal(err)
	}
	publishRaw(t, broker, "greenhouse/z9/lp", "this is not line protocol")
	out := filepath.Join(dir, "results.lp")
	want := expected(rs, time.Second, "temp_1s")
	waitFor(t, 30*time.Second, "results", func() bool { return len(results(t, out)) >= len(want) })
	quarantined := filepath.Join(dir, "data", "quarantine", "messages.jsonl")
	waitFor(t, 10*time.Second, "the bad payload in quarantine", func() bool { _, err := os.Stat(quarantined); return err == nil })
	agent.stop(t)

	damageTail(t, filepath.Join(dir, "data", "log"), []byte("\x7fgarbage that is no record"))
	damageTail(t, filepath.Join(dir, "data", "outbox", "local"), []byte{0x40, 0xA1, 0x04})
	agent = startAgent(t, cfg)
	waitSubscribed(t, agent)
	agent.stop(t)

	var checked []string
	tails := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir || d.Name() == "site.yaml" {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
		}
		if strings.HasSuffix(path, ".tail") {
			tails++
		}
		rel, _ := filepath.Rel(dir, path)
		checked = append(checked, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tails == 0 {
		t.Fatalf("no quarantined tail: the damaged restart wrote nothing to check\n%s", agent.output())
	}
	t.Logf("%d files and directories checked: %s", len(checked), strings.Join(checked, " "))
}

// publishRaw publishes one QoS 1 message and waits for its PUBACK.
func publishRaw(t *testing.T, broker, topic, payload string) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("pub-raw"))
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}
