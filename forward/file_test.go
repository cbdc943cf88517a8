package forward

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rivulet-edge/rivulet/wal"
)

func newTestFile(t *testing.T, path string, maxSize, maxFiles int) *fileSink {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Name, cfg.Type, cfg.Path = "f", "file", path
	cfg.MaxSize, cfg.MaxFiles = wal.Size(maxSize), maxFiles
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.(*fileSink)
}

// dirContents maps each file name in dir to its content.
func dirContents(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		out[e.Name()] = readFile(t, filepath.Join(dir, e.Name()))
	}
	return out
}

func TestFileRotation(t *testing.T) {
	big := strings.Repeat("x", 19) + "\n"
	tests := []struct {
		name     string
		maxFiles int
		writes   []string
		want     map[string]string
	}{
		{"fits exactly", 2, []string{"aaaa\n", "bbbb\n"},
			map[string]string{"out.lp": "aaaa\nbbbb\n"}},
		{"rotates when the next write would exceed", 2, []string{"aaaa\n", "bbbb\n", "cc\n"},
			map[string]string{"out.lp": "cc\n", "out.lp.1": "aaaa\nbbbb\n"}},
		{"oldest dropped", 2, []string{"1111111\n", "2222222\n", "3333333\n", "4444444\n"},
			map[string]string{"out.lp": "4444444\n", "out.lp.1": "3333333\n", "out.lp.2": "2222222\n"}},
		{"one kept file", 1, []string{"1111111\n", "2222222\n", "3333333\n"},
			map[string]string{"out.lp": "3333333\n", "out.lp.1": "2222222\n"}},
		{"oversize write goes into a file of its own", 3, []string{"a\n", big, "b\n"},
			map[string]string{"out.lp": "b\n", "out.lp.1": big, "out.lp.2": "a\n"}},
		{"oversize first write", 3, []string{big},
			map[string]string{"out.lp": big}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newTestFile(t, filepath.Join(dir, "out.lp"), 10, tt.maxFiles)
			for _, w := range tt.writes {
				if err := s.Write(context.Background(), []byte(w)); err != nil {
					t.Fatal(err)
				}
			}
			if got := dirContents(t, dir); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("files %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFileReopenCountsExistingSize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.lp")
	if err := os.WriteFile(path, []byte("aaaaaaaa\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestFile(t, path, 10, 2)
	if err := s.Write(context.Background(), []byte("bb\n")); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"out.lp": "bb\n", "out.lp.1": "aaaaaaaa\n"}
	if got := dirContents(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
}

// TestFileRepairsTornTail: a line cut by a crash was never reported
// delivered, so it is cut on open and the redelivery starts clean.
func TestFileRepairsTornTail(t *testing.T) {
	tests := []struct{ name, before, want string }{
		{"torn last line", "a 1\nb 2\nc", "a 1\nb 2\nd 4\n"},
		{"only a torn line", "abc", "d 4\n"},
		{"whole", "a 1\n", "a 1\nd 4\n"},
		{"empty", "", "d 4\n"},
		{"torn line longer than a read chunk", "a 1\n" + strings.Repeat("z", 10000), "a 1\nd 4\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.lp")
			if err := os.WriteFile(path, []byte(tt.before), 0o600); err != nil {
				t.Fatal(err)
			}
			s := newTestFile(t, path, 1<<20, 2)
			if err := s.Write(context.Background(), []byte("d 4\n")); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != tt.want {
				t.Errorf("file %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "out.lp")
	s := newTestFile(t, path, 4, 2)
	for _, w := range []string{"aaa\n", "bbb\n"} { // the second rotates
		if err := s.Write(context.Background(), []byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, path + ".1": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
}

func TestFileWriteErrorIsRetryable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.lp")
	s := newTestFile(t, path, 1<<20, 2)
	_ = s.f.Close() // a write to a closed file fails
	err := s.Write(context.Background(), []byte("a 1\n"))
	var re *RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("err %v (%T), want *RetryableError", err, err)
	}
}

func TestStdout(t *testing.T) {
	var buf bytes.Buffer
	s := NewStdout(&buf)
	for _, w := range []string{"a 1\n", "b 2\nc 3\n"} {
		if err := s.Write(context.Background(), []byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	if buf.String() != "a 1\nb 2\nc 3\n" {
		t.Errorf("got %q", buf.String())
	}
	err := NewStdout(failWriter{}).Write(context.Background(), []byte("a 1\n"))
	var re *RetryableError
	if !errors.As(err, &re) {
		t.Errorf("err %v (%T), want *RetryableError", err, err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestFileJSONLines: format: json writes one JSON object per point, in the
// shape the mqtt, http and kafka sinks send.
func TestFileJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	cfg := DefaultConfig()
	cfg.Name, cfg.Type, cfg.Path, cfg.Format = "f", "file", path, "json"
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lines := "temp,site=s1,zone=a value_mean=21.5,value_count=3i 1700000000000000000\n" +
		"alerts,level=crit,rule=hot message=\"too \\\"hot\\\"\",score=1 1700000000000000001\n"
	if err := s.Write(context.Background(), []byte(lines)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"measurement":"temp","tags":{"site":"s1","zone":"a"},"fields":{"value_count":3,"value_mean":21.5},"time":"2023-11-14T22:13:20Z","ts":1700000000000000000}` + "\n" +
		`{"measurement":"alerts","tags":{"level":"crit","rule":"hot"},"fields":{"message":"too \"hot\"","score":1.0},"time":"2023-11-14T22:13:20.000000001Z","ts":1700000000000000001}` + "\n"
	if string(got) != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	// The default for a file sink stays line protocol.
	if DefaultFormat("file") != "line" || DefaultFormat("kafka") != "json" {
		t.Error("default formats changed")
	}
}
