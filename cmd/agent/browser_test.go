package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// browser is a headless Chromium driven over the DevTools protocol, with
// every console message and exception of its page recorded.
type browser struct {
	ctx     context.Context
	mu      sync.Mutex
	console []string
}

// startBrowser starts Debian's chromium with a fresh profile, or skips the
// test when there is none (fails under RIVULET_REQUIRE_INTEROP=1). The
// browser is killed at the end of the test.
func startBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("RIVULET_REQUIRE_INTEROP") == "1" {
			t.Fatal("chromium not installed (apt-get install chromium) and RIVULET_REQUIRE_INTEROP=1")
		}
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	profile, err := os.MkdirTemp("", "rivulet-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(width, height))
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // kills the browser and waits for it
		os.RemoveAll(profile)
	})
	b := &browser{ctx: ctx}
	start, cancelStart := context.WithTimeout(ctx, 30*time.Second)
	defer cancelStart()
	// The first action starts the browser, so it must not carry a deadline
	// of its own; the timeout above bounds the wait from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx, chromedp.Navigate("about:blank")) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-start.Done():
		t.Fatal("chromium did not start within 30s")
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m.String()+" at "+m.URL)
			b.mu.Unlock()
		}
	}()
	return b
}

// do runs actions with a deadline.
func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// messages returns what the page wrote to the console: the page itself
// never logs, so every message is a fault (an exception, a failed request,
// a browser warning).
func (b *browser) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// ink counts the pixels of canvas id drawn in a series colour (the CSS
// variables --s1 to --s3), give or take antialiasing. It decodes the
// canvas's PNG in Go: reading pixels in the page would make Chromium warn.
func ink(t *testing.T, b *browser, id string) int {
	t.Helper()
	got := eval[[]string](t, b, `[document.getElementById('`+id+`').toDataURL('image/png')].concat(
		['--s1', '--s2', '--s3'].map(v => getComputedStyle(document.documentElement).getPropertyValue(v).trim()))`)
	data, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(got[0], "data:image/png;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var colours [][3]uint32
	for _, hex := range got[1:] {
		var c [3]uint32
		if _, err := fmt.Sscanf(hex, "#%02x%02x%02x", &c[0], &c[1], &c[2]); err != nil {
			t.Fatalf("colour %q: %v", hex, err)
		}
		colours = append(colours, c)
	}
	n := 0
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			for _, w := range colours {
				if c.A > 200 && absDiff(uint32(c.R), w[0])+absDiff(uint32(c.G), w[1])+absDiff(uint32(c.B), w[2]) < 60 {
					n++
					break
				}
			}
		}
	}
	return n
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestStatusPage loads the status page in headless Chromium while readings
// flow, then checks that it ran without a console error, drew its charts,
// shows the numbers /metrics has once traffic stopped, redacts secrets and
// fits a phone's screen.
func TestStatusPage(t *testing.T) {
	b := startBrowser(t, 1200, 900)
	dir := t.TempDir()
	embedded := ingesttest.FreeAddr(t)
	broker := "tcp://" + embedded
	// A second sink whose upstream is down, with credentials in its URL: its
	// row must show the failure and no secret.
	cloud := `  - name: cloud
    type: influx
    url: http://admin:hunter2@127.0.0.1:1/write?db=edge&p=hunter2
    retry: {initial: 50ms, max: 500ms}
`
	web := ingesttest.FreeAddr(t)
	agent := startAgent(t, siteConfig(t, dir, broker, embedded, cloud), "RIVULET_HTTP_LISTEN="+web)
	waitSubscribed(t, agent)
	b.do(t, chromedp.Navigate("http://"+web+"/"))

	rs := readings(2, 3, 120, 21)
	if err := publish(context.Background(), broker, "pub-status", rs, 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the page to show every message", func() bool {
		return eval[string](t, b, `document.getElementById('messages-total').dataset.value || ''`) == fmt.Sprint(len(rs))
	})
	waitFor(t, 30*time.Second, "both charts to draw", func() bool {
		return eval[bool](t, b, `['chart-throughput', 'chart-backlog'].every(id => document.getElementById(id).dataset.drawn === 'true')`)
	})
	for _, id := range []string{"chart-throughput", "chart-backlog"} {
		if n := ink(t, b, id); n < 10 {
			t.Errorf("%s: %d pixels in the series colour, want a drawn line", id, n)
		}
		if n := eval[int](t, b, `document.getElementById('`+id+`').toDataURL().length`); n < 2000 {
			t.Errorf("%s: toDataURL is %d bytes: blank?", id, n)
		}
	}

	// Traffic has stopped: once the last windows have fired and the local
	// file has them, what the page shows after its next refresh must equal
	// a scrape taken now.
	var m map[string]float64
	waitFor(t, 30*time.Second, "the last windows to fire and reach the local file", func() bool {
		m = scrape(t, web)
		return m["rivulet_open_windows"] == 0 && m[`rivulet_outbox_entries{sink="local"}`] == 0
	})
	before := eval[string](t, b, `document.body.dataset.updated`)
	waitFor(t, 10*time.Second, "a refresh of the page", func() bool {
		return eval[string](t, b, `document.body.dataset.updated`) != before
	})
	shown := eval[map[string]string](t, b, `({
		total: document.getElementById('messages-total').dataset.value,
		totalText: document.getElementById('messages-total').textContent,
		source: document.querySelector('tr[data-source="sensors"] td:nth-child(3)').dataset.value,
		backlog: document.querySelector('tr[data-sink="local"] td:nth-child(3)').dataset.value,
		text: document.body.innerText,
	})`)
	for _, c := range []struct{ what, got, series string }{
		{"messages total", shown["total"], "rivulet_messages_total"},
		{"messages total (text)", strings.ReplaceAll(shown["totalText"], ",", ""), "rivulet_messages_total"},
		{"source messages", shown["source"], `rivulet_source_messages_total{source="sensors"}`},
		{"local backlog", shown["backlog"], `rivulet_outbox_entries{sink="local"}`},
	} {
		if want := fmt.Sprint(m[c.series]); c.got != want {
			t.Errorf("page shows %s = %q, /metrics %s = %s", c.what, c.got, c.series, want)
		}
	}
	text := shown["text"]
	for _, want := range []string{"test", "No alerts yet.", "health ok", "ready ok", "REDACTED",
		"greenhouse/+/lp (influx)", "temp_1s", "tumbling 1s", "connection refused"} {
		if !strings.Contains(text, want) {
			t.Errorf("page does not show %q", want)
		}
	}
	if strings.Contains(text, "hunter2") {
		t.Error("page shows a secret of the sink URL")
	}
	apiMatchesMetrics(t, web)

	// A phone: nothing wider than the screen but the tables' own scroll.
	b.do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	waitFor(t, 10*time.Second, "the phone layout", func() bool {
		return eval[bool](t, b, `window.innerWidth === 390 &&
			document.getElementById('chart-throughput').width === 2 * document.getElementById('chart-throughput').clientWidth`)
	})
	if w := eval[int](t, b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("page is %d px wide on a 390 px phone", w)
	}
	if n := ink(t, b, "chart-throughput"); n < 10 {
		t.Errorf("throughput chart blank on the phone (%d pixels)", n)
	}
	for _, m := range b.messages() {
		t.Errorf("console: %s", m)
	}
	agent.stop(t)
}

