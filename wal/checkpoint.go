package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ErrNoCheckpoint is returned by Latest when no valid checkpoint exists.
var ErrNoCheckpoint = errors.New("wal: no valid checkpoint")

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old or the new content: it writes a temp file (.<name>.tmp-*) in the same
// directory, fsyncs it, renames it over path and fsyncs the directory.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, filepath.Base(path), data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return syncDir(dir)
}

func writeTemp(dir, base string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", err
	}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return "", errors.Join(err, os.Remove(f.Name()))
	}
	return f.Name(), nil
}

// Checkpoints stores the engine's state as files ckpt-<20-digit index>,
// keeping the newest two valid ones so that a damaged newest one falls back
// to the older. Its methods may be called from any goroutine.
type Checkpoints struct {
	dir string
	q   *quarantine

	mu       sync.Mutex
	log      *slog.Logger
	indexes  []uint64        // files on disk, oldest first
	verified map[uint64]bool // known good: written or read back since open
}

// OpenCheckpoints opens or creates the checkpoint directory (0700), removing
// temp files of interrupted writes. Damaged checkpoints are moved to
// quarantine (<dir>/quarantine when empty) as Latest and Save find them.
func OpenCheckpoints(dir string, quarantineDir string) (*Checkpoints, error) {
	if quarantineDir == "" {
		quarantineDir = filepath.Join(dir, "quarantine")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("wal: checkpoints: %w", err)
	}
	if _, err := removeTemps(dir); err != nil {
		return nil, fmt.Errorf("wal: checkpoints: %w", err)
	}
	indexes, err := listCheckpoints(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: checkpoints: %w", err)
	}
	log := discardIfNil(nil)
	return &Checkpoints{dir: dir, q: &quarantine{dir: quarantineDir, prefix: filepath.Base(dir), log: log},
		log: log, indexes: indexes, verified: map[uint64]bool{}}, nil
}

func listCheckpoints(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, de := range ents {
		name := de.Name()
		if len(name) != 25 || !strings.HasPrefix(name, "ckpt-") || !de.Type().IsRegular() {
			continue
		}
		if i, err := strconv.ParseUint(name[5:], 10, 64); err == nil {
			out = append(out, i)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// SetLogger sets where damaged checkpoints are reported; nil discards.
func (c *Checkpoints) SetLogger(l *slog.Logger) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log, c.q.log = discardIfNil(l), discardIfNil(l)
}

func (c *Checkpoints) path(index uint64) string {
	return filepath.Join(c.dir, fmt.Sprintf("ckpt-%020d", index))
}

// Save writes the state after log index atomically, then deletes all but the
// newest two valid checkpoints. index must not be below the newest one's;
// saving the same index again replaces it.
func (c *Checkpoints) Save(index uint64, state []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.indexes)
	if n > 0 && index < c.indexes[n-1] {
		return fmt.Errorf("wal: checkpoint %d is older than the newest, %d", index, c.indexes[n-1])
	}
	if err := WriteFileAtomic(c.path(index), encodeCheckpoint(index, state), 0o600); err != nil {
		return fmt.Errorf("wal: save checkpoint %d: %w", index, err)
	}
	c.verified[index] = true
	if n == 0 || c.indexes[n-1] != index {
		c.indexes = append(c.indexes, index)
	}
	return c.prune()
}

// prune keeps the newest two valid checkpoints: older ones are deleted,
// damaged ones among the newest are quarantined.
func (c *Checkpoints) prune() error {
	var keep, drop []uint64
	for i := len(c.indexes) - 1; i >= 0; i-- {
		idx := c.indexes[i]
		switch {
		case len(keep) == 2:
			drop = append(drop, idx)
		case c.check(idx):
			keep = append([]uint64{idx}, keep...)
		}
	}
	c.indexes = keep
	for _, idx := range drop {
		delete(c.verified, idx)
		if err := os.Remove(c.path(idx)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wal: delete checkpoint %d: %w", idx, err)
		}
	}
	return syncDir(c.dir)
}

// check reports whether a checkpoint is valid, reading it unless it is
// known good, and quarantines it when it is not.
func (c *Checkpoints) check(index uint64) bool {
	if c.verified[index] {
		return true
	}
	_, err := c.load(index)
	if err != nil {
		c.setAside(index, err)
		return false
	}
	c.verified[index] = true
	return true
}

// Latest returns the newest valid checkpoint. A damaged one is moved to
// quarantine, logged, and the next older one is tried; ErrNoCheckpoint when
// none is left.
func (c *Checkpoints) Latest() (index uint64, state []byte, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := len(c.indexes); n > 0; n = len(c.indexes) {
		index = c.indexes[n-1]
		if state, err = c.load(index); err == nil {
			c.verified[index] = true
			return index, state, nil
		}
		c.setAside(index, err)
		c.indexes = c.indexes[:n-1]
	}
	return 0, nil, ErrNoCheckpoint
}

// Floor is the index of the oldest retained checkpoint, 0 if none: Latest
// may fall back to it, so the ingest log may be truncated only below it.
func (c *Checkpoints) Floor() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.indexes) == 0 {
		return 0
	}
	return c.indexes[0]
}

