package forward

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxErrorBody bounds how much of a rejection's body ends up in errors,
// logs and the dead-letter reasons.
const maxErrorBody = 512

// influxSink posts line protocol to an InfluxDB 1.x /write or 2.x
// /api/v2/write endpoint.
type influxSink struct {
	client   *http.Client
	endpoint string // with precision set; holds no secret
	redacted string // endpoint for messages
	auth     string // Authorization header value; never logged
	gzip     bool
	now      func() time.Time
	logger   *slog.Logger

	zbuf bytes.Buffer // compressed body, reused between writes
	zw   *gzip.Writer
}

func newInflux(cfg Config, logger *slog.Logger) (*influxSink, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	q := u.Query()
	// Lines are always in nanoseconds. 1.x spells that "n" (and treats
	// anything it does not know as ns); 2.x accepts only ns, us, ms and s.
	if u.Path == "/api/v2/write" {
		q.Set("precision", "ns")
	} else {
		q.Set("precision", "n")
	}
	u.RawQuery = q.Encode()
	auth, err := influxAuth(cfg)
	if err != nil {
		return nil, err
	}
	s := &influxSink{
		client: &http.Client{
			Timeout:   cfg.Timeout,
			Transport: newTransport(),
			// Following a redirect would turn the POST into a GET.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		endpoint: u.String(),
		redacted: u.Redacted(),
		auth:     auth,
		gzip:     cfg.Gzip,
		now:      time.Now,
		logger:   logger,
	}
	logger.Debug("influx sink ready", "url", s.redacted, "gzip", cfg.Gzip, "auth", auth != "")
	return s, nil
}

// influxAuth builds the Authorization header: a token (2.x, or a 1.x
// endpoint that takes "Token user:password" or a 2.x compatibility token),
// or basic auth from username and password_file.
func influxAuth(cfg Config) (string, error) {
	switch {
	case cfg.TokenFile != "":
		tok, err := readSecret("token_file", cfg.TokenFile)
		if err != nil {
			return "", err
		}
		return "Token " + tok, nil
	case cfg.Username != "":
		var pw string
		if cfg.PasswordFile != "" {
			var err error
			if pw, err = readSecret("password_file", cfg.PasswordFile); err != nil {
				return "", err
			}
		}
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+pw)), nil
	}
	return "", nil
}

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Write posts lines. A batch rejected as too large (413) or as bad (400,
// which 1.x also answers to a partial write after storing the good lines)
// is split in halves, recursively, down to single lines: the result is nil
// when every part went through, or a *PartialError naming exactly the
// lines that were refused. Re-sending lines that a partial write already
// stored is harmless: points with the same identity overwrite each other.
func (s *influxSink) Write(ctx context.Context, lines []byte) error {
	err := s.post(ctx, lines)
	var perm *PermanentError
	if !errors.As(err, &perm) || !splittable(perm.Status) || bytes.Count(lines, []byte{'\n'}) < 2 {
		return err
	}
	var part PartialError
	if err := s.bisect(ctx, lines, 0, &part); err != nil {
		return err
	}
	if len(part.Rejected) == 0 {
		return nil
	}
	return &part
}

// splittable says whether a rejection may concern only some lines.
func splittable(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge
}

// bisect posts both halves of lines (which start at off in the batch),
// splitting again what is rejected, and collects the single lines (or
// halves refused for another reason) in part. A failure that is not a
// rejection ends the search: the Runner retries the whole batch.
func (s *influxSink) bisect(ctx context.Context, lines []byte, off int, part *PartialError) error {
	mid := halfLine(lines)
	for _, h := range []struct {
		lines []byte
		off   int
	}{{lines[:mid], off}, {lines[mid:], off + mid}} {
		err := s.post(ctx, h.lines)
		var perm *PermanentError
		switch {
		case err == nil:
		case !errors.As(err, &perm):
			return err
		case splittable(perm.Status) && bytes.Count(h.lines, []byte{'\n'}) >= 2:
			if err := s.bisect(ctx, h.lines, h.off, part); err != nil {
				return err
			}
		default:
			part.Rejected = append(part.Rejected, Rejection{Off: h.off, End: h.off + len(h.lines),
				Status: perm.Status, Err: perm.Err})
		}
	}
	return nil
}

// halfLine returns the end of the line that holds the middle byte of
// lines, which has at least two lines: both sides are non-empty.
func halfLine(lines []byte) int {
	first := bytes.IndexByte(lines, '\n') + 1
	mid := len(lines) / 2
	if i := bytes.IndexByte(lines[mid:], '\n'); i >= 0 {
		mid += i + 1
	} else {
		mid = len(lines)
	}
	if mid >= len(lines) {
		mid = first
	}
	return mid
}

// post makes one request with lines as the body.
func (s *influxSink) post(ctx context.Context, lines []byte) error {
	body := lines
	if s.gzip {
		var err error
		if body, err = s.compress(lines); err != nil {
			return err
		}
	}
	rb := &releaseBody{r: bytes.NewReader(body), closed: make(chan struct{})}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, rb)
	if err != nil {
		return fmt.Errorf("influx request: %w", err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", "rivulet")
	if s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	resp, err := s.client.Do(req)
	// The transport may go on reading the body after Do returns; wait until
	// it lets go, so that neither lines nor zbuf is used after Write.
	defer func() { <-rb.closed }()
	if err != nil {
		return &RetryableError{Err: fmt.Errorf("post %s: %w", s.redacted, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	return s.classify(resp)
}

// unwrapURLError drops the *url.Error layer, whose message repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (s *influxSink) compress(lines []byte) ([]byte, error) {
	s.zbuf.Reset()
	if s.zw == nil {
		s.zw = gzip.NewWriter(&s.zbuf)
	} else {
		s.zw.Reset(&s.zbuf)
	}
	if _, err := s.zw.Write(lines); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := s.zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return s.zbuf.Bytes(), nil
}

// configRetry is how long a sink waits after an answer that says its
// configuration is wrong (401, 403, 404).
const configRetry = time.Minute

// classify turns a response into nil, a *RetryableError or a
// *PermanentError. It reads a bounded part of the body and drains a little
// more so that the connection can be reused.
func (s *influxSink) classify(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound:
		// Wrong credentials or a missing database are the site's config, not
		// the batch: keep the data in the outbox and retry slowly until
		// someone fixes it, instead of dead-lettering every result.
		return &RetryableError{
			Err:   fmt.Errorf("post %s: %s: %s (check the sink's url, database and credentials)", s.redacted, resp.Status, errorMessage(msg)),
			After: max(configRetry, parseRetryAfter(resp.Header.Get("Retry-After"), s.now())),
		}
	case code >= 400 && code < 500 && code != http.StatusTooManyRequests:
		return &PermanentError{Err: errors.New(errorMessage(msg)), Status: code}
	default:
		// 429, 5xx, and statuses a write endpoint should never answer
		// (a redirect is a misconfigured url, not a bad batch).
		return &RetryableError{
			Err:   fmt.Errorf("post %s: %s: %s", s.redacted, resp.Status, errorMessage(msg)),
			After: parseRetryAfter(resp.Header.Get("Retry-After"), s.now()),
		}
	}
}

// errorMessage extracts InfluxDB's message ({"error": …} from 1.x,
// {"message": …} from 2.x) or else returns the body, trimmed to
// maxErrorBody bytes.
func errorMessage(body []byte) string {
	var v struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	s := string(bytes.TrimSpace(body))
	if json.Unmarshal(body, &v) == nil {
		if v.Message != "" {
			s = v.Message
		} else if v.Error != "" {
			s = v.Error
		}
	}
	if len(s) > maxErrorBody {
		s = strings.ToValidUTF8(s[:maxErrorBody], "")
	}
	if s == "" {
		s = "no message"
	}
	return s
}

func (s *influxSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// releaseBody is a request body that reports when the transport closed it.
type releaseBody struct {
	r      *bytes.Reader
	once   sync.Once
	closed chan struct{}
}

func (b *releaseBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *releaseBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}