// apiMatchesMetrics checks that /api/status and /metrics agree on the
// counters that no longer move once traffic stopped.
func apiMatchesMetrics(t *testing.T, web string) {
	t.Helper()
	resp, err := http.Get("http://" + web + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Metrics map[string]float64 }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	m := scrape(t, web)
	for _, series := range []string{"rivulet_messages_total", "rivulet_points_total", "rivulet_batches_total",
		"rivulet_engine_points_total", "rivulet_results_total", "rivulet_late_points_total",
		`rivulet_source_messages_total{source="sensors"}`, `rivulet_sink_points_total{sink="local"}`,
		`rivulet_dropped_total{reason="quarantined"}`, "rivulet_batch_messages_count", "rivulet_batch_messages_sum"} {
		got, ok := st.Metrics[series]
		if want, wok := m[series]; !ok || !wok || got != want {
			t.Errorf("/api/status %s = %v (present %v), /metrics %v (present %v)", series, got, ok, want, wok)
		}
	}
}

// TestStatusScreenshot runs the demo for a minute and saves a screenshot of the
// status page as docs/status.png. It runs only with
// RIVULET_UPDATE_SCREENSHOT=1.
func TestStatusScreenshot(t *testing.T) {
	if os.Getenv("RIVULET_UPDATE_SCREENSHOT") != "1" {
		t.Skip("set RIVULET_UPDATE_SCREENSHOT=1 to regenerate docs/status.png")
	}
	b := startBrowser(t, 1200, 900)
	dir := t.TempDir()
	web := ingesttest.FreeAddr(t)
	p := &proc{cmd: exec.Command(binary, "run", "--demo"), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "RIVULET_HTTP_LISTEN="+web,
		"RIVULET_EMBEDDED_BROKER_LISTEN="+ingesttest.FreeAddr(t))
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	waitSubscribed(t, p)
	b.do(t, chromedp.Navigate("http://"+web+"/"))
	time.Sleep(60 * time.Second) // a minute of history in the charts
	b.do(t, chromedp.EmulateViewport(1200, 900), chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	time.Sleep(500 * time.Millisecond) // the charts redraw after a resize
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "status.png")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
	p.stop(t)
}
