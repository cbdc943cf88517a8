package ingest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"
)

// Quarantine file names inside its directory.
const (
	QuarantineFile    = "messages.jsonl"
	quarantineRotated = QuarantineFile + ".1"
)

// quarantineMaxPayload caps the payload bytes kept per record, so that one
// huge message cannot blow the file's size cap.
const quarantineMaxPayload = 64 << 10

// quarantineLogEvery is the minimum interval between log lines per source.
const quarantineLogEvery = 10 * time.Second

// Quarantine keeps payloads that could not be decoded, as JSON lines, for a
// person to look at. It never blocks the pipeline on a bad payload: a record
// that cannot be written is counted and logged, not retried. It is safe for
// concurrent use.
type Quarantine struct {
	dir      string
	maxBytes int64
	logger   *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	f       *os.File
	size    int64
	count   int64
	failed  int64 // records that could not be written
	closed  bool
	limiter map[string]*logLimit
}

// logLimit rate-limits the log lines of one source.
type logLimit struct {
	last       time.Time
	suppressed int
}

// quarantineRecord is one line of the quarantine file.
type quarantineRecord struct {
	Time   string `json:"time"`
	Source string `json:"source"`
	Topic  string `json:"topic"`
	Reason string `json:"reason"`
	// Payload is the payload as text, or base64 when Base64 is set because
	// it is not valid UTF-8.
	Payload   string `json:"payload"`
	Base64    bool   `json:"base64,omitempty"`
	Size      int    `json:"size"`
	Truncated bool   `json:"truncated,omitempty"`
}

// OpenQuarantine opens dir/messages.jsonl for appending, creating dir (0700)
// and the file (0600). When a record would take the file past maxBytes the
// file is rotated to messages.jsonl.1, replacing the previous one, so the
// quarantine takes at most about twice maxBytes. maxBytes must be positive.
func OpenQuarantine(dir string, maxBytes int64, logger *slog.Logger) (*Quarantine, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("quarantine: max bytes must be positive, got %d", maxBytes)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	q := &Quarantine{dir: dir, maxBytes: maxBytes, logger: logger, now: time.Now, limiter: map[string]*logLimit{}}
	if err := q.open(); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *Quarantine) open() error {
	f, err := os.OpenFile(filepath.Join(q.dir, QuarantineFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("quarantine: %w", err)
	}
	q.f, q.size = f, st.Size()
	return nil
}

// Add counts a rejected payload, writes it to the file and logs it, at most
// one line per source every 10 s with the number of lines suppressed since.
// A nil Quarantine does nothing.
func (q *Quarantine) Add(source, topic string, payload []byte, reason error) {
	if q == nil {
		return
	}
	if reason == nil {
		reason = errors.New("unknown")
	}
	now := q.now()
	line := q.record(now, source, topic, payload, reason)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.count++
	err := q.write(line)
	if err != nil {
		q.failed++
	}
	q.log(now, source, topic, reason, err)
}

// record encodes one quarantine line.
func (q *Quarantine) record(now time.Time, source, topic string, payload []byte, reason error) []byte {
	rec := quarantineRecord{Time: now.UTC().Format(time.RFC3339Nano), Source: source, Topic: topic,
		Reason: reason.Error(), Size: len(payload)}
	if len(payload) > quarantineMaxPayload {
		payload, rec.Truncated = payload[:quarantineMaxPayload], true
		// Cut at a rune boundary so that text stays text.
		for i := 0; i < utf8.UTFMax && len(payload) > 0 && !utf8.Valid(payload); i++ {
			payload = payload[:len(payload)-1]
		}
	}
	if utf8.Valid(payload) {
		rec.Payload = string(payload)
	} else {
		rec.Payload, rec.Base64 = base64.StdEncoding.EncodeToString(payload), true
	}
	line, err := json.Marshal(rec)
	if err != nil { // cannot happen: every field is a plain string, int or bool
		line = []byte(`{}`)
	}
	return append(line, '\n')
}

// write appends one line, rotating first if it would pass the cap.
func (q *Quarantine) write(line []byte) error {
	if q.closed {
		return errors.New("quarantine is closed")
	}
	if q.size > 0 && q.size+int64(len(line)) > q.maxBytes {
		if err := q.rotate(); err != nil {
			return err
		}
	}
	if q.f == nil {
		if err := q.open(); err != nil {
			return err
		}
	}
	n, err := q.f.Write(line)
	q.size += int64(n)
	return err
}

func (q *Quarantine) rotate() error {
	err := q.f.Close()
	q.f = nil
	cur := filepath.Join(q.dir, QuarantineFile)
	if rerr := os.Rename(cur, filepath.Join(q.dir, quarantineRotated)); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if oerr := q.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	return err
}

// log writes the rate-limited log line for source.
func (q *Quarantine) log(now time.Time, source, topic string, reason, werr error) {
	l := q.limiter[source]
	if l == nil {
		l = &logLimit{}
		q.limiter[source] = l
	}
	if !l.last.IsZero() && now.Sub(l.last) < quarantineLogEvery {
		l.suppressed++
		return
	}
	args := []any{"source", source, "topic", topic, "reason", reason, "total", q.count}
	if l.suppressed > 0 {
		args = append(args, "suppressed", l.suppressed)
	}
	if werr != nil {
		args = append(args, "write_error", werr)
	}
	q.logger.Warn("payload quarantined", args...)
	l.last, l.suppressed = now, 0
}

// Count returns the number of payloads quarantined since open.
func (q *Quarantine) Count() int64 {
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count
}

// Close closes the file, logging the lines still suppressed. It is safe to
// call twice; Add after Close counts and logs but writes nothing.
func (q *Quarantine) Close() error {
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	for source, l := range q.limiter {
		if l.suppressed > 0 {
			q.logger.Warn("payloads quarantined", "source", source, "suppressed", l.suppressed, "total", q.count)
			l.suppressed = 0
		}
	}
	if q.f == nil {
		return nil
	}
	err := q.f.Close()
	q.f = nil
	return err
}
