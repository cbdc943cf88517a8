package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/detect"
	"github.com/rivulet-edge/rivulet/ops"
)

const detectUsage = `usage: rivulet detect --config FILE --input series.csv [--rule NAME] [--output FILE]

Runs the detector of one detect step of --config over a CSV history
(header timestamp,value; timestamps like "2014-04-01 00:00:00" (UTC),
RFC 3339 or unix seconds) with the code the agent runs, and writes
timestamp,value,anomaly_score,alert: the detector's score in [0, 1] and
the alert level (ok, warn, crit) after sustain and the alert state machine,
the results format of the Numenta Anomaly Benchmark. Use it to tune a rule
on your own history before deploying it. A summary of the alerts goes to
stderr. no_data scores the gap before each row, as a file has no
processing time.

flags:
`

func cmdDetect(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, detectUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "site config file (YAML, TOML or JSON)")
	input := fs.String("input", "", "CSV file with header timestamp,value")
	rule := fs.String("rule", "", "name of the detect step (default: the only one)")
	output := fs.String("output", "-", `file to write the results to ("-": stdout)`)
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *input == "" {
		fmt.Fprintln(stderr, "rivulet detect: --input FILE is required")
		return exitCode(2)
	}
	cfg, err := loadToolConfig("detect", *path, stderr)
	if err != nil {
		return err
	}
	name, dc, err := pickDetectStep(cfg, *rule)
	if err != nil {
		fmt.Fprintln(stderr, "rivulet detect:", err)
		return exitCode(2)
	}
	in, err := os.Open(*input)
	if err != nil {
		return err
	}
	defer in.Close()
	out, closeOut, err := openOutput(*output, stdout)
	if err != nil {
		return err
	}
	sum, err := detectCSV(dc, in, out)
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	fmt.Fprintf(stderr, "rule %s: %s\n", name, sum)
	return nil
}

// pickDetectStep returns the detect step called rule, or the only one.
func pickDetectStep(cfg *config.Config, rule string) (string, detect.Config, error) {
	var names []string
	var only detect.Config
	for _, s := range cfg.Pipeline {
		if s.Detect == nil {
			continue
		}
		if s.Name == rule {
			return s.Name, *s.Detect, nil
		}
		names, only = append(names, s.Name), *s.Detect
	}
	switch {
	case len(names) == 0:
		return "", only, errors.New("the config has no detect step")
	case rule != "":
		return "", only, fmt.Errorf("no detect step %q (detect steps: %s)", rule, strings.Join(names, ", "))
	case len(names) > 1:
		return "", only, fmt.Errorf("the config has %d detect steps (%s); choose one with --rule", len(names), strings.Join(names, ", "))
	}
	return names[0], only, nil
}

func openOutput(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// detectSummary counts what a run over a CSV found.
type detectSummary struct {
	rows, skipped, warn, crit, recover int
}

func (s detectSummary) String() string {
	return fmt.Sprintf("%d rows (%d without a number), %d warn, %d crit and %d recovery transitions",
		s.rows, s.skipped, s.warn, s.crit, s.recover)
}

// detectCSV runs the detector of c over the timestamp,value rows of in and
// writes timestamp,value,anomaly_score,alert rows to out. A bad row stops
// it with an error naming its line.
func detectCSV(c detect.Config, in io.Reader, out io.Writer) (detectSummary, error) {
	var sum detectSummary
	s, err := detect.NewSeries(c)
	if err != nil {
		return sum, err
	}
	r := csv.NewReader(in)
	r.FieldsPerRecord, r.ReuseRecord = -1, true
	head, err := r.Read()
	if err != nil {
		return sum, fmt.Errorf("line 1: reading the header: %w", err)
	}
	tcol, vcol := column(head, "timestamp"), column(head, "value")
	if tcol < 0 || vcol < 0 {
		return sum, fmt.Errorf("line 1: header must name the columns timestamp and value, got %q", strings.Join(head, ","))
	}
	w := bufio.NewWriter(out)
	w.WriteString("timestamp,value,anomaly_score,alert\n")
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return sum, err // csv errors carry their line
		}
		if len(rec) <= max(tcol, vcol) {
			return sum, fmt.Errorf("line %d: want columns timestamp and value, got %d field(s)", line, len(rec))
		}
		t, err := parseTimestamp(rec[tcol])
		if err != nil {
			return sum, fmt.Errorf("line %d: %w", line, err)
		}
		v, err := parseValue(rec[vcol])
		if err != nil {
			return sum, fmt.Errorf("line %d: %w", line, err)
		}
		score, level, tr := s.Step(v, t)
		sum.count(v, tr)
		fmt.Fprintf(w, "%s,%s,%s,%s\n", csvField(rec[tcol]), csvField(rec[vcol]), strconv.FormatFloat(score, 'g', 6, 64), level)
	}
	return sum, w.Flush()
}

func (s *detectSummary) count(v float64, tr *ops.Transition) {
	s.rows++
	if math.IsNaN(v) {
		s.skipped++
	}
	switch {
	case tr == nil:
	case tr.To == ops.Warn:
		s.warn++
	case tr.To == ops.Crit:
		s.crit++
	default:
		s.recover++
	}
}

func column(head []string, name string) int {
	for i, h := range head {
		if strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")), name) {
			return i
		}
	}
	return -1
}

// csvField quotes s if the CSV format needs it.
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\r\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// timeLayouts are the timestamp layouts accepted besides unix seconds;
// those without a zone are UTC.
var timeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02T15:04:05"}

// parseTimestamp reads a timestamp as nanoseconds since the epoch.
func parseTimestamp(s string) (int64, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixNano(), nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && math.Abs(f) < 9e9 {
		sec, frac := math.Modf(f)
		return int64(sec)*1e9 + int64(math.Round(frac*1e9)), nil
	}
	return 0, fmt.Errorf("bad timestamp %q (want \"2006-01-02 15:04:05\", RFC 3339 or unix seconds)", s)
}

// parseValue reads a value; an empty cell is a missing value (NaN).
func parseValue(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return v, nil // ±Inf: the detector decides
		}
		return 0, fmt.Errorf("bad value %q (want a number)", s)
	}
	return v, nil
}
