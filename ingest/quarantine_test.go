package ingest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readRecords(t *testing.T, path string) []quarantineRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []quarantineRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r quarantineRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestQuarantineRecords(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	q, err := OpenQuarantine(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	q.now = func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC) }
	q.Add("s1", "a/b", []byte("not json"), errors.New("json: invalid character"))
	q.Add("s1", "a/c", []byte{0xff, 0x00, 0x01}, errors.New("value: bad"))
	big := bytes.Repeat([]byte("é"), quarantineMaxPayload) // 2 bytes a rune: cut inside one
	q.Add("s2", "a/d", big, nil)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal("second close:", err)
	}
	if q.Count() != 3 {
		t.Fatalf("count %d", q.Count())
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, QuarantineFile): 0o600} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != want {
			t.Fatalf("%s: mode %v, %v; want %v", path, st.Mode().Perm(), err, want)
		}
	}
	recs := readRecords(t, filepath.Join(dir, QuarantineFile))
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	want0 := quarantineRecord{Time: "2024-01-02T03:04:05.000000006Z", Source: "s1", Topic: "a/b",
		Reason: "json: invalid character", Payload: "not json", Size: 8}
	if recs[0] != want0 {
		t.Errorf("record 0: %+v", recs[0])
	}
	raw, err := base64.StdEncoding.DecodeString(recs[1].Payload)
	if !recs[1].Base64 || err != nil || !bytes.Equal(raw, []byte{0xff, 0x00, 0x01}) {
		t.Errorf("record 1: %+v", recs[1])
	}
	r2 := recs[2]
	if r2.Base64 || !r2.Truncated || r2.Size != len(big) || len(r2.Payload) > quarantineMaxPayload ||
		!strings.HasPrefix(string(big), r2.Payload) || r2.Reason != "unknown" {
		t.Errorf("record 2: base64=%v truncated=%v size=%d len=%d reason=%q", r2.Base64, r2.Truncated, r2.Size, len(r2.Payload), r2.Reason)
	}
}

func TestQuarantineRotates(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenQuarantine(dir, 400, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i := 0; i < 10; i++ {
		q.Add("s", "t", bytes.Repeat([]byte("x"), 100), errors.New("bad"))
	}
	cur, err1 := os.Stat(filepath.Join(dir, QuarantineFile))
	old, err2 := os.Stat(filepath.Join(dir, quarantineRotated))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if cur.Size() > 400 || old.Size() > 400 {
		t.Fatalf("sizes %d and %d exceed the cap", cur.Size(), old.Size())
	}
	n := len(readRecords(t, filepath.Join(dir, QuarantineFile))) + len(readRecords(t, filepath.Join(dir, quarantineRotated)))
	if n < 2 || q.Count() != 10 {
		t.Fatalf("records kept %d, count %d", n, q.Count())
	}
}

func TestQuarantineAppendsToExisting(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		q, err := OpenQuarantine(dir, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		q.Add("s", "t", []byte("x"), errors.New("bad"))
		q.Close()
	}
	if n := len(readRecords(t, filepath.Join(dir, QuarantineFile))); n != 2 {
		t.Fatalf("%d records", n)
	}
}

func TestQuarantineLogRateLimit(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	q, err := OpenQuarantine(t.TempDir(), 1<<20, logger)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	q.now = func() time.Time { return now }
	for i := 0; i < 5; i++ { // one line, four suppressed
		q.Add("a", "t", []byte("x"), errors.New("bad"))
	}
	q.Add("b", "t", []byte("x"), errors.New("bad")) // another source logs on its own
	now = now.Add(quarantineLogEvery)
	q.Add("a", "t", []byte("x"), errors.New("bad")) // logs with suppressed=4
	q.Add("a", "t", []byte("x"), errors.New("bad")) // suppressed, reported at close
	q.Close()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 4 {
		t.Fatalf("got %d log lines:\n%s", len(lines), buf.String())
	}
	if lines[2]["source"] != "a" || lines[2]["suppressed"] != float64(4) {
		t.Errorf("third line: %v", lines[2])
	}
	if lines[3]["suppressed"] != float64(1) {
		t.Errorf("close line: %v", lines[3])
	}
}

func TestQuarantineNil(t *testing.T) {
	var q *Quarantine
	q.Add("s", "t", nil, errors.New("x"))
	if q.Count() != 0 || q.Close() != nil {
		t.Fatal("nil quarantine must be inert")
	}
	if _, err := OpenQuarantine(t.TempDir(), 0, nil); err == nil {
		t.Fatal("max bytes 0 accepted")
	}
}
