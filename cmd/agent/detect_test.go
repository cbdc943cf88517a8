package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/detect"
	"github.com/rivulet-edge/rivulet/ops"
)

const nabDir = "/work/shared/data/nab"

// thresholdRule is warn 30, crit 40, no hysteresis, no cooldown.
func thresholdRule() detect.Config {
	c := detect.DefaultConfig()
	t := detect.DefaultThreshold()
	t.Warn, t.Crit = 30, 40
	c.Threshold, c.Alert = &t, ops.AlertConfig{}
	return c
}

// TestDetectCSV checks the output row by row against values worked out by
// hand: the threshold score is 0 below warn (no hysteresis band), 0.5 at
// warn rising to 1 at crit; an empty value is skipped and keeps the level.
func TestDetectCSV(t *testing.T) {
	in := "timestamp,value\n" +
		"2014-04-01 00:00:00,20\n" +
		"2014-04-01T00:05:00Z,35\n" +
		"1396311000,45\n" +
		"2014-04-01 00:15:00,\n" +
		"2014-04-01 00:20:00,10\n"
	want := "timestamp,value,anomaly_score,alert\n" +
		"2014-04-01 00:00:00,20,0,ok\n" +
		"2014-04-01T00:05:00Z,35,0.75,warn\n" +
		"1396311000,45,1,crit\n" +
		"2014-04-01 00:15:00,,0,crit\n" +
		"2014-04-01 00:20:00,10,0,ok\n"
	var out bytes.Buffer
	sum, err := detectCSV(thresholdRule(), strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if got := sum.String(); got != "5 rows (1 without a number), 1 warn, 1 crit and 1 recovery transitions" {
		t.Errorf("summary %q", got)
	}
}

func TestDetectCSVErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", "", "line 1: reading the header: EOF"},
		{"header", "time,v\n1,2\n", `line 1: header must name the columns timestamp and value, got "time,v"`},
		{"timestamp", "timestamp,value\n1,2\nyesterday,3\n", `line 3: bad timestamp "yesterday" (want "2006-01-02 15:04:05", RFC 3339 or unix seconds)`},
		{"value", "timestamp,value\n1,2\n2,3\n3,abc\n", `line 4: bad value "abc" (want a number)`},
		{"short row", "timestamp,value\n1\n", "line 2: want columns timestamp and value, got 1 field(s)"},
		{"quote", "timestamp,value\n1,\"2\n", "parse error on line 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := detectCSV(thresholdRule(), strings.NewReader(c.in), &out)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	want := time.Date(2014, 4, 1, 0, 5, 0, 0, time.UTC).UnixNano()
	for _, s := range []string{"2014-04-01 00:05:00", "2014-04-01T00:05:00Z", "2014-04-01T02:05:00+02:00",
		"2014-04-01 00:05:00.000000", "1396310700", "1396310700.0", " 1396310700 "} {
		got, err := parseTimestamp(s)
		if err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", s, got, err, want)
		}
	}
	if got, err := parseTimestamp("1396310700.25"); err != nil || got != want+25e7 {
		t.Errorf("fractional seconds: %d, %v", got, err)
	}
}

// siteWithDetect writes a site config with the detect steps given as YAML
// list items and returns its path.
func siteWithDetect(t *testing.T, steps string) string {
	t.Helper()
	site, err := os.ReadFile("../../testdata/site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(site)
	// Drop site.yaml's own detect step: each case says which it has.
	if i, j := strings.Index(text, "  - name: temp_hot"), strings.Index(text, "sinks:"); i >= 0 && j > i {
		text = text[:i] + text[j:]
	}
	text = strings.Replace(text, "pipeline:\n", "pipeline:\n"+steps, 1)
	path := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const detectSteps = `  - name: flat
    measurement: temperature
    detect: {stuck: {crit: 2h}}
    to: [local]
  - name: default
    measurement: temperature
    detect: {anomaly: {field: value}}
    to: [local]
  - name: hot
    measurement: temperature
    detect:
      threshold: {crit: 35, hysteresis: 1}
      sustain: {points: 2, duration: 5m}
      alert: {cooldown: 10}
    to: [local]
`

// readResults parses the output of rivulet detect.
func readResults(t *testing.T, data []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != "timestamp,value,anomaly_score,alert" {
		t.Fatalf("header %q", rows)
	}
	for i, r := range rows[1:] {
		s, err := strconv.ParseFloat(r[2], 64)
		if err != nil || !(s >= 0 && s <= 1) {
			t.Fatalf("row %d: score %q", i+2, r[2])
		}
		if r[3] != "ok" && r[3] != "warn" && r[3] != "crit" {
			t.Fatalf("row %d: alert %q", i+2, r[3])
		}
	}
	return rows[1:]
}

// TestDetectCommandNAB runs the command on NAB series. The flat stretch of
// art_daily_flatmiddle is a stuck sensor: the stuck rule must raise
// exactly one crit, inside NAB's labelled anomaly window. The default rule
// must run over every NAB series and write one row per input row.
func TestDetectCommandNAB(t *testing.T) {
	if _, err := os.Stat(nabDir); err != nil {
		t.Skip("NAB data not present:", err)
	}
	cfg := siteWithDetect(t, detectSteps)
	out := filepath.Join(t.TempDir(), "out.csv")
	in := filepath.Join(nabDir, "data/artificialWithAnomaly/art_daily_flatmiddle.csv")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"detect", "--config", cfg, "--rule", "flat", "--input", in, "--output", out}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, &stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rows := readResults(t, data)
	if len(rows) != 4032 {
		t.Errorf("%d rows, want 4032", len(rows))
	}
	windows := nabWindows(t)["artificialWithAnomaly/art_daily_flatmiddle.csv"]
	var raised []string
	prev := "ok"
	for _, r := range rows {
		if r[3] != prev && prev == "ok" {
			raised = append(raised, r[0]+" "+r[3])
		}
		prev = r[3]
	}
	if len(raised) != 1 || !strings.HasSuffix(raised[0], "crit") || !inWindow(t, strings.Fields(raised[0])[0]+" "+strings.Fields(raised[0])[1], windows) {
		t.Errorf("alerts raised %q, want one crit inside %q", raised, windows)
	}
	if !strings.Contains(stderr.String(), "rule flat: 4032 rows") {
		t.Errorf("stderr %q", &stderr)
	}

	files, _ := filepath.Glob(filepath.Join(nabDir, "data/*/*.csv"))
	for _, f := range files {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"detect", "--config", cfg, "--rule", "default", "--input", f}, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v\n%s", f, err, &stderr)
		}
		rows := readResults(t, stdout.Bytes())
		data, _ := os.ReadFile(f)
		if n := strings.Count(strings.TrimSpace(string(data)), "\n"); len(rows) != n {
			t.Errorf("%s: %d rows, want %d", f, len(rows), n)
		}
	}
}

