package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

func TestCLI(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	site, err := os.ReadFile("../../testdata/site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	badText := strings.Replace(string(site), "format: influx", "format: influx\n          qos: 3", 1)
	badText = strings.Replace(badText, "durability: fsync", "durabilty: fsync", 1)
	if err := os.WriteFile(bad, []byte(badText), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"version", []string{"version"}, 0, []string{"rivulet "}},
		{"validate site.yaml", []string{"validate", "--config", "../../testdata/site.yaml"}, 0, []string{"site.yaml: ok"}},
		{"validate positional", []string{"validate", "../../testdata/site.toml"}, 0, []string{"ok"}},
		{"validate bad", []string{"validate", "--config", bad}, 2, []string{
			"sources.mqtt[0].topics[1].qos: must be 0, 1 or 2, got 3",
			"wal.durabilty: unknown key",
		}},
		{"validate missing file", []string{"validate", "--config", "/nonexistent.yaml"}, 2, []string{"nonexistent.yaml"}},
		{"validate no config", []string{"validate"}, 2, []string{"--config FILE is required"}},
		{"run no config", []string{"run"}, 2, []string{"--config FILE is required"}},
		{"unknown command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{"no command", nil, 2, []string{"usage:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			code := 0
			var ec exitCode
			if errors.As(err, &ec) {
				code = int(ec)
			} else if err != nil {
				code = 1
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d (err %v)\nstdout: %s\nstderr: %s", code, tc.code, err, &out, &errOut)
			}
			all := out.String() + errOut.String()
			for _, want := range tc.contains {
				if !strings.Contains(all, want) {
					t.Errorf("output lacks %q:\n%s", want, all)
				}
			}
		})
	}
}

// TestDemo runs `rivulet run --demo` as a person would and expects window
// results on stdout within 30 s, then a clean exit on SIGINT.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, "run", "--demo")
	cmd.Dir = dir
	// An empty RIVULET_HTTP_LISTEN counts as unset: give the page a free port.
	cmd.Env = append(os.Environ(), "RIVULET_EMBEDDED_BROKER_LISTEN="+ingesttest.FreeAddr(t),
		"RIVULET_HTTP_LISTEN="+ingesttest.FreeAddr(t))
	p := &proc{cmd: cmd, done: make(chan struct{})}
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &lockedWriter{p: p, buf: &stdout}, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	// The first 10 s window closes within 22 s of the start; the margin is
	// for loaded CI machines.
	waitFor(t, 45*time.Second, "demo aggregates on stdout", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return strings.Contains(stdout.String(), "temperature_10s,sensor=s1,site=demo,zone=zone-1 value_count=")
	})
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("demo did not stop within 10 s of SIGINT\n%s", p.output())
	}
	if p.err != nil {
		t.Fatalf("demo exited with %v\n%s", p.err, p.output())
	}
	if _, err := os.Stat(filepath.Join(dir, "demo-data", "results.lp")); err != nil {
		t.Fatalf("demo wrote no results file: %v", err)
	}
}

// lockedWriter writes into buf under p's lock.
type lockedWriter struct {
	p   *proc
	buf *bytes.Buffer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.buf.Write(b)
}
