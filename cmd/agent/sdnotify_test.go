package main

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// TestSystemdNotify plays systemd: it listens on a notify socket, starts the
// agent with NOTIFY_SOCKET and a 200 ms watchdog, and expects READY=1 after
// the source connected, watchdog pings while it runs, RELOADING=1 and READY=1
// on SIGHUP, and STOPPING=1 only at the end.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	var states []string
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			states = append(states, string(buf[:n]))
			mu.Unlock()
		}
	}()
	count := func(prefix string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range states {
			if strings.HasPrefix(s, prefix) {
				n++
			}
		}
		return n
	}
	dir := t.TempDir()
	broker := ingesttest.Mosquitto(t)
	agent := startAgent(t, siteConfig(t, dir, broker, "", ""), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000")
	waitFor(t, 20*time.Second, "READY=1", func() bool { return count("READY=1") == 1 })
	if !strings.Contains(agent.output(), "connected to broker") {
		t.Fatal("READY=1 before the source connected")
	}
	mu.Lock()
	if !strings.Contains(states[0], "STATUS=running") {
		t.Errorf("first notification %q lacks STATUS=running", states[0])
	}
	mu.Unlock()
	waitFor(t, 10*time.Second, "watchdog pings", func() bool { return count("WATCHDOG=1") >= 3 })
	// A reload is RELOADING=1 then READY=1 again, never STOPPING=1: systemd
	// would take the service for stopping.
	agent.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 20*time.Second, "RELOADING=1 then READY=1", func() bool { return count("RELOADING=1") == 1 && count("READY=1") == 2 })
	if n := count("STOPPING=1"); n != 0 {
		t.Fatalf("STOPPING=1 sent %d times during a reload", n)
	}
	agent.stop(t)
	waitFor(t, 5*time.Second, "STOPPING=1", func() bool { return count("STOPPING=1") == 1 })
}
