package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/forward"
)

// webAssets is the status page: one HTML page, its script and its style,
// served from the binary so that it works without any network.
//
//go:embed web
var webAssets embed.FS

// serveHTTP serves, on addr until ctx is done: / (the status page),
// /api/status (its JSON), /metrics (Prometheus text), /healthz and /readyz.
func (a *agent) serveHTTP(ctx context.Context, addr string, logger *slog.Logger) error {
	ln := listenRetrying(ctx, addr, logger)
	if ln == nil {
		return nil
	}
	logger.Info("status page, metrics and health listening", "addr", ln.Addr().String(),
		"page", "http://"+ln.Addr().String()+"/")
	srv := &http.Server{Handler: a.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *agent) httpHandler() http.Handler {
	p := newProgress(time.Now(), a.batcher.Stats().Batches.Load(), a.log.LastIndex())
	static, _ := fs.Sub(webAssets, "web")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeMetrics(w, a.collect().metrics)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeVerdict(w, a.health(p, time.Now()))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		writeVerdict(w, a.ready(p))
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, _ *http.Request) {
		s := a.collect()
		st := a.status(s, a.health(p, s.at), a.ready(p))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		// The page loads nothing but its own script and style.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /app.js", http.FileServerFS(static))
	mux.Handle("GET /style.css", http.FileServerFS(static))
	return mux
}

func writeVerdict(w http.ResponseWriter, v verdict) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !v.OK {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, v.Reason+"\n")
		return
	}
	io.WriteString(w, "ok\n")
}

// status is the JSON of /api/status. Metrics holds every sample of
// /metrics from the same collection, keyed as /metrics writes them.
type status struct {
	Site          string             `json:"site"`
	Version       string             `json:"version"`
	Commit        string             `json:"commit"`
	Started       time.Time          `json:"started"`
	UptimeSeconds float64            `json:"uptime_seconds"`
	Time          int64              `json:"time_ms"` // of the collection
	Health        verdict            `json:"health"`
	Ready         verdict            `json:"ready"`
	Metrics       map[string]float64 `json:"metrics"`
	Sinks         []sinkStatus       `json:"sinks"`
	Alerts        []struct{}         `json:"alerts"` // none yet: alerts come with the detectors
	Config        configSummary      `json:"config"`
}

// sinkStatus is what a sink's runner knows beyond its counters.
type sinkStatus struct {
	Name      string     `json:"name"`
	LastError string     `json:"last_error,omitempty"`
	NextRetry *time.Time `json:"next_retry,omitempty"`
}

func (a *agent) status(s *sample, health, ready verdict) status {
	st := status{Site: a.cfg.Site, Version: version, Commit: commit, Started: processStart,
		UptimeSeconds: s.at.Sub(processStart).Seconds(), Time: s.at.UnixMilli(),
		Health: health, Ready: ready, Metrics: make(map[string]float64, len(s.metrics)),
		Sinks: []sinkStatus{}, Alerts: []struct{}{}, Config: a.summary()}
	for _, m := range s.metrics {
		st.Metrics[m.series()] = m.value
	}
	for i, rs := range s.sinks {
		ss := sinkStatus{Name: a.cfg.Sinks[i].Name, LastError: redactError(rs.LastError)}
		if !rs.NextRetry.IsZero() {
			ss.NextRetry = &rs.NextRetry
		}
		st.Sinks = append(st.Sinks, ss)
	}
	return st
}

// configSummary is the part of the site config the status page shows,
// secrets left out.
type configSummary struct {
	Site        string          `json:"site"`
	DataDir     string          `json:"data_dir"`
	Durability  string          `json:"durability"`
	Compression string          `json:"compression"`
	Sources     []sourceSummary `json:"sources"`
	Pipeline    []stepSummary   `json:"pipeline"`
	Sinks       []sinkSummary   `json:"sinks"`
}

