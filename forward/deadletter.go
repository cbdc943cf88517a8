package forward

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// deadReason is one line of <deadLetter>.reasons: why the bytes at
// [Offset, Offset+Bytes) of the dead-letter file were rejected. With
// InfluxDB 1.x a "partial write" rejection means some of those lines were
// stored all the same; writing them again is harmless (same identities).
type deadReason struct {
	Time     string `json:"time"`
	Sink     string `json:"sink"`
	Status   int    `json:"status"`
	Error    string `json:"error"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Points   int    `json:"points"`
	Offset   int64  `json:"offset"`
	Bytes    int    `json:"bytes"`
}

// reject records a permanently rejected batch: its lines to the dead-letter
// file, the reason to <deadLetter>.reasons and the log, both synced before
// the cursor may move past it.
func (r *Runner) reject(b batch, perm *PermanentError) error {
	now := r.now()
	reason := deadReason{
		Time: now.UTC().Format(time.RFC3339Nano), Sink: r.cfg.Name,
		Status: perm.Status, Error: perm.Err.Error(),
		FirstSeq: b.first, LastSeq: b.last, Points: b.points(), Bytes: len(b.lines),
	}
	if r.deadLetter != "" {
		off, err := appendSynced(r.deadLetter, b.lines)
		if err != nil {
			return err
		}
		reason.Offset = off
		line, _ := json.Marshal(reason)
		if _, err := appendSynced(r.deadLetter+".reasons", append(line, '\n')); err != nil {
			// Take the lines back: the retry writes them again.
			_ = os.Truncate(r.deadLetter, off)
			return err
		}
	}
	r.mu.Lock()
	r.stats.DeadLetteredPoints += uint64(reason.Points)
	r.stats.DeadLetteredBatches++
	r.stats.ConsecutiveFailures = 0
	r.stats.LastError = perm.Error()
	r.mu.Unlock()
	if ok, suppressed := r.failLog.allow(now); ok {
		msg := "batch rejected, dead-lettered"
		if r.deadLetter == "" {
			msg = "batch rejected, dropped: no dead-letter file"
		}
		r.logger.Error(msg, "status", perm.Status, "err", perm.Err,
			"points", reason.Points, "file", r.deadLetter, "suppressed", suppressed)
	}
	return nil
}

// appendSynced appends data to path (created 0600 in a 0700 directory) and
// syncs it. It returns the offset data starts at; a failed write is cut
// back so that the file holds only whole batches.
func appendSynced(path string, data []byte) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	off := fi.Size()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Truncate(off)
		return 0, fmt.Errorf("append %s: %w", path, err)
	}
	return off, nil
}