// DropFallback deletes every checkpoint but the newest and returns the new
// Floor, the newest's index. The newest is read back from disk first: if it
// does not verify it is quarantined, nothing else is dropped, and the error
// says so. The engine calls this when the ingest log is at its size cap with
// every entry in it applied and checkpointed: the fallback is then all that
// keeps the log from being truncated, and the sources would wait forever.
func (c *Checkpoints) DropFallback() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.indexes)
	if n == 0 {
		return 0, ErrNoCheckpoint
	}
	newest := c.indexes[n-1]
	if _, err := c.load(newest); err != nil {
		c.setAside(newest, err)
		c.indexes = c.indexes[:n-1]
		return 0, fmt.Errorf("wal: newest checkpoint %d does not read back, fallback kept: %w", newest, err)
	}
	for i, idx := range c.indexes[:n-1] {
		if err := os.Remove(c.path(idx)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.indexes = c.indexes[i:] // those before are gone
			return 0, fmt.Errorf("wal: delete checkpoint %d: %w", idx, err)
		}
		delete(c.verified, idx)
	}
	c.indexes = []uint64{newest}
	return newest, syncDir(c.dir)
}

func (c *Checkpoints) load(index uint64) ([]byte, error) {
	b, err := os.ReadFile(c.path(index))
	if err != nil {
		return nil, err
	}
	return decodeCheckpoint(b, index)
}

// setAside moves a damaged or unreadable checkpoint to quarantine.
func (c *Checkpoints) setAside(index uint64, cause error) {
	delete(c.verified, index)
	path, err := c.q.move(c.path(index))
	c.log.Error("wal: damaged checkpoint; falling back to an older one", "index", index,
		"cause", cause, "copy", path, "quarantine_err", err)
}

// A checkpoint file: magic "RVCK", version 1, index and state length (8
// bytes each, big endian), the state, CRC-32C of everything before it.
const (
	ckptMagic     = "RVCK"
	ckptVersion   = 1
	ckptHeaderLen = 4 + 1 + 8 + 8
)

func encodeCheckpoint(index uint64, state []byte) []byte {
	b := make([]byte, 0, ckptHeaderLen+len(state)+crcLen)
	b = append(append(b, ckptMagic...), ckptVersion)
	b = binary.BigEndian.AppendUint64(b, index)
	b = binary.BigEndian.AppendUint64(b, uint64(len(state)))
	b = append(b, state...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCheckpoint(b []byte, index uint64) ([]byte, error) {
	if len(b) < ckptHeaderLen+crcLen || string(b[:4]) != ckptMagic {
		return nil, fmt.Errorf("%w: not a checkpoint file", ErrMalformed)
	}
	if b[4] != ckptVersion {
		return nil, fmt.Errorf("%w %d in checkpoint", ErrVersion, b[4])
	}
	body := b[:len(b)-crcLen]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(body):]) {
		return nil, fmt.Errorf("%w: checkpoint %d", ErrChecksum, index)
	}
	if got := binary.BigEndian.Uint64(b[5:]); got != index {
		return nil, fmt.Errorf("%w: checkpoint file for %d holds %d", ErrMalformed, index, got)
	}
	state := body[ckptHeaderLen:]
	if n := binary.BigEndian.Uint64(b[13:]); n != uint64(len(state)) {
		return nil, fmt.Errorf("%w: checkpoint %d state length %d, %d bytes present", ErrMalformed, index, n, len(state))
	}
	return state, nil
}
