package forward

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryableError is a delivery failure that may succeed later: a network
// error, a timeout, a 5xx, a 429. The Runner retries the same batch after a
// backoff of at least After (zero when the upstream did not say).
type RetryableError struct {
	Err   error
	After time.Duration
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
	}
	return e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// PermanentError is a rejection that repeating the same request cannot fix,
// such as a 400 for a malformed line. Status is the HTTP status, or 0 for a
// sink that has none. The Runner dead-letters the batch and moves on.
type PermanentError struct {
	Err    error
	Status int
}

func (e *PermanentError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("rejected with status %d: %v", e.Status, e.Err)
	}
	return fmt.Sprintf("rejected: %v", e.Err)
}

func (e *PermanentError) Unwrap() error { return e.Err }

// parseRetryAfter reads a Retry-After header value, either delay-seconds or
// an HTTP date, relative to now. It returns 0 for an absent, malformed or
// past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return min(time.Duration(min(n, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), maxRetryAfter)
}

// maxRetryAfter bounds what an upstream can ask for, so that a bogus date
// cannot stall a sink for years.
const maxRetryAfter = 24 * time.Hour
