//go:build !linux

package wal

// Elsewhere the scratch is a Go buffer (get's fallback).

func mapScratch(int) []byte { return nil }

func releaseScratch([]byte) {}

func unmapScratch([]byte) {}
