package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rivulet-edge/rivulet/point"
)

// validateHTTP checks the keys of an http (webhook) sink.
func (c Config) validateHTTP() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("url: must be an http(s) URL, got %q", c.URL)
	} else {
		errs = append(errs, c.validateTLS(u.Scheme == "https", u.Scheme)...)
	}
	if c.Username != "" || c.PasswordFile != "" {
		add("username: an http sink takes a bearer token from token_file, or an Authorization header")
	}
	for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
		switch v := c.Headers[k]; {
		case !validHeaderName(k):
			add("headers: invalid header name %q", k)
		case strings.ContainsAny(v, "\r\n\x00"):
			add("headers.%s: value must not contain CR, LF or NUL", k)
		case http.CanonicalHeaderKey(k) == "Host" || http.CanonicalHeaderKey(k) == "Content-Length":
			add("headers.%s: set by the client, cannot be configured", k)
		case http.CanonicalHeaderKey(k) == "Authorization" && c.TokenFile != "":
			add("headers.%s: set either token_file or an Authorization header, not both", k)
		}
	}
	return append(errs, c.validateFormat()...)
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// httpSink posts points to a webhook: with batch set, one request per
// batch (a JSON array, or the lines); otherwise one request per point (a
// JSON object, or one line). Any 2xx delivers.
//
// Failures are classified as influx.go does: 5xx, 408, 429, redirects and
// network errors are retried, honouring Retry-After; 401, 403 and 404 say
// the sink's url or token is wrong, so they are retried slowly (at least
// configRetry) instead of dead-lettering every batch; any other 4xx is a
// *PermanentError. With batch false a rejected point does not stop the
// others: the batch is reported rejected after the rest were sent, and the
// dead-letter file then holds the whole batch, delivered points included.
type httpSink struct {
	client   *http.Client
	endpoint string
	redacted string
	auth     string // "Bearer …"; never logged
	headers  http.Header
	format   string
	batch    bool
	now      func() time.Time

	dec  point.Decoder
	enc  point.Encoder
	body []byte // rendered request body, reused
}

func newHTTP(cfg Config, logger *slog.Logger) (*httpSink, error) {
	if cfg.Format == "" {
		cfg.Format = DefaultFormat(cfg.Type)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	tr := newTransport()
	if u.Scheme == "https" && cfg.TLS != (TLSConfig{}) {
		if tr.TLSClientConfig, err = tlsConfig(cfg.TLS, logger); err != nil {
			return nil, err
		}
	}
	s := &httpSink{
		client: &http.Client{
			Timeout:       cfg.Timeout,
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		endpoint: u.String(),
		redacted: u.Redacted(),
		headers:  http.Header{},
		format:   cfg.Format,
		batch:    cfg.Batch,
		now:      time.Now,
	}
	s.headers.Set("User-Agent", "rivulet")
	s.headers.Set("Content-Type", "application/json")
	if cfg.Format == "line" {
		s.headers.Set("Content-Type", "text/plain; charset=utf-8")
	}
	for k, v := range cfg.Headers {
		s.headers.Set(k, v)
	}
	if cfg.TokenFile != "" {
		tok, err := readSecret("token_file", cfg.TokenFile)
		if err != nil {
			return nil, err
		}
		s.auth = "Bearer " + tok
	}
	logger.Debug("http sink ready", "url", s.redacted, "format", cfg.Format, "batch", cfg.Batch, "auth", s.auth != "")
	return s, nil
}

func (s *httpSink) Write(ctx context.Context, lines []byte) error {
	if s.batch {
		return s.writeBatch(ctx, lines)
	}
	var rejected []error
	var firstStatus, n int
	err := eachPoint(&s.dec, lines, func(p *point.Point) error {
		n++
		body, err := s.render(s.body[:0], p)
		s.body = body
		if err != nil {
			return err
		}
		err = s.post(ctx, body)
		var perm *PermanentError
		if errors.As(err, &perm) {
			if len(rejected) == 0 {
				firstStatus = perm.Status
			}
			rejected = append(rejected, fmt.Errorf("point %d: %w", n, perm.Err))
			return nil
		}
		if err != nil {
			return fmt.Errorf("point %d: %w", n, err)
		}
		return nil
	})
	if err != nil {
		return err // the points before it are delivered; a retry repeats them
	}
	if len(rejected) > 0 {
		return &PermanentError{Status: firstStatus,
			Err: fmt.Errorf("%d of %d points: %w", len(rejected), n, errors.Join(rejected...))}
	}
	return nil
}

// writeBatch sends all points in one request.
func (s *httpSink) writeBatch(ctx context.Context, lines []byte) error {
	if s.format == "line" {
		return s.post(ctx, lines) // post returns only once the transport let go
	}
	s.body = append(s.body[:0], '[')
	err := eachPoint(&s.dec, lines, func(p *point.Point) error {
		if len(s.body) > 1 {
			s.body = append(s.body, ',')
		}
		var err error
		s.body, err = s.render(s.body, p)
		return err
	})
	if err != nil {
		return err
	}
	return s.post(ctx, append(s.body, ']'))
}

// render appends p in the sink's format.
func (s *httpSink) render(dst []byte, p *point.Point) ([]byte, error) {
	if s.format == "line" {
		out, err := s.enc.Append(dst, p)
		if err != nil {
			return dst, &PermanentError{Err: err}
		}
		return out, nil
	}
	return appendJSON(dst, p), nil
}

// post sends one request and classifies the answer. It returns only once
// the transport has let go of body.
func (s *httpSink) post(ctx context.Context, body []byte) error {
	rb := &releaseBody{r: bytes.NewReader(body), closed: make(chan struct{})}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, rb)
	if err != nil {
		return fmt.Errorf("http request: %w", err)
	}
	req.ContentLength = int64(len(body))
	req.Header = s.headers.Clone()
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	resp, err := s.client.Do(req)
	defer func() { <-rb.closed }()
	if err != nil {
		return &RetryableError{Err: fmt.Errorf("post %s: %w", s.redacted, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	return s.classify(resp)
}

// classify turns a response into nil, a *RetryableError or a
// *PermanentError, reading a bounded part of the body.
func (s *httpSink) classify(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	after := parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound:
		return &RetryableError{
			Err:   fmt.Errorf("post %s: %s: %s (check the sink's url and token)", s.redacted, resp.Status, errorMessage(msg)),
			After: max(configRetry, after),
		}
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return &PermanentError{Err: errors.New(errorMessage(msg)), Status: code}
	default:
		return &RetryableError{Err: fmt.Errorf("post %s: %s: %s", s.redacted, resp.Status, errorMessage(msg)), After: after}
	}
}

// Close drops idle connections. It is safe to call twice.
func (s *httpSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
