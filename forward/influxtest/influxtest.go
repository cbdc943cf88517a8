// Package influxtest runs a throwaway InfluxDB 1.x server for interop tests.
//
// Start launches the influxd found on PATH with a config of its own in a
// temporary directory, bound to free ports on 127.0.0.1, and stops it when
// the test ends. Without influxd the test is skipped, unless the environment
// sets RIVULET_REQUIRE_INTEROP=1, which makes it fail instead (CI sets it so
// that a missing server cannot pass silently).
package influxtest

import (
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
	"strings"
	"testing"
	"time"
)

// StartTimeout bounds how long Start waits for /ping to answer 204.
const StartTimeout = 60 * time.Second

// Start runs influxd and returns its base URL, such as
// "http://127.0.0.1:41234". The server and its files go away at the end of
// the test.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("influxd")
	if err != nil {
		if os.Getenv("RIVULET_REQUIRE_INTEROP") == "1" {
			t.Fatalf("influxd not on PATH and RIVULET_REQUIRE_INTEROP=1: %v", err)
		}
		t.Skipf("influxd not on PATH: %v", err)
	}
	// A free port can be taken between probing and binding; try again then.
	var lastErr error
	for range 3 {
		base, err := start(t, bin)
		if err == nil {
			return base
		}
		lastErr = err
	}
	t.Fatalf("influxtest: %v", lastErr)
	return ""
}

func start(t testing.TB, bin string) (string, error) {
	dir := t.TempDir()
	httpAddr, rpcAddr := freeAddr(), freeAddr()
	if httpAddr == "" || rpcAddr == "" {
		return "", fmt.Errorf("no free port on 127.0.0.1")
	}
	conf := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(conf, []byte(config(dir, httpAddr, rpcAddr)), 0o600); err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(dir, "influxd.log"))
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-config", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start influxd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	base := "http://" + httpAddr
	if err := waitReady(base, exited); err != nil {
		stop()
		log, _ := os.ReadFile(logf.Name())
		return "", fmt.Errorf("%w; influxd log:\n%s", err, log)
	}
	t.Cleanup(stop)
	return base, nil
}

// freeAddr returns a 127.0.0.1 address with a port that was free just now.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer l.Close()
	return l.Addr().String()
}

// config writes everything under dir and turns off what a test does not
// need. Debian's 1.6 build spells the phone-home switch reporting-enabled,
// upstream reporting-disabled; influxd ignores keys it does not know.
func config(dir, httpAddr, rpcAddr string) string {
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	return strings.Join([]string{
		"reporting-disabled = true",
		"reporting-enabled = false",
		"bind-address = " + q(rpcAddr),
		"[meta]",
		"  dir = " + q(filepath.Join(dir, "meta")),
		"  logging-enabled = false",
		"[data]",
		"  dir = " + q(filepath.Join(dir, "data")),
		"  wal-dir = " + q(filepath.Join(dir, "wal")),
		"  query-log-enabled = false",
		"[http]",
		"  enabled = true",
		"  bind-address = " + q(httpAddr),
		"  auth-enabled = false",
		"  log-enabled = false",
		"  pprof-enabled = false",
		"[monitor]",
		"  store-enabled = false",
		"[continuous_queries]",
		"  enabled = false",
		"[subscriber]",
		"  enabled = false",
		"[retention]",
		"  enabled = false",
		"[shard-precreation]",
		"  enabled = false",
		"[[udp]]",
		"  enabled = false",
		"[[graphite]]",
		"  enabled = false",
		"[[collectd]]",
		"  enabled = false",
		"[[opentsdb]]",
		"  enabled = false",
		"[logging]",
		"  level = \"warn\"",
		"  suppress-logo = true",
		"",
	}, "\n")
}

// waitReady polls /ping until it answers 204, influxd exits, or
// StartTimeout passes.
func waitReady(base string, exited <-chan error) error {
	deadline := time.NewTimer(StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("influxd exited before it was ready: %v", err)
		case <-deadline.C:
			return fmt.Errorf("influxd not ready after %s", StartTimeout)
		case <-tick.C:
		}
	}
}

// Series is one series of a query result. Numbers are json.Number, so that
// nanosecond timestamps and int64 fields keep every digit.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs InfluxQL statement q against db (empty for statements such as
// CREATE DATABASE) with nanosecond epochs, and returns the series of its
// first result. A server or statement error fails the test.
func Query(t testing.TB, baseURL, db, q string) []Series {
	t.Helper()
	form := url.Values{"q": {q}, "epoch": {"ns"}}
	if db != "" {
		form.Set("db", db)
	}
	resp, err := http.PostForm(baseURL+"/query", form)
	if err != nil {
		t.Fatalf("influxtest: query %q: %v", q, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("influxtest: query %q: %s %s %v", q, resp.Status, body, err)
	}
	var out struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("influxtest: query %q: decode %s: %v", q, body, err)
	}
	if out.Error != "" || len(out.Results) == 0 || out.Results[0].Error != "" {
		t.Fatalf("influxtest: query %q: %s", q, body)
	}
	return out.Results[0].Series
}
