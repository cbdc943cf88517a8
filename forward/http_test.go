package forward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// httpConfig is a valid http sink config for url.
func httpConfig(url string) Config {
	cfg := DefaultConfig()
	cfg.Name, cfg.Type, cfg.URL = "hook", "http", url
	cfg.Timeout = 5 * time.Second
	return cfg
}

func TestHTTPConfigValidate(t *testing.T) {
	hc := func(set func(*Config)) Config {
		c := httpConfig("https://hooks.example.com/rivulet")
		set(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; empty for valid
	}{
		{"valid", hc(func(*Config) {}), ""},
		{"token and headers", hc(func(c *Config) {
			c.TokenFile, c.Headers = "/t", map[string]string{"X-Site": "north"}
		}), ""},
		{"own authorization", hc(func(c *Config) { c.Headers = map[string]string{"authorization": "Basic eA=="} }), ""},
		{"line, one per request", hc(func(c *Config) { c.Format, c.Batch = "line", false }), ""},
		{"https ca", hc(func(c *Config) { c.TLS.CAFile = "/ca" }), ""},
		{"bad url", hc(func(c *Config) { c.URL = "ftp://x/y" }), "url: must be an http(s) URL"},
		{"no url", hc(func(c *Config) { c.URL = "" }), "url: must be an http(s) URL"},
		{"tls on http", hc(func(c *Config) { c.URL, c.TLS.CAFile = "http://x/y", "/ca" }), `tls: set, but scheme "http"`},
		{"username", hc(func(c *Config) { c.Username = "u" }), "username: an http sink takes a bearer token"},
		{"bad header name", hc(func(c *Config) { c.Headers = map[string]string{"X Site": "n"} }), `headers: invalid header name "X Site"`},
		{"header value newline", hc(func(c *Config) { c.Headers = map[string]string{"X-A": "a\nb"} }), "headers.X-A: value must not contain"},
		{"host header", hc(func(c *Config) { c.Headers = map[string]string{"host": "x"} }), "headers.host: set by the client"},
		{"token and authorization", hc(func(c *Config) {
			c.TokenFile, c.Headers = "/t", map[string]string{"Authorization": "x"}
		}), "set either token_file or an Authorization header"},
		{"bad format", hc(func(c *Config) { c.Format = "csv" }), "format: must be json or line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

const hookBatch = "alert,rule=hot,site=north v=81.5,level=\"crit\" 1700000000000000000\n" +
	"alert,rule=cold,site=north v=-3i 1700000060000000000\n"

var hookPoints = []string{
	`{"measurement":"alert","tags":{"rule":"hot","site":"north"},"fields":{"level":"crit","v":81.5},"time":"2023-11-14T22:13:20Z","ts":1700000000000000000}`,
	`{"measurement":"alert","tags":{"rule":"cold","site":"north"},"fields":{"v":-3},"time":"2023-11-14T22:14:20Z","ts":1700000060000000000}`,
}

// TestHTTPBatchedJSON posts one JSON array with the configured headers and
// the bearer token read from token_file.
func TestHTTPBatchedJSON(t *testing.T) {
	srv := newInfluxServer(t, nil)
	cfg := httpConfig(srv.URL + "/hook?k=v")
	cfg.TokenFile = writeFile(t, "token", "  tok-123\n")
	cfg.Headers = map[string]string{"X-Site": "north", "x-fleet": "eu"}
	s := newSink(t, cfg)
	if err := s.Write(context.Background(), []byte(hookBatch)); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if want := "[" + hookPoints[0] + "," + hookPoints[1] + "]"; r.Body != want {
		t.Errorf("body\n%s\nwant\n%s", r.Body, want)
	}
	for k, want := range map[string]string{"Authorization": "Bearer tok-123", "Content-Type": "application/json",
		"X-Site": "north", "X-Fleet": "eu", "User-Agent": "rivulet"} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if r.URL != "/hook?k=v" {
		t.Errorf("url %s", r.URL)
	}
}

// TestHTTPOnePerRequest sends one object per request, in order.
func TestHTTPOnePerRequest(t *testing.T) {
	srv := newInfluxServer(t, nil)
	cfg := httpConfig(srv.URL)
	cfg.Batch = false
	if err := newSink(t, cfg).Write(context.Background(), []byte(hookBatch)); err != nil {
		t.Fatal(err)
	}
	got := srv.Bodies()
	if len(got) != 2 || got[0] != hookPoints[0] || got[1] != hookPoints[1] {
		t.Errorf("bodies %q, want %q", got, hookPoints)
	}
}

// TestHTTPClassify checks each status class and Retry-After.
func TestHTTPClassify(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		status     int
		retryAfter string
		want       string // ok, permanent, retry
		after      time.Duration
	}{
		{200, "", "ok", 0},
		{202, "", "ok", 0},
		{204, "", "ok", 0},
		{400, "", "permanent", 0},
		{413, "", "permanent", 0},
		{422, "", "permanent", 0},
		{401, "", "retry", configRetry},
		{403, "", "retry", configRetry},
		{404, "", "retry", configRetry},
		{408, "", "retry", 0},
		{429, "7", "retry", 7 * time.Second},
		{429, now.Add(90 * time.Second).Format(http.TimeFormat), "retry", 90 * time.Second},
		{500, "", "retry", 0},
		{503, "120", "retry", 2 * time.Minute},
		{307, "", "retry", 0},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status)+" "+tt.retryAfter, func(t *testing.T) {
			srv := newInfluxServer(t, func(_ int, _ string, w http.ResponseWriter) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status == 307 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{"message":"said no"}`))
			})
			s, err := newHTTP(httpConfig(srv.URL), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.now = func() time.Time { return now }
			err = s.Write(context.Background(), []byte(hookBatch))
			var perm *PermanentError
			var re *RetryableError
			switch tt.want {
			case "ok":
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
			case "permanent":
				if !errors.As(err, &perm) || perm.Status != tt.status || !strings.Contains(err.Error(), "said no") {
					t.Errorf("got %v, want *PermanentError %d with the message", err, tt.status)
				}
			case "retry":
				if !errors.As(err, &re) || re.After != tt.after {
					t.Errorf("got %#v, want *RetryableError after %s", err, tt.after)
				}
			}
			if len(srv.Requests()) != 1 {
				t.Errorf("%d requests, want 1 (no redirect followed)", len(srv.Requests()))
			}
		})
	}
}

// TestHTTPOnePerRequestPartial: with batch false a rejected point does not
// hold up the rest; a retryable failure stops the batch there.
func TestHTTPOnePerRequestPartial(t *testing.T) {
	batch := "m v=1i 1\nm v=2i 2\nm v=3i 3\n"
	t.Run("rejected point", func(t *testing.T) {
		srv := newInfluxServer(t, func(n int, _ string, w http.ResponseWriter) {
			if n == 1 {
				http.Error(w, "bad point", http.StatusUnprocessableEntity)
			}
		})
		cfg := httpConfig(srv.URL)
		cfg.Batch = false
		err := newSink(t, cfg).Write(context.Background(), []byte(batch))
		var perm *PermanentError
		if !errors.As(err, &perm) || perm.Status != 422 || !strings.Contains(err.Error(), "1 of 3 points: point 2: bad point") {
			t.Errorf("got %v, want a 422 rejection of point 2", err)
		}
		if n := len(srv.Requests()); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
	t.Run("retryable point", func(t *testing.T) {
		srv := newInfluxServer(t, func(n int, _ string, w http.ResponseWriter) {
			if n == 1 {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
		cfg := httpConfig(srv.URL)
		cfg.Batch = false
		err := newSink(t, cfg).Write(context.Background(), []byte(batch))
		var re *RetryableError
		if !errors.As(err, &re) || re.After != 3*time.Second || !strings.Contains(err.Error(), "point 2") {
			t.Errorf("got %v, want a retryable failure of point 2 after 3s", err)
		}
		if n := len(srv.Requests()); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
}

// TestHTTPServerDown is a retryable network error.
func TestHTTPServerDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var re *RetryableError
	if err := newSink(t, httpConfig(url)).Write(context.Background(), []byte(hookBatch)); !errors.As(err, &re) {
		t.Errorf("got %v, want *RetryableError", err)
	}
}

// TestHTTPMutualTLS verifies the server with a private CA and presents a
// client certificate.
func TestHTTPMutualTLS(t *testing.T) {
	p := ingesttest.NewPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "client" {
			http.Error(w, "no client cert", http.StatusBadRequest)
		}
	}))
	cert, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(p.CA)
	pool.AppendCertsFromPEM(pem)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := httpConfig(srv.URL)
	cfg.TLS = TLSConfig{CAFile: p.CA, CertFile: p.ClientCert, KeyFile: p.ClientKey}
	if err := newSink(t, cfg).Write(context.Background(), []byte(hookBatch)); err != nil {
		t.Fatalf("mTLS: %v", err)
	}
	cfg.TLS.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "tls.ca_file") {
		t.Errorf("missing CA: got %v", err)
	}
}

// TestHTTPRunner runs the webhook under a Runner: a 503 is retried, a 400
// is dead-lettered, and the cursor passes both.
func TestHTTPRunner(t *testing.T) {
	srv := newInfluxServer(t, func(n int, body string, w http.ResponseWriter) {
		switch {
		case n == 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.Contains(body, `"bad"`):
			http.Error(w, "schema says no", http.StatusBadRequest)
		}
	})
	cfg := httpConfig(srv.URL)
	cfg.BatchPoints = 1
	s := newSink(t, cfg)
	box := newFakeOutbox("m v=1i 1\n", "m s=\"bad\" 2\n", "m v=3i 3\n")
	dl := filepath.Join(t.TempDir(), "dead.lp")
	r := NewRunner(cfg, box, s, dl, nil)
	sl := &sleepRecorder{}
	r.sleep = sl.sleep
	startRunner(t, r)
	box.waitCommitted(t, 3)
	if got := readFile(t, dl); got != "m s=\"bad\" 2\n" {
		t.Errorf("dead letter %q", got)
	}
	st := r.Stats()
	if st.DeliveredPoints != 2 || st.DeadLetteredPoints != 1 || st.Retries != 1 {
		t.Errorf("stats %+v", st)
	}
}

// httpLineFactory is the webhook in the shared suite, posting line
// protocol batches.
func httpLineFactory(t *testing.T) (Sink, func() string) {
	srv := newInfluxServer(t, nil)
	cfg := httpConfig(srv.URL + "/hook")
	cfg.Format = "line"
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, func() string { return strings.Join(srv.Bodies(), "") }
}
