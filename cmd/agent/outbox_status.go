package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/wal"
)

// sinkBacklog is one row of `rivulet outbox status`.
type sinkBacklog struct {
	Sink      string     `json:"sink"`
	Entries   int        `json:"entries"`
	Bytes     int64      `json:"bytes"`
	OldestAge *float64   `json:"oldest_age_seconds,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	NextRetry *time.Time `json:"next_retry,omitempty"`
	Failures  int        `json:"consecutive_failures"`
}

// cmdOutbox is `rivulet outbox status`: each sink's backlog, from the
// running agent's /api/status when it answers, else read from data_dir
// without changing it.
func cmdOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		fmt.Fprintln(stderr, "usage: rivulet outbox status --config FILE [--json]")
		return exitCode(2)
	}
	fs := flag.NewFlagSet("outbox status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "site config file")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args[1:]); err != nil {
		return exitCode(2)
	}
	cfg, err := loadToolConfig("outbox status", *path, stderr)
	if err != nil {
		return err
	}
	rows, from, err := liveBacklog(ctx, cfg)
	if err != nil {
		if rows, err = diskBacklog(cfg); err != nil {
			return err
		}
		from = "data_dir " + cfg.DataDir + " (agent not running: no last error or next retry; oldest = age of the oldest pending result's timestamp)"
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"from": from, "sinks": rows})
	}
	printBacklog(stdout, from, rows)
	return nil
}

// liveBacklog asks the running agent.
func liveBacklog(ctx context.Context, cfg *config.Config) ([]sinkBacklog, string, error) {
	if cfg.HTTP.Listen == "" {
		return nil, "", fmt.Errorf("http.listen is off")
	}
	url := "http://" + cfg.HTTP.Listen + "/api/status"
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var st status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, "", fmt.Errorf("%s: %w", url, err)
	}
	var rows []sinkBacklog
	for _, s := range st.Sinks {
		l := "{sink=" + strconv.Quote(s.Name) + "}"
		r := sinkBacklog{Sink: s.Name, Entries: int(st.Metrics["rivulet_outbox_entries"+l] + st.Metrics["rivulet_alert_outbox_entries"+l] + st.Metrics["rivulet_raw_outbox_entries"+l]),
			Bytes: int64(st.Metrics["rivulet_outbox_bytes"+l] + st.Metrics["rivulet_alert_outbox_bytes"+l] + st.Metrics["rivulet_raw_outbox_bytes"+l]), LastError: s.LastError, NextRetry: s.NextRetry,
			Failures: int(st.Metrics["rivulet_sink_consecutive_failures"+l])}
		if age, ok := st.Metrics["rivulet_outbox_oldest_age_seconds"+l]; ok && r.Entries > 0 {
			r.OldestAge = &age
		}
		rows = append(rows, r)
	}
	return rows, "running agent at " + url, nil
}

// diskBacklog reads the outboxes. Offline, the age of the oldest pending
// result is measured from its own timestamp (its window's start): the
// append times live only in the running agent.
func diskBacklog(cfg *config.Config) ([]sinkBacklog, error) {
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	var rows []sinkBacklog
	for _, sc := range cfg.Sinks {
		r := sinkBacklog{Sink: sc.Name}
		box, err := wal.OpenOutboxView(filepath.Join(cfg.DataDir, dirOutbox, sc.Name))
		if err == nil {
			r.Entries, r.Bytes = box.Backlog()
			if r.Entries > 0 {
				r.OldestAge = pendingAge(box)
			}
		}
		for _, dir := range []string{dirAlertOutbox, dirRawOutbox} {
			lbox, err := wal.OpenOutboxView(filepath.Join(cfg.DataDir, dir, sc.Name))
			if err != nil {
				continue
			}
			n, size := lbox.Backlog()
			r.Entries, r.Bytes = r.Entries+n, r.Bytes+size
			if age := pendingAge(lbox); n > 0 && age != nil && (r.OldestAge == nil || *age > *r.OldestAge) {
				r.OldestAge = age
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func pendingAge(box *wal.OutboxView) *float64 {
	var e wal.Entry
	if box.Read(box.Cursor+1, &e) != nil {
		return nil
	}
	var oldest int64
	point.Parse(e.Points, func(p *point.Point) error {
		if oldest == 0 || p.Time < oldest {
			oldest = p.Time
		}
		return nil
	})
	if oldest == 0 {
		return nil
	}
	age := time.Since(time.Unix(0, oldest)).Seconds()
	return &age
}

func printBacklog(w io.Writer, from string, rows []sinkBacklog) {
	fmt.Fprintf(w, "from %s\n\n", from)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sink\tbacklog\tbytes\toldest\tfailures\tnext retry\t")
	for _, r := range rows {
		oldest, next := "—", "—"
		if r.OldestAge != nil {
			oldest = humanAge(time.Duration(*r.OldestAge * float64(time.Second)))
		}
		if r.NextRetry != nil {
			next = r.NextRetry.Local().Format(time.TimeOnly)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%s\t\n", r.Sink, r.Entries, r.Bytes, oldest, r.Failures, next)
	}
	tw.Flush()
	for _, r := range rows {
		if r.LastError != "" {
			fmt.Fprintf(w, "\n%s: last error: %s\n", r.Sink, r.LastError)
		}
	}
}

// humanAge prints short ages exactly and long ones in days.
func humanAge(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
	return d.Round(time.Second).String()
}