type sourceSummary struct {
	Name   string   `json:"name"`
	Broker string   `json:"broker"`
	QoS    int      `json:"qos"`
	Topics []string `json:"topics"` // "filter (format)"
}

type stepSummary struct {
	Name        string   `json:"name"`
	Measurement string   `json:"measurement"`
	Window      string   `json:"window"`
	GroupBy     []string `json:"group_by"`
	Aggregates  []string `json:"aggregates"`
	To          []string `json:"to"`
}

type sinkSummary struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Target string `json:"target"` // URL (redacted) or path
}

func (a *agent) summary() configSummary {
	c := a.cfg
	cs := configSummary{Site: c.Site, DataDir: c.DataDir, Durability: string(c.WAL.Durability),
		Compression: c.WAL.Compression,
		Sources:     []sourceSummary{}, Pipeline: []stepSummary{}, Sinks: []sinkSummary{}}
	for _, s := range c.Sources.MQTT {
		ss := sourceSummary{Name: s.Name, Broker: redactURL(s.Broker), QoS: s.QoS, Topics: []string{}}
		for _, t := range s.Topics {
			ss.Topics = append(ss.Topics, fmt.Sprintf("%s (%s)", t.Filter, t.Format))
		}
		cs.Sources = append(cs.Sources, ss)
	}
	for _, s := range c.Pipeline {
		w := s.Kind()
		if s.Kind() == engine.KindWindow {
			w = fmt.Sprintf("%s, max_delay %s", describeWindow(s), s.Window.MaxDelay)
		}
		cs.Pipeline = append(cs.Pipeline, stepSummary{Name: s.Name, Measurement: s.Measurement, Window: w,
			GroupBy: nonNil(s.GroupBy), Aggregates: nonNil(s.Aggregates), To: nonNil(s.To)})
	}
	for _, s := range c.Sinks {
		cs.Sinks = append(cs.Sinks, sinkSummary{Name: s.Name, Type: s.Type, Target: sinkTarget(s)})
	}
	return cs
}

func sinkTarget(s forward.Config) string {
	switch s.Type {
	case "file":
		return s.Path
	case "stdout":
		return "standard output"
	}
	return redactURL(s.URL)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// redacted replaces secrets in what the status page shows.
const redacted = "REDACTED"

// secretParams are query parameters that carry credentials: InfluxDB 1.x
// takes u and p, other endpoints tokens and keys.
var secretParams = map[string]bool{"u": true, "p": true, "user": true, "username": true, "password": true,
	"pass": true, "pwd": true, "token": true, "access_token": true, "auth": true, "authorization": true,
	"key": true, "apikey": true, "api_key": true, "secret": true, "sig": true, "signature": true}

// redactURL returns raw with its userinfo and credential query parameters
// replaced by REDACTED; a URL that does not parse is withheld whole.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return redacted + " (unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	q, secret := u.Query(), false
	for k := range q {
		if secretParams[strings.ToLower(k)] {
			q[k], secret = []string{redacted}, true
		}
	}
	if secret {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactError removes URLs with credentials from an error message: the
// HTTP client quotes the request URL in its errors.
func redactError(msg string) string {
	f := strings.Fields(msg)
	changed := false
	for i, w := range f {
		trimmed := strings.Trim(w, `"':,()`)
		if strings.Contains(trimmed, "://") {
			if r := redactURL(trimmed); r != trimmed {
				f[i] = strings.Replace(w, trimmed, r, 1)
				changed = true
			}
		}
	}
	if !changed {
		return msg
	}
	return strings.Join(f, " ")
}

// listenRetrying listens on addr, retrying every 10 s while the address is
// taken or invalid: the status page and metrics must never stop the
// pipeline. It returns nil when ctx is done first.
func listenRetrying(ctx context.Context, addr string, logger *slog.Logger) net.Listener {
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if attempt%30 == 0 {
			logger.Error("cannot serve the status page and metrics; the pipeline runs on, retrying every 10 s",
				"addr", addr, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Second):
		}
	}
}
