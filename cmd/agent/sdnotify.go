package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/rivulet-edge/rivulet/engine"
)

// sdNotify sends a state to systemd's notification socket ($NOTIFY_SOCKET,
// set for Type=notify units). Without the variable it does nothing.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// watchdogInterval returns how often to ping systemd's watchdog (half of
// WatchdogSec), or 0 when the watchdog is off or meant for another process.
func watchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// stallLimit is how long the engine may be behind its log without applying
// anything before the agent counts as stalled.
const stallLimit = 30 * time.Second

// superviseSystemd tells systemd READY=1 once the sources are connected (or
// after readyWait, so a broker that is down at boot does not fail the unit)
// and then pings the watchdog for as long as the engine makes progress: a
// stalled pipeline, not only a dead process, gets restarted.
func (a *agent) superviseSystemd(ctx context.Context, readyWait time.Duration) error {
	a.waitConnected(ctx, readyWait)
	if ctx.Err() != nil {
		return nil
	}
	status := "running"
	if !a.sourcesUp() {
		status = "running; waiting for the MQTT broker"
	}
	if err := sdNotify("READY=1\nSTATUS=" + status); err != nil {
		a.logger.Warn("systemd notify failed", "err", err)
	}
	every := watchdogInterval()
	if every == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var p engine.Progress
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if stalled, behind := p.Stalled(a.engine, now, stallLimit); stalled {
				a.logger.Error("pipeline stalled: not pinging the watchdog", "entries_behind", behind)
				continue
			}
			sdNotify("WATCHDOG=1")
		}
	}
}

func (a *agent) sourcesUp() bool {
	for _, s := range a.sources {
		if !s.Stats().Connected {
			return false
		}
	}
	return true
}

func (a *agent) waitConnected(ctx context.Context, max time.Duration) {
	deadline := time.Now().Add(max)
	for !a.sourcesUp() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
}

// logNotifyFailure is for states sent outside the supervisor.
func logNotifyFailure(logger *slog.Logger, state string) {
	if err := sdNotify(state); err != nil {
		logger.Warn("systemd notify failed", "state", state, "err", err)
	}
}
