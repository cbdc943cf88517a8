package wal

import "syscall"

// mapRound is what a scratch mapping's size is rounded up to, so that
// inputs growing a little do not map again each time.
const mapRound = 1 << 20

// mapScratch maps n bytes (rounded up) of anonymous memory, or returns nil.
func mapScratch(n int) []byte {
	size := (n + mapRound - 1) &^ (mapRound - 1)
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil
	}
	return b
}

// releaseScratch gives the pages of b back: they read as zeros again and
// take no memory until written.
func releaseScratch(b []byte) {
	if len(b) > 0 {
		_ = syscall.Madvise(b[:len(b):len(b)], syscall.MADV_DONTNEED)
	}
}

func unmapScratch(b []byte) { _ = syscall.Munmap(b[:cap(b)]) }
