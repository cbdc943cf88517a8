// Package vmtest runs a throwaway VictoriaMetrics single-node server for
// interop tests.
//
// Start launches the victoria-metrics binary found on PATH (Debian's
// package installs /usr/bin/victoria-metrics) on a free port of 127.0.0.1
// with its storage in a temporary directory, and stops it when the test
// ends. Its /write endpoint speaks InfluxDB line protocol. Without the
// binary the test is skipped, unless RIVULET_REQUIRE_INTEROP=1, which makes
// it fail instead.
package vmtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// StartTimeout bounds how long Start waits for /health to answer.
const StartTimeout = 60 * time.Second

// Start runs victoria-metrics and returns its base URL, such as
// "http://127.0.0.1:41234". Retention is 100 years, so that points stamped
// long ago are kept.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("victoria-metrics")
	if err != nil {
		if os.Getenv("RIVULET_REQUIRE_INTEROP") == "1" {
			t.Fatalf("victoria-metrics not on PATH and RIVULET_REQUIRE_INTEROP=1: %v", err)
		}
		t.Skipf("victoria-metrics not on PATH: %v", err)
	}
	var lastErr error
	for range 3 { // a free port can be taken between probing and binding
		base, err := start(t, bin)
		if err == nil {
			return base
		}
		lastErr = err
	}
	t.Fatalf("vmtest: %v", lastErr)
	return ""
}

func start(t testing.TB, bin string) (string, error) {
	dir := t.TempDir()
	addr := freeAddr()
	if addr == "" {
		return "", fmt.Errorf("no free port on 127.0.0.1")
	}
	logPath := filepath.Join(dir, "victoria-metrics.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-httpListenAddr", addr, "-storageDataPath", filepath.Join(dir, "data"),
		"-retentionPeriod", "100y", "-loggerLevel", "WARN",
		// Keep one sample per series and timestamp, as InfluxDB does, so that
		// a retried write overwrites instead of adding a duplicate.
		"-dedup.minScrapeInterval", "1ms")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start victoria-metrics: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	base := "http://" + addr
	if err := waitReady(base, exited); err != nil {
		stop()
		log, _ := os.ReadFile(logPath)
		return "", fmt.Errorf("%w; log:\n%s", err, log)
	}
	t.Cleanup(stop)
	return base, nil
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(base string, exited <-chan error) error {
	deadline := time.NewTimer(StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		if resp, err := client.Get(base + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("victoria-metrics exited before it was ready: %v", err)
		case <-deadline.C:
			return fmt.Errorf("victoria-metrics not ready after %s", StartTimeout)
		case <-tick.C:
		}
	}
}

// Series is one exported series: its labels (__name__ is
// <measurement>_<field>) and samples, timestamps in Unix milliseconds.
type Series struct {
	Metric     map[string]string `json:"metric"`
	Values     []float64         `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// Export flushes what was written and returns the series matching the
// series selector match, e.g. {__name__=~"temp_.*"}. A failure fails the
// test.
func Export(t testing.TB, baseURL, match string) []Series {
	t.Helper()
	if resp, err := http.Get(baseURL + "/internal/force_flush"); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.PostForm(baseURL+"/api/v1/export", url.Values{"match[]": {match}})
	if err != nil {
		t.Fatalf("vmtest: export %s: %v", match, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("vmtest: export %s: %s %s %v", match, resp.Status, body, err)
	}
	var out []Series
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var s Series
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("vmtest: export line %q: %v", sc.Bytes(), err)
		}
		out = append(out, s)
	}
	return out
}
