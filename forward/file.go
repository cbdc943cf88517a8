package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/rivulet-edge/rivulet/internal/bufs"
	"github.com/rivulet-edge/rivulet/point"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// fileSink appends lines to a file and rotates it by size:
// Path → Path.1 → … → Path.MaxFiles, the oldest dropped. Write leaves the
// lines in the page cache; Sync makes them durable, and the Runner calls it
// before it saves the cursor past them (a rotated file is synced before it
// is closed).
type fileSink struct {
	path     string
	maxSize  int64
	maxFiles int
	json     bool   // JSON lines instead of line protocol
	buf      []byte // the JSON lines of one Write
	bufKeep  bufs.Keeper

	// mu serializes Write, Sync and Close: Sync may also come from the
	// goroutine that appends to the outbox (see wal.Outbox.SetSyncer).
	mu     sync.Mutex
	f      *os.File
	size   int64
	synced int64 // the part of the file Sync made durable
	lost   bool  // a failed Sync cut lines the Runner has not rewound for yet
}

func newFile(cfg Config) (*fileSink, error) {
	if cfg.Format == "" {
		cfg.Format = DefaultFormat(cfg.Type)
	}
	s := &fileSink{path: cfg.Path, maxSize: int64(cfg.MaxSize), maxFiles: cfg.MaxFiles, json: cfg.Format == "json"}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// open opens Path for appending and cuts a torn last line (a write that
// never returned success, so it will be delivered again).
func (s *fileSink) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	size, err := completeLines(s.path)
	if err == nil {
		err = truncateTo(f, size)
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.path)) // the entry of a file just created
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("file sink: repair %s: %w", s.path, err)
	}
	s.f, s.size, s.synced = f, size, size
	return nil
}

// completeLines returns the length of the file up to and including its last
// newline.
func completeLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 4096)
	for end > 0 {
		n := min(int64(len(buf)), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

// truncateTo cuts f to size if it is longer and syncs the cut.
func truncateTo(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil || fi.Size() == size {
		return err
	}
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

func (s *fileSink) Write(_ context.Context, lines []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost {
		s.lost = false
		return &RetryableError{Err: fmt.Errorf("file sink: %s: %w", s.path, errUnsynced)}
	}
	if s.json {
		s.buf = s.buf[:0]
		err := point.Parse(lines, func(p *point.Point) error {
			s.buf = append(appendJSON(s.buf, p), '\n')
			return nil
		})
		// Decided after each use: lines stays valid until Write returns.
		defer func() { s.buf = s.bufKeep.Bytes(s.buf, len(s.buf)) }()
		if err != nil {
			return &PermanentError{Err: fmt.Errorf("file sink: %w", err)}
		}
		lines = s.buf
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return &RetryableError{Err: err}
		}
	}
	if s.size > 0 && s.size+int64(len(lines)) > s.maxSize {
		if err := s.rotate(); err != nil {
			s.lost = s.lost && !errors.Is(err, errUnsynced) // reported here
			return &RetryableError{Err: err}
		}
	}
	if _, err := s.f.Write(lines); err != nil {
		// Take back a partial write so that the retry does not follow a
		// torn line.
		_ = s.f.Truncate(s.size)
		return &RetryableError{Err: fmt.Errorf("file sink: write %s: %w", s.path, err)}
	}
	s.size += int64(len(lines))
	return nil
}

// errUnsynced marks a failure that lost lines written since the last
// successful Sync: the Runner rewinds to its saved cursor and writes them
// again.
var errUnsynced = errors.New("lines written since the last sync are lost")

// Sync makes every line written durable. After a failure the file is cut
// back to what the last Sync made durable (the Runner writes the rest
// again) and reopened at the next Write.
func (s *fileSink) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sync()
}

func (s *fileSink) sync() error {
	if s.f == nil || s.synced == s.size {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		_ = s.f.Truncate(s.synced)
		_ = s.f.Close()
		s.f, s.lost = nil, true
		return &RetryableError{Err: fmt.Errorf("file sink: sync %s: %w: %w", s.path, errUnsynced, err)}
	}
	s.synced = s.size
	return nil
}

// rotate shifts Path.i to Path.i+1, dropping the last, moves Path to
// Path.1 and opens a new Path.
func (s *fileSink) rotate() error {
	if err := s.sync(); err != nil {
		return err
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("file sink: close %s: %w", s.path, err)
	}
	s.f = nil
	for i := s.maxFiles - 1; i >= 1; i-- {
		err := os.Rename(fmt.Sprintf("%s.%d", s.path, i), fmt.Sprintf("%s.%d", s.path, i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file sink: rotate: %w", err)
		}
	}
	if err := os.Rename(s.path, s.path+".1"); err != nil {
		return fmt.Errorf("file sink: rotate: %w", err)
	}
	return s.open() // syncs the directory, renames included
}

// syncDir makes renames and creations in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *fileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