func nabWindows(t *testing.T) map[string][][]string {
	data, err := os.ReadFile(filepath.Join(nabDir, "combined_windows.json"))
	if err != nil {
		t.Fatal(err)
	}
	var w map[string][][]string
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

func inWindow(t *testing.T, ts string, windows [][]string) bool {
	at, err := parseTimestamp(ts)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range windows {
		lo, err1 := parseTimestamp(w[0])
		hi, err2 := parseTimestamp(w[1])
		if err1 != nil || err2 != nil {
			t.Fatal(errors.Join(err1, err2))
		}
		if at >= lo && at <= hi {
			return true
		}
	}
	return false
}

// TestDetectCommand covers step selection and the decoded detect block.
func TestDetectCommand(t *testing.T) {
	csvPath := filepath.Join(t.TempDir(), "s.csv")
	rows := "timestamp,value\n"
	for i, v := range []float64{20, 36, 36, 34.5, 20, 36, 20} {
		rows += time.Unix(int64(i)*300, 0).UTC().Format(time.RFC3339) + "," + strconv.FormatFloat(v, 'g', -1, 64) + "\n"
	}
	if err := os.WriteFile(csvPath, []byte(rows), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := siteWithDetect(t, detectSteps)
	one := siteWithDetect(t, "  - name: only\n    detect: {threshold: {warn: 30, crit: 35}}\n    to: [local]\n")
	none := siteWithDetect(t, "")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		// Both need the config package to start detect blocks from
		// detect.Defaults(): no warn level unless set, cooldown 100.
		//
		// hot: crit 35, no warn level, hysteresis 1; sustain 2 points and
		// 5m, so the crit of row 2 is reported at row 3; 34.5 is inside
		// the hysteresis band (reset 34) and holds crit; row 6 is a
		// single point, held back by sustain.
		{"hot", []string{"--config", cfg, "--rule", "hot"}, 0, "ok,ok,crit,crit,ok,ok,ok"},
		// only: warn 30, crit 35, no hysteresis: 34.5 is warn; the crit
		// of row 6 falls in the default cooldown of 100 points.
		{"only step", []string{"--config", one}, 0, "ok,crit,crit,warn,ok,ok,ok"},
		{"choose", []string{"--config", cfg}, 2, "the config has 3 detect steps (flat, default, hot); choose one with --rule"},
		{"unknown", []string{"--config", cfg, "--rule", "cold"}, 2, `no detect step "cold" (detect steps: flat, default, hot)`},
		{"none", []string{"--config", none}, 2, "the config has no detect step"},
		{"no input", []string{"--config", cfg, "--input", ""}, 2, "--input FILE is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"detect", "--input", csvPath}, c.args...), &stdout, &stderr)
			code := 0
			var ec exitCode
			if errors.As(err, &ec) {
				code = int(ec)
			} else if err != nil {
				code = 1
			}
			if code != c.code {
				t.Fatalf("exit %d, want %d: %v\n%s", code, c.code, err, &stderr)
			}
			if code != 0 {
				if !strings.Contains(stderr.String(), c.want) {
					t.Errorf("stderr %q, want %q", &stderr, c.want)
				}
				return
			}
			var levels []string
			for _, r := range readResults(t, stdout.Bytes()) {
				levels = append(levels, r[3])
			}
			if got := strings.Join(levels, ","); got != c.want {
				t.Errorf("levels %s, want %s", got, c.want)
			}
		})
	}
}

// TestDetectScoreFinite: the score column never holds NaN even for
// NaN and infinite inputs.
func TestDetectScoreFinite(t *testing.T) {
	in := "timestamp,value\n1,NaN\n2,+Inf\n3,-Inf\n4,1e400\n5,5\n"
	var out bytes.Buffer
	if _, err := detectCSV(thresholdRule(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	for _, r := range readResults(t, out.Bytes()) {
		if s, _ := strconv.ParseFloat(r[2], 64); math.IsNaN(s) {
			t.Errorf("row %q", r)
		}
	}
}
