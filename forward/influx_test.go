package forward

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestInflux(t *testing.T, cfg Config) *influxSink {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.(*influxSink)
}

func TestInfluxQuery(t *testing.T) {
	tests := []struct {
		name, path string
		want       url.Values
	}{
		{"1.x", "/write?db=edge", url.Values{"db": {"edge"}, "precision": {"n"}}},
		{"1.x with rp", "/write?db=edge&rp=week", url.Values{"db": {"edge"}, "rp": {"week"}, "precision": {"n"}}},
		{"1.x precision overridden", "/write?db=edge&precision=ms", url.Values{"db": {"edge"}, "precision": {"n"}}},
		{"2.x", "/api/v2/write?org=acme&bucket=edge", url.Values{"org": {"acme"}, "bucket": {"edge"}, "precision": {"ns"}}},
		{"2.x precision overridden", "/api/v2/write?org=acme&bucket=edge&precision=s",
			url.Values{"org": {"acme"}, "bucket": {"edge"}, "precision": {"ns"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newInfluxServer(t, nil)
			s := newTestInflux(t, testConfig(srv.URL+tt.path))
			if err := s.Write(context.Background(), []byte("m v=1 1\n")); err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(srv.Requests()[0].URL)
			if got := u.Query(); got.Encode() != tt.want.Encode() {
				t.Errorf("query %v, want %v", got, tt.want)
			}
			if u.Path != strings.Split(tt.path, "?")[0] {
				t.Errorf("path %q", u.Path)
			}
		})
	}
}

func TestInfluxAuth(t *testing.T) {
	token := writeFile(t, "token", "s3cr3t-token\n")
	password := writeFile(t, "password", "pa55word\n")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("edge:pa55word"))
	tests := []struct {
		name, path string
		set        func(*Config)
		want       string
	}{
		{"2.x token", "/api/v2/write?org=o&bucket=b", func(c *Config) { c.TokenFile = token }, "Token s3cr3t-token"},
		{"1.x basic", "/write?db=edge", func(c *Config) { c.Username, c.PasswordFile = "edge", password }, basic},
		{"1.x token", "/write?db=edge", func(c *Config) { c.TokenFile = token }, "Token s3cr3t-token"},
		{"none", "/write?db=edge", func(*Config) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newInfluxServer(t, nil)
			cfg := testConfig(srv.URL + tt.path)
			tt.set(&cfg)
			s := newTestInflux(t, cfg)
			if err := s.Write(context.Background(), []byte("m v=1 1\n")); err != nil {
				t.Fatal(err)
			}
			if got := srv.Requests()[0].Header.Get("Authorization"); got != tt.want {
				t.Errorf("Authorization %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInfluxSecretErrors(t *testing.T) {
	empty := writeFile(t, "empty", "\n")
	tests := []struct {
		name string
		set  func(*Config)
	}{
		{"missing token file", func(c *Config) { c.TokenFile = "/nonexistent/token" }},
		{"empty token file", func(c *Config) { c.TokenFile = empty }},
		{"missing password file", func(c *Config) { c.Username, c.PasswordFile = "u", "/nonexistent/pw" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:1/write?db=x")
			tt.set(&cfg)
			if _, err := New(cfg, nil); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestInfluxGzip(t *testing.T) {
	srv := newInfluxServer(t, nil)
	cfg := testConfig(srv.URL + "/write?db=edge")
	cfg.Gzip = true
	s := newTestInflux(t, cfg)
	batches := []string{"m,host=a v=1i 1\nm,host=b v=2i 2\n", strings.Repeat("m v=3 3\n", 10000)}
	for _, b := range batches {
		if err := s.Write(context.Background(), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	reqs := srv.Requests()
	for i, r := range reqs {
		if r.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("request %d: Content-Encoding %q", i, r.Header.Get("Content-Encoding"))
		}
		if r.Body != batches[i] {
			t.Errorf("request %d: body %.40q…, want %.40q…", i, r.Body, batches[i])
		}
	}
}

func TestInfluxClassify(t *testing.T) {
	long := strings.Repeat("x", 2000)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		retryable  bool
		after      time.Duration
		permStatus int
		msg        string
	}{
		{"204", 204, nil, "", false, 0, 0, ""},
		{"200", 200, nil, "", false, 0, 0, ""},
		{"500", 500, nil, `{"error":"timeout"}`, true, 0, 0, "timeout"},
		{"503 retry-after", 503, map[string]string{"Retry-After": "12"}, "", true, 12 * time.Second, 0, ""},
		{"429 retry-after", 429, map[string]string{"Retry-After": "3"}, "slow down", true, 3 * time.Second, 0, "slow down"},
		{"429 bare", 429, nil, "", true, 0, 0, ""},
		{"redirect is not followed", 307, map[string]string{"Location": "/elsewhere"}, "", true, 0, 0, "307"},
		{"400 1.x", 400, nil, `{"error":"unable to parse 'bad': invalid field format"}`, false, 0, 400,
			"unable to parse 'bad': invalid field format"},
		{"400 2.x", 400, nil, `{"code":"invalid","message":"partial write: field type conflict"}`, false, 0, 400,
			"partial write: field type conflict"},
		{"404 is config: retried slowly", 404, nil, `{"error":"database not found: \"x\""}`, true, configRetry, 0, `database not found: "x"`},
		{"401 is config: retried slowly", 401, nil, `{"error":"authorization failed"}`, true, configRetry, 0, `authorization failed`},
		{"403 with a longer Retry-After", 403, map[string]string{"Retry-After": "120"}, `forbidden`, true, 2 * time.Minute, 0, `forbidden`},
		{"413 plain", 413, nil, "  too large \n", false, 0, 413, "too large"},
		{"long body truncated", 400, nil, long, false, 0, 400, long[:maxErrorBody]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newInfluxServer(t, func(_ int, _ string, w http.ResponseWriter) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			s := newTestInflux(t, testConfig(srv.URL+"/write?db=edge"))
			err := s.Write(context.Background(), []byte("m v=1 1\n"))
			var re *RetryableError
			var pe *PermanentError
			switch {
			case tt.retryable:
				if !errors.As(err, &re) {
					t.Fatalf("err %v (%T), want *RetryableError", err, err)
				}
				if re.After != tt.after {
					t.Errorf("After %s, want %s", re.After, tt.after)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("err %q does not contain %q", err, tt.msg)
				}
			case tt.permStatus != 0:
				if !errors.As(err, &pe) {
					t.Fatalf("err %v (%T), want *PermanentError", err, err)
				}
				if pe.Status != tt.permStatus || pe.Err.Error() != tt.msg {
					t.Errorf("got status %d message %q, want %d %q", pe.Status, pe.Err, tt.permStatus, tt.msg)
				}
			default:
				if err != nil {
					t.Fatalf("err %v, want nil", err)
				}
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"99999999999", maxRetryAfter},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(1000 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestInfluxNetworkErrorIsRetryable(t *testing.T) {
	srv := newInfluxServer(t, nil)
	s := newTestInflux(t, testConfig(srv.URL+"/write?db=edge"))
	srv.Close()
	err := s.Write(context.Background(), []byte("m v=1 1\n"))
	var re *RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("err %v (%T), want *RetryableError", err, err)
	}
}

func TestInfluxTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := newInfluxServer(t, func(_ int, _ string, w http.ResponseWriter) { <-release })
	defer close(release)
	cfg := testConfig(srv.URL + "/write?db=edge")
	cfg.Timeout = 50 * time.Millisecond
	s := newTestInflux(t, cfg)
	err := s.Write(context.Background(), []byte("m v=1 1\n"))
	var re *RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("err %v (%T), want *RetryableError", err, err)
	}
}

// TestInfluxSecretsNotLogged drives a failing delivery with every log level
// on and checks that neither token nor password shows up anywhere.
func TestInfluxSecretsNotLogged(t *testing.T) {
	const token, password = "tok-9f8e7d", "pw-1a2b3c"
	for _, set := range []func(*Config){
		func(c *Config) { c.TokenFile = writeFile(t, "token", token) },
		func(c *Config) { c.Username, c.PasswordFile = "edge", writeFile(t, "pw", password) },
	} {
		srv := newInfluxServer(t, func(n int, _ string, w http.ResponseWriter) {
			switch n {
			case 0:
				w.WriteHeader(http.StatusServiceUnavailable)
			case 1:
				http.Error(w, `{"error":"authorization failed"}`, http.StatusUnauthorized)
			default:
				http.Error(w, `{"error":"unable to parse"}`, http.StatusBadRequest)
			}
		})
		cfg := testConfig(srv.URL + "/write?db=edge")
		set(&cfg)
		logs := &logRecorder{}
		logger := slog.New(logs)
		sink, err := New(cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		dl := t.TempDir() + "/dead.lp"
		box := newFakeOutbox("m v=1 1\n")
		r := NewRunner(cfg, box, sink, dl, logger)
		sl := &sleepRecorder{}
		r.sleep = sl.sleep
		stop := startRunner(t, r)
		box.waitCommitted(t, 1)
		_ = stop()
		all := strings.Join(logs.Records(), "\n") + r.Stats().LastError + readFile(t, dl+".reasons")
		if strings.Contains(all, token) || strings.Contains(all, password) ||
			strings.Contains(all, base64.StdEncoding.EncodeToString([]byte("edge:"+password))) {
			t.Errorf("secret leaked:\n%s", all)
		}
		if len(logs.Records()) == 0 {
			t.Error("nothing logged")
		}
	}
}

// lateReader is a RoundTripper that answers at once and reads the request
// body only after the caller closed the response, as a transport may when
// a server answers before it has read the whole body.
type lateReader struct {
	mu   sync.Mutex
	read []byte
}

func (l *lateReader) RoundTrip(req *http.Request) (*http.Response, error) {
	respClosed := make(chan struct{})
	go func() {
		<-respClosed
		b, _ := io.ReadAll(req.Body)
		l.mu.Lock()
		l.read = b
		l.mu.Unlock()
		req.Body.Close()
	}()
	return &http.Response{StatusCode: http.StatusBadRequest, Status: "400 Bad Request", Header: http.Header{},
		Body: closeFunc{Reader: strings.NewReader(`{"error":"no"}`), close: func() { close(respClosed) }}, Request: req}, nil
}

type closeFunc struct {
	io.Reader
	close func()
}

func (c closeFunc) Close() error { c.close(); return nil }

// TestInfluxWriteReleasesLines checks that Write returns only after the
// transport has let go of the body, so the caller may reuse lines.
func TestInfluxWriteReleasesLines(t *testing.T) {
	for _, gzip := range []bool{false, true} {
		cfg := testConfig("http://127.0.0.1:1/write?db=edge")
		cfg.Gzip = gzip
		s := newTestInflux(t, cfg)
		rt := &lateReader{}
		s.client.Transport = rt
		lines := []byte("m v=1 1\n")
		_ = s.Write(context.Background(), lines)
		rt.mu.Lock()
		read := rt.read
		rt.mu.Unlock()
		if read == nil {
			t.Errorf("gzip=%v: Write returned before the transport was done with the body", gzip)
		}
	}
}
